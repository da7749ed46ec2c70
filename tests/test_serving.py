"""Serving hosts: plain `git` + `dvc pull` of a stage or alias pointer, `dvc get` at a stage tag,
`reg pull` of one verified version, and batch `reg predict` checked against the signature."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import registry as reglib

from . import churnmodel
from .conftest import git, snapshot
from .servers import bare_remote, make_clone
from .s3fixtures import dvc


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two different trained churn models (A and B), as training runs leave them."""
    base = tmp_path_factory.mktemp("trained")
    return churnmodel.build(base / "a" / "model", seed=0), churnmodel.build(base / "b" / "model", seed=1, rounds=5)


# -- the serving host: git and dvc only ------------------------------------------------------------

@pytest.mark.s3
@pytest.mark.slow
def test_serving_host_follows_promotions_rollbacks_and_aliases(tmp_path, s3_registry, s3_server, reg, models):
    a, b = models
    training = s3_registry
    bare = bare_remote(training, tmp_path / "origin.git")

    def ok(*args):
        result = reg(training, *args)
        assert result.exit_code == 0, result.output
        return result

    ok("register", "churn", str(a), "--push")
    ok("promote", "churn", "1", "production", "--push")

    # A host with no reg and no DVC config of its own: credentials come from the environment.
    serving = make_clone(bare, tmp_path / "serving")
    env = s3_server.env()
    assert not (serving / ".dvc/config.local").exists()

    def served(pointer: str) -> dict[str, bytes]:
        dvc(serving, "pull", f"models/churn/{pointer}.dvc", env=env)
        assert git(serving, "status", "--porcelain") == ""
        return files_of(serving / "models/churn" / pointer)

    assert served("production") == files_of(a)
    # A Python service on that host loads the pulled folder, verified, without fetching anything else.
    model = reglib.load("churn/production", path=serving, pull=False)
    assert (model.version, model.path) == (1, serving / "models/churn/production")

    ok("register", "churn", str(b), "--push")
    ok("promote", "churn", "2", "production", "--push", "--reason", "retrained")
    git(serving, "pull", "-q")
    assert served("production") == files_of(b)

    # Rollback is a plain revert of the promotion commit, pushed.
    assert "promote churn v2 to production" in git(training, "log", "-1", "--format=%s")
    git(training, "revert", "--no-edit", "HEAD")
    git(training, "push", "-q", "origin", "main")
    git(serving, "pull", "-q")
    assert served("production") == files_of(a)

    # Alias pointers work the same way.
    ok("alias", "churn", "2", "champion", "--push")
    git(serving, "pull", "-q")
    assert served("champion") == files_of(b)
    ok("alias", "churn", "1", "champion", "--push")
    git(serving, "pull", "-q")
    assert served("champion") == files_of(a)
    git(training, "revert", "--no-edit", "HEAD")
    git(training, "push", "-q", "origin", "main")
    git(serving, "pull", "-q")
    assert served("champion") == files_of(b)

    # `dvc get` at a stage tag, straight from the git remote, with no clone kept.
    out = tmp_path / "got"
    dvc(tmp_path, "get", str(bare), "models/churn/production", "--rev", "churn#production#2", "-o", str(out), env=env)
    assert files_of(out) == files_of(b)

    # A host that has reg: one command, only that version's bytes, verified.
    host = make_clone(bare, tmp_path / "host")
    for key, value in env.items():
        os.environ[key] = value
    try:
        result = reg(host, "pull", "churn/production", "--to", str(tmp_path / "svc"))
    finally:
        for key in env:
            os.environ.pop(key, None)
    assert result.exit_code == 0, result.output
    assert "Pulled churn v1 (production)" in result.stdout
    assert files_of(tmp_path / "svc/model") == files_of(a)
    assert not (host / "models/churn/2/model").exists()
    loaded = reglib.loading.load_dir(tmp_path / "svc")
    assert (loaded.name, loaded.version) == ("churn", 1)


# -- reg pull ----------------------------------------------------------------------------------------

@pytest.fixture
def two_versions(registry, reg, models):
    a, b = models
    for folder in (a, b):
        assert reg(registry, "register", "churn", str(folder)).exit_code == 0
    assert reg(registry, "promote", "churn", "1", "production").exit_code == 0
    assert reg(registry, "alias", "churn", "2", "champion").exit_code == 0
    return registry


