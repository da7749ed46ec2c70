"""Hostile registry content (issue 10 items 3-8): every file under models/, every artifact and every
setting is written by whoever can push. Each attack is played for real (a registry, a bare server with
`reg hook install`, real pushes, real skops files) and must be refused in one line, quickly, with no
change anywhere."""
from __future__ import annotations

import os
import shutil
import time

import pytest

import registry as reglib
from registry.errors import RegistryError
from registry.loading import load_dir, read_manifest_file

from .conftest import git, snapshot
from .servers import hooked_remote, make_clone, push

BOMB_LINES = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
BOMB = "\n".join(BOMB_LINES) + "\n"  # about 1 KB; expanded, 9**10 strings


@pytest.fixture
def churn(registry, reg, artifact):
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    assert reg(registry, "promote", "churn", "1", "production").exit_code == 0
    return registry


def _one_line_refusal(result, *needles):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output


# -- item 3: YAML anchors and aliases, size --------------------------------------------------------

READERS = {  # each file, and the commands that read it
    "models/churn/1/manifest.yaml": [["list"], ["show", "churn"], ["show", "churn/production"], ["history", "churn"]],
    "models/churn/model.yaml": [["list"], ["show", "churn"], ["history", "churn"]],
    "models/registry.yaml": [["list"], ["show", "churn"], ["show", "churn/production"], ["history", "churn"]],
    "models/churn/production.dvc": [["show", "churn/production"]],
}


@pytest.mark.parametrize("rel", sorted(READERS))
def test_alias_bomb_is_refused_by_every_reader_quickly(churn, reg, rel):
    path = churn / rel
    path.write_text(path.read_text() + BOMB)
    git(churn, "commit", "-qam", "bomb")
    before = snapshot(churn)
    for args in READERS[rel]:
        start = time.monotonic()
        result = reg(churn, *args)
        assert time.monotonic() - start < 1.0, args
        _one_line_refusal(result, rel, "anchor or alias ('a0', line")
    start = time.monotonic()
    result = reg(churn, "check")
    assert time.monotonic() - start < 2.0
    assert result.exit_code == 1 and rel in result.output and "anchor or alias" in result.output, result.output
    assert "Traceback" not in result.output
    api = reglib.Registry(churn)  # the API, at the working tree and at a revision
    reads = [api.models, lambda: api.state("HEAD").models(), lambda: api.state_at(rev="HEAD").models()]
    for read in ([lambda: api.resolve("churn/production")] if rel.endswith(".dvc") else reads):
        with pytest.raises(RegistryError, match="anchor or alias"):
            read()
    assert snapshot(churn) == before


def test_refusal_is_not_cached_around(churn, reg):
    """The parse cache holds only files that were accepted: a refused blob read once by history must not
    read as an empty (policy-free) model card afterwards."""
    card = churn / "models/churn/model.yaml"
    card.write_text(card.read_text() + "gates:\n  production:\n    roc_auc: '>= 0.9'\n" + BOMB)
    git(churn, "commit", "-qam", "bomb in card")
    for _ in range(2):
        assert reg(churn, "history", "churn").exit_code == 1
        result = reg(churn, "check")
        assert result.exit_code == 1 and "models/churn/model.yaml" in result.output, result.output
        _one_line_refusal(reg(churn, "show", "churn"), "models/churn/model.yaml", "anchor or alias")


def test_oversized_and_deep_files_are_refused(churn, reg):
    manifest = churn / "models/churn/1/manifest.yaml"
    original = manifest.read_text()
    manifest.write_text(original + "padding: '" + "x" * (2 << 20) + "'\n")
    _one_line_refusal(reg(churn, "show", "churn/1"), "models/churn/1/manifest.yaml", "over the 1,048,576-byte limit")
    manifest.write_text(original + "deep: " + "[" * 500 + "]" * 500 + "\n")
    _one_line_refusal(reg(churn, "list"), "models/churn/1/manifest.yaml", "nests deeper than 64 levels")


