"""The git command itself: run it, and the few facts about a repository every command asks."""
from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

from ..errors import GitError, StateError
ZERO_SHA = "0" * 40


def run(args: list[str], cwd: str | Path, *, env: dict | None = None, input: str | None = None,
        check: bool = True) -> str:
    full_env = None
    if env:
        full_env = dict(os.environ)
        full_env.update(env)
    proc = subprocess.run(
        ["git", *args], cwd=str(cwd), env=full_env, input=input,
        capture_output=True, text=True,
    )
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        shown = args
        while shown[:1] == ["-c"]:
            shown = shown[2:]
        raise GitError(f"git {' '.join(shown[:2])} failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def ok(args: list[str], cwd: str | Path) -> bool:
    return subprocess.run(["git", *args], cwd=str(cwd), capture_output=True).returncode == 0


def toplevel(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise StateError(f"{path} does not exist")
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=str(path if path.is_dir() else path.parent),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        where = str(path if path.is_dir() else path.parent)
        bare = subprocess.run(["git", "rev-parse", "--is-bare-repository"], cwd=where, capture_output=True, text=True)
        if bare.stdout.strip() == "true":
            raise StateError(f"{path} is a bare git repository (no working tree): clone it (`git clone {path}`) "
                             "and run reg in the clone")
        raise StateError(f"{path} is not inside a git repository; run `git init` there first")
    return Path(proc.stdout.strip())


def git_dir(root: Path) -> Path:
    return _git_dir(str(Path(root).resolve()))


@functools.lru_cache(maxsize=64)
def _git_dir(root: str) -> Path:
    # Asked several times per command; a repository's git dir does not move while we run. A plain
    # `.git` folder at the top saves the process (the read path's common case).
    dotgit = Path(root) / ".git"
    if dotgit.is_dir():
        return dotgit
    return Path(run(["rev-parse", "--absolute-git-dir"], Path(root)).strip())


def head(root: Path) -> str | None:
    proc = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD^{commit}"], cwd=str(root),
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_shallow(root: Path) -> bool:
    """A shallow clone (CI checks out with depth 1) lacks the older commits history is derived from."""
    return (git_dir(root) / "shallow").is_file()


SHALLOW_HINT = "this clone is shallow, so older registry commits are missing: run `git fetch --unshallow` and retry"


def current_branch(root: Path) -> str | None:
    proc = subprocess.run(["git", "symbolic-ref", "-q", "--short", "HEAD"], cwd=str(root),
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def config(root: Path, key: str) -> str | None:
    proc = subprocess.run(["git", "config", "--get", key], cwd=str(root), capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def identity(root: Path) -> tuple[str, str]:
    """The person making a change: the commit's author (honours GIT_AUTHOR_* like git does), the identity
    `reg check` and the server hook judge permissions by."""
    proc = subprocess.run(["git", "var", "GIT_AUTHOR_IDENT"], cwd=str(root), capture_output=True, text=True)
    if proc.returncode != 0:
        raise StateError("git does not know who you are; run `git config user.name \"Your Name\"` "
                         "and `git config user.email you@example.com`")
    ident = proc.stdout.strip()
    name, _, rest = ident.partition(" <")
    email = rest.split(">", 1)[0]
    return name, email


def operation_in_progress(root: Path) -> str | None:
    gdir = git_dir(root)
    for marker, what in (("MERGE_HEAD", "a merge"), ("rebase-merge", "a rebase"), ("rebase-apply", "a rebase"),
                         ("CHERRY_PICK_HEAD", "a cherry-pick"), ("REVERT_HEAD", "a revert"),
                         ("BISECT_LOG", "a bisect")):
        if (gdir / marker).exists():
            return what
    return None


# -- the work tree -----------------------------------------------------------------------------------
# One reader of `git status --porcelain=v1 -z`. `--no-optional-locks`: status would otherwise refresh the
# index and take index.lock, failing a concurrent reg commit.

def _status(root: Path, pathspecs: list[str], untracked: bool, outside_ok: bool = False):
    """Paths under `pathspecs` that differ from HEAD in the index or working tree (and untracked ones if
    `untracked`), asked now and answered when the returned function is called. `outside_ok`: [] when
    `root` is not in a repository (or git fails) instead of GitError."""
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    proc = subprocess.Popen(["git", "--no-optional-locks", "status", "--porcelain=v1", "-z", mode, "--", *pathspecs],
                            cwd=str(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def answer() -> list[str]:
        out, err = proc.communicate()
        if proc.returncode != 0:
            if outside_ok:
                return []
            detail = err.strip().splitlines()
            raise GitError(f"git status failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
        return _status_paths(out)
    return answer


def _status_paths(out: str) -> list[str]:
    # Entries are "XY path"; a rename or copy ("R"/"C" in XY) is followed by its source path, a field of
    # its own with no status letters.
    paths = []
    fields = iter(out.split("\0"))
    for entry in fields:
        if len(entry) > 3:
            paths.append(entry[3:])
            if "R" in entry[:2] or "C" in entry[:2]:
                source = next(fields, "")
                if source:
                    paths.append(source)
    return paths


def dirty_paths(root: Path, pathspecs: list[str], untracked: bool = True) -> list[str]:
    """Paths under `pathspecs` that differ from HEAD in the index or working tree (or are untracked)."""
    return _status(root, pathspecs, untracked)()


def dirty_paths_later(root: Path, pathspecs: list[str]):
    """`dirty_paths(untracked=False)` started now and answered when called: git stats every tracked file
    (0.1-0.3 s at 10,000 versions) while the caller reads the registry in Python."""
    return _status(root, pathspecs, untracked=False)


def is_modified(cwd: Path, pathspecs: list[str], untracked: bool = True) -> bool:
    """Whether anything under `pathspecs` (relative to `cwd`) differs from HEAD; False outside a repository."""
    return bool(_status(cwd, pathspecs, untracked, outside_ok=True)())