def test_reg_pull_fetches_only_that_version_and_says_which(tmp_path, two_versions, reg, models):
    a, b = models
    clone = make_clone(two_versions, tmp_path / "clone")
    result = reg(clone, "pull", "churn@champion")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Pulled churn v2, verified ") and "models/churn/2/model" in result.stdout
    assert files_of(clone / "models/churn/2/model") == files_of(b)
    assert not (clone / "models/churn/1/model").exists()
    cached = [p for p in (clone / ".dvc/cache").rglob("*") if p.is_file()]
    assert len(cached) == 1 + len(files_of(b))  # that version's .dir listing and its files, nothing else
    assert git(clone, "status", "--porcelain") == ""

    quiet = reg(clone, "pull", "churn/production", "--quiet")
    assert quiet.exit_code == 0 and quiet.output == ""
    assert files_of(clone / "models/churn/1/model") == files_of(a)

    as_json = json.loads(reg(clone, "pull", "models:/churn/Production", "--json").stdout)
    assert (as_json["model"], as_json["version"], as_json["stage"]) == ("churn", 1, "production")


def test_reg_pull_to_a_folder_for_a_service(tmp_path, two_versions, reg, models):
    a, _ = models
    dest = tmp_path / "service" / "current"
    result = reg(two_versions, "pull", "churn/production", "--to", str(dest))
    assert result.exit_code == 0, result.output
    assert f"at {dest}" in result.stdout
    assert files_of(dest / "model") == files_of(a)
    manifest = yaml.safe_load((dest / "manifest.yaml").read_text())
    assert (manifest["model"], manifest["version"]) == ("churn", 1)
    # Again, after a promotion: the folder is replaced whole.
    assert reg(two_versions, "promote", "churn", "2", "production").exit_code == 0
    assert reg(two_versions, "pull", "churn/production", "--to", str(dest)).exit_code == 0
    assert yaml.safe_load((dest / "manifest.yaml").read_text())["version"] == 2
    # A folder that holds something else is not overwritten.
    other = tmp_path / "precious"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    refused = reg(two_versions, "pull", "churn/production", "--to", str(other))
    assert refused.exit_code == 1 and "is not an earlier `reg pull --to` folder" in refused.stderr
    assert (other / "notes.txt").read_text() == "mine"


def test_reg_pull_to_a_refused_place_downloads_nothing(tmp_path, two_versions, reg):
    clone = make_clone(two_versions, tmp_path / "clone")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    (tmp_path / "a-file").write_text("mine")
    for to, message in [(busy, "is not an earlier `reg pull --to` folder"), (tmp_path / "a-file", "is a file")]:
        result = reg(clone, "pull", "churn/2", "--to", str(to))
        assert result.exit_code == 1 and message in result.stderr, result.output
    assert not (clone / "models/churn/2/model").exists()  # refused before the download
    assert (tmp_path / "a-file").read_text() == "mine"


def test_a_stage_folder_left_behind_by_git_pull_names_dvc_pull(tmp_path, two_versions, models):
    """A serving host that ran `git pull` but not `dvc pull`: its production/ folder holds the old bytes."""
    a, b = models
    clone = make_clone(two_versions, tmp_path / "host")
    shutil.copytree(b, clone / "models/churn/production")  # v2's bytes where the pointer says v1
    with pytest.raises(reglib.RegistryError, match=r"`dvc pull --force models/churn/production\.dvc`"):
        reglib.load("churn/production", path=clone)


def test_a_missing_dvc_remote_is_one_line_saying_how_to_set_one(two_versions, reg, models):
    dvc(two_versions, "remote", "remove", "reg")
    before = snapshot(two_versions)
    result = reg(two_versions, "register", "churn", str(models[0]))
    assert result.exit_code == 1 and "DVC remote 'reg' (the registry's remote) is not configured" in result.stderr
    assert "dvc remote add reg URL" in result.stderr and "could not push" not in result.stderr
    assert snapshot(two_versions) == before


