"""The server-side guard tried as an attacker with push access would (issue 10 items 1, 2, 3 and 9): a real
bare repository with `reg hook install`, real commits pushed from clones. Every refusal is one line naming
the rule and who may make the change, a failed push, and no ref changed on the server."""
from __future__ import annotations

import json

import pytest
import yaml

from .conftest import git
from .servers import accepted, act_as, hooked_remote, make_clone, push, refused

CARD = """\
name: churn
description: ''
owners: [ada@example.com]
permissions:
  production: [ada@example.com]
  staging: ["*"]
gates:
  staging:
    metrics: {roc_auc: ">= 0.80"}
  production:
    from: staging
"""


@pytest.fixture
def server(tmp_path, registry, reg, artifact):
    """Ada made the registry (no admins: set) and owns churn: v1 in production, v2 registered. A hooked
    bare repository holds it with its tags; `clone` is a fresh clone of it."""
    for i, auc in enumerate((0.91, 0.85), 1):
        (artifact / "model.txt").write_text(f"tree\n{i}\n")
        m = tmp_path / f"m{i}.json"
        m.write_text(json.dumps({"roc_auc": auc}))
        assert reg(registry, "register", "churn", str(artifact), "--metrics", str(m)).exit_code == 0
    (registry / "models/churn/model.yaml").write_text(CARD)
    git(registry, "commit", "-qam", "gates and permissions")
    assert reg(registry, "promote", "churn", "1", "staging").exit_code == 0
    assert reg(registry, "promote", "churn", "1", "production").exit_code == 0
    bare = hooked_remote(registry, tmp_path / "server.git", reg)
    return bare, make_clone(bare, tmp_path / "clone")


def _edit(root, rel, fn):
    path = root / rel
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _commit(root, message):
    git(root, "add", "-A")
    git(root, "commit", "-qm", message)
    return git(root, "rev-parse", "--short=8", "HEAD").strip()


# -- item 1: policy is governed --------------------------------------------------------------------

def test_an_outsider_cannot_grant_herself_a_permission_or_drop_a_gate(server, reg):
    bare, clone = server
    act_as(clone, "eve")
    _edit(clone, "models/churn/model.yaml", lambda d: d["permissions"]["production"].append("eve@example.com"))
    sha = _commit(clone, "let me ship")
    says = (f"models/churn/model.yaml: permissions changed in {sha} by eve@example.com: only an owner of churn may "
            "change its owners, permissions, gates or validation (owners at the base: ada@example.com)")
    refused(bare, clone, "HEAD:main", says=says)
    result = reg(clone, "check", "--base", "origin/main")  # the same rule in CI
    assert result.exit_code == 1 and f"problem: {says}\n" in result.stdout
    git(clone, "reset", "-q", "--hard", "origin/main")
    _edit(clone, "models/churn/model.yaml", lambda d: d.pop("gates"))
    _commit(clone, "no more gates")
    refused(bare, clone, "HEAD:main", says="models/churn/model.yaml: gates changed in ")
    # adding herself as an owner in one commit does not make the next one hers either
    git(clone, "reset", "-q", "--hard", "origin/main")
    _edit(clone, "models/churn/model.yaml", lambda d: d["owners"].append("eve@example.com"))
    _commit(clone, "co-own")
    _edit(clone, "models/churn/model.yaml", lambda d: d.pop("gates"))
    _commit(clone, "no more gates")
    stderr = refused(bare, clone, "HEAD:main", says="owners changed in ")
    assert "gates changed in " in stderr
    # the description is not policy: anyone may edit it
    git(clone, "reset", "-q", "--hard", "origin/main")
    _edit(clone, "models/churn/model.yaml", lambda d: d.update(description="Predicts churn."))
    _commit(clone, "describe")
    accepted(clone, "HEAD:main")


