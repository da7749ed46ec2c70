"""The one git layer: every git process the engine starts is started here, and each git output format
has one parser here (raw tree diffs, the log, `cat-file --batch`, `ls-tree`).

git is driven as a command, not through GitPython: the one thing GitPython would add is its persistent
`cat-file --batch` reader, which `BlobReader` is in fifty lines, and importing GitPython costs 50-90 ms,
a third of the read path's whole budget (`reg show` under 0.25 s as a process)."""
from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import os
import subprocess
import threading
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


# -- revisions and refs ----------------------------------------------------------------------------

def rev_parse(root: Path, rev: str) -> str | None:
    """The commit `rev` names (a branch, tag, sha, `HEAD~2`...), or None when there is no such commit."""
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=str(root),
                          capture_output=True, text=True)
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def ref_exists(root: Path, ref: str) -> bool:
    return ok(["rev-parse", "-q", "--verify", ref], root)


def merge_base(root: Path, a: str, b: str) -> str | None:
    proc = subprocess.run(["git", "merge-base", a, b], cwd=str(root), capture_output=True, text=True)
    return proc.stdout.strip() or None


def has_path(root: Path, rev: str, path: str) -> bool:
    """Whether `path` exists in the tree of `rev`."""
    return ok(["cat-file", "-e", f"{rev}:{path}"], root)


def git_path(root: Path, name: str) -> Path:
    """Where git keeps `name` (e.g. "hooks": `core.hooksPath` wins over hooks/)."""
    proc = subprocess.run(["git", "rev-parse", "--git-path", name], cwd=str(root), capture_output=True, text=True)
    rel = proc.stdout.strip() if proc.returncode == 0 else ""
    return (Path(root) / rel).resolve() if rel else Path(root) / name


def toplevel_of(path: Path) -> Path | None:
    """The work tree `path` is in, or None (no error: a training folder need not be a git repository)."""
    proc = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=str(path), capture_output=True, text=True)
    return Path(proc.stdout.strip()) if proc.returncode == 0 else None


def commit_before(root: Path, when_ts: int, rev: str = "HEAD") -> str | None:
    """The last commit of `rev`'s first-parent history made at or before a Unix time."""
    out = run(["rev-list", "--first-parent", "-1", f"--before={when_ts}", rev, "--"], root, check=False)
    return out.strip() or None


def commit_time(root: Path, commit: str) -> str | None:
    """When `commit` was made (committer date), UTC, as 2026-11-23T15:20:00Z."""
    out = run(["show", "-s", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", "--format=%cd", commit], root,
              env={"TZ": "UTC"})
    return out.strip() or None


def tags_by_commit(root: Path) -> dict[str, list[str]]:
    """Tag names by the commit they point at (annotated tags peeled)."""
    out = run(["for-each-ref", "--format=%(objectname) %(*objectname) %(refname:strip=2)", "refs/tags"], root)
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        parts = line.split(" ")
        if len(parts) != 3:
            continue
        obj, peeled, name = parts
        found.setdefault(peeled or obj, []).append(name)
    return found


# -- the work tree -----------------------------------------------------------------------------------

def is_modified(cwd: Path, pathspecs: list[str], untracked: bool = True) -> bool:
    """Whether anything under `pathspecs` (relative to `cwd`) differs from HEAD; False outside a repository."""
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    proc = subprocess.run(["git", "status", "--porcelain", mode, "--", *pathspecs], cwd=str(cwd),
                          capture_output=True, text=True)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def listed_files(root: Path, pathspecs: list[str]) -> list[str]:
    """Files under `pathspecs`, committed or not (ignored ones left out); [] outside a repository."""
    proc = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *pathspecs], cwd=str(root),
                          capture_output=True, text=True)
    return [p for p in proc.stdout.split("\n") if p] if proc.returncode == 0 else []


# -- trees and what commits changed --------------------------------------------------------------------

def ls_tree(root: Path, rev: str, path: str = "models") -> dict[str, str] | None:
    """Blob ids by path under `path` at `rev`; None when `rev` is not a revision."""
    proc = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", rev, "--", path], cwd=str(root),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    tree = {}
    for entry in proc.stdout.split("\0"):
        if not entry:
            continue
        meta, _, name = entry.partition("\t")
        parts = meta.split()
        if len(parts) == 3 and parts[1] == "blob":
            tree[name] = parts[2]
    return tree


@dataclass
class Change:
    """One file a commit changed: its blob ids before and after (None when added or removed)."""
    path: str
    old: str | None
    new: str | None


def _blob_id(sha: str) -> str | None:
    return None if set(sha) == {"0"} else sha


def parse_raw(out: str) -> list[tuple[str | None, Change]]:
    """`--raw -z --no-abbrev` output (of diff-tree, `diff-tree --stdin` or `log`): (commit, change) pairs.
    The commit is the header git prints before each commit's entries, None when it prints none."""
    tokens = out.split("\0")
    found: list[tuple[str | None, Change]] = []
    commit = None
    i = 0
    while i < len(tokens):
        tok = tokens[i].strip("\n")
        if tok.startswith(":") and i + 1 < len(tokens):
            meta = tok[1:].split()
            if len(meta) >= 5:
                found.append((commit, Change(tokens[i + 1], _blob_id(meta[2]), _blob_id(meta[3]))))
            i += 2
            continue
        if tok:
            commit = tok
        i += 1
    return found


RAW = ["-r", "-z", "--raw", "--no-abbrev", "--no-renames"]


def tree_changes(root: Path, commit: str, parent: str | None, pathspecs: list[str]) -> list[Change]:
    """What `commit` changed against `parent` (against nothing for a root commit)."""
    args = ["diff-tree", *RAW, "--no-commit-id"] + ([parent, commit] if parent else ["--root", commit])
    return [ch for _, ch in parse_raw(run([*args, "--", *pathspecs], root))]


