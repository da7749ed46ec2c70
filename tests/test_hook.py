"""The server-side guard (issue 5 item 4): a real bare repository with `reg hook install`, real pushes
from clones. Each forbidden change is refused with its message; a valid push is accepted."""
from __future__ import annotations

import shutil

import pytest
import yaml

from .conftest import git
from .servers import act_as, bare_remote, install_hook, make_clone, push


@pytest.fixture
def server(tmp_path, registry, reg, artifact):
    for i in (1, 2):
        (artifact / "model.txt").write_text(f"tree\n{i}\n")
        assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    card = registry / "models/churn/model.yaml"
    card.write_text(card.read_text() + "permissions:\n  production: [ada@example.com]\n  staging: ['*']\n")
    git(registry, "commit", "-qam", "permissions")
    assert reg(registry, "promote", "churn", "1", "production", "--reason", "launch").exit_code == 0
    bare = bare_remote(registry, tmp_path / "server.git", push=("main", "--tags"))
    result = install_hook(reg, bare, registry)
    assert "Installed" in result.stdout
    return bare, make_clone(bare, tmp_path / "clone")


def _rejected(bare, clone, *messages):
    before = git(bare, "rev-parse", "main")
    proc = push(clone, "HEAD:main")
    assert proc.returncode != 0, proc.stderr
    assert "remote: reg check rejected refs/heads/main" in proc.stderr, proc.stderr
    for message in messages:
        assert message in proc.stderr, proc.stderr
    assert "pre-receive hook declined" in proc.stderr
    assert git(bare, "rev-parse", "main") == before


def test_valid_push_is_accepted(server, reg):
    bare, clone = server
    result = reg(clone, "promote", "churn", "2", "staging", "--push")
    assert result.exit_code == 0, result.output
    assert git(bare, "rev-parse", "main") == git(clone, "rev-parse", "HEAD")
    # a plain commit outside the registry is accepted too
    (clone / "notes.txt").write_text("hi\n")
    git(clone, "add", "notes.txt")
    git(clone, "commit", "-qm", "notes")
    assert push(clone, "HEAD:main").returncode == 0


def test_metric_edit_of_an_existing_version_is_refused(server):
    bare, clone = server
    path = clone / "models/churn/1/manifest.yaml"
    path.write_text(path.read_text().replace("metrics: {}", "metrics:\n  roc_auc: 0.99"))
    git(clone, "commit", "-qam", "fix metrics")
    _rejected(bare, clone, "remote:   models/churn/1/manifest.yaml: immutable field metrics (roc_auc: null -> 0.99) "
                           "changed in ")


def test_promotion_without_permission_is_refused(server, reg, monkeypatch):
    bare, clone = server
    # bob grants himself the right in the same push, then promotes with reg: judged by the rules at the base
    card = clone / "models/churn/model.yaml"
    card.write_text(card.read_text().replace("production: [ada@example.com]",
                                             "production: [ada@example.com, bob@example.com]"))
    act_as(clone, "bob")
    git(clone, "commit", "-qam", "let me ship")
    assert reg(clone, "promote", "churn", "2", "production", "--reason", "mine is better").exit_code == 0
    _rejected(bare, clone, "by bob@example.com: not allowed: bob@example.com may not move churn to production "
                           "(permissions.production: ada@example.com)")


def test_two_versions_in_production_are_refused(server, reg):
    bare, clone = server
    assert reg(clone, "promote", "churn", "2", "production", "--keep-existing", "--reason", "both").exit_code == 0
    _rejected(bare, clone, "remote:   models/churn/: 2 versions are in production (v1, v2); it holds one at most")


def test_deleted_version_folder_is_refused(server):
    bare, clone = server
    shutil.rmtree(clone / "models/churn/2")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "cleanup")
    _rejected(bare, clone, "remote:   models/churn/2/manifest.yaml: was removed in ",
              "by ada@example.com: versions are never removed or renumbered (`reg delete` keeps the manifest as a "
              "tombstone)")


def test_new_branch_is_checked_and_install_is_careful(server, reg, tmp_path):
    bare, clone = server
    path = clone / "models/churn/2/manifest.yaml"
    data = yaml.safe_load(path.read_text())
    data["created_by"] = "someone else"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    git(clone, "commit", "-qam", "rewrite history")
    proc = push(clone, "HEAD:refs/heads/feature")
    assert proc.returncode != 0
    assert "reg check rejected refs/heads/feature" in proc.stderr and "immutable field created_by" in proc.stderr
    # A hook reg did not write is not replaced without --force; a non-bare path is refused.
    hook = bare / "hooks/pre-receive"
    hook.write_text("#!/bin/sh\nexit 0\n")
    result = reg(clone, "hook", "install", str(bare))
    assert result.exit_code == 1 and "was not written by reg" in result.stderr
    assert hook.read_text() == "#!/bin/sh\nexit 0\n"
    assert reg(clone, "hook", "install", str(bare), "--force").exit_code == 0
    result = reg(clone, "hook", "install", str(clone))
    assert result.exit_code == 1 and "is not a bare git repository" in result.stderr


def test_reg_push_refused_by_the_server_is_taken_back(server, reg, monkeypatch):
    bare, clone = server
    card = clone / "models/churn/model.yaml"
    card.write_text(card.read_text().replace("production: [ada@example.com]", "production: ['*']"))
    git(clone, "commit", "-qam", "open production")  # local only: the server still says ada only
    git(clone, "config", "user.email", "bob@example.com")
    head = git(clone, "rev-parse", "HEAD")
    result = reg(clone, "promote", "churn", "2", "production", "--reason", "mine", "--push")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: the server refused the change, so it was not made: reg check rejected "
                                    "refs/heads/main")
    assert "bob@example.com may not move churn to production" in result.stderr
    assert git(clone, "rev-parse", "HEAD") == head
    assert git(clone, "status", "--porcelain") == ""
    assert "churn#production#2" not in git(clone, "tag", "-l")


def test_force_push_that_drops_a_version_is_refused(server, artifact):
    bare, clone = server
    # rewind main to before v2 was registered: no commit to judge, but a version would vanish
    first = git(clone, "log", "--format=%H", "--grep=register churn v1", "-1").strip()
    git(clone, "reset", "-q", "--hard", first)
    before = git(bare, "rev-parse", "main")
    proc = push(clone, "-f", "HEAD:main")
    assert proc.returncode != 0, proc.stderr
    assert "models/churn/2/manifest.yaml: was there at " in proc.stderr and "versions are never removed" in proc.stderr
    assert git(bare, "rev-parse", "main") == before


def test_install_honours_core_hooks_path(tmp_path, reg):
    bare = tmp_path / "hooked.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    shared = tmp_path / "shared-hooks"
    shared.mkdir()
    git(bare, "config", "core.hooksPath", str(shared))
    result = reg(tmp_path, "hook", "install", str(bare))
    assert result.exit_code == 0, result.output
    assert (shared / "pre-receive").is_file()  # where git will run it, not the ignored hooks/
    assert not (bare / "hooks" / "pre-receive").exists()
    assert f"Installed {shared / 'pre-receive'}" in result.stdout