def test_reg_pull_restores_a_tampered_copy(two_versions, reg, models):
    a, _ = models
    target = two_versions / "models/churn/1/model/model.txt"
    target.write_text("tampered")
    with pytest.raises(reglib.RegistryError, match="does not match its manifest"):
        reglib.load("churn/1", path=two_versions)
    result = reg(two_versions, "pull", "churn/1")
    assert result.exit_code == 0, result.output
    assert files_of(two_versions / "models/churn/1/model") == files_of(a)


def test_reg_pull_of_a_version_missing_from_the_remote(tmp_path, two_versions, reg, storage):
    clone = make_clone(two_versions, tmp_path / "clone")
    shutil.rmtree(storage)
    storage.mkdir()
    before = snapshot(clone)
    result = reg(clone, "pull", "churn/2")
    assert result.exit_code == 1
    assert "churn v2 is missing from remote reg" in result.stderr and str(storage) in result.stderr
    assert snapshot(clone) == before
    assert not (clone / "models/churn/2/model").exists()


def test_reg_pull_bad_refs(two_versions, reg):
    for ref, message in [("churn/9", "no version 9"), ("churn/staging", "staging"), ("nope", "nope")]:
        result = reg(two_versions, "pull", ref)
        assert result.exit_code == 1 and message in result.stderr, result.output


# -- stale DVC locks ---------------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time, zc.lockfile
lock = zc.lockfile.LockFile(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_a_held_dvc_lock_is_a_clear_message_not_a_hang(tmp_path, two_versions, reg):
    clone = make_clone(two_versions, tmp_path / "clone")
    (clone / ".dvc/tmp").mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(clone / ".dvc/tmp/lock")], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = reg(clone, "pull", "churn/1")
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    assert ".dvc/tmp/lock is held" in result.stderr
    assert reg(clone, "pull", "churn/1").exit_code == 0  # the lock of a dead process frees itself


def test_a_stale_rwlock_does_not_block_reg(tmp_path, two_versions, reg):
    """DVC's per-path rwlock guards pipeline stages; reg's pull and push never wait on it."""
    clone = make_clone(two_versions, tmp_path / "clone")
    (clone / ".dvc/tmp").mkdir(parents=True, exist_ok=True)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = str(clone / "models/churn/1/model")
        (clone / ".dvc/tmp/rwlock").write_text(json.dumps(
            {"read": {}, "write": {path: {"pid": sleeper.pid, "cmd": "dvc pull (stuck)"}}}))
        result = reg(clone, "pull", "churn/1")
    finally:
        sleeper.kill()
        sleeper.wait()
    assert result.exit_code == 0, result.output


def test_rwlock_message_names_the_process_and_the_file():
    from registry import transfer

    class LockError(Exception):
        pass

    exc = LockError("'/r/models/churn/1/model' is busy, it is being blocked by:\n  (PID 4242): dvc pull\n\n"
                    "If there are no processes with such PIDs, you can manually remove '/r/.dvc/tmp/rwlock' and try again.")
    text = transfer.message("pull", "reg (/storage)", exc, [])
    assert "in use by process 4242 (dvc pull)" in text and "remove .dvc/tmp/rwlock" in text


# -- register: format and signature ---------------------------------------------------------------

def test_register_records_format_and_signature_from_the_artifact(two_versions, models):
    v = reglib.Registry(two_versions).resolve("churn/1")
    assert v.artifact["format"] == "lightgbm"
    assert v.signature == churnmodel.SIGNATURE


def test_register_signature_from_a_file_or_training_data(registry, reg, tmp_path, models):
    a, _ = models
    plain = tmp_path / "plain" / "model"
    shutil.copytree(a, plain, ignore=shutil.ignore_patterns("signature.json"))
    sig_file = tmp_path / "sig.yaml"
    sig_file.write_text("inputs: [{name: tenure, type: int}]\noutput: {name: p, type: float}\n")
    assert reg(registry, "register", "churn", str(plain), "--signature", str(sig_file)).exit_code == 0
    assert reglib.Registry(registry).resolve("churn/1").signature == {
        "inputs": [{"name": "tenure", "type": "int64"}], "outputs": [{"name": "p", "type": "float64"}]}

    df, y = churnmodel.frame(n=30)
    data = tmp_path / "train.csv"
    df.assign(churn=y).to_csv(data, index=False)
    result = reg(registry, "register", "churn", str(plain), "--signature-data", str(data),
                 "--signature-target", "churn", "--format", "lightgbm")
    assert result.exit_code == 0, result.output
    v2 = reglib.Registry(registry).resolve("churn/2")
    assert v2.signature == churnmodel.SIGNATURE
    assert v2.artifact["format"] == "lightgbm"

    no_sig = reg(registry, "register", "churn", str(plain))
    assert no_sig.exit_code == 0
    assert reglib.Registry(registry).resolve("churn/3").signature is None