@pytest.mark.parametrize("value, tag", [("!!binary aGVsbG8=", "!!binary"), ("!!set {a, b}", "!!set")])
def test_non_plain_yaml_values_are_refused_by_readers(churn, reg, value, tag):
    """YAML's !!binary and !!set are no registry data: once they crashed the parse cache with a TypeError."""
    manifest = churn / "models/churn/1/manifest.yaml"
    manifest.write_text(manifest.read_text() + f"extra: {value}\n")
    for args in (["list"], ["show", "churn"], ["show", "churn/1", "--json"]):
        _one_line_refusal(reg(churn, *args), "models/churn/1/manifest.yaml", f"holds a {tag} value")


def test_a_huge_blob_is_never_held_in_memory(churn, reg):
    """What the hook and every revision read take from git: a 64 MB pushed "manifest" is read past, at most
    one byte over the limit kept, and refused in one line."""
    import tracemalloc

    from registry import git as gitlayer
    from registry.yamlio import MAX_BYTES

    manifest = churn / "models/churn/1/manifest.yaml"
    manifest.write_text(manifest.read_text() + "padding: '" + "x" * (64 << 20) + "'\n")
    git(churn, "commit", "-qam", "huge")
    sha = git(churn, "rev-parse", "HEAD:models/churn/1/manifest.yaml").strip()
    tracemalloc.start()
    try:
        body = gitlayer.blobs(churn).read(sha)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(body) == MAX_BYTES + 1 and peak < 8 << 20, peak
    with pytest.raises(RegistryError, match="models/churn/1/manifest.yaml is over the 1,048,576-byte limit"):
        reglib.Registry(churn).state("HEAD").models()
    result = reg(churn, "check")
    assert result.exit_code == 1 and "is over the 1,048,576-byte limit" in result.output, result.output


def test_plain_manifests_with_ampersands_still_read(churn, reg):
    assert reg(churn, "annotate", "churn/1", "--description", "R&D model *beta*").exit_code == 0
    result = reg(churn, "show", "churn/1", "--json")
    assert result.exit_code == 0 and "R&D model *beta*" in result.stdout, result.output


# -- item 4: paths stay inside ---------------------------------------------------------------------

def test_manifest_path_outside_is_refused_by_readers_pull_and_check(churn, reg, tmp_path):
    manifest = churn / "models/churn/1/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("path: model", "path: ../../../../victim/.ssh"))
    git(churn, "commit", "-qam", "evil path")
    before = snapshot(churn)
    to = tmp_path / "serve" / "churn"
    for args in (["show", "churn/1"], ["pull", "churn/1", "--to", str(to)], ["list"]):
        _one_line_refusal(reg(churn, *args), "artifact.path is '../../../../victim/.ssh'", "it must be 'model'")
    assert not (tmp_path / "victim").exists() and not to.exists()
    result = reg(churn, "check")
    assert result.exit_code == 1 and "artifact.path is '../../../../victim/.ssh'" in result.output, result.output
    with pytest.raises(RegistryError, match="artifact.path"):
        reglib.load("churn/1", path=churn)
    assert snapshot(churn) == before


def test_pointer_path_outside_is_refused_by_pull_and_check(churn, reg, tmp_path):
    pointer = churn / "models/churn/1/model.dvc"
    pointer.write_text(pointer.read_text().replace("path: model", "path: ../../../../victim"))
    git(churn, "commit", "-qam", "evil pointer")
    shutil.rmtree(churn / "models/churn/1/model")  # a fresh clone: pull must follow the pointer
    _one_line_refusal(reg(churn, "pull", "churn/1"), "models/churn/1/model.dvc", "tracks path '../../../../victim'")
    assert not (tmp_path / "victim").exists()
    stage = churn / "models/churn/production.dvc"
    stage.write_text(stage.read_text() + "wdir: ../..\n")
    git(churn, "commit", "-qam", "evil stage pointer")
    result = reg(churn, "check")
    assert result.exit_code == 1, result.output
    assert "models/churn/1/model.dvc: tracks path '../../../../victim'" in result.output
    assert "models/churn/production.dvc: has 'wdir'" in result.output


