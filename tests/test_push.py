"""Pushing registry commits to a real bare remote: --push, push: true, and replay after a rejected push."""
from __future__ import annotations

import json

import yaml

from .conftest import git
from .servers import bare_remote, make_clone


def test_push_flag_pushes_commit_and_tags(tmp_path, registry, reg, artifact):
    bare = bare_remote(registry, tmp_path / "origin.git")
    result = reg(registry, "register", "churn", str(artifact), "--push")
    assert result.exit_code == 0, result.output
    assert "pushed" in result.stdout
    assert git(bare, "rev-parse", "main") == git(registry, "rev-parse", "HEAD")
    assert "churn@v1" in git(bare, "tag", "-l")
    # Without --push nothing leaves the machine.
    reg(registry, "promote", "churn", "1", "staging")
    assert git(bare, "rev-parse", "main") != git(registry, "rev-parse", "HEAD")
    assert "churn#staging#1" not in git(bare, "tag", "-l")


def test_rejected_push_replays_and_renumbers(tmp_path, registry, reg, artifact):
    bare = bare_remote(registry, tmp_path / "origin.git")
    other = make_clone(bare, tmp_path / "colleague")
    # Both start from the same head; the colleague registers first and pushes.
    result = reg(other, "register", "churn", str(artifact), "--push", "--description", "colleague's")
    assert result.exit_code == 0, result.output
    (artifact / "model.txt").write_text("tree\nmine\n")
    result = reg(registry, "register", "churn", str(artifact), "--push", "--description", "mine")
    assert result.exit_code == 0, result.output
    assert "churn v2" in result.stdout  # renumbered on the colleague's head, not v1 twice
    log = git(bare, "log", "--format=%s", "main").splitlines()
    assert log[:2] == ["reg: register churn v2", "reg: register churn v1"]
    assert set(git(bare, "tag", "-l").split()) == {"churn@v1", "churn@v2"}
    mine = yaml.safe_load(git(bare, "show", "main:models/churn/2/manifest.yaml"))
    assert mine["description"] == "mine"
    assert (registry / "models/churn/2/model/model.txt").read_text() == "tree\nmine\n"
    assert git(registry, "status", "--porcelain") == ""
    shown = json.loads(reg(registry, "show", "churn", "--json").stdout)
    assert [v["description"] for v in shown] == ["colleague's", "mine"]


def test_push_setting_in_registry_yaml(tmp_path, registry, reg, artifact):
    bare = bare_remote(registry, tmp_path / "origin.git")
    settings = registry / "models/registry.yaml"
    settings.write_text(settings.read_text().replace("push: false", "push: true"))
    git(registry, "commit", "-qam", "push by default")
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    assert git(bare, "rev-parse", "main") == git(registry, "rev-parse", "HEAD")


def test_diverged_branch_takes_the_change_back(tmp_path, registry, reg, artifact):
    """Issue 11: reg never leaves a clone diverged. The user's own unpushed commit stays; reg's is taken
    back (it could only be pushed by rebasing the user's work), and the message says it was not made."""
    bare = bare_remote(registry, tmp_path / "origin.git")
    other = make_clone(bare, tmp_path / "colleague")
    (other / "x.txt").write_text("x\n")
    git(other, "add", "x.txt")
    git(other, "commit", "-qm", "colleague's work")
    git(other, "push", "-q", "origin", "main")
    (registry / "y.txt").write_text("y\n")
    git(registry, "add", "y.txt")
    git(registry, "commit", "-qm", "my unpushed work")
    result = reg(registry, "register", "churn", str(artifact), "--push")
    assert result.exit_code == 1
    assert "diverged" in result.stderr and "was not made" in result.stderr
    assert git(registry, "log", "-1", "--format=%s").strip() == "my unpushed work"
    assert "churn@v1" not in git(registry, "tag", "-l") and "churn@v1" not in git(bare, "tag", "-l")  # never forced
    assert git(registry, "status", "--porcelain") == ""
    assert not (registry / "models/churn/1").exists()