def test_a_permission_slipped_into_a_merge_resolution_is_judged(server):
    bare, clone = server
    act_as(clone, "eve")
    git(clone, "checkout", "-q", "-b", "side")
    _edit(clone, "models/churn/model.yaml", lambda d: d.update(description="Predicts churn."))
    _commit(clone, "describe")
    git(clone, "checkout", "-q", "main")
    (clone / "notes.txt").write_text("hi\n")
    _commit(clone, "notes")
    git(clone, "merge", "-q", "--no-ff", "--no-commit", "side")
    _edit(clone, "models/churn/model.yaml", lambda d: d["permissions"].update(production=["*"]))
    sha = _commit(clone, "Merge side")
    refused(bare, clone, "HEAD:main", says=f"models/churn/model.yaml: permissions changed in {sha} by eve@example.com")
    # the same merge without the slipped-in change is fine: the description was anyone's to edit
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    git(clone, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    accepted(clone, "HEAD:main")


def test_an_owner_changes_her_model_policy_and_a_newcomer_writes_her_new_models_first_rules(server, reg, artifact):
    bare, clone = server
    _edit(clone, "models/churn/model.yaml", lambda d: d["gates"]["staging"]["metrics"].update(roc_auc=">= 0.85"))
    _commit(clone, "stricter")
    accepted(clone, "HEAD:main")
    act_as(clone, "eve")
    assert reg(clone, "register", "fraud", str(artifact)).exit_code == 0
    _edit(clone, "models/fraud/model.yaml", lambda d: d.update(permissions={"production": ["eve@example.com"]}))
    _commit(clone, "my rules")
    accepted(clone, "HEAD:main")


def test_registry_settings_and_signers_need_an_admin_judged_at_the_base(server):
    bare, clone = server
    act_as(clone, "eve")
    _edit(clone, "models/registry.yaml", lambda d: d.update(exclusive_stages=[]))
    sha = _commit(clone, "let two ship")
    refused(bare, clone, "HEAD:main",
            says=f"models/registry.yaml: exclusive_stages changed in {sha} by eve@example.com: only a registry admin "
                 "may change models/registry.yaml (no admins: in models/registry.yaml at the base, so the "
                 "registry's initializer ada@example.com, who created models/registry.yaml in ")
    git(clone, "reset", "-q", "--hard", "origin/main")
    (clone / "models/allowed_signers").write_text("eve@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n")
    _commit(clone, "trust me")
    refused(bare, clone, "HEAD:main", says="models/allowed_signers: the allowed signers changed in ")
    # the initializer names admins; from the next push on, only they may change the settings
    git(clone, "reset", "-q", "--hard", "origin/main")
    act_as(clone, "ada")
    _edit(clone, "models/registry.yaml", lambda d: d.update(admins=["carol@example.com"]))
    _commit(clone, "carol runs the registry")
    accepted(clone, "HEAD:main")
    _edit(clone, "models/registry.yaml", lambda d: d.update(push=True))
    _commit(clone, "push by default")
    refused(bare, clone, "HEAD:main", says="by ada@example.com: only a registry admin may change "
                                           "models/registry.yaml (admins at the base: carol@example.com)")
    git(clone, "commit", "-q", "--amend", "--no-edit", "--author=Carol <carol@example.com>")
    accepted(clone, "HEAD:main")


def test_reordering_stages_around_a_new_version_cannot_skip_its_gates(server, reg, artifact, tmp_path):
    # Even the registry's admin: stages put staging first, so reg registers v3 (roc_auc 0.10) straight into
    # staging without its gate, and the order is put back. Judged by the base's stages, v3 entered at none.
    bare, clone = server
    _edit(clone, "models/registry.yaml", lambda d: d.update(stages=["staging", "none", "production", "archived"]))
    _commit(clone, "reorder")
    (artifact / "model.txt").write_text("tree\nbad\n")
    bad = tmp_path / "bad.json"
    bad.write_text('{"roc_auc": 0.10}')
    assert reg(clone, "register", "churn", str(artifact), "--metrics", str(bad)).exit_code == 0
    assert yaml.safe_load((clone / "models/churn/3/manifest.yaml").read_text())["stage"] == "staging"
    sha = git(clone, "rev-parse", "--short=8", "HEAD").strip()
    _edit(clone, "models/registry.yaml", lambda d: d.update(stages=["none", "staging", "production", "archived"]))
    pointer = (clone / "models/churn/3/model.dvc").read_text()
    (clone / "models/churn/staging.dvc").write_text(pointer)
    (clone / "models/churn/none.dvc").unlink(missing_ok=True)  # reg wrote it while none was a pointer stage
    _commit(clone, "restore the order")
    says = (f"models/churn/3/manifest.yaml: churn v3 is added in staging in {sha} by ada@example.com: a new version "
            "enters at none (the initial stage at the base); register it, then promote it so its gates are judged")
    refused(bare, clone, "HEAD:main", says=says)
    # reg check judges the same rules locally and in CI
    result = reg(clone, "check", "--base", "origin/main")
    assert result.exit_code == 1 and f"problem: {says}\n" in result.stdout


def test_a_move_into_a_stage_the_base_does_not_know_is_refused(server):
    bare, clone = server
    _edit(clone, "models/registry.yaml", lambda d: d.update(stages=["none", "canary", "staging", "production",
                                                                    "archived"]))
    _edit(clone, "models/churn/2/manifest.yaml", lambda d: d.update(stage="canary"))
    (clone / "models/churn/canary.dvc").write_text((clone / "models/churn/2/model.dvc").read_text())
    sha = _commit(clone, "canary v2")
    refused(bare, clone, "HEAD:main",
            says=f"churn v2 moved to canary in {sha} by ada@example.com, a stage the base does not know (stages at "
                 "the base: none, staging, production, archived)")


# -- item 2: every ref update is judged ------------------------------------------------------------

def test_history_on_the_default_branch_is_append_only(server, reg):
    bare, clone = server
    (clone / "notes.txt").write_text("hi\n")
    _commit(clone, "notes")
    accepted(clone, "HEAD:main")
    # a force push to an older commit that keeps every version is refused
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    refused(bare, clone, "-f", "HEAD:main",
            says="refs/heads/main: non-fast-forward push to protected branch main (the default branch): registry "
                 "history there is append-only")
    # another branch is the pusher's own: it may be rewritten and deleted
    (clone / "a.txt").write_text("a\n")
    _commit(clone, "a")
    accepted(clone, "HEAD:refs/heads/feature")
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    accepted(clone, "-f", "HEAD:refs/heads/feature")
    accepted(clone, ":refs/heads/feature")


def test_configured_protected_branches_are_never_rewritten_or_deleted(server):
    bare, clone = server
    _edit(clone, "models/registry.yaml", lambda d: d.update(protected_branches=["main", "release/*"]))
    _commit(clone, "protect releases")
    accepted(clone, "HEAD:main")
    accepted(clone, "HEAD:refs/heads/release/1")
    refused(bare, clone, ":refs/heads/release/1",
            says="refs/heads/release/1: release/1 is a protected branch (protected_branches in models/registry.yaml), "
                 "so it is never deleted; a registry admin may unprotect it first")


def test_registry_tags_are_created_once_on_the_commit_reg_tags(server, reg, artifact):
    bare, clone = server
    tags = git(clone, "tag", "-l").split()
    stage_tag = next(t for t in tags if t.startswith("churn#production#"))
    refused(bare, clone, ":refs/tags/churn@v1", says="refs/tags/churn@v1: registry tags are never deleted")
    git(clone, "tag", "-f", "-a", "-m", "moved", stage_tag, "HEAD~3")
    refused(bare, clone, "-f", f"refs/tags/{stage_tag}", says=f"refs/tags/{stage_tag}: registry tags are never moved")
    git(clone, "tag", "-a", "-m", "fake", "churn@v9", "HEAD")
    refused(bare, clone, "refs/tags/churn@v9",
            says="refs/tags/churn@v9: must name the commit that registered churn v9; ")
    # a second stage tag on an old promotion would make the tags say production went back to it
    promoted = git(bare, "rev-list", "-n1", stage_tag).strip()
    git(clone, "tag", "-a", "-m", "again", "churn#production#99", promoted)
    refused(bare, clone, "refs/tags/churn#production#99", says=f"already carries stage tag {stage_tag}")
    git(clone, "tag", "churn@v2x", "HEAD")
    git(clone, "tag", "churn@v02", "HEAD")
    refused(bare, clone, "refs/tags/churn@v02", says="is shaped like a registry tag")
    # other tags are the project's own; reg's own tags pass with their commits
    git(clone, "tag", "-a", "-m", "release", "v1.0", "HEAD")
    accepted(clone, "refs/tags/v1.0", "refs/tags/churn@v2x")
    accepted(clone, ":refs/tags/v1.0")
    result = reg(clone, "promote", "churn", "2", "staging", "--push")
    assert result.exit_code == 0, result.output
    assert git(bare, "tag", "-l", "churn#staging#*").split()
    # a registration on a side branch is not registry history: its tag waits for main
    git(clone, "checkout", "-q", "-b", "feature")
    (artifact / "model.txt").write_text("tree\nside\n")
    assert reg(clone, "register", "churn", str(artifact)).exit_code == 0
    refused(bare, clone, "--follow-tags", "HEAD:refs/heads/feature",
            says="refs/tags/churn@v3: names ")
    assert "which no protected branch (main) holds after this push" in push(clone, "--follow-tags", "HEAD:feature").stderr


def test_refs_outside_heads_and_tags_are_refused_unless_allowed(server):
    bare, clone = server
    refused(bare, clone, "HEAD:refs/anything/x",
            says="refs/anything/x: refs outside refs/heads/ and refs/tags/ are refused here; a registry admin may "
                 "allow them with allowed_refs:")
    _edit(clone, "models/registry.yaml", lambda d: d.update(allowed_refs=["refs/notes/*"]))
    _commit(clone, "notes are fine")
    accepted(clone, "HEAD:main")
    git(clone, "notes", "add", "-m", "reviewed", "HEAD")
    accepted(clone, "refs/notes/commits")
    refused(bare, clone, "HEAD:refs/anything/x", says="refs/anything/x: refs outside")


# -- item 3: the hook's time limit and one-line errors ---------------------------------------------

def test_a_push_that_takes_too_long_is_refused_in_one_line(server):
    bare, clone = server
    git(bare, "config", "reg.hookTimeout", "0.01")
    (clone / "notes.txt").write_text("hi\n")
    _commit(clone, "notes")
    stderr = refused(bare, clone, "HEAD:main", says="reg guard refused this push: judging it took longer than the "
                                                    "server's limit of 0.01s (git config reg.hookTimeout)")
    assert len([line for line in stderr.splitlines() if line.startswith("remote: ")]) == 1


def test_hostile_registry_files_never_show_the_pusher_a_traceback(server):
    bare, clone = server
    path = clone / "models/churn/2/manifest.yaml"
    path.write_text(path.read_text().replace("description: ''", "description: !!binary aGVsbG8="))
    _commit(clone, "binary")
    # (a YAML tag reg never writes; until every reader refuses it, the hook fails on it: one line all the same)
    stderr = refused(bare, clone, "HEAD:main", says="reg ")
    assert 'File "' not in stderr


# -- reg's own operations keep every rule ----------------------------------------------------------

@pytest.mark.slow
def test_regs_own_operations_pass_the_guard(tmp_path, registry, reg, artifact):
    """From an empty hooked server: init, register, promote, archive, alias, annotate, delete, rollback and a
    merged --propose branch, each pushed by reg, each accepted with its tags."""
    bare = hooked_remote(registry, tmp_path / "server.git", reg, push=())
    accepted(registry, "HEAD:main")  # the commit of `reg init`

    def ok(*args):
        result = reg(registry, *args)
        assert result.exit_code == 0, result.output
        assert git(bare, "rev-parse", "main") == git(registry, "rev-parse", "HEAD"), args

    for i in (1, 2, 3):
        (artifact / "model.txt").write_text(f"tree\n{i}\n")
        ok("register", "churn", str(artifact), "--push")
    ok("promote", "churn", "1", "staging", "--push")
    ok("promote", "churn", "1", "production", "--push")
    ok("promote", "churn", "3", "production", "--reason", "better", "--push")
    ok("rollback", "churn", "--reason", "v3 misbehaves", "--push")
    ok("alias", "churn", "1", "champion", "--push")
    ok("annotate", "churn", "--description", "Predicts churn.", "--push")
    ok("annotate", "churn/1", "--tag", "team=growth", "--push")
    ok("archive", "churn", "3", "--push")
    ok("delete", "churn", "2", "--reason", "bad data", "--push")
    assert sorted(git(registry, "tag", "-l").split()) == sorted(git(bare, "tag", "-l").split())
    # a proposal is its own branch; merging it into main and pushing passes too
    result = reg(registry, "alias", "churn", "1", "challenger", "--propose")
    assert result.exit_code == 0, result.output
    branch = next(b.strip() for b in git(bare, "branch", "--format=%(refname:short)").splitlines() if b != "main")
    git(registry, "fetch", "-q", "origin")
    git(registry, "merge", "-q", "--no-ff", "-m", "Merge proposal", f"origin/{branch}")
    accepted(registry, "HEAD:main")
    assert reg(registry, "check", "--base", git(registry, "rev-list", "--max-parents=0", "HEAD").strip()).exit_code == 0


def test_main_is_guarded_on_a_server_whose_head_names_another_branch(server):
    bare, clone = server
    git(bare, "symbolic-ref", "HEAD", "refs/heads/master")  # made by a git whose default name was master
    git(clone, "reset", "-q", "--hard", "HEAD~1")
    refused(bare, clone, "-f", "HEAD:main", says="refs/heads/main: non-fast-forward push to protected branch main")
