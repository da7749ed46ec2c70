"""A thin wrapper over the git command line. Every git call of the engine goes through `run`."""
from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import GitError, StateError

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
        raise GitError(f"git {' '.join(args[:2])} failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
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


def dirty_paths(root: Path, pathspecs: list[str], untracked: bool = True) -> list[str]:
    """Paths under `pathspecs` that differ from HEAD in the index or working tree (or are untracked)."""
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    out = run(["status", "--porcelain=v1", "-z", mode, "--", *pathspecs], root)
    paths = []
    for entry in out.split("\0"):
        if len(entry) > 3:
            paths.append(entry[3:])
    return paths


# -- the guard: ref updates and policy governance (registry/refupdates.py, registry/governance.py) ----------

def rev_commit(root: Path, rev: str) -> str | None:
    """The commit `rev` names (an annotated tag peeled), or None when it names no commit."""
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=str(root),
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def object_type(root: Path, sha: str) -> str:
    return run(["cat-file", "-t", sha], root).strip()


def is_ancestor(root: Path, ancestor: str, descendant: str) -> bool:
    return ok(["merge-base", "--is-ancestor", ancestor, descendant], root)


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
    for record in out.split("\x01")[1:]:
        items = record.split("\0")
        sha = items[0].strip()
        changes = found.setdefault(sha, [])
        i = 1
        while i + 1 < len(items):
            meta = items[i].strip("\n")
            if not meta.startswith(":"):
                i += 1  # a merge's header ends in an extra NUL
                continue
            path = items[i + 1]
            i += 2
            colons = len(meta) - len(meta.lstrip(":"))
            fields = meta.lstrip(":").split()
            blobs = [None if set(b) == {"0"} else b for b in fields[colons + 1:2 * colons + 2]]
            changes.append((path, blobs[:-1], blobs[-1]))
    return found


def diff_tree(root: Path, commit: str, pathspec: str) -> list[tuple[str, str | None, str | None]]:
    """(path, blob before, blob after) of the files under `pathspec` a commit changed against its first parent."""
    ps = parents(root, commit)
    args = ["diff-tree", "-r", "--raw", "-z", "--no-renames", "--no-abbrev"]
    args += [ps[0], commit] if ps else ["--root", "--no-commit-id", commit]
    items = run([*args, "--", pathspec], root).split("\0")
    changes = []
    for i in range(0, len(items) - 1, 2):
        fields = items[i].lstrip(":").split()
        if len(fields) < 5:
            continue
        old, new = fields[2], fields[3]
        changes.append((items[i + 1], None if set(old) == {"0"} else old, None if set(new) == {"0"} else new))
    return changes


def first_author_adding(root: Path, rev: str, path: str) -> tuple[str, str] | None:
    """(commit, author email) of the earliest commit in `rev`'s history that added `path`."""
    out = run(["log", "--reverse", "--diff-filter=A", "--format=%H%x00%ae", rev, "--", path], root)
    first = out.split("\n", 1)[0]
    if "\0" not in first:
        return None
    sha, email = first.split("\0", 1)
    return sha, email


def blob_text(root: Path, sha: str) -> str:
    return run(["cat-file", "blob", sha], root)


# -- signatures (registry/signing.py judges them) ---------------------------------------------------

@dataclass
class SignatureInfo:
    """What git says of one commit's or tag's signature, checked against an allowed-signers file.
    status: good (a listed key, `principal` its name), unknown (signed, but by no listed key valid at
    that time), expired (a listed key, but not valid now: registry/signers.py), bad (does not verify),
    none (unsigned)."""
    status: str
    principal: str | None = None
    key: str | None = None
    email: str | None = None  # the author (commit) or tagger (tag) it claims


def commit_signatures(root: Path, shas: list[str], allowed_signers: Path) -> dict[str, SignatureInfo]:
    if not shas:
        return {}
    out = run(["-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "log", "--no-walk=unsorted", "--stdin",
               "--format=%H%x00%G?%x00%GS%x00%GK%x00%ae%x1e"], root, input="\n".join(shas) + "\n")
    found = {}
    for rec in out.split("\x1e"):
        parts = rec.strip("\n").split("\x00")
        if len(parts) < 5:
            continue
        sha, code, principal, key, email = parts[:5]
        status = {"G": "good", "N": "none", "B": "bad"}.get(code, "unknown" if key else "bad")
        if code != "N" and not key.startswith("SHA256:"):
            # GPG (or X.509): git judged it by the local keyring, not the allowed-signers file
            status, principal = "unknown", ""
        found[sha] = SignatureInfo(status, principal or None, key or None, email)
    return found


def tag_signature(root: Path, tag_sha: str, allowed_signers: Path) -> SignatureInfo:
    """The signature of an annotated tag object (`git verify-tag`, whose findings go to stderr)."""
    raw = run(["cat-file", "tag", tag_sha], root)
    tagger = next((ln for ln in raw.splitlines() if ln.startswith("tagger ")), "")
    email = tagger.split("<", 1)[1].split(">", 1)[0] if "<" in tagger else None
    if "-----BEGIN SSH SIGNATURE-----" not in raw and "-----BEGIN " in raw:
        # GPG (or X.509): not verifiable against the allowed-signers file, whatever the local keyring says
        return SignatureInfo("unknown", None, "(a GPG or X.509 key)", email)
    proc = subprocess.run(["git", "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}", "verify-tag", tag_sha],
                          cwd=str(root), capture_output=True, text=True)
    said = proc.stderr + proc.stdout
    if "no signature found" in said:
        return SignatureInfo("none", email=email)
    key = None
    for line in said.splitlines():
        if line.startswith('Good "git" signature'):
            key = line.rsplit(" ", 1)[-1]
            if " for " in line and proc.returncode == 0:
                principal = line.split(" for ", 1)[1].split(" with ", 1)[0]
                return SignatureInfo("good", principal, key, email)
    return SignatureInfo("unknown" if key else "bad", None, key, email)