def changes_by_commit(root: Path, commits: list[str], pathspecs: list[str]) -> dict[str, list[Change]]:
    """What each commit changed against its first parent, in one `git diff-tree --stdin`."""
    out: dict[str, list[Change]] = {c: [] for c in commits}
    if not commits:
        return out
    proc = subprocess.run(["git", "diff-tree", "--stdin", "--root", *RAW, "--", *pathspecs], cwd=str(root),
                          input="\n".join(commits) + "\n", capture_output=True, text=True)
    for commit, ch in parse_raw(proc.stdout):
        if commit in out:
            out[commit].append(ch)
    return out


def path_blobs(root: Path, rel: str, rev: str = "HEAD") -> list[str]:
    """Every blob id the file at `rel` had in the commits up to `rev` that changed it, newest first."""
    out = run(["log", "--format=", *RAW, rev, "--", rel], root)
    return [ch.new for _, ch in parse_raw(out) if ch.new]


def merge_changed_paths(root: Path, merge: str, pathspecs: list[str]) -> list[str]:
    """Paths a merge commit changed against every parent (its own resolution: `diff-tree -c`)."""
    out = run(["diff-tree", "-r", "-c", "--no-commit-id", "--name-only", merge, "--", *pathspecs], root)
    return [p for p in out.splitlines() if p]


# -- the log -------------------------------------------------------------------------------------------

@dataclass
class LogEntry:
    sha: str
    parents: list[str]
    author: str  # "Name <email>"
    email: str
    time: str  # committer date, UTC, ISO 8601 with Z
    message: str


def log(root: Path, revs: list[str], pathspecs: list[str] | None = None, *, since: int | None = None,
        order: str = "--date-order", reverse: bool = False) -> list[LogEntry]:
    """Commits of `revs` (git log's revision arguments), touching `pathspecs` if given. Raises GitError
    when a revision is unknown."""
    args = ["log", "-z", "--no-color", order, "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
            "--format=%x1e%H%x1f%P%x1f%an%x1f%ae%x1f%cd%x1f%B"]
    if reverse:
        args.append("--reverse")
    if since is not None:
        args.append(f"--since={since}")
    # One pipe only (stderr discarded) lets Python read the output in one go, without a select loop.
    proc = subprocess.run(["git", *args, *revs, "--", *(pathspecs or [])], cwd=str(root), stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, env={**os.environ, "TZ": "UTC"})
    if proc.returncode != 0:
        raise GitError(f"git log {' '.join(revs)} failed: unknown revision")
    entries = []
    for record in proc.stdout.decode("utf-8", "replace").split("\x1e")[1:]:
        parts = record.split("\x1f", 5)
        if len(parts) < 6:
            continue
        sha, parents, name, email, when, message = parts
        entries.append(LogEntry(sha, parents.split(), f"{name} <{email}>", email, when, message.strip("\0").strip()))
    return entries


# -- reading objects -------------------------------------------------------------------------------

class BlobReader:
    """Blobs by id from one long-lived `git cat-file --batch` per repository, started on first use:
    a check or a history walk reads thousands of small manifests, and a process per blob would cost
    more than everything else together."""

    CHUNK = 1000  # requests in flight: 41 bytes each stay well under a pipe buffer, so neither side blocks

    def __init__(self, root: Path):
        self.root = Path(root)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=str(self.root), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self._proc

    def _response(self, proc: subprocess.Popen) -> tuple[str, bytes | None]:
        header = proc.stdout.readline()
        if not header:
            raise GitError("git cat-file stopped unexpectedly")
        parts = header.split()
        if len(parts) < 3:  # "<id> missing" or "<id> ambiguous"
            return parts[0].decode() if parts else "", None
        body = proc.stdout.read(int(parts[2]) + 1)[:-1]
        return parts[0].decode(), body if parts[1] == b"blob" else None

    def read_many(self, shas: list[str]) -> dict[str, bytes]:
        """Found blobs by id (an id that is missing or not a blob is left out)."""
        out: dict[str, bytes] = {}
        wanted = [s for s in dict.fromkeys(shas) if s]
        with self._lock:
            proc = self._start()
            try:
                for i in range(0, len(wanted), self.CHUNK):
                    chunk = wanted[i:i + self.CHUNK]
                    proc.stdin.write("".join(f"{s}\n" for s in chunk).encode())
                    proc.stdin.flush()
                    for sha in chunk:
                        _, body = self._response(proc)
                        if body is not None:
                            out[sha] = body
            except (OSError, ValueError, GitError):
                self.close()
                raise GitError(f"git cat-file could not read objects in {self.root}") from None
        return out

    def read(self, sha: str) -> bytes | None:
        return self.read_many([sha]).get(sha)

    def read_text(self, sha: str) -> str:
        body = self.read(sha)
        if body is None:
            raise GitError(f"git object {sha} is missing from {self.root}")
        return body.decode("utf-8", "replace")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(OSError, ValueError):
                proc.stdout.close()


_READERS: "collections.OrderedDict[str, BlobReader]" = collections.OrderedDict()
MAX_READERS = 4
_READERS_LOCK = threading.Lock()


def blobs(root: Path) -> BlobReader:
    """The repository's shared BlobReader (a few are kept; the least recently used is closed)."""
    key = str(Path(root).resolve())
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = BlobReader(Path(key))
            while len(_READERS) > MAX_READERS:
                _READERS.popitem(last=False)[1].close()
        _READERS.move_to_end(key)
        return reader


@atexit.register
def _close_readers() -> None:
    while _READERS:
        _READERS.popitem()[1].close()
