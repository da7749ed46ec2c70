"""Issue 11: the artifact store stays consistent. Registration pushes the data before any commit names it;
`reg verify` lists versions whose data is missing or damaged on the (real, local-folder) DVC remote, with
the fix, and `--repair` sends it again from this machine's cache."""
from __future__ import annotations

import json
import shutil

from .conftest import git


def _objects(storage, md5):
    base = storage / "files" / "md5"
    return base / md5[:2] / md5[2:], json.loads((base / md5[:2] / md5[2:]).read_text())


def test_verify_lists_missing_and_damaged_data_and_repair_fixes_it(registry, storage, reg, artifact):
    for i in range(3):
        (artifact / "model.txt").write_text(f"tree\nrun {i}\n")
        assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    result = reg(registry, "verify")
    assert result.exit_code == 0 and "3 version(s) checked on remote reg: all artifacts whole" in result.stdout
    md5s = [json.loads(reg(registry, "show", f"churn/{n}", "--json").stdout)["artifact"]["md5"] for n in (1, 2, 3)]
    _, entries = _objects(storage, md5s[0])
    (storage / "files/md5" / entries[0]["md5"][:2] / entries[0]["md5"][2:]).unlink()  # v1: a file lost
    _, entries = _objects(storage, md5s[1])
    damaged = storage / "files/md5" / entries[0]["md5"][:2] / entries[0]["md5"][2:]
    damaged.chmod(0o644)
    damaged.write_text("not the model\n")  # v2: a file overwritten
    result = reg(registry, "verify", "churn")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("churn v1: missing on the remote") and "reg verify --repair" in lines[0]
    assert lines[1].startswith("churn v2: damaged on the remote") and "reg verify --repair" in lines[1]
    assert lines[-1] == "3 version(s) checked on remote reg: 2 missing or damaged"
    shown = json.loads(reg(registry, "verify", "--json").stdout)
    assert [(p["version"], p["status"]) for p in shown["problems"]] == [(1, "missing"), (2, "damaged")]
    before = (git(registry, "status", "--porcelain"), git(registry, "log", "--format=%H"))
    result = reg(registry, "verify", "--repair")
    assert result.exit_code == 0, result.output
    assert reg(registry, "verify").exit_code == 0
    assert (git(registry, "status", "--porcelain"), git(registry, "log", "--format=%H")) == before


def test_verify_says_when_no_cache_here_has_the_data(registry, storage, reg, artifact):
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    shutil.rmtree(storage / "files")
    shutil.rmtree(registry / ".dvc" / "cache")
    result = reg(registry, "verify")
    assert result.exit_code == 1
    assert "churn v1: missing on the remote" in result.stdout
    assert "reg delete churn 1 --reason" in result.stdout
    assert reg(registry, "verify", "--repair").exit_code == 1  # nothing here to send
