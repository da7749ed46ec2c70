"""`--propose` (issue 5 item 1): the change lands on a new pushed branch; the user's branch, working tree
and index stay exactly as they were."""
from __future__ import annotations

import json

import pytest
import yaml

from registry.propose import compare_url

from .conftest import git, snapshot
from .servers import bare_remote, make_clone


@pytest.fixture
def origin(tmp_path, registry, reg, artifact):
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    return bare_remote(registry, tmp_path / "origin.git")


def test_propose_promotion_leaves_the_current_branch_alone(registry, origin, reg):
    # the user is mid-work: a staged file, an unstaged edit, an untracked file
    (registry / "staged.txt").write_text("staged\n")
    git(registry, "add", "staged.txt")
    (registry / "README.md").write_text("edited\n")
    (registry / "scratch.txt").write_text("untracked\n")
    before = snapshot(registry)
    head = git(registry, "rev-parse", "HEAD")
    result = reg(registry, "promote", "churn", "1", "production", "--reason", "ready", "--propose")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Proposed on branch reg/churn-v1-production (commit ")
    assert "your branch main is unchanged" in result.stdout
    assert f"Open a pull request from reg/churn-v1-production into main on {origin}." in result.stdout
    assert "Title: reg: promote churn v1 to production" in result.stdout
    assert "Reason: ready" in result.stdout
    assert snapshot(registry) == before
    assert git(registry, "rev-parse", "HEAD") == head
    assert git(registry, "symbolic-ref", "--short", "HEAD").strip() == "main"
    assert git(registry, "worktree", "list").count("\n") == 1
    # the branch on the remote holds exactly the promotion, on top of main
    assert git(origin, "rev-parse", "reg/churn-v1-production^") == head
    shown = yaml.safe_load(git(origin, "show", "reg/churn-v1-production:models/churn/1/manifest.yaml"))
    assert shown["stage"] == "production"
    assert "production.dvc" in git(origin, "ls-tree", "--name-only", "reg/churn-v1-production", "models/churn/")
    assert "churn#production" not in git(registry, "tag", "-l")  # proposals make no tags
    # merging the proposal makes a registry that passes reg check
    git(registry, "stash", "-u")
    git(registry, "merge", "-q", "--ff-only", "reg/churn-v1-production")
    assert reg(registry, "check", "--base", head.strip()).exit_code == 0


def test_propose_register_alias_and_delete(registry, origin, reg, artifact):
    (artifact / "model.txt").write_text("tree\nv2\n")
    before = snapshot(registry)
    result = reg(registry, "register", "churn", str(artifact), "--propose", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["branch"] == "reg/churn-v2-register" and out["base"] == "main" and out["url"] is None
    assert snapshot(registry) == before
    assert not (registry / "models/churn/2").exists()
    assert "models/churn/2/model.dvc" in git(origin, "ls-tree", "-r", "--name-only", "reg/churn-v2-register")
    result = reg(registry, "alias", "churn", "1", "champion", "--propose")
    assert result.exit_code == 0, result.output
    assert "reg/churn-v1-champion" in result.stdout
    result = reg(registry, "delete", "churn", "1", "--reason", "leaked data", "--propose")
    assert result.exit_code == 0, result.output
    assert "reg/churn-v1-delete" in result.stdout
    assert set(git(origin, "branch", "--format=%(refname:short)").split()) == {
        "main", "reg/churn-v2-register", "reg/churn-v1-champion", "reg/churn-v1-delete"}
    assert snapshot(registry) == before
    # the same proposal twice is refused clearly
    result = reg(registry, "alias", "churn", "1", "champion", "--propose")
    assert result.exit_code == 1
    assert "branch reg/churn-v1-champion already exists" in result.stderr


def test_propose_needs_a_remote_and_respects_permissions(registry, reg, artifact):
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    before = snapshot(registry)
    result = reg(registry, "promote", "churn", "1", "staging", "--propose")
    assert result.exit_code == 1
    assert result.stderr == ("error: --propose pushes a branch to the git remote 'origin', which is not configured; "
                             "add it with `git remote add origin URL`\n")
    assert snapshot(registry) == before
    bare = bare_remote(registry, registry.parent / "o.git", push=())
    card = registry / "models/churn/model.yaml"
    card.write_text(card.read_text() + "permissions:\n  production: [grace@example.com]\n")
    git(registry, "commit", "-qam", "permissions")
    before = snapshot(registry)
    result = reg(registry, "promote", "churn", "1", "production", "--propose")
    assert result.exit_code == 1 and "ada@example.com may not move churn to production" in result.stderr
    assert snapshot(registry) == before
    assert git(bare, "branch") == ""


@pytest.mark.parametrize("url, link", [
    ("git@github.com:acme/models.git", "https://github.com/acme/models/compare/main...reg/churn-v7-production?expand=1"),
    ("https://github.com/acme/models", "https://github.com/acme/models/compare/main...reg/churn-v7-production?expand=1"),
    ("ssh://git@gitlab.example.com:2222/ml/models.git",
     "https://gitlab.example.com/ml/models/-/merge_requests/new?merge_request%5Bsource_branch%5D="
     "reg/churn-v7-production&merge_request%5Btarget_branch%5D=main"),
    ("/srv/git/models.git", None),
    ("github.com:acme/models.git", "https://github.com/acme/models/compare/main...reg/churn-v7-production?expand=1"),
    ("ssh://github.com/acme/models.git",
     "https://github.com/acme/models/compare/main...reg/churn-v7-production?expand=1"),
    ("github-mirror/models.git", None),
])
def test_compare_links(url, link):
    assert compare_url(url, "main", "reg/churn-v7-production") == link


def test_propose_rollback(registry, origin, reg, artifact):
    (artifact / "model.txt").write_text("tree\nv2\n")
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    assert reg(registry, "promote", "churn", "1", "production", "--reason", "launch").exit_code == 0
    assert reg(registry, "promote", "churn", "2", "production", "--reason", "newer").exit_code == 0
    git(registry, "push", "-q", "origin", "main")
    before = snapshot(registry)
    result = reg(registry, "rollback", "churn", "--reason", "v2 misbehaves", "--propose")
    assert result.exit_code == 0, result.output
    assert "Proposed on branch reg/churn-v1-rollback-production" in result.stdout
    assert snapshot(registry) == before
    shown = yaml.safe_load(git(origin, "show", "reg/churn-v1-rollback-production:models/churn/1/manifest.yaml"))
    assert shown["stage"] == "production"


def test_proposal_branch_already_on_the_remote_is_refused_before_anything_changes(registry, origin, reg):
    assert reg(registry, "alias", "churn", "1", "champion", "--propose").exit_code == 0
    git(registry, "branch", "-D", "reg/churn-v1-champion")  # only the remote's copy is left (someone's open PR)
    remote_tip = git(origin, "rev-parse", "reg/churn-v1-champion")
    before = snapshot(registry)
    result = reg(registry, "alias", "churn", "1", "champion", "--propose")
    assert result.exit_code == 1
    assert result.stderr == ("error: branch reg/churn-v1-champion already exists on origin (an open proposal?); "
                             "merge or close it, delete it with `git push origin --delete reg/churn-v1-champion`, "
                             "and retry\n")
    assert snapshot(registry) == before
    assert "reg/churn-v1-champion" not in git(registry, "branch")
    assert git(origin, "rev-parse", "reg/churn-v1-champion") == remote_tip


def test_proposal_to_an_unreachable_remote_says_so_and_makes_no_branch(registry, origin, reg, tmp_path):
    git(registry, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    before = snapshot(registry)
    result = reg(registry, "promote", "churn", "1", "staging", "--propose")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the git remote origin (fatal: ")
    assert result.stderr.count("\n") == 1 and "nothing was proposed" in result.stderr
    assert snapshot(registry) == before
    assert "reg/" not in git(registry, "branch")


def test_proposal_does_not_print_credentials_of_the_remote(registry, origin, reg, tmp_path):
    git(registry, "config", f"url.{origin}.insteadOf", "https://bot:s3cret@git.example.com/ml/models.git")
    git(registry, "remote", "set-url", "origin", "https://bot:s3cret@git.example.com/ml/models.git")
    result = reg(registry, "promote", "churn", "1", "staging", "--propose")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.stdout
    assert "into main on https://git.example.com/ml/models.git." in result.stdout


def test_proposal_from_a_detached_head_targets_the_remotes_default_branch(registry, origin, reg, tmp_path):
    clone = make_clone(origin, tmp_path / "clone")  # origin/HEAD -> origin/main
    git(clone, "config", "user.email", "ada@example.com")
    git(clone, "config", "user.name", "Ada Lovelace")
    git(clone, "checkout", "-q", "--detach")
    result = reg(clone, "promote", "churn", "1", "staging", "--propose")
    assert result.exit_code == 0, result.output
    assert "your detached HEAD is unchanged." in result.stdout
    assert "Open a pull request from reg/churn-v1-staging into main" in result.stdout
    assert git(clone, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"