@pytest.mark.parametrize("args, message", [
    (["--signature", "missing.json"], "signature file missing.json does not exist"),
    (["--signature-target", "churn"], "give that too"),
    (["--signature-data", "nope.csv"], "signature data nope.csv does not exist"),
])
def test_register_bad_signature_options_change_nothing(registry, reg, models, args, message):
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(models[0]), *args)
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert snapshot(registry) == before


@pytest.mark.parametrize("content, message", [
    (b'{"inputs": [', "is not valid JSON (line 1, column 13"),
    (b"inputs: [a, b\n", "is neither valid JSON nor valid YAML"),
    (b"\xff\xfe\x00", "is not UTF-8 text"),
    (None, "is a folder"),
])
def test_register_unreadable_signature_file_is_one_line(registry, reg, models, tmp_path, content, message):
    bad = tmp_path / "sig.json"
    bad.mkdir() if content is None else bad.write_bytes(content)
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(models[0]), "--signature", str(bad))
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert "git checkout" not in result.stderr and "unexpected" not in result.stderr
    assert snapshot(registry) == before


@pytest.mark.parametrize("fmt", ["bogus", "lightbgm"])
def test_register_unknown_format_changes_nothing(registry, reg, models, fmt):
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(models[0]), "--format", fmt)
    assert result.exit_code == 1 and f"unknown artifact format {fmt!r}" in result.stderr, result.output
    assert snapshot(registry) == before


def test_register_format_is_case_insensitive(registry, reg, models):
    assert reg(registry, "register", "churn", str(models[0]), "--format", "LightGBM").exit_code == 0
    assert reglib.Registry(registry).resolve("churn/1").artifact["format"] == "lightgbm"


def test_register_signature_data_without_rows_or_a_folder_changes_nothing(registry, reg, models, tmp_path):
    header_only = tmp_path / "train.csv"
    header_only.write_text("tenure,monthly_charges,contract,churn\n")
    before = snapshot(registry)
    for data, message in [(header_only, "has a header but no rows"), (tmp_path, "is a folder")]:
        result = reg(registry, "register", "churn", str(models[0]), "--signature-data", str(data))
        assert result.exit_code == 1 and message in result.stderr, result.output
    assert snapshot(registry) == before


def test_register_bad_signature_file_changes_nothing(registry, reg, models, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"inputs": [{"name": "tenure", "type": "complex"}]}')
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(models[0]), "--signature", str(bad))
    assert result.exit_code == 1 and "unknown type 'complex'" in result.stderr
    assert snapshot(registry) == before


# -- reg predict -------------------------------------------------------------------------------------

