"""The model index (`.git/reg/index/`): a change reads the stages and aliases of every version from it and
only the manifests it touches. Whatever happened to the repository in between (a pull of others'
promotions, a `git revert`, a hand edit not committed, a damaged index file), a change must come out as if
it had read every manifest: the right version archived, the right pointers, and `reg check` content."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from .conftest import git, snapshot
from .servers import bare_remote, hooked_remote, make_clone


def _stage(root: Path, number: int) -> str:
    return yaml.safe_load((root / f"models/churn/{number}/manifest.yaml").read_text())["stage"]


def _pointer_version(root: Path, name: str) -> int:
    return yaml.safe_load((root / f"models/churn/{name}.dvc").read_text())["meta"]["reg"]["version"]


def _index(root: Path) -> dict:
    return json.loads((root / ".git/reg/index/churn.json").read_text())


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def three(registry, reg, artifact):
    for _ in range(3):
        _ok(reg(registry, "register", "churn", str(artifact)))
    return registry


def test_a_change_after_a_pull_sees_the_promotions_it_pulled(tmp_path, three, reg):
    bare = bare_remote(three, tmp_path / "origin.git", push=("main", "--tags"))
    other = make_clone(bare, tmp_path / "other")
    _ok(reg(three, "alias", "churn", "1", "candidate", "--no-push"))  # this clone now has an index
    git(three, "reset", "-q", "--hard", "origin/main")
    tree_before = _index(three)["tree"]

    _ok(reg(other, "promote", "churn", "1", "production", "--no-push"))
    _ok(reg(other, "alias", "churn", "1", "champion", "--no-push"))
    git(other, "push", "-q", "origin", "main", "--tags")
    git(three, "pull", "-q", "--ff-only", "origin", "main")
    git(three, "fetch", "-q", "--tags", "origin")

    _ok(reg(three, "promote", "churn", "2", "production", "--alias", "champion", "--no-push"))
    assert _stage(three, 1) == "archived" and _stage(three, 2) == "production"
    assert _pointer_version(three, "production") == 2 and _pointer_version(three, "champion") == 2
    assert _index(three)["tree"] != tree_before  # brought forward from the pulled commits, not rebuilt blind
    _ok(reg(three, "check"))


def test_a_git_revert_is_seen_by_the_next_change(three, reg):
    _ok(reg(three, "promote", "churn", "1", "production"))
    _ok(reg(three, "promote", "churn", "2", "production"))
    git(three, "revert", "--no-edit", "HEAD")  # v1 back in production, v2 back where it was
    _ok(reg(three, "promote", "churn", "3", "production"))
    assert [_stage(three, n) for n in (1, 2, 3)] == ["archived", "none", "production"]
    assert _pointer_version(three, "production") == 3
    _ok(reg(three, "check"))


def test_an_uncommitted_edit_never_enters_the_index(three, reg):
    _ok(reg(three, "promote", "churn", "1", "production"))
    (three / ".git/reg/index/churn.json").unlink()  # the next change rebuilds it from the files
    manifest = three / "models/churn/2/manifest.yaml"
    committed = manifest.read_text()
    manifest.write_text(committed.replace("stage: none", "stage: production"))
    before = snapshot(three)
    refused = reg(three, "promote", "churn", "3", "staging")
    assert refused.exit_code == 1 and "models/churn/2/manifest.yaml has uncommitted changes" in refused.stderr
    assert snapshot(three) == before
    manifest.write_text(committed)

    _ok(reg(three, "promote", "churn", "3", "production"))
    assert [_stage(three, n) for n in (1, 2, 3)] == ["archived", "none", "production"]
    assert _pointer_version(three, "production") == 3
    _ok(reg(three, "check"))


def test_a_version_folder_git_does_not_have_is_no_version_to_a_change(three, reg, artifact):
    (three / ".git/reg/index/churn.json").unlink()
    stray = three / "models/churn/4"
    stray.mkdir()
    (stray / "manifest.yaml").write_text((three / "models/churn/3/manifest.yaml").read_text()
                                         .replace("version: 3", "version: 4"))
    _ok(reg(three, "promote", "churn", "3", "staging"))
    assert [e[0] for e in _index(three)["entries"]] == [1, 2, 3]
    refused = reg(three, "register", "churn", str(artifact))
    assert refused.exit_code == 1
    assert "models/churn/4/ holds a manifest that was never committed; remove them (rm -r models/churn/4)" in refused.stderr


@pytest.mark.parametrize("damage", ["garbage", "wrong shape", "other tree"])
def test_a_damaged_index_is_not_trusted(three, reg, damage):
    _ok(reg(three, "promote", "churn", "1", "production"))
    path = three / ".git/reg/index/churn.json"
    if damage == "garbage":
        path.write_bytes(b"\x00not json")
    elif damage == "wrong shape":
        path.write_text(json.dumps({"v": 1, "tree": _index(three)["tree"], "entries": [["x"]]}))
    else:  # an index of a tree this repository does not have
        path.write_text(json.dumps({"v": 1, "tree": "0" * 40, "entries": []}))
    _ok(reg(three, "promote", "churn", "2", "production"))
    assert [_stage(three, n) for n in (1, 2)] == ["archived", "production"]
    assert _index(three)["entries"]  # made again
    _ok(reg(three, "check"))


@pytest.mark.parametrize("folder", ["004", "²", "٤"])
def test_a_folder_not_named_as_reg_names_versions_is_no_version(three, reg, folder):
    """`int()` reads `004` and `٤` as 4 and `str.isdigit()` takes `²`: pushed by someone else and pulled, such a
    folder once entered the index as v4 (so the change failed on a v4 manifest that is not there) or stopped
    every command with a ValueError. Like a full read, a change now ignores it, and `reg check` names it."""
    _ok(reg(three, "promote", "churn", "1", "production", "--no-push"))  # the index exists: it is brought forward
    stray = three / "models/churn" / folder
    stray.mkdir()
    (stray / "manifest.yaml").write_text((three / "models/churn/3/manifest.yaml").read_text()
                                         .replace("version: 3", "version: 4").replace("stage: none", "stage: production"))
    git(three, "add", "-A")
    git(three, "commit", "-qm", "a folder by hand")

    _ok(reg(three, "promote", "churn", "2", "production", "--no-push"))
    assert [_stage(three, n) for n in (1, 2, 3)] == ["archived", "production", "none"]
    assert _pointer_version(three, "production") == 2
    assert [e[0] for e in _index(three)["entries"]] == [1, 2, 3]
    shown = _ok(reg(three, "show", "churn", "--json"))
    assert sorted(v["version"] for v in json.loads(shown.stdout)) == [1, 2, 3]
    checked = reg(three, "check")
    assert checked.exit_code == 1 and "Traceback" not in checked.output
    assert f"models/churn/{folder}/: a version folder is named by its number" in checked.output


def test_numbers_a_pushed_tag_or_trailer_ends_in_that_int_refuses_are_not_numbers(three, reg):
    """`str.isdigit()` takes `²` and `int()` refuses it: a tag `churn#production#²` stopped every promote (the next
    stage tag's number), and a commit saying `Reg-Version: ²` stopped history and rollback, with a ValueError."""
    git(three, "tag", "churn#production#²")
    git(three, "commit", "-q", "--allow-empty", "-m",
        "by hand\n\nReg-Action: promote\nReg-Model: churn\nReg-Version: ²\nReg-To: production\n")
    promoted = _ok(reg(three, "promote", "churn", "1", "production", "--no-push"))
    assert "tag churn#production#1" in promoted.stdout
    history = _ok(reg(three, "history", "churn"))
    assert "promote" in history.stdout
    rolled = _ok(reg(three, "rollback", "churn", "--no-push"))
    assert "Rolled back churn production: v1 -> (none)" in rolled.stdout
    for args in (("show", "churn/²"), ("promote", "churn", "²", "staging", "--no-push")):
        before = snapshot(three)
        refused = reg(three, *args)
        assert refused.exit_code == 1 and refused.stderr.startswith("error: invalid version '²'"), refused.output
        assert snapshot(three) == before


def test_a_manifest_put_back_untracked_after_its_removal_was_committed_is_not_indexed(three, reg):
    """A full read found the untracked copy in a folder git still has (its model.dvc) and saved it in the index
    of a tree without it: once the copy was gone, every change displacing it failed on a missing manifest."""
    _ok(reg(three, "promote", "churn", "3", "production", "--no-push"))
    kept = (three / "models/churn/3/manifest.yaml").read_text()
    git(three, "rm", "-q", "models/churn/3/manifest.yaml")
    git(three, "commit", "-qm", "remove v3's manifest by hand")
    (three / "models/churn/3/manifest.yaml").write_text(kept)
    (three / ".git/reg/index/churn.json").unlink()
    _ok(reg(three, "promote", "churn", "1", "staging", "--no-push"))
    assert [e[0] for e in _index(three)["entries"]] == [1, 2]
    (three / "models/churn/3/manifest.yaml").unlink()

    _ok(reg(three, "promote", "churn", "2", "production", "--no-push"))
    assert [_stage(three, n) for n in (1, 2)] == ["staging", "production"]
    assert _pointer_version(three, "production") == 2


def test_a_replay_after_a_rejected_push_reads_the_index_brought_to_the_winners_head(tmp_path, three, reg):
    """Two clones with an index each promote to production and alias the same name; the second's push is
    rejected and its change replayed on the first's head: the replay must archive what the first promoted and
    take the alias from it, and the hooked server must accept both."""
    bare = hooked_remote(three, tmp_path / "origin.git", reg)
    first, second = make_clone(bare, tmp_path / "first"), make_clone(bare, tmp_path / "second")
    for clone in (first, second):
        git(clone, "fetch", "-q", "--tags", "origin")
        _ok(reg(clone, "promote", "churn", "3", "staging", "--no-push"))  # each clone has an index of its HEAD
        git(clone, "reset", "-q", "--hard", "origin/main")
        git(clone, "tag", "-d", "churn#staging#1")

    _ok(reg(first, "promote", "churn", "1", "production", "--alias", "champion", "--push"))
    _ok(reg(second, "promote", "churn", "2", "production", "--alias", "champion", "--push"))

    assert git(second, "rev-parse", "HEAD") == git(bare, "rev-parse", "main")
    assert [_stage(second, n) for n in (1, 2, 3)] == ["archived", "production", "none"]
    assert _pointer_version(second, "production") == 2 and _pointer_version(second, "champion") == 2
    assert "champion" not in yaml.safe_load((second / "models/churn/1/manifest.yaml").read_text())["aliases"]
    _ok(reg(second, "check"))


def test_an_index_of_a_tree_gc_pruned_is_rebuilt(three, reg):
    _ok(reg(three, "promote", "churn", "1", "production", "--no-push"))
    manifest = three / "models/churn/2/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("stage: none", "stage: staging"))
    git(three, "commit", "-qam", "v2 to staging by hand")
    _ok(reg(three, "alias", "churn", "2", "champion", "--no-push"))  # the index is now of the hand commit's tree
    pruned = _index(three)["tree"]
    git(three, "reset", "-q", "--hard", "HEAD~2")
    git(three, "reflog", "expire", "--expire=now", "--all")
    git(three, "gc", "-q", "--prune=now")
    assert git(three, "cat-file", "-t", pruned, check=False) == ""

    _ok(reg(three, "promote", "churn", "3", "production", "--alias", "champion", "--no-push"))
    assert [_stage(three, n) for n in (1, 2, 3)] == ["archived", "none", "production"]
    assert _pointer_version(three, "production") == 3 and _pointer_version(three, "champion") == 3
    assert not (three / "models/churn/staging.dvc").exists()
    _ok(reg(three, "check"))


# -- the same random sequence in two clones: one through its index, one reading every manifest each time ------

STAGES, ALIASES = ["none", "staging", "production", "archived"], ["champion", "challenger"]


def _numbers(root: Path) -> list[int]:
    folder = root / "models/churn"
    return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []


def _next_step(rng, root: Path, by_hand: bool) -> tuple:
    numbers = _numbers(root) or [1]
    n = str(rng.choice(numbers + [max(numbers) + 1]))  # now and then a version that is not there
    steps = 3 * [("reg", "promote", "churn", n, rng.choice(STAGES)),
                 ("reg", "promote", "churn", n, "production", "--alias", rng.choice(ALIASES)),
                 ("reg", "alias", "churn", n, rng.choice(ALIASES)), ("reg", "rollback", "churn", "--stage",
                                                                      rng.choice(["production", "staging"])),
                 ("register",)]
    steps += [("reg", "alias", "churn", "--delete", rng.choice(ALIASES)),
              ("reg", "delete", "churn", n, "--reason", "leaked", "--force"),
              ("git", "revert", "--no-edit", "HEAD"), ("git", "reset", "-q", "--hard", "HEAD~1"),
              ("git", "checkout", "-q", "-B", rng.choice(["side", "main"]), rng.choice(["HEAD~1", "main", "side"])),
              ("gc",)]
    if by_hand:  # history rewritten, manifests edited: reg check need not accept the result
        steps += [("git", "rebase", "-q", "--onto", "HEAD~2", "HEAD~1"), ("hand", "stage", n, rng.choice(STAGES)), ("hand", "alias", n, rng.choice(ALIASES)),
                  ("hand", "rm", n, "")]
    return rng.choice(steps)


def _take(root: Path, step: tuple, reg, artifact) -> tuple[int, str]:
    kind = step[0]
    if kind in ("reg", "register"):
        args = ("register", "churn", str(artifact)) if kind == "register" else step[1:]
        result = reg(root, *args, "--no-push")
        return result.exit_code, (result.stderr.strip().splitlines() or [""])[0]
    if kind == "gc":
        git(root, "reflog", "expire", "--expire=now", "--all")
        git(root, "gc", "-q", "--prune=now")
        return 0, ""
    if kind == "hand":  # a manifest edited or removed, committed with plain git
        _, what, n, value = step
        manifest = root / f"models/churn/{n}/manifest.yaml"
        if not manifest.exists():
            return 0, "no such manifest"
        if what == "rm":
            git(root, "rm", "-q", "-r", f"models/churn/{n}")
        else:
            data = yaml.safe_load(manifest.read_text())
            if what == "stage":
                data["stage"] = value
            else:
                data["aliases"] = sorted(set(data.get("aliases") or []) | {value})
            manifest.write_text(yaml.safe_dump(data, sort_keys=False))
        git(root, "commit", "-q", "--allow-empty", "-am", f"by hand: {what} v{n}")
        return 0, ""
    proc = subprocess.run(list(step), cwd=str(root), capture_output=True, text=True)
    if proc.returncode and step[1] == "rebase":
        git(root, "rebase", "--abort", check=False)  # a conflict; or no HEAD~2 at all
    if step[1] == "reset":  # the registration tags of commits reset away, as one told to register again would
        for tag in git(root, "tag", "-l", "churn@v*", "--no-merged", "HEAD").split():
            git(root, "tag", "-d", tag)
    return proc.returncode, ""


@pytest.mark.slow
@pytest.mark.parametrize("seed, by_hand", [(0, False), (1, True), (2, False), (3, True)])
def test_random_changes_through_the_index_equal_those_reading_every_manifest(tmp_path, three, reg, artifact,
                                                                               monkeypatch, seed, by_hand):
    """With the clock fixed, the same step in both clones must make the same commit, tags and working tree
    (a commit id covers every file it holds): `indexed` keeps its index across the steps, `full` loses it
    before each, so every change there reads every manifest. Without edits by hand, `reg check` accepts it."""
    monkeypatch.setenv("GIT_AUTHOR_DATE", "@1700000000 +0000")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1700000000 +0000")
    bare = bare_remote(three, tmp_path / "origin.git", push=("main", "--tags"))
    indexed, full = make_clone(bare, tmp_path / "indexed"), make_clone(bare, tmp_path / "full")
    rng, done = random.Random(seed), []
    for _ in range(40):
        step = _next_step(rng, indexed, by_hand)
        shutil.rmtree(full / ".git/reg/index", ignore_errors=True)
        said = _take(indexed, step, reg, artifact)
        done.append((step, said))
        assert _take(full, step, reg, artifact) == said, done
        assert "unexpected" not in said[1], done
        for what in (("rev-parse", "HEAD"), ("show-ref", "--tags"), ("status", "--porcelain")):
            assert git(indexed, *what, check=False) == git(full, *what, check=False), done
    assert any(said[0] == 0 and step[0] == "reg" for step, said in done)
    if not by_hand:
        checked = reg(indexed, "check")
        assert checked.exit_code == 0, (checked.output, done)


def test_a_manifest_name_with_a_trailing_newline_is_not_the_manifest(three, reg):
    """`$` matches before a final newline: a committed `2/manifest.yaml\\n` (git allows any byte but / and NUL)
    was brought into the index as v2's manifest, so the next promotion archived a version not in production."""
    _ok(reg(three, "promote", "churn", "1", "production", "--no-push"))
    decoy = three / "models/churn/2/manifest.yaml\n"
    decoy.write_text((three / "models/churn/2/manifest.yaml").read_text().replace("stage: none", "stage: production"))
    git(three, "add", "-A")
    git(three, "commit", "-qm", "a decoy by hand")

    _ok(reg(three, "promote", "churn", "3", "production", "--no-push"))
    assert [_stage(three, n) for n in (1, 2, 3)] == ["archived", "none", "production"]
    assert [e[1] for e in _index(three)["entries"]] == ["production", "none", "none"]  # of the tree promoted from