def test_a_linked_registry_file_is_refused(churn, reg, tmp_path):
    secret = tmp_path / "id_rsa"
    secret.write_text("model: churn\nversion: 1\nsecret: KEYMATERIAL\n")
    manifest = churn / "models/churn/1/manifest.yaml"
    manifest.unlink()
    os.symlink(secret, manifest)
    result = reg(churn, "show", "churn/1")
    _one_line_refusal(result, "models/churn/1/manifest.yaml is a symbolic link")
    assert "KEYMATERIAL" not in result.output
    git(churn, "commit", "-qam", "link")
    check = reg(churn, "check")
    assert check.exit_code == 1 and "models/churn/1/manifest.yaml: is a symbolic link" in check.output, check.output


def test_load_dir_refuses_a_manifest_leading_outside(churn, reg, tmp_path):
    to = tmp_path / "serve"
    assert reg(churn, "pull", "churn/1", "--to", str(to)).exit_code == 0
    manifest = to / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("path: model", "path: ../elsewhere"))
    with pytest.raises(RegistryError, match="artifact.path is '../elsewhere'"):
        load_dir(to)


# -- item 5: registered folders are plain files ----------------------------------------------------

@pytest.mark.parametrize("kind", ["link-up", "link-file", "fifo"])
def test_links_and_special_files_are_refused_before_copying(registry, reg, artifact, tmp_path, kind):
    before = snapshot(registry)
    if kind == "link-up":
        (artifact / "sub").mkdir()
        os.symlink("../../..", artifact / "sub" / "up")
        bad, what = artifact / "sub" / "up", "is a symbolic link (to ../../..)"
    elif kind == "link-file":
        secret = tmp_path / "secret.txt"
        secret.write_text("hunter2\n")
        os.symlink(secret, artifact / "passwd")
        bad, what = artifact / "passwd", "is a symbolic link"
    else:
        os.mkfifo(artifact / "pipe")
        bad, what = artifact / "pipe", "is a FIFO"
    start = time.monotonic()
    result = reg(registry, "register", "churn", str(artifact))
    assert time.monotonic() - start < 2.0
    _one_line_refusal(result, str(bad), what, "regular files")
    assert not (registry / "models/churn").exists()
    assert snapshot(registry) == before
    cache = registry / ".dvc" / "cache"
    assert not cache.exists() or not any(p.is_file() for p in cache.rglob("*"))


def test_a_device_is_refused(registry, reg):
    _one_line_refusal(reg(registry, "register", "churn", "/dev/zero"), "/dev/zero is a character device")


# -- item 6: skops loading trusts classes, not functions -------------------------------------------

def _svmlight_artifact(tmp_path, target):
    import numpy as np
    import skops.io as sio
    from sklearn.datasets import dump_svmlight_file
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2], [0.9, 0.1]])
    y = np.array([0, 1, 0, 1])
    honest = make_pipeline(FunctionTransformer(), LogisticRegression()).fit(X, y)
    # the attacker's edit: the pipeline's first step now writes a file of their choosing on transform
    honest.steps[0] = ("writer", FunctionTransformer(func=dump_svmlight_file,
                                                     kw_args={"y": np.zeros(1), "f": str(target)}))
    folder = tmp_path / "evil" / "model"
    folder.mkdir(parents=True)
    sio.dump(honest, folder / "model.skops")
    return folder, X


def test_a_sklearn_function_in_a_skops_file_needs_explicit_trust(registry, reg, tmp_path):
    target = tmp_path / "authorized_keys"
    folder, X = _svmlight_artifact(tmp_path, target)
    assert reg(registry, "register", "lr", str(folder), "--format", "skops").exit_code == 0
    name = "sklearn.datasets._svmlight_format_io.dump_svmlight_file"
    with pytest.raises(RegistryError, match=f"not trusted: {name}"):
        reglib.load("lr", path=registry)
    (tmp_path / "x.csv").write_text("a,b\n0.1,0.2\n")
    result = reg(registry, "predict", "lr", "-i", str(tmp_path / "x.csv"), "-o", str(tmp_path / "p.csv"))
    _one_line_refusal(result, f"not trusted: {name}", f"--trust {name}")
    assert not target.exists() and not (tmp_path / "p.csv").exists()
    # the caller's explicit word loads it (and only then could it run)
    model = reglib.load("lr", path=registry, trusted_types=[name])
    assert model.model.steps[0][1].func.__name__ == "dump_svmlight_file"
    assert not target.exists()