def test_predict_writes_predictions_with_model_and_version(tmp_path, two_versions, reg, models):
    a, _ = models
    df, _ = churnmodel.frame(n=25, seed=7)
    data = tmp_path / "batch.csv"
    df.assign(customer_id=[f"c{i:03d}" for i in range(25)]).to_csv(data, index=False)
    out = tmp_path / "out" / "predictions.csv"
    result = reg(two_versions, "predict", "churn/production", "--input", str(data), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "Wrote 25 predictions (churn_probability) from churn v1" in result.stdout
    got = pd.read_csv(out)
    assert list(got.columns) == ["tenure", "monthly_charges", "contract", "customer_id", "churn_probability",
                                 "model", "model_version"]
    assert (got["model"] == "churn").all() and (got["model_version"] == 1).all()
    expected = churnmodel.reference_predictions(a, df)
    assert got["churn_probability"].round(10).tolist() == pd.Series(expected).round(10).tolist()


@pytest.mark.parametrize("edit, message", [
    (lambda df: df.drop(columns=["tenure"]), r"lacks column 'tenure' \(int64\)"),
    (lambda df: df.assign(tenure=["x"] + df.tenure.tolist()[1:]), "column 'tenure' of .* should be int64 but line 2 holds 'x'"),
    (lambda df: df.assign(monthly_charges="cheap"), "column 'monthly_charges' .* should be float64"),
    (lambda df: df.assign(tenure=df.tenure + 0.5), "should be int64 but line 2 holds 2.5"),
])
def test_predict_refuses_a_batch_that_breaks_the_signature(tmp_path, two_versions, reg, edit, message):
    import re

    df, _ = churnmodel.frame(n=5, seed=2)
    df["tenure"] = [2, 10, 20, 30, 40]
    data = tmp_path / "batch.csv"
    edit(df).to_csv(data, index=False)
    out = tmp_path / "predictions.csv"
    result = reg(two_versions, "predict", "churn/production", "-i", str(data), "-o", str(out))
    assert result.exit_code == 1
    assert re.search(message, result.stderr), result.stderr
    assert result.stderr.count("\n") == 1
    assert not out.exists()


def test_predict_bad_paths_are_one_line_before_anything_runs(tmp_path, two_versions, reg):
    df, _ = churnmodel.frame(n=5, seed=2)
    data = tmp_path / "batch.csv"
    df.to_csv(data, index=False)
    (tmp_path / "a-file").write_text("x")
    for args, message in [(["-i", str(data), "-o", str(tmp_path)], "is a folder; give a file path"),
                          (["-i", str(data), "-o", str(tmp_path / "a-file/deeper/p.csv")], "is not a writable folder"),
                          (["-i", str(tmp_path), "-o", str(tmp_path / "p.csv")], "is a folder; give the CSV file")]:
        result = reg(two_versions, "predict", "churn/production", *args)
        assert result.exit_code == 1 and message in result.stderr, result.output
        assert "unexpected" not in result.stderr and result.stderr.count("\n") == 1
    assert not (tmp_path / "p.csv").exists()
    out = tmp_path / "new/folder/p.csv"  # missing folders are made
    assert reg(two_versions, "predict", "churn/production", "-i", str(data), "-o", str(out)).exit_code == 0
    assert out.is_file()


def test_predict_bad_files(tmp_path, two_versions, reg):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for args, message in [(["-i", str(tmp_path / "none.csv")], "does not exist"), (["-i", str(empty)], "is empty")]:
        result = reg(two_versions, "predict", "churn/production", *args, "-o", str(tmp_path / "p.csv"))
        assert result.exit_code == 1 and message in result.stderr, result.output


# -- progress only at a terminal ---------------------------------------------------------------------

def _run_in_terminal(args: list[str], cwd: Path) -> str:
    import pty

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    pid, fd = pty.fork()
    if pid == 0:  # the child: `reg` with a terminal for stdout and stderr
        import fcntl
        import struct
        import termios

        # A real terminal's size: with none (0 columns) tqdm draws its bars as empty lines.
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.chdir(cwd)
        os.execve(sys.executable, [sys.executable, "-m", "cli", *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    import re

    # `import dvc` runs colorama.init, whose exit hook writes an (invisible) reset code to a terminal.
    return re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode(errors="replace"))


def test_quiet_and_piped_output_have_no_progress(tmp_path, two_versions, reg):
    clone = make_clone(two_versions, tmp_path / "clone")
    piped = reg(clone, "pull", "churn/1")
    assert piped.stdout.count("\n") == 1 and piped.stderr == ""
    shutil.rmtree(clone / "models/churn/1/model")
    assert _run_in_terminal(["pull", "churn/1", "--quiet"], clone).strip() == ""
    at_terminal = _run_in_terminal(["pull", "churn/2"], clone)
    assert "Pulled churn v2" in at_terminal
    assert "Applying changes" in at_terminal  # DVC's progress bars, for a person at a terminal


def test_register_quiet_at_a_terminal_prints_only_its_line(registry, models):
    out = _run_in_terminal(["register", "churn", str(models[0]), "--quiet"], registry)
    lines = [line for line in out.replace("\r", "\n").split("\n") if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Registered churn v1"), out
