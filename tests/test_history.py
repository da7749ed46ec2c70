"""Issue 4: `reg rollback`, `reg history` and `reg show --at/--rev`, against real git (and DVC for the
registrations), including history made by plain git: a revert, a squash merge and a cherry-pick."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from registry import Registry

from .conftest import git, snapshot
from .servers import bare_remote

ADA = "Ada Lovelace <ada@example.com>"
T = {1: "2026-11-01 10:00:00 +0000", 2: "2026-11-02 10:00:00 +0000", 3: "2026-11-03 10:00:00 +0000",
     4: "2026-11-04 10:00:00 +0000", 5: "2026-11-05 10:00:00 +0000", 6: "2026-11-06 10:00:00 +0000"}


@pytest.fixture
def clock(monkeypatch):
    """Make the next commits (and tags) carry this date, so times between events are known."""

    def set_time(text: str) -> None:
        for var in ("GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE"):
            monkeypatch.setenv(var, text)

    return set_time


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def _register_three(reg, root, artifact, clock):
    clock("2026-10-31 09:00:00 +0000")
    for n in (1, 2, 3):
        (artifact / "model.txt").write_text(f"tree\nversion={n}\n")
        ok(reg(root, "register", "churn", str(artifact)))


@pytest.fixture
def registered(registry, reg, artifact, clock) -> Path:
    _register_three(reg, registry, artifact, clock)
    return registry


@pytest.fixture
def promoted(registered, reg, clock) -> Path:
    """churn v1, v2, v3 promoted to production in turn, on days 1, 2 and 3, with reasons."""
    for n, why in ((1, "first"), (2, "second"), (3, "third")):
        clock(T[n])
        ok(reg(registered, "promote", "churn", str(n), "production", "--reason", why))
    return registered


def manifest(root: Path, n: int) -> dict:
    return yaml.safe_load((root / f"models/churn/{n}/manifest.yaml").read_text())


def stages(root: Path) -> dict[int, str]:
    return {n: manifest(root, n)["stage"] for n in (1, 2, 3)}


def pointer(root: Path, name: str) -> dict | None:
    path = root / f"models/churn/{name}.dvc"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def assert_pointer(root: Path, name: str, version: int) -> None:
    p = pointer(root, name)
    assert p is not None, f"{name}.dvc is missing"
    assert p["meta"]["reg"]["version"] == version
    assert p["outs"][0]["md5"] == manifest(root, version)["artifact"]["md5"]
    assert f"/{name}\n" in (root / "models/churn/.gitignore").read_text()


def trailers(root: Path, rev: str = "HEAD") -> dict[str, str]:
    body = git(root, "log", "-1", "--format=%B", rev)
    return dict(line.split(": ", 1) for line in body.splitlines() if line.startswith("Reg-"))


def sha_of(root: Path, subject: str) -> str:
    for line in git(root, "log", "--format=%H %s").splitlines():
        sha, _, s = line.partition(" ")
        if s == subject:
            return sha
    raise AssertionError(f"no commit {subject!r}")


def history(reg, root, *args) -> list[dict]:
    return json.loads(ok(reg(root, "history", *args, "--json")).stdout)


# -- rollback --------------------------------------------------------------------------------------

def test_rollback_twice_restores_stage_pointers_and_tags(promoted, reg, clock):
    root = promoted
    assert stages(root) == {1: "archived", 2: "archived", 3: "production"}
    assert_pointer(root, "production", 3)

    clock(T[4])
    first = ok(reg(root, "rollback", "churn", "--reason", "v3 drops recall"))
    assert "Rolled back churn production: v3 -> v2" in first.stdout and "churn#production#4" in first.stdout
    assert git(root, "log", "-1", "--format=%s") == "Rolled back churn production: v3 -> v2\n"
    assert stages(root) == {1: "archived", 2: "production", 3: "none"}
    assert_pointer(root, "production", 2)
    t = trailers(root)
    assert t["Reg-Action"] == "rollback" and t["Reg-Model"] == "churn" and t["Reg-Version"] == "2"
    assert t["Reg-Replaced"] == "3" and t["Reg-Reverts"] == sha_of(root, "reg: promote churn v3 to production")
    assert git(root, "cat-file", "-t", "churn#production#4").strip() == "tag"  # annotated
    assert git(root, "rev-parse", "churn#production#4^{commit}") == git(root, "rev-parse", "HEAD")
    assert "v3 drops recall" in git(root, "tag", "-l", "--format=%(contents)", "churn#production#4")
    assert git(root, "status", "--porcelain") == ""
    assert ok(reg(root, "show", "churn/production", "--json")) and \
        json.loads(reg(root, "show", "churn/production", "--json").stdout)["version"] == 2

    clock(T[5])
    second = ok(reg(root, "rollback", "churn"))
    assert "Rolled back churn production: v2 -> v1" in second.stdout
    assert stages(root) == {1: "production", 2: "none", 3: "none"}
    assert_pointer(root, "production", 1)
    assert "churn#production#5" in git(root, "tag", "-l")
    assert trailers(root)["Reg-Reason"] == "(none given)"
    assert git(root, "status", "--porcelain") == ""
    # Each rollback is one commit that touched only the registry's files.
    changed = git(root, "show", "--name-only", "--format=", "HEAD").split()
    assert set(changed) == {"models/churn/1/manifest.yaml", "models/churn/2/manifest.yaml",
                            "models/churn/production.dvc"}


def test_rollback_to_promotes_an_earlier_version_recorded_as_a_rollback(promoted, reg, clock):
    root = promoted
    clock(T[4])
    result = ok(reg(root, "rollback", "churn", "--to", "1", "--reason", "v1 was the last good one", "--json"))
    data = json.loads(result.stdout)
    assert data["replaced"] == 3 and data["restored"] == 1 and data["git_tags"] == ["churn#production#4"]
    assert git(root, "log", "-1", "--format=%s") == "Rolled back churn production: v3 -> v1\n"
    assert stages(root) == {1: "production", 2: "archived", 3: "archived"}
    assert_pointer(root, "production", 1)
    assert trailers(root)["Reg-Action"] == "rollback"
    top = history(reg, root, "churn")[:2]
    assert {(e["action"], e["version"], e["from_stage"], e["to_stage"]) for e in top} == {
        ("rollback", 1, "archived", "production"), ("rollback", 3, "production", "archived")}
    assert all(e["reason"] == "v1 was the last good one" and e["actor"] == ADA for e in top)
    # A --to rollback is an ordinary stage change: the next rollback undoes it.
    clock(T[5])
    ok(reg(root, "rollback", "churn"))
    assert stages(root) == {1: "archived", 2: "archived", 3: "production"}
    assert_pointer(root, "production", 3)


def test_rollback_push_sends_the_commit_and_its_tag(promoted, reg, clock, tmp_path):
    root = promoted
    bare = bare_remote(root, tmp_path / "origin.git")
    clock(T[4])
    result = ok(reg(root, "rollback", "churn", "--push"))
    assert "pushed" in result.stdout
    assert git(bare, "rev-parse", "main") == git(root, "rev-parse", "HEAD")
    assert "churn#production#4" in git(bare, "tag", "-l")


def test_rollback_refuses_when_later_commits_are_in_the_way(promoted, reg, clock):
    root = promoted
    clock(T[4])
    ok(reg(root, "promote", "churn", "2", "staging"))  # v2 moved again since v3's promotion archived it
    before = snapshot(root)
    result = reg(root, "rollback", "churn")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    blocker = git(root, "log", "-1", "--format=%h")
    assert "cannot roll back" in lines[0] and blocker.strip() in lines[0]
    assert "reg rollback churn --stage production --to 2" in lines[0]
    assert snapshot(root) == before


# -- history made by plain git ---------------------------------------------------------------------

def test_plain_git_revert_reads_correctly_and_rollback_goes_on_from_it(promoted, reg, clock):
    root = promoted
    clock(T[4])
    git(root, "revert", "--no-edit", sha_of(root, "reg: promote churn v3 to production"))
    assert json.loads(ok(reg(root, "show", "churn/production", "--json")).stdout)["version"] == 2
    assert_pointer(root, "production", 2)
    top = history(reg, root, "churn")[:2]
    assert {(e["action"], e["version"], e["from_stage"], e["to_stage"]) for e in top} == {
        ("rollback", 2, "archived", "production"), ("rollback", 3, "production", "none")}
    assert top[0]["actor"] == ADA and top[0]["time"] == "2026-11-04T10:00:00Z"
    assert top[0]["reason"] == 'Revert "reg: promote churn v3 to production"'

    # The revert already undid v3's promotion; the next rollback undoes v2's.
    clock(T[5])
    ok(reg(root, "rollback", "churn"))
    assert stages(root) == {1: "production", 2: "none", 3: "none"}
    assert_pointer(root, "production", 1)


def test_squash_merged_branch_reads_correctly_and_rolls_back_stage_and_alias_together(registered, reg, clock):
    root = registered
    clock(T[1])
    ok(reg(root, "promote", "churn", "2", "production", "--reason", "baseline"))
    ok(reg(root, "alias", "churn", "2", "champion"))
    git(root, "checkout", "-q", "-b", "promote-v3")
    clock(T[2])
    ok(reg(root, "promote", "churn", "3", "production", "--reason", "better auc"))
    ok(reg(root, "alias", "churn", "3", "champion"))
    git(root, "checkout", "-q", "main")
    clock(T[3])
    git(root, "merge", "-q", "--squash", "promote-v3")
    git(root, "commit", "-qm", "Promote churn v3 (#12)")

    assert json.loads(ok(reg(root, "show", "churn@champion", "--json")).stdout)["version"] == 3
    assert stages(root) == {1: "none", 2: "archived", 3: "production"}
    events = [e for e in history(reg, root, "churn") if e["commit"] == git(root, "rev-parse", "HEAD").strip()]
    assert {(e["action"], e["version"], e["to_stage"] or e["alias"]) for e in events} == {
        ("promote", 3, "production"), ("archive", 2, "archived"), ("alias", 3, "champion"),
        ("alias", 2, "champion")}
    assert all(e["actor"] == ADA and e["time"] == "2026-11-03T10:00:00Z" for e in events)

    clock(T[4])
    ok(reg(root, "rollback", "churn", "--reason", "squash went bad"))
    assert stages(root) == {1: "none", 2: "production", 3: "none"}
    assert manifest(root, 2)["aliases"] == ["champion"] and manifest(root, 3)["aliases"] == []
    assert_pointer(root, "production", 2)
    assert_pointer(root, "champion", 2)
    assert git(root, "status", "--porcelain") == ""


def test_cherry_picked_promotion_reads_correctly_on_another_branch(promoted, reg, clock):
    root = promoted
    promotion = sha_of(root, "reg: promote churn v1 to production")
    git(root, "checkout", "-q", "-b", "release", sha_of(root, "reg: register churn v3"))
    (root / "README.md").write_text("# release branch\n")
    git(root, "commit", "-qam", "release notes")
    clock(T[4])
    git(root, "cherry-pick", "-x", promotion)
    assert json.loads(ok(reg(root, "show", "churn/production", "--json")).stdout)["version"] == 1
    assert_pointer(root, "production", 1)
    top = history(reg, root, "churn")[0]
    assert (top["action"], top["version"], top["to_stage"], top["reason"]) == ("promote", 1, "production", "first")
    assert top["time"] == "2026-11-04T10:00:00Z"
    clock(T[5])
    ok(reg(root, "rollback", "churn"))
    assert pointer(root, "production") is None and manifest(root, 1)["stage"] == "none"


# -- history ---------------------------------------------------------------------------------------

def test_history_lists_every_event_with_actor_time_reason_and_tag(promoted, reg, clock):
    root = promoted
    clock(T[4])
    ok(reg(root, "rollback", "churn", "--reason", "latency"))
    events = history(reg, root, "churn")
    assert [(e["action"], e["version"]) for e in events] == [
        ("rollback", 2), ("rollback", 3), ("promote", 3), ("archive", 2), ("promote", 2), ("archive", 1),
        ("promote", 1), ("register", 3), ("register", 2), ("register", 1)]
    assert all(e["actor"] == ADA and e["reason"] for e in events)
    promote2 = events[4]
    assert promote2 == {**promote2, "time": "2026-11-02T10:00:00Z", "from_stage": "none", "to_stage": "production",
                        "reason": "second", "tag": "churn#production#2", "model": "churn"}
    assert events[-1]["tag"] == "churn@v1"

    since = history(reg, root, "churn", "--stage", "production", "--since", "2026-11-02T12:00")
    assert [(e["action"], e["version"]) for e in since] == [("rollback", 2), ("rollback", 3), ("promote", 3),
                                                            ("archive", 2)]
    # The registry-wide form and the table.
    assert history(reg, root) == events
    table = ok(reg(root, "history", "churn")).stdout
    assert "rollback" in table and "latency" in table and "churn#production#4" in table


def test_history_uses_one_git_log_not_one_process_per_commit(promoted, monkeypatch):
    import subprocess

    calls = []
    real = subprocess.run

    def counting(args, *a, **kw):
        calls.append(args[:2])
        return real(args, *a, **kw)

    monkeypatch.setattr(subprocess, "run", counting)
    events = Registry(promoted).history("churn")
    assert len(events) == 8
    assert sum(1 for c in calls if c == ["git", "log"]) == 1
    assert len(calls) < 10


# -- show --at / --rev -----------------------------------------------------------------------------

@pytest.mark.parametrize("when, version, reason", [
    ("2026-11-01T12:00", 1, "first"), ("2026-11-02T09:59:59Z", 1, "first"),
    ("2026-11-02 11:00", 2, "second"), ("2026-11-03T10:00:00Z", 3, "third"), ("2026-11-03T12:00+02:00", 3, "third")])
def test_show_at_answers_which_version_held_the_stage_and_who_put_it_there(promoted, reg, when, version, reason):
    data = json.loads(ok(reg(promoted, "show", "churn/production", "--at", when, "--json")).stdout)
    assert data["version"] == version
    placed = data["placed_by"]
    assert placed["actor"] == ADA and placed["reason"] == reason and placed["version"] == version
    assert placed["tag"] == f"churn#production#{version}"
    text = ok(reg(promoted, "show", "churn/production", "--at", when)).stdout
    assert f"v{version} in production since" in text and ADA in text and reason in text


def test_show_rev_reads_the_registry_at_a_revision(promoted, reg):
    rev = sha_of(promoted, "reg: promote churn v2 to production")
    data = json.loads(ok(reg(promoted, "show", "churn/production", "--rev", rev, "--json")).stdout)
    assert data["version"] == 2 and data["placed_by"]["reason"] == "second"
    listing = ok(reg(promoted, "show", "churn", "--rev", "churn#production#1")).stdout
    assert listing.splitlines()[-1].split()[:2] == ["v1", "production"]


# -- bad input -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, says", [
    (["rollback", "churn"], "never changed"),
    (["rollback", "churn", "--stage", "staging"], "never changed"),
    (["rollback", "churn", "--stage", "nonsense"], "unknown stage"),
    (["rollback", "nope"], "unknown model"),
    (["rollback", "churn", "--to", "9"], "no version 9"),
    (["rollback", "churn", "--to", "1"], "was deleted"),
    (["rollback", "churn", "--to", "x"], "invalid version"),
    (["show", "churn/production", "--at", "2001-01-01T00:00"], "did not exist yet"),
    (["show", "churn/2", "--at", "last tuesday"], "cannot read --at time"),
    (["show", "churn/2", "--rev", "no-such-rev"], "unknown revision"),
    (["history", "churn", "--since", "soon"], "cannot read --since"),
    (["history", "nope"], "unknown model"),
])
def test_bad_input_is_one_line_exit_1_and_no_change(registered, reg, clock, args, says):
    root = registered
    clock(T[1])
    ok(reg(root, "delete", "churn", "1", "--reason", "leaked test data"))
    before = snapshot(root)
    result = reg(root, *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.stderr
    assert snapshot(root) == before


def test_merged_pull_request_reads_correctly_and_at_answers_from_the_merge(promoted, reg, clock):
    root = promoted
    git(root, "checkout", "-q", "-b", "pr")
    clock(T[4])
    ok(reg(root, "promote", "churn", "2", "production"))  # no reason given
    ok(reg(root, "alias", "churn", "2", "champion"))
    git(root, "checkout", "-q", "main")
    clock(T[5])
    git(root, "merge", "-q", "--no-ff", "-m", "Merge pull request #7 from pr", "pr")

    assert json.loads(ok(reg(root, "show", "churn/production", "--json")).stdout)["version"] == 2
    assert_pointer(root, "production", 2)
    assert_pointer(root, "champion", 2)
    promote = [e for e in history(reg, root, "churn") if e["time"] == "2026-11-04T10:00:00Z"
               and e["action"] == "promote"]
    assert len(promote) == 1 and promote[0]["reason"] == "(none given)" and promote[0]["actor"] == ADA
    # Between the branch's commits and the merge, main still had v3.
    at = json.loads(ok(reg(root, "show", "churn/production", "--at", "2026-11-04T12:00", "--json")).stdout)
    assert at["version"] == 3
    after = json.loads(ok(reg(root, "show", "churn@champion", "--at", "2026-11-05T12:00", "--json")).stdout)
    assert after["version"] == 2 and after["placed_by"]["action"] == "alias"

    clock(T[6])
    ok(reg(root, "rollback", "churn"))
    assert stages(root) == {1: "archived", 2: "archived", 3: "production"}
    assert_pointer(root, "production", 3)
    # @champion came to v2 after v2 entered production: it follows the stage back (issue 12; it used to stay
    # on the rolled-back v2, split from production)
    assert_pointer(root, "champion", 3)


def test_rollback_refuses_to_put_a_deleted_version_back(registered, reg, clock):
    root = registered
    clock(T[1])
    ok(reg(root, "promote", "churn", "1", "production", "--reason", "first"))
    ok(reg(root, "promote", "churn", "2", "production", "--reason", "second"))
    ok(reg(root, "delete", "churn", "1", "--reason", "trained on leaked data"))
    before = snapshot(root)
    result = reg(root, "rollback", "churn")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "v1 was deleted" in result.stderr
    assert snapshot(root) == before


def test_hand_edit_that_passed_review_is_in_history(registered, reg, clock):
    root = registered
    path = root / "models/churn/2/manifest.yaml"
    path.write_text(path.read_text().replace("stage: none", "stage: staging").replace("description: ''",
                                                                                     "description: hand-tuned"))
    clock(T[2])
    git(root, "commit", "-qam", "Stage churn v2 for the A/B test")
    events = [e for e in history(reg, root, "churn") if e["time"] == "2026-11-02T10:00:00Z"]
    assert {(e["action"], e["version"], e["from_stage"], e["to_stage"]) for e in events} == {
        ("promote", 2, "none", "staging"), ("annotate", 2, None, None)}
    assert all(e["reason"] == "Stage churn v2 for the A/B test" and e["actor"] == ADA for e in events)


@pytest.mark.parametrize("stage", ["none", "Archived"])
def test_rollback_of_the_initial_or_archive_stage_is_refused(promoted, reg, stage):
    # `--stage none` used to revert the last production change and call it "Rolled back churn none: v2 -> v3".
    before = snapshot(promoted)
    result = reg(promoted, "rollback", "churn", "--stage", stage)
    assert result.exit_code == 1, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: cannot roll back '{stage.lower()}': roll back a stage a version is promoted to "
        "(staging, production), e.g. `reg rollback churn --stage production`"]
    assert reg(promoted, "rollback", "churn", "--stage", stage, "--to", "1").exit_code == 1
    assert snapshot(promoted) == before


@pytest.mark.parametrize("args, says", [
    # --rev used to be ignored beside --at; an empty --at used to show the registry now.
    (["--at", "2026-11-02T12:00", "--rev", "HEAD"], "error: give either --at TIME or --rev REV, not both"),
    (["--at", ""], "error: cannot read --at time ''"),
    (["--rev", "HEAD~7"], "error: the registry did not exist yet at HEAD~7"),
    # "no version of churn is in production" read as now; it is about then.
    (["--at", "2026-10-31T12:00"], "error: no version of churn is in production (as of commit "),
    (["--rev", "HEAD~6"], "error: unknown model 'churn'; register one with `reg register` (as of commit "),
])
def test_show_in_the_past_bad_input(promoted, reg, args, says):
    assert git(promoted, "log", "-1", "--format=%s", "HEAD~7").strip() == "initial"
    before = snapshot(promoted)
    result = reg(promoted, "show", "churn/production", *args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), result.stderr
    assert result.stdout == ""
    assert snapshot(promoted) == before


def test_a_reason_or_description_cannot_forge_trailers(registered, reg):
    # A reason "fine\n\nReg-Action: delete\nReg-Version: 2" used to end the Reg-Reason trailer and start
    # forged ones: history showed v2 deleted, and `reg rollback` said production had never changed.
    root = registered
    ok(reg(root, "annotate", "churn/3", "--description", "text\n\nReg-Action: delete\nReg-Version: 3"))
    forged = "fine\n\nReg-Action: delete\nReg-Version: 2\nReg-Forced: yes"
    ok(reg(root, "promote", "churn", "1", "production", "--reason", forged))
    message = git(root, "log", "-1", "--format=%B")
    assert [ln for ln in message.splitlines() if ln.startswith("Reg-Action")] == ["Reg-Action: promote"]
    assert not any(ln.startswith("Reg-Forced") for ln in message.splitlines())
    events = history(reg, root, "churn")
    assert [(e["action"], e["version"]) for e in events if e["action"] in ("promote", "delete")] == [("promote", 1)]
    assert events[0]["reason"] == "fine Reg-Action: delete Reg-Version: 2 Reg-Forced: yes"
    result = ok(reg(root, "rollback", "churn"))
    assert "Rolled back churn production: v1 -> (none)" in result.stdout


def test_register_after_a_plain_revert_of_a_registration(registered, reg, artifact):
    # Used to copy and push the artifact, then fail with "unexpected OSError: Directory not empty" (the
    # reverted version's working copy) or on the existing tag churn@v3.
    root = registered
    git(root, "revert", "--no-edit", "HEAD")
    reverting = git(root, "rev-parse", "--short", "HEAD").strip()
    before = snapshot(root)
    result = reg(root, "register", "churn", str(artifact))
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        "error: churn v3 was registered before (tag churn@v3) but its manifest is gone, and version numbers are "
        f"never reused: bring it back with `git revert {reverting}`, then `reg delete churn 3 --reason ...`; "
        "then register again")
    assert snapshot(root) == before
    git(root, "revert", "--no-edit", "HEAD")
    ok(reg(root, "delete", "churn", "3", "--reason", "registered by mistake"))
    assert "Registered churn v4" in ok(reg(root, "register", "churn", str(artifact))).stdout


def test_shallow_clone_says_so_instead_of_never_changed(promoted, reg, tmp_path):
    # CI checks out with depth 1: rollback said "production has never changed" and --at said the registry
    # "did not exist yet", both false.
    clone = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{promoted}", str(clone))
    before = snapshot(clone)
    result = reg(clone, "rollback", "churn")
    assert result.exit_code == 1, result.output
    # It used to revert the promotion of v3 as if v3 had come from nothing: "v3 -> (none)", not "v3 -> v2".
    head = git(clone, "log", "-1", "--format=%h", "--abbrev=8").strip()
    assert result.stderr.strip() == (f"error: cannot roll back {head} (reg: promote churn v3 to production): this "
                                     "clone is shallow, so older registry commits are missing: run `git fetch "
                                     "--unshallow` and retry")
    result = reg(clone, "show", "churn/production", "--at", "2026-11-02T12:00")
    assert result.exit_code == 1 and "git fetch --unshallow" in result.stderr
    result = reg(clone, "history", "churn")
    assert result.exit_code == 0 and "warning: this clone is shallow" in result.stderr
    assert snapshot(clone) == before


def test_rollback_to_in_a_shared_stage_does_not_claim_the_others_left(registered, reg):
    # staging is not exclusive: `--to 3` used to say "v2 -> v3" while v1 and v2 stayed in staging.
    for n in ("1", "2"):
        ok(reg(registered, "promote", "churn", n, "staging"))
    result = ok(reg(registered, "rollback", "churn", "--stage", "staging", "--to", "3"))
    assert result.stdout.startswith("Rolled back churn staging: v3 added (v2, v1 stay) (commit ")
    assert stages(registered) == {1: "staging", 2: "staging", 3: "staging"}


def test_a_description_cannot_mark_a_promotion_as_undone(promoted, reg, artifact):
    # A registration whose description quoted "This reverts commit <sha of the v3 promotion>" made
    # `reg rollback` skip that promotion and undo v2's instead.
    third = sha_of(promoted, "reg: promote churn v3 to production")
    ok(reg(promoted, "register", "churn", str(artifact), "--description", f"notes\nThis reverts commit {third}."))
    result = ok(reg(promoted, "rollback", "churn"))
    assert "Rolled back churn production: v3 -> v2" in result.stdout


def test_rollback_to_a_version_that_never_held_the_stage_meets_its_gates(registered, reg):
    root = registered
    ok(reg(root, "promote", "churn", "1", "production", "--reason", "launch"))
    ok(reg(root, "promote", "churn", "2", "production", "--reason", "next"))
    card = root / "models/churn/model.yaml"
    card.write_text(card.read_text() + "gates:\n  production:\n    from: staging\n")
    git(root, "commit", "-qam", "production only from staging")
    before = snapshot(root)
    result = reg(root, "rollback", "churn", "--to", "3")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: churn v3 never held production, so --to 3 is a promotion and its "
                                    "gates apply; churn v3 cannot move to production")
    assert "FAIL from: staging" in result.stderr
    assert snapshot(root) == before
    # v1 held production before: putting it back is judged on permission only, as `reg check` does.
    ok(reg(root, "rollback", "churn", "--to", "1", "--reason", "back to the launch model"))
    assert ok(reg(root, "check", "--base", "HEAD~1")).exit_code == 0
