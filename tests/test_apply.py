"""The one place that applies a change: failures leave nothing behind, mutations are serialised."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import git, snapshot

ROOT = Path(__file__).resolve().parents[1]


def test_failure_after_commit_undoes_everything(registry, reg, artifact):
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    before = snapshot(registry)
    # Another git process holds the ref lock of the tag this registration will create.
    lock = registry / ".git/refs/tags/churn@v2.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text("")
    result = reg(registry, "register", "churn", str(artifact))
    assert result.exit_code == 1
    assert "git tag" in result.stderr
    lock.unlink()
    assert snapshot(registry) == before
    assert not (registry / "models/churn/2").exists()
    # And the registry still works: the number was not burnt.
    result = reg(registry, "register", "churn", str(artifact))
    assert result.exit_code == 0 and "churn v2" in result.stdout


def test_held_index_lock_is_reported(registry, reg, artifact):
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    (registry / ".git/index.lock").write_text("")
    before = snapshot(registry)
    result = reg(registry, "promote", "churn", "1", "staging")
    assert result.exit_code == 1 and "index.lock" in result.stderr
    (registry / ".git/index.lock").unlink()
    assert snapshot(registry) == before


def _reg_process(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "-C", str(root), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})


def test_concurrent_registrations_get_distinct_numbers(registry, reg, artifact):
    procs = [_reg_process(registry, "register", "churn", str(artifact), "--description", f"run {i}") for i in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    versions = json.loads(reg(registry, "show", "churn", "--json").stdout)
    assert sorted(v["version"] for v in versions) == [1, 2, 3]
    assert sorted(v["description"] for v in versions) == ["run 0", "run 1", "run 2"]
    assert git(registry, "status", "--porcelain") == ""
    assert len(git(registry, "log", "--format=%s", "--grep=^reg: register").splitlines()) == 3


def test_debug_shows_a_traceback_and_default_does_not(registry):
    plain = subprocess.run([sys.executable, "-m", "cli", "-C", str(registry), "show", "nope"], capture_output=True,
                           text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert plain.returncode == 1
    assert plain.stderr.strip() == "error: unknown model 'nope'; register one with `reg register`"
    debug = subprocess.run([sys.executable, "-m", "cli", "-C", str(registry), "--debug", "show", "nope"],
                           capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "NotFound" in debug.stderr
