"""What the guard asks of the refs and commits of a push (registry/refupdates.py, registry/governance.py)."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .core import run
from .objects import blobs
from .revisions import parse_raw, tree_changes

# -- the guard: ref updates and policy governance (registry/refupdates.py, registry/governance.py) ----------

def rev_commit(root: Path, rev: str) -> str | None:
    """The commit `rev` names (an annotated tag peeled), or None when it names no commit."""
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=str(root),
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def object_type(root: Path, sha: str) -> str:
    return run(["cat-file", "-t", sha], root).strip()


def symbolic_head(root: Path) -> str | None:
    """The ref HEAD points at (a bare repository's default branch), even when that branch has no commit yet."""
    proc = subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=str(root), capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def refs_matching(root: Path, pattern: str) -> dict[str, str]:
    """ref name -> the commit it names (tags peeled), for refs under `pattern` (e.g. refs/tags/)."""
    out = run(["for-each-ref", "--format=%(refname)%00%(objectname)%00%(*objectname)", pattern], root)
    found = {}
    for line in out.splitlines():
        name, obj, peeled = (line.split("\0") + ["", ""])[:3]
        found[name] = peeled or obj
    return found


def new_commits(root: Path, tips: list[str], exclude: list[str] | None = None, *, first_parent: bool = False,
                limit: int | None = None) -> list[str]:
    """Commits reachable from `tips` but from none of `exclude` (None: from no ref the repository has),
    newest first. In a pre-receive hook `--all` is the refs before the push."""
    args = ["rev-list"] + (["--first-parent"] if first_parent else []) + ([f"--max-count={limit}"] if limit else [])
    return run([*args, *tips, "--not", *(exclude if exclude is not None else ["--all"])], root).split()


def parents(root: Path, commit: str) -> list[str]:
    return run(["rev-list", "--parents", "-n1", commit], root).split()[1:]


def raw_changes(root: Path, commits: list[str], pathspec: str = "models") -> dict[str, list[tuple[str, list[str], str]]]:
    """For each commit: (path, blob in each parent, blob after) of the files under `pathspec` it changed, in
    one process for the whole list. A merge lists only the files that differ from every parent (its own
    change, `git log -c`). A missing blob is None."""
    if not commits:
        return {}
    out = run(["log", "--no-walk=unsorted", "--stdin", "--raw", "-z", "--no-renames", "--no-abbrev", "-c",
               "--format=%x01%H", "--", pathspec], root, input="\n".join(commits) + "\n")
    found: dict[str, list] = {}
    for sha, ch in parse_raw(out):
        found.setdefault(sha, []).append((ch.path, ch.olds, ch.new))
    for sha in commits:
        found.setdefault(sha, [])
    return found


def diff_tree(root: Path, commit: str, pathspec: str) -> list[tuple[str, str | None, str | None]]:
    """(path, blob before, blob after) of the files under `pathspec` a commit changed against its first parent."""
    ps = parents(root, commit)
    return [(ch.path, ch.old, ch.new) for ch in tree_changes(root, commit, ps[0] if ps else None, [pathspec])]


def first_author_adding(root: Path, rev: str, path: str) -> tuple[str, str] | None:
    """(commit, author email) of the earliest commit in `rev`'s history that added `path`."""
    out = run(["log", "--reverse", "--diff-filter=A", "--format=%H%x00%ae", rev, "--", path], root)
    first = out.split("\n", 1)[0]
    if "\0" not in first:
        return None
    sha, email = first.split("\0", 1)
    return sha, email


def blob_text(root: Path, sha: str) -> str:
    """A pushed registry file's text, at most READ_LIMIT bytes of it (through the batch reader)."""
    return blobs(root).read_text(sha)