def test_estimator_classes_load_without_trust(registry, reg, tmp_path):
    import numpy as np
    import skops.io as sio
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.2], [0.9, 0.1]])
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3, random_state=0)).fit(X, [0, 1, 0, 1])
    # a forest holds sklearn.tree._tree.Tree objects, a class skops does not trust by default: reg does
    assert "sklearn.tree._tree.Tree" in __import__("skops.io").io.get_untrusted_types(data=sio.dumps(pipe))
    folder = tmp_path / "ok" / "model"
    folder.mkdir(parents=True)
    sio.dump(pipe, folder / "model.skops")
    assert reg(registry, "register", "ok", str(folder)).exit_code == 0
    np.testing.assert_allclose(reglib.load("ok", path=registry).predict(X), pipe.predict_proba(X)[:, 1])


# -- item 7: --to replaces only what reg wrote -----------------------------------------------------

def test_pull_to_never_replaces_a_folder_reg_did_not_write(churn, reg, tmp_path):
    project = tmp_path / "project-b"
    (project / "src").mkdir(parents=True)
    (project / "src" / "app.py").write_text("print('mine')\n")
    (project / "manifest.yaml").write_text("name: my-app\n")  # a manifest.yaml alone proves nothing
    result = reg(churn, "pull", "churn/production", "--to", str(project))
    _one_line_refusal(result, "is not an earlier `reg pull --to` folder", ".reg-pull")
    assert (project / "src" / "app.py").read_text() == "print('mine')\n"
    # a folder reg made carries the marker, and is replaced whole the next time
    served = tmp_path / "served"
    assert reg(churn, "pull", "churn/production", "--to", str(served)).exit_code == 0
    assert "reg pull --to" in (served / ".reg-pull").read_text()
    (served / "stale.txt").write_text("left by an older version\n")
    assert reg(churn, "pull", "churn/1", "--to", str(served)).exit_code == 0
    assert not (served / "stale.txt").exists() and (served / ".reg-pull").is_file()
    assert read_manifest_file(served / "manifest.yaml").version == 1


# -- item 8: secrets never print -------------------------------------------------------------------

def _set_webhooks(root, text):
    settings = root / "models/registry.yaml"
    settings.write_text(settings.read_text() + text)
    git(root, "commit", "-qam", "webhooks")


def test_url_env_must_name_a_webhook_variable(registry, reg, artifact, monkeypatch):
    monkeypatch.setenv("REG_SECRET_ACCESS_KEY", "s3cr3t-KEY-value")
    _set_webhooks(registry, "webhooks:\n  - {name: team, url_env: REG_SECRET_ACCESS_KEY}\n")
    result = reg(registry, "register", "churn", str(artifact), "--json")
    assert result.exit_code == 0, result.output
    assert "s3cr3t-KEY-value" not in result.output
    import json

    [warning] = json.loads(result.stdout)["warnings"]
    assert "url_env must name a REG_WEBHOOK_* variable" in warning
    check = reg(registry, "check")
    assert check.exit_code == 1 and "url_env must name a REG_WEBHOOK_* variable" in check.output
    assert "s3cr3t-KEY-value" not in check.output


@pytest.mark.parametrize("url, shown", [
    ("hooks.example.com/services/T000/B000/TOKEN123", "a URL without http:// or https:// and a host"),
    ("http://127.0.0.1:{port}/services/T000/B000/TOKEN123?key=TOKEN123", "http://127.0.0.1: "),
    ("file:///etc/TOKEN123", "a URL without http:// or https:// and a host"),
])
def test_webhook_errors_show_scheme_and_host_at_most(registry, reg, artifact, monkeypatch, url, shown):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("REG_WEBHOOK_TEAM", url.format(port=port))
    _set_webhooks(registry, "webhooks:\n  - {name: team, url_env: REG_WEBHOOK_TEAM}\n")
    for args in (["register", "churn", str(artifact)], ["promote", "churn", "1", "staging", "--json"]):
        result = reg(registry, *args)
        assert result.exit_code == 0, result.output
        assert "TOKEN123" not in result.output and "services" not in result.output and str(port) not in result.output
        assert f"webhook team failed ({shown.rstrip()}" in result.output, result.output


