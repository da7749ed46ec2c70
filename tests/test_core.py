"""Issue 2: init, register, list, show, promote, alias, annotate and delete from the CLI and the API,
against real git and real DVC with a local remote."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from registry import Registry
from registry import git as git_layer

from .conftest import git, snapshot
from .servers import bare_remote


def _register(reg, root, artifact, *extra):
    result = reg(root, "register", "churn", str(artifact), *extra)
    assert result.exit_code == 0, result.output
    return result


def _manifest(root: Path, name: str, version: int) -> dict:
    return yaml.safe_load((root / f"models/{name}/{version}/manifest.yaml").read_text())


def _pointer_md5(root: Path, rel: str) -> str:
    return yaml.safe_load((root / rel).read_text())["outs"][0]["md5"]


# -- init ------------------------------------------------------------------------------------------

def test_init_makes_one_commit_and_is_idempotent(repo, storage, reg):
    before = git(repo, "rev-list", "--count", "HEAD")
    result = reg(repo, "init", "--remote", str(storage))
    assert result.exit_code == 0, result.output
    assert "Initialized registry" in result.stdout
    assert int(git(repo, "rev-list", "--count", "HEAD")) == int(before) + 1
    files = git(repo, "show", "--name-only", "--format=", "HEAD").split()
    assert set(files) == {".dvc/config", ".dvc/.gitignore", ".dvcignore", "models/registry.yaml"}
    assert str(storage) in (repo / ".dvc/config").read_text()
    assert git(repo, "status", "--porcelain") == ""

    state = snapshot(repo)
    again = reg(repo, "init")
    assert again.exit_code == 0
    assert "already a registry" in again.stdout
    assert snapshot(repo) == state


def test_init_default_remote_is_a_local_folder(repo, reg, isolated_env):
    result = reg(repo, "init")
    assert result.exit_code == 0, result.output
    expected = isolated_env / "xdg-data" / "reg" / "storage"
    assert expected.is_dir()
    assert str(expected) in (repo / ".dvc/config").read_text()


def test_init_keeps_an_existing_dvc_remote(repo, reg, tmp_path):
    from dvc.repo import Repo

    Repo.init(str(repo))
    theirs = tmp_path / "their-remote"
    (repo / ".dvc/config").write_text(f"[core]\n    remote = theirs\n['remote \"theirs\"']\n    url = {theirs}\n")
    git(repo, "add", ".dvc", ".dvcignore")
    git(repo, "commit", "-qm", "use dvc")
    result = reg(repo, "init")
    assert result.exit_code == 0, result.output
    config = (repo / ".dvc/config").read_text()
    assert "theirs" in config and "remote \"reg\"" not in config
    assert "remote: theirs" in (repo / "models/registry.yaml").read_text()


def test_init_s3_credentials_stay_out_of_the_commit(repo, reg):
    result = reg(repo, "init", "--remote", "s3://models/registry", "--endpoint-url", "http://127.0.0.1:9",
                 "--access-key-id", "AKIDEXAMPLE", "--secret-access-key", "s3cr3t-value")
    assert result.exit_code == 0, result.output
    committed = git(repo, "show", "HEAD")
    assert "s3://models/registry" in committed and "127.0.0.1:9" in committed
    assert "s3cr3t-value" not in committed and "AKIDEXAMPLE" not in committed
    assert "s3cr3t-value" in (repo / ".dvc/config.local").read_text()


def test_init_outside_git_fails_cleanly(tmp_path, reg):
    plain = tmp_path / "plain"
    plain.mkdir()
    result = reg(plain, "init")
    assert result.exit_code == 1
    assert "not inside a git repository" in result.stderr
    assert "Traceback" not in result.output
    assert not (plain / ".dvc").exists()


# -- register --------------------------------------------------------------------------------------

def test_register_stores_tracks_pushes_and_tags(registry, reg, artifact, metrics_file, storage):
    (registry / "params.yaml").write_text("train:\n  learning_rate: 0.05\n  num_leaves: 31\n")
    git(registry, "add", "params.yaml")
    git(registry, "commit", "-qm", "params")
    result = _register(reg, registry, artifact, "--metrics", str(metrics_file), "--description", "first one",
                       "--tag", "team=growth", "--alias", "champion")
    assert "churn v1" in result.stdout

    m = _manifest(registry, "churn", 1)
    assert m["model"] == "churn" and m["version"] == 1 and m["stage"] == "none"
    assert m["metrics"] == {"roc_auc": 0.91, "f1": 0.84, "log_loss": 0.31}
    assert m["lineage"]["git_sha"] == git(registry, "rev-parse", "HEAD~1").strip()
    assert m["lineage"]["git_dirty"] is False
    assert m["lineage"]["params"] == {"train": {"learning_rate": 0.05, "num_leaves": 31}}
    assert "python" in m["lineage"]["environment"]
    assert m["created_by"] == "Ada Lovelace <ada@example.com>"
    assert m["artifact"]["files"] == 2 and m["artifact"]["format"] == "lightgbm"
    assert m["aliases"] == ["champion"] and m["tags"] == {"team": "growth"}
    assert m["description"] == "first one"

    # The artifact is a DVC-tracked folder, its bytes are in the remote, git ignores the folder.
    assert (registry / "models/churn/1/model/model.txt").read_text() == (artifact / "model.txt").read_text()
    md5 = _pointer_md5(registry, "models/churn/1/model.dvc")
    assert md5 == m["artifact"]["md5"] and md5.endswith(".dir")
    assert (storage / "files" / "md5" / md5[:2] / md5[2:]).is_file()
    assert _pointer_md5(registry, "models/churn/champion.dvc") == md5
    assert git(registry, "status", "--porcelain") == ""

    assert git(registry, "log", "-1", "--format=%s").strip() == "reg: register churn v1"
    assert git(registry, "tag", "-l").split() == ["churn@v1"]
    assert git(registry, "cat-file", "-t", "churn@v1").strip() == "tag"  # annotated
    assert (registry / "models/churn/model.yaml").is_file()


def test_register_a_single_file_and_numbers_increase(registry, reg, artifact):
    _register(reg, registry, artifact)
    result = _register(reg, registry, artifact / "model.txt")
    assert "churn v2" in result.stdout
    assert (registry / "models/churn/2/model/model.txt").is_file()
    assert _manifest(registry, "churn", 2)["artifact"]["files"] == 1


def test_register_leaves_the_users_staged_file_alone(registry, reg, artifact):
    (registry / "notes.txt").write_text("work in progress\n")
    git(registry, "add", "notes.txt")
    _register(reg, registry, artifact)
    assert "notes.txt" not in git(registry, "show", "--name-only", "--format=", "HEAD")
    assert git(registry, "diff", "--cached", "--name-only").split() == ["notes.txt"]


def test_register_records_dvc_lock_data_hashes(registry, reg, artifact):
    (registry / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n"
        "    - path: data/churn.csv\n      md5: 9b1e0000000000000000000000000000\n      size: 10\n"
        "    - path: train.py\n      md5: aaaa0000000000000000000000000000\n      size: 5\n")
    git(registry, "add", "dvc.lock")
    git(registry, "commit", "-qm", "lock")
    _register(reg, registry, artifact)
    assert _manifest(registry, "churn", 1)["lineage"]["data"] == {"data/churn.csv": "9b1e0000000000000000000000000000"}


@pytest.mark.parametrize("name", ["Churn", "a/b", "..", "a..b", "has space", "-x", "", "x" * 65, "registry.yaml"])
def test_register_refuses_bad_model_names(registry, reg, artifact, name):
    before = snapshot(registry)
    result = reg(registry, "register", "--", name, str(artifact))
    assert result.exit_code != 0
    assert "invalid model name" in result.stderr or "reserved" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(registry) == before


@pytest.mark.parametrize("path", ["does/not/exist", ""])
def test_register_refuses_missing_artifact(registry, reg, path):
    before = snapshot(registry)
    result = reg(registry, "register", "churn", path)
    assert result.exit_code == 1
    assert "does not exist" in result.stderr
    assert snapshot(registry) == before


def test_register_refuses_empty_artifact(registry, reg, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(empty))
    assert result.exit_code == 1 and "is empty" in result.stderr
    assert snapshot(registry) == before
    assert not (registry / "models/churn").exists()


def test_register_needs_init(repo, reg, artifact):
    before = snapshot(repo)
    result = reg(repo, "register", "churn", str(artifact))
    assert result.exit_code == 1 and "reg init" in result.stderr
    assert snapshot(repo) == before


# -- list and show ---------------------------------------------------------------------------------

@pytest.fixture
def three_versions(registry, reg, artifact, metrics_file):
    for n in range(1, 4):
        (artifact / "model.txt").write_text(f"tree\nversion=v4\n# trained run {n}\n")
        _register(reg, registry, artifact, "--metrics", str(metrics_file))
    return registry


def test_list_and_show(three_versions, reg):
    root = three_versions
    assert reg(root, "promote", "churn", "2", "production").exit_code == 0
    assert reg(root, "promote", "churn", "3", "staging").exit_code == 0
    assert reg(root, "alias", "churn", "2", "champion").exit_code == 0

    listed = reg(root, "list")
    assert listed.exit_code == 0
    row = next(line for line in listed.stdout.splitlines() if "churn" in line)
    assert "v3" in row and "v2" in row and "@champion=v2" in row

    data = json.loads(reg(root, "list", "--json").stdout)
    assert data == [{"name": "churn", "latest": 3, "versions": 3, "staging": 3, "production": 2,
                     "aliases": {"champion": 2}, "description": ""}]

    shown = reg(root, "show", "churn")
    assert shown.exit_code == 0
    lines = shown.stdout.splitlines()
    assert any("v2" in ln and "production" in ln and "@champion" in ln for ln in lines)
    assert any("roc_auc" in ln for ln in lines)
    versions = json.loads(reg(root, "show", "churn", "--json").stdout)
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[1]["stage"] == "production"


@pytest.mark.parametrize("ref", ["churn/2", "churn/v2", "churn/production", "churn/Production", "churn@champion",
                                 "models:/churn/2", "models:/churn/Production", "models:/churn@champion"])
def test_show_any_ref_form(three_versions, reg, ref):
    root = three_versions
    reg(root, "promote", "churn", "2", "production")
    reg(root, "alias", "churn", "2", "champion")
    result = reg(root, "show", ref, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"] == 2 and data["model"] == "churn"
    assert data == _manifest(root, "churn", 2) | {"created_at": data["created_at"]}


def test_show_latest_and_text(three_versions, reg):
    result = reg(three_versions, "show", "churn/latest")
    assert result.exit_code == 0 and "churn v3" in result.stdout and "md5:" in result.stdout


@pytest.mark.parametrize("ref,message", [
    ("nope", "unknown model 'nope'"),
    ("churn/9", "churn has no version 9"),
    ("churn/0", "invalid version '0'"),
    ("churn/-1", "invalid version '-1'"),
    ("churn/abc", "neither a version number nor a stage"),
    ("churn/production", "no version of churn is in production"),
    ("churn@nobody", "churn has no alias 'nobody'"),
])
def test_show_bad_refs(three_versions, reg, ref, message):
    result = reg(three_versions, "show", ref)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unparseable_manifest_is_named(three_versions, reg):
    path = three_versions / "models/churn/2/manifest.yaml"
    path.write_text("model: churn\nversion: [unclosed\n")
    result = reg(three_versions, "show", "churn")
    assert result.exit_code == 1
    assert "models/churn/2/manifest.yaml is not valid YAML" in result.stderr
    before = snapshot(three_versions)
    result = reg(three_versions, "promote", "churn", "1", "staging")
    assert result.exit_code == 1
    assert snapshot(three_versions) == before


# -- promote and archive ---------------------------------------------------------------------------

def test_promote_archives_previous_production_in_one_commit(three_versions, reg):
    root = three_versions
    result = reg(root, "promote", "churn", "1", "production", "--reason", "first launch")
    assert result.exit_code == 0, result.output
    assert _pointer_md5(root, "models/churn/production.dvc") == _manifest(root, "churn", 1)["artifact"]["md5"]
    commits = int(git(root, "rev-list", "--count", "HEAD"))

    result = reg(root, "promote", "churn", "2", "Production", "--reason", "better recall")
    assert result.exit_code == 0, result.output
    assert "Promoted churn v2 to production; archived v1" in result.stdout
    assert int(git(root, "rev-list", "--count", "HEAD")) == commits + 1
    assert _manifest(root, "churn", 1)["stage"] == "archived"
    assert _manifest(root, "churn", 2)["stage"] == "production"
    assert _pointer_md5(root, "models/churn/production.dvc") == _manifest(root, "churn", 2)["artifact"]["md5"]
    assert yaml.safe_load((root / "models/churn/production.dvc").read_text())["outs"][0]["path"] == "production"
    assert "/production" in (root / "models/churn/.gitignore").read_text().split()

    message = git(root, "log", "-1", "--format=%B")
    assert message.startswith("reg: promote churn v2 to production")
    assert "better recall" in message
    for trailer in ("Reg-Action: promote", "Reg-Model: churn", "Reg-Version: 2", "Reg-From: none",
                    "Reg-To: production"):
        assert trailer in message
    assert git(root, "tag", "-l", "churn#*").split() == ["churn#production#1", "churn#production#2"]
    assert "better recall" in git(root, "tag", "-l", "-n9", "churn#production#2")
    changed = set(git(root, "show", "--name-only", "--format=", "HEAD").split())
    assert changed == {"models/churn/1/manifest.yaml", "models/churn/2/manifest.yaml", "models/churn/production.dvc"}


def test_promote_keep_existing_and_staging_and_archive(three_versions, reg):
    root = three_versions
    reg(root, "promote", "churn", "1", "production")
    assert reg(root, "promote", "churn", "2", "production", "--keep-existing").exit_code == 0
    assert _manifest(root, "churn", 1)["stage"] == "production"
    assert reg(root, "promote", "churn", "3", "STAGING").exit_code == 0
    assert _manifest(root, "churn", 3)["stage"] == "staging"
    assert (root / "models/churn/staging.dvc").is_file()
    assert reg(root, "archive", "churn", "3").exit_code == 0
    assert _manifest(root, "churn", 3)["stage"] == "archived"
    assert not (root / "models/churn/staging.dvc").exists()
    assert "staging" not in (root / "models/churn/.gitignore").read_text()


@pytest.mark.parametrize("args,message", [
    (["nope", "1", "production"], "unknown model 'nope'"),
    (["churn", "9", "production"], "churn has no version 9"),
    (["churn", "0", "production"], "invalid version '0'"),
    (["churn", "abc", "production"], "invalid version 'abc'"),
    (["churn", "1", "prod"], "unknown stage 'prod'"),
])
def test_promote_bad_input_changes_nothing(three_versions, reg, args, message):
    before = snapshot(three_versions)
    result = reg(three_versions, "promote", *args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(three_versions) == before


def test_promote_negative_version_is_refused(three_versions, reg):
    before = snapshot(three_versions)
    for args in (["churn", "--", "-1", "production"], ["churn", "-1", "production"]):
        result = reg(three_versions, "promote", *args)
        assert result.exit_code == 1 and "error: invalid version '-1'" in result.stderr
        assert "Traceback" not in result.output
    assert snapshot(three_versions) == before


def test_usage_errors_are_one_line_without_traceback(three_versions, reg):
    result = reg(three_versions, "promote", "churn", "2", "staging", "--bogus")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "No such option: --bogus" in result.stderr and "promote --help" in result.stderr


def test_mutations_refuse_dirty_registry_paths(three_versions, reg):
    root = three_versions
    (root / "models/churn/1/manifest.yaml").write_text(
        (root / "models/churn/1/manifest.yaml").read_text() + "# hand edit\n")
    before = snapshot(root)
    result = reg(root, "promote", "churn", "2", "production")
    assert result.exit_code == 1
    assert "models/churn/1/manifest.yaml has uncommitted changes" in result.stderr
    assert snapshot(root) == before


def test_a_staged_rename_counts_both_its_paths_as_uncommitted(three_versions, reg):
    # git status -z gives a rename as "R  new" then the old path in a field of its own, without status letters
    root = three_versions
    git(root, "mv", "models/churn/1/manifest.yaml", "models/churn/1/renamed.yaml")
    assert git_layer.dirty_paths(root, ["models"]) == ["models/churn/1/renamed.yaml", "models/churn/1/manifest.yaml"]
    assert git_layer.is_modified(root / "models", ["churn"], untracked=False)
    before = snapshot(root)
    result = reg(root, "promote", "churn", "2", "production")
    assert result.exit_code == 1
    assert "models/churn/1/renamed.yaml (and 1 more) has uncommitted changes" in result.stderr
    assert snapshot(root) == before


def test_mutations_refuse_during_a_merge(three_versions, reg):
    root = three_versions
    git(root, "checkout", "-qb", "side")
    (root / "README.md").write_text("side\n")
    git(root, "commit", "-qam", "side")
    git(root, "checkout", "-q", "main")
    (root / "README.md").write_text("main\n")
    git(root, "commit", "-qam", "main")
    git(root, "merge", "side", check=False)  # conflicts: merge in progress
    before = snapshot(root)
    result = reg(root, "promote", "churn", "1", "production")
    assert result.exit_code == 1 and "a merge is in progress" in result.stderr
    assert snapshot(root) == before


def test_not_a_git_repository(tmp_path, reg):
    result = reg(tmp_path, "list")
    assert result.exit_code == 1 and "not inside a git repository" in result.stderr


# -- aliases ---------------------------------------------------------------------------------------

def test_alias_moves_and_deletes(three_versions, reg):
    root = three_versions
    assert reg(root, "alias", "churn", "1", "champion").exit_code == 0
    assert _pointer_md5(root, "models/churn/champion.dvc") == _manifest(root, "churn", 1)["artifact"]["md5"]
    assert reg(root, "alias", "churn", "3", "champion").exit_code == 0
    assert _manifest(root, "churn", 1)["aliases"] == []
    assert _manifest(root, "churn", 3)["aliases"] == ["champion"]
    assert git(root, "log", "-1", "--format=%s").strip() == "reg: alias churn v3 as champion"
    assert json.loads(reg(root, "show", "churn@champion", "--json").stdout)["version"] == 3
    assert reg(root, "alias", "churn", "--delete", "champion").exit_code == 0
    assert not (root / "models/churn/champion.dvc").exists()
    assert _manifest(root, "churn", 3)["aliases"] == []


@pytest.mark.parametrize("alias,message", [
    ("production", "it is a stage name"),
    ("Staging", "invalid alias"),
    ("7", "cannot look like a version number"),
    ("v7", "cannot look like a version number"),
    ("bad/name", "invalid alias"),
])
def test_alias_bad_names(three_versions, reg, alias, message):
    before = snapshot(three_versions)
    result = reg(three_versions, "alias", "churn", "1", alias)
    assert result.exit_code == 1
    assert message in result.stderr
    assert snapshot(three_versions) == before


def test_alias_delete_unknown(three_versions, reg):
    before = snapshot(three_versions)
    result = reg(three_versions, "alias", "churn", "--delete", "champion")
    assert result.exit_code == 1 and "no alias 'champion'" in result.stderr
    assert snapshot(three_versions) == before


# -- annotate --------------------------------------------------------------------------------------

def test_annotate_model_and_version(three_versions, reg):
    root = three_versions
    assert reg(root, "annotate", "churn", "--description", "Predicts churn", "--tag", "team=growth").exit_code == 0
    card = yaml.safe_load((root / "models/churn/model.yaml").read_text())
    assert card["description"] == "Predicts churn" and card["tags"] == {"team": "growth"}
    assert "# Model card" in (root / "models/churn/model.yaml").read_text()  # comments survive

    assert reg(root, "annotate", "churn/2", "--description", "October data", "--tag", "owner=ada",
               "--tag", "x=1").exit_code == 0
    assert reg(root, "annotate", "churn/2", "--untag", "x").exit_code == 0
    m = _manifest(root, "churn", 2)
    assert m["description"] == "October data" and m["tags"] == {"owner": "ada"}
    assert git(root, "log", "-1", "--format=%s").strip() == "reg: annotate churn v2"
    diff = git(root, "show", "--format=", "HEAD")
    assert diff.count("\n-") + diff.count("\n+") <= 6  # only the changed lines show in review


@pytest.mark.parametrize("args,message", [
    (["churn"], "nothing to annotate"),
    (["churn/2", "--untag", "missing"], "has no tag 'missing'"),
    (["churn/2", "--tag", "novalue"], "write tags as key=value"),
    (["nope", "--description", "x"], "unknown model 'nope'"),
])
def test_annotate_bad_input(three_versions, reg, args, message):
    before = snapshot(three_versions)
    result = reg(three_versions, "annotate", *args)
    assert result.exit_code == 1 and message in result.stderr
    assert snapshot(three_versions) == before


# -- delete ----------------------------------------------------------------------------------------

def test_delete_leaves_tombstone_and_never_reuses_number(three_versions, reg, artifact):
    root = three_versions
    reg(root, "alias", "churn", "3", "challenger")
    assert reg(root, "delete", "churn", "3", "--reason", "trained on leaked data").exit_code == 0
    m = _manifest(root, "churn", 3)
    assert m["deleted"] is True and m["deleted_reason"] == "trained on leaked data"
    assert m["deleted_by"] == "Ada Lovelace <ada@example.com>" and m["aliases"] == []
    assert not (root / "models/churn/3/model.dvc").exists()
    assert not (root / "models/churn/challenger.dvc").exists()
    assert git(root, "status", "--porcelain") == ""
    assert [v["version"] for v in json.loads(reg(root, "show", "churn", "--json").stdout)] == [1, 2]
    result = _register(reg, root, artifact)
    assert "churn v4" in result.stdout

    before = snapshot(root)
    result = reg(root, "promote", "churn", "3", "staging")
    assert result.exit_code == 1 and "was deleted" in result.stderr
    assert reg(root, "alias", "churn", "3", "x").exit_code == 1
    assert snapshot(root) == before


def test_delete_refuses_production_unless_forced(three_versions, reg):
    root = three_versions
    reg(root, "promote", "churn", "2", "production")
    before = snapshot(root)
    result = reg(root, "delete", "churn", "2", "--reason", "oops")
    assert result.exit_code == 1 and "is in production" in result.stderr and "--force" in result.stderr
    assert snapshot(root) == before
    assert reg(root, "delete", "churn", "2", "--reason", "oops", "--force").exit_code == 0
    assert not (root / "models/churn/production.dvc").exists()


def test_delete_needs_a_reason(three_versions, reg):
    before = snapshot(three_versions)
    result = reg(three_versions, "delete", "churn", "1")
    assert result.exit_code == 1 and "needs a reason" in result.stderr
    assert snapshot(three_versions) == before


# -- the Python API --------------------------------------------------------------------------------

def test_python_api(registry, artifact, metrics_file):
    r = Registry(registry)
    v1 = r.register("churn", artifact, metrics={"roc_auc": 0.9}).result
    v2 = r.register("churn", artifact, alias="challenger").result
    assert (v1.version, v2.version) == (1, 2)
    r.promote("churn", 1, "production", reason="launch")
    r.alias("churn", 1, "champion")
    r.annotate("churn/1", tags={"k": "v"})
    r.delete("churn", 2, reason="superseded")
    assert r.resolve("churn/production").version == 1
    assert r.resolve("models:/churn@champion").version == 1
    assert r.resolve("churn").version == 1
    assert [m.name for m in r.models()] == ["churn"]
    assert [v.version for v in r.versions("churn")] == [1]
    assert [v.version for v in r.versions("churn", include_deleted=True)] == [1, 2]
    assert r.resolve("churn/1").tags == {"k": "v"}
    # 2 register + promote + alias + annotate + delete, plus initial and init
    assert int(git(registry, "rev-list", "--count", "HEAD")) == 8


def test_read_path_does_not_import_heavy_libraries(three_versions):
    import subprocess
    import sys

    code = ("import sys; from registry import Registry; r = Registry(sys.argv[1]); r.resolve('churn/1'); "
            "r.models(); import cli.main; print(' '.join(m for m in ('dvc', 'lightgbm', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(three_versions)], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_cache_is_derived_and_safe_to_delete(three_versions, reg):
    root = three_versions
    for manifest in root.glob("models/churn/*/manifest.yaml"):
        os.utime(manifest, (1_700_000_000, 1_700_000_000))  # older than the racy window
    first = reg(root, "show", "churn", "--json").stdout
    cache = root / ".git/reg/cache.json"
    assert cache.is_file()
    cache.unlink()
    assert reg(root, "show", "churn", "--json").stdout == first
    cache.write_text("{not json")
    assert reg(root, "show", "churn", "--json").stdout == first
    # An edit that keeps the size but changes mtime is seen, not served stale from the cache.
    path = root / "models/churn/1/manifest.yaml"
    path.write_text(path.read_text().replace("stage: none", "stage: nnnn"))
    assert json.loads(reg(root, "show", "churn/1", "--json").stdout)["stage"] == "nnnn"


def test_mutations_refuse_an_untracked_file_where_they_would_write(three_versions, reg):
    root = three_versions
    (root / "models/churn/staging.dvc").write_text("outs: []\n")
    before = snapshot(root)
    result = reg(root, "promote", "churn", "2", "staging")
    assert result.exit_code == 1
    assert "models/churn/staging.dvc has uncommitted changes" in result.stderr
    assert snapshot(root) == before


@pytest.mark.parametrize("field,value", [("metrics", "5"), ("artifact", "[a]"), ("lineage", "x")])
def test_manifest_field_of_the_wrong_type_is_named(three_versions, reg, field, value):
    # A hand edit such as `metrics: 5` used to surface as "unexpected TypeError" from `reg show`.
    path = three_versions / "models/churn/2/manifest.yaml"
    data = yaml.safe_load(path.read_text())
    data[field] = yaml.safe_load(value)
    path.write_text(yaml.safe_dump(data))
    git(three_versions, "commit", "-qam", "hand edit")
    before = snapshot(three_versions)
    for args in (("show", "churn"), ("list",), ("promote", "churn", "1", "staging")):
        result = reg(three_versions, *args)
        assert result.exit_code == 1, result.output
        assert f"models/churn/2/manifest.yaml: '{field}' must be a" in result.stderr
        assert "unexpected" not in result.stderr
    assert snapshot(three_versions) == before


@pytest.mark.parametrize("args, says", [
    # Each used to leave `dvc init`'s files staged (or .dvc/config half edited) after failing.
    (["--remote", "foo://bar"], "error: could not configure DVC remote 'reg'"),
    (["--remote", "LOCAL", "--endpoint-url", "http://127.0.0.1:9"], "error: --endpoint-url applies only to an s3://"),
    (["--remote", "s3://"], "error: --remote 's3://' names no bucket"),
    (["--remote", "FILE"], "is a file: give a folder"),  # was "unexpected FileExistsError"
])
def test_init_bad_remote_leaves_the_repository_as_it_was(repo, reg, tmp_path, args, says):
    (tmp_path / "afile").write_text("x")
    args = [str(tmp_path / "store") if a == "LOCAL" else str(tmp_path / "afile") if a == "FILE" else a for a in args]
    before = snapshot(repo)
    result = reg(repo, "init", *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert snapshot(repo) == before
    assert not (repo / ".dvc").exists() and not (repo / ".dvcignore").exists()


def test_init_bad_remote_in_a_registry_keeps_dvc_config(registry, reg):
    config = (registry / ".dvc/config").read_text()
    before = snapshot(registry)
    result = reg(registry, "init", "--remote", "foo://bar")
    assert result.exit_code == 1, result.output
    assert snapshot(registry) == before
    assert (registry / ".dvc/config").read_text() == config


def test_init_local_remote_ignores_s3_credentials_from_the_environment(repo, reg, tmp_path, monkeypatch):
    monkeypatch.setenv("REG_ACCESS_KEY_ID", "AKIDEXAMPLE")
    result = reg(repo, "init", "--remote", str(tmp_path / "store"))
    assert result.exit_code == 0, result.output
    assert not (repo / ".dvc/config.local").exists()


@pytest.mark.parametrize("call, says", [
    # metrics=[...] used to raise TypeError after copying the artifact in, leaving models/churn/2/ behind;
    # a text metric or a nested tag value used to be committed as is.
    (lambda r, a: r.register("churn", a, metrics=[1]), "metrics must be a mapping"),
    (lambda r, a: r.register("churn", a, metrics={"roc_auc": "high"}), "invalid metric 'roc_auc'"),
    (lambda r, a: r.register("churn", a, tags={"team": {"a": 1}}), "invalid tag 'team'"),
    (lambda r, a: r.annotate("churn/1", tags="team=growth"), "tags must be a mapping"),
    (lambda r, a: r.annotate("churn", tags={"": "x"}), "invalid tag key ''"),
])
def test_python_api_bad_metrics_and_tags_change_nothing(registry, artifact, call, says):
    from registry import RegistryError

    r = Registry(registry)
    r.register("churn", artifact)
    before = snapshot(registry)
    with pytest.raises(RegistryError, match=says):
        call(r, artifact)
    assert snapshot(registry) == before
    assert not (registry / "models/churn/2").exists()


@pytest.mark.parametrize("text", ['{"roc_auc": "high"}', "{}"])
def test_metrics_file_without_numbers_is_refused(registry, reg, artifact, tmp_path, text):
    # Used to register a version with `metrics: {}` and say nothing.
    path = tmp_path / "metrics.json"
    path.write_text(text)
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(artifact), "--metrics", str(path))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (f"error: metrics file {path} holds no numbers; write metrics as name: number "
                                     '(e.g. {"roc_auc": 0.84})')
    assert snapshot(registry) == before


def test_list_outside_a_registry_says_to_init(repo, reg):
    # Used to suggest `reg register`, which then refused with "not a registry yet".
    result = reg(repo, "list")
    assert result.exit_code == 0, result.output
    assert "not a registry yet; run `reg init`" in result.stdout


def test_push_without_a_remote_or_branch_changes_nothing(three_versions, reg, tmp_path):
    # Used to commit, then fail with git's last line "(and the repository exists.)" and exit 1.
    before = snapshot(three_versions)
    result = reg(three_versions, "promote", "churn", "1", "staging", "--push")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == ("error: there is no git remote 'origin' to push to: add it (`git remote add "
                                     "origin URL`), set git_remote in models/registry.yaml, or pass --no-push")
    assert snapshot(three_versions) == before

    bare_remote(three_versions, tmp_path / "origin.git", push=())
    git(three_versions, "checkout", "-q", "--detach")
    before = snapshot(three_versions)
    result = reg(three_versions, "promote", "churn", "1", "staging", "--push")
    assert result.exit_code == 1, result.output
    assert "HEAD is detached, so there is no branch to push" in result.stderr
    assert snapshot(three_versions) == before


def test_list_shows_every_version_in_a_shared_stage(three_versions, reg):
    # staging is not exclusive: `reg list` used to show only v2 while v1 was in staging too.
    for n in ("1", "2"):
        assert reg(three_versions, "promote", "churn", n, "staging").exit_code == 0
    row = next(ln for ln in reg(three_versions, "list").stdout.splitlines() if ln.startswith("churn"))
    assert row.split()[3:5] == ["v2,", "v1"]
    # JSON keeps naming the version `churn/staging` resolves to.
    assert json.loads(reg(three_versions, "list", "--json").stdout)[0]["staging"] == 2


def test_register_refuses_leftover_files_where_the_next_version_goes(three_versions, reg, artifact):
    # Files git ignores (a model/ working copy) at models/churn/4/ used to end in "unexpected OSError".
    stray = three_versions / "models/churn/4/model"
    stray.mkdir(parents=True)
    (stray / "weights.bin").write_text("old")
    (three_versions / ".git/info/exclude").write_text("models/churn/4/\n")
    before = snapshot(three_versions)
    result = reg(three_versions, "register", "churn", str(artifact))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == ("error: models/churn/4/ holds files left from an earlier version 4 whose "
                                     "manifest is gone; remove them (rm -r models/churn/4) and register again")
    assert snapshot(three_versions) == before and (stray / "weights.bin").read_text() == "old"


def test_mutation_json_keeps_the_versions_own_tags(three_versions, reg):
    # The git tags made used to overwrite the manifest's `tags` in every mutation's --json output,
    # and `reg annotate MODEL` printed the card as it was before the change (nothing, in JSON).
    out = json.loads(reg(three_versions, "annotate", "churn/2", "--tag", "team=growth", "--json").stdout)
    assert out["tags"] == {"team": "growth"} and out["git_tags"] == [] and len(out["commit"]) == 40
    out = json.loads(reg(three_versions, "promote", "churn", "2", "production", "--json").stdout)
    assert out["tags"] == {"team": "growth"} and out["git_tags"] == ["churn#production#1"]
    out = json.loads(reg(three_versions, "annotate", "churn", "--description", "Churn", "--tag", "k=v",
                         "--json").stdout)
    assert out["description"] == "Churn" and out["tags"] == {"k": "v"}
    assert Registry(three_versions).annotate("churn", description="Again").result.description == "Again"


def test_gto_style_version_ref_says_how_to_write_it(three_versions, reg):
    result = reg(three_versions, "show", "churn@v2")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: churn has no alias 'v2'; for version 2 write churn/2"


def test_unknown_model_hint_names_only_models(three_versions, reg):
    # A plain folder under models/ used to be offered: "unknown model 'old'; registered models: churn, old".
    (three_versions / "models/old").mkdir()
    (three_versions / "models/old/weights.pt").write_text("x")
    result = reg(three_versions, "show", "old")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unknown model 'old'; registered models: churn"


def test_no_git_identity_is_one_line_and_init_leaves_nothing_staged(repo, reg, tmp_path, monkeypatch):
    # Used to fail in `git commit-tree` with git's own words, leaving dvc init's files staged ("AD").
    empty = tmp_path / "empty.gitconfig"
    empty.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty))
    git(repo, "config", "user.useConfigOnly", "true")
    before = snapshot(repo)
    result = reg(repo, "init", "--remote", str(tmp_path / "store"))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        "error: git does not know who you are, and every registry change records it: run "
        '`git config user.name "Your Name"` and `git config user.email you@example.com`')
    assert snapshot(repo) == before
    assert not (repo / ".dvc").exists() and not (repo / "models").exists()


def test_folder_with_only_ignored_content_is_an_empty_artifact(registry, reg, tmp_path):
    # Used to register a version with `files: 0`: .git, .dvc and __pycache__ are never copied in.
    src = tmp_path / "out"
    (src / "__pycache__").mkdir(parents=True)
    (src / "__pycache__/train.cpython-311.pyc").write_bytes(b"\x00")
    (src / ".git").mkdir()
    (src / ".git/HEAD").write_text("ref: refs/heads/main\n")
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(src))
    assert result.exit_code == 1, result.output
    assert f"error: artifact folder {src} holds no model files" in result.stderr
    assert snapshot(registry) == before and not (registry / "models/churn").exists()


def test_git_ignored_models_folder_is_named(repo, reg, storage, artifact):
    # Many ML repositories ignore models/: DVC then refused with "could not push remote ... check the
    # remote URL, credentials", and init committed an ignored registry.yaml.
    (repo / ".gitignore").write_text("models/\n")
    git(repo, "add", ".gitignore")
    git(repo, "commit", "-qm", "ignore models")
    before = snapshot(repo)
    result = reg(repo, "init", "--remote", str(storage))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == ("error: models/registry.yaml is ignored by git (.gitignore:1:models/); the "
                                     "registry lives under models/: remove that rule or add `!/models/` after it, "
                                     "then retry")
    assert snapshot(repo) == before
    (repo / ".gitignore").write_text("models/\n!/models/\n")
    git(repo, "commit", "-qam", "but not the registry")
    assert reg(repo, "init", "--remote", str(storage)).exit_code == 0
    assert reg(repo, "register", "churn", str(artifact)).exit_code == 0


def test_global_options_after_the_command_say_where_they_go(three_versions, reg):
    # `reg promote churn 9 staging --debug` used to answer only "No such option: --debug".
    result = reg(three_versions, "promote", "churn", "9", "staging", "--debug")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --debug goes before the command: `reg --debug promote ...`"
    result = reg(three_versions, "show", "churn", "-C", str(three_versions))
    assert result.stderr.strip() == "error: -C goes before the command: `reg -C PATH show ...`"


def test_show_says_how_many_deleted_versions_it_hides(three_versions, reg):
    # With every version deleted, `reg show churn` used to print an empty table and nothing else.
    for n in ("1", "2", "3"):
        assert reg(three_versions, "delete", "churn", n, "--reason", "gone").exit_code == 0
    result = reg(three_versions, "show", "churn")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "(3 deleted versions not shown; add --deleted)"


def test_bare_repository_says_to_clone(tmp_path, reg):
    bare = tmp_path / "models.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    before = sorted(str(p) for p in bare.rglob("*"))
    result = reg(bare, "init")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"error: {bare} is a bare git repository (no working tree): clone it "
                                     f"(`git clone {bare}`) and run reg in the clone")
    assert sorted(str(p) for p in bare.rglob("*")) == before