def test_credentials_file_is_private(repo, reg):
    os.umask(0o022)
    result = reg(repo, "init", "--remote", "s3://bucket/prefix", "--endpoint-url", "http://127.0.0.1:9",
                 "--access-key-id", "AKIDEXAMPLE", "--secret-access-key", "s3cr3t")
    assert result.exit_code == 0, result.output
    config = repo / ".dvc/config.local"
    assert "s3cr3t" in config.read_text()
    assert config.stat().st_mode & 0o777 == 0o600
    config.chmod(0o644)  # made wide by hand or by an older reg: the next init narrows it
    assert reg(repo, "init").exit_code == 0
    assert config.stat().st_mode & 0o777 == 0o600
    assert "s3cr3t" not in git(repo, "log", "-p")


def test_at_before_the_registry_existed_is_refused(churn, reg):
    for when in ("1900-01-01", "1972-06-01", "2000-01-01"):
        _one_line_refusal(reg(churn, "show", "churn", "--at", when), "the registry did not exist yet at")
    _one_line_refusal(reg(churn, "show", "churn", "--rev", "HEAD~3"), "the registry did not exist yet at HEAD~3")
    assert reg(churn, "show", "churn", "--at", "2999-01-01").exit_code == 0


# -- the server hook: hostile pushes are refused in one line each, quickly, with no ref changed -----

@pytest.fixture
def hooked(tmp_path, churn, reg):
    bare = hooked_remote(churn, tmp_path / "server.git", reg)
    return bare, make_clone(bare, tmp_path / "attacker")


@pytest.mark.parametrize("attack", ["alias-bomb", "artifact-path", "pointer-path", "oversized", "link", "binary"])
def test_hook_refuses_hostile_files(hooked, attack):
    bare, clone = hooked
    manifest = clone / "models/churn/1/manifest.yaml"
    if attack == "alias-bomb":
        manifest.write_text(manifest.read_text() + BOMB)
        rel, message = "models/churn/1/manifest.yaml", "anchor or alias ('a0', line"
    elif attack == "artifact-path":
        manifest.write_text(manifest.read_text().replace("path: model", "path: ../../../../home/ada/.ssh"))
        rel, message = "models/churn/1/manifest.yaml", "artifact.path is '../../../../home/ada/.ssh'"
    elif attack == "pointer-path":
        pointer = clone / "models/churn/production.dvc"
        pointer.write_text(pointer.read_text().replace("path: production", "path: ../../../etc"))
        rel, message = "models/churn/production.dvc", "tracks path '../../../etc'"
    elif attack == "oversized":
        card = clone / "models/churn/model.yaml"
        card.write_text(card.read_text() + "notes: '" + "x" * (3 << 20) + "'\n")
        rel, message = "models/churn/model.yaml", "over the 1,048,576-byte limit"
    elif attack == "binary":
        manifest.write_text(manifest.read_text() + "extra: !!binary aGVsbG8=\n")
        rel, message = "models/churn/1/manifest.yaml", "holds a !!binary value"
    else:  # where `dvc pull models/churn/production.dvc` writes, a link to the serving host's ~/.ssh
        os.symlink("/root/.ssh", clone / "models/churn/production")
        git(clone, "add", "-f", "models/churn/production")
        rel, message = "models/churn/production", "is a symbolic link"
    git(clone, "commit", "-qam", "innocent-looking change")
    before = git(bare, "rev-parse", "main")
    start = time.monotonic()
    proc = push(clone, "HEAD:main")
    assert time.monotonic() - start < 10.0
    assert proc.returncode != 0, proc.stderr
    assert f"{rel}: " in proc.stderr and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "pre-receive hook declined" in proc.stderr
    assert git(bare, "rev-parse", "main") == before
