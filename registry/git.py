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
from dataclasses import dataclass, field
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


def dirty_paths(root: Path, pathspecs: list[str], untracked: bool = True) -> list[str]:
    """Paths under `pathspecs` that differ from HEAD in the index or working tree (or are untracked)."""
    mode = "--untracked-files=all" if untracked else "--untracked-files=no"
    out = run(["--no-optional-locks", "status", "--porcelain=v1", "-z", mode, "--", *pathspecs], root)
    paths = []
    for entry in out.split("\0"):
        if len(entry) > 3:
            paths.append(entry[3:])
    return paths


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


def special_entries(root: Path, rev: str, path: str = "models") -> dict[str, str]:
    """Symbolic links (mode 120000) and submodules (160000) under `path` at `rev`: path -> mode."""
    out = run(["ls-tree", "-r", "-z", "--full-tree", rev, "--", path], root, check=False)
    found = {}
    for entry in out.split("\0"):
        meta, _, name = entry.partition("\t")
        mode = meta.split(" ", 1)[0]
        if mode in ("120000", "160000"):
            found[name] = mode
    return found


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
    proc = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", mode, "--", *pathspecs], cwd=str(cwd),
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
    """One file a commit changed: its blob ids before and after (None when added or removed). For a merge's
    combined diff (`-c`), `olds` holds the blob in each parent and `old` the first parent's."""
    path: str
    old: str | None
    new: str | None
    olds: list | None = None


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
            parents = len(tok) - len(tok.lstrip(":"))  # one colon per parent: `-c` prints a merge's combined diff
            meta = tok.lstrip(":").split()
            if len(meta) >= 2 * parents + 3:
                blobs = [_blob_id(b) for b in meta[parents + 1:2 * parents + 2]]
                found.append((commit, Change(tokens[i + 1], blobs[0], blobs[-1], blobs[:-1])))
            i += 2
            continue
        if tok:
            commit = tok.lstrip("\x01")
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
    signer: str | None = None  # the verified signer's principal, set by `reg check` where signing applies


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


# == write side: objects, trees, refs and pushes (used by changes.py and propose.py) ================
# Reg's own writes ask git to fsync what they create (one batched flush for many loose objects), so a
# power cut never leaves a ref naming an object that is not on disk.
DURABLE = ["-c", "core.fsync=committed,index", "-c", "core.fsyncMethod=batch"]


def write_blobs(root: Path, rels: list[str]) -> dict[str, str]:
    """Store these working-tree files as blobs; path -> blob id (one process for all)."""
    if not rels:
        return {}
    out = run([*DURABLE, "hash-object", "-w", "--no-filters", "--stdin-paths"], root,
              input="".join(f"{rel}\n" for rel in rels))
    return dict(zip(rels, out.split()))


def _tree_entries(data: bytes) -> dict[str, tuple[str, str]]:
    """A raw tree object as name -> (mode, hex id)."""
    entries, i = {}, 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        mode, name = data[i:space].decode(), data[space + 1:nul].decode("utf-8", "surrogateescape")
        entries[name] = (mode, data[nul + 1:nul + 21].hex())
        i = nul + 21
    return entries


def _tree_bytes(entries: dict[str, tuple[str, str]]) -> bytes:
    # git orders a folder's entries by name, a sub-folder's name compared as if it ended in "/".
    order = sorted(entries, key=lambda n: n.encode("utf-8", "surrogateescape") + (b"/" if entries[n][0] == "40000" else b""))
    return b"".join(entries[n][0].encode() + b" " + n.encode("utf-8", "surrogateescape") + b"\0"
                    + bytes.fromhex(entries[n][1]) for n in order)


def tree_with(root: Path, base: str | None, changes: dict[str, tuple[str, str] | None]) -> str:
    """The id of `base` (a commit or tree, None for empty) with files replaced: path -> (mode, blob id),
    or None to remove. Only the folders on the changed paths are read and written, so the cost grows with
    the change, not with the repository (a temporary index of every file costs 0.2 s at 30,000 files)."""
    import hashlib
    import tempfile

    reader = subprocess.Popen(["git", "cat-file", "--batch"], cwd=str(root), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)

    def read_tree(spec: str | None) -> dict[str, tuple[str, str]]:
        if spec is None:
            return {}
        reader.stdin.write(spec.encode() + b"\n")
        reader.stdin.flush()
        header = reader.stdout.readline().split()
        if len(header) < 3 or header[1] != b"tree":
            raise GitError(f"git cat-file: {spec} is not a tree")
        data = reader.stdout.read(int(header[2]))
        reader.stdout.read(1)
        return _tree_entries(data)

    nested: dict = {}
    for path, entry in changes.items():
        node = nested
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise GitError(f"{path} runs through a file")
        node[parts[-1]] = ("file", entry)
    written: dict[str, bytes] = {}

    def build(node: dict, tree: str | None) -> str | None:
        entries = read_tree(tree)
        for name, child in node.items():
            if isinstance(child, tuple):
                if child[1] is None:
                    entries.pop(name, None)
                else:
                    entries[name] = child[1]
                continue
            old = entries.get(name)
            sub = build(child, old[1] if old and old[0] == "40000" else None)
            if sub is None:
                entries.pop(name, None)
            else:
                entries[name] = ("40000", sub)
        if not entries:
            return None
        data = _tree_bytes(entries)
        sha = hashlib.sha1(b"tree %d\0" % len(data) + data).hexdigest()
        written[sha] = data
        return sha

    try:
        top = build(nested, f"{base}^{{tree}}" if base else None)
    finally:
        reader.stdin.close()
        reader.wait()
    if top is None:
        top = hashlib.sha1(b"tree 0\0").hexdigest()
        written[top] = b""
    (git_dir(root) / "reg").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=git_dir(root) / "reg") as tmp:
        names = []
        for i, (sha, data) in enumerate(written.items()):
            p = Path(tmp) / str(i)
            p.write_bytes(data)
            names.append(str(p))
        got = run([*DURABLE, "hash-object", "-w", "-t", "tree", "--stdin-paths"], root,
                  input="".join(n + "\n" for n in names)).split()
    if got != list(written):
        raise GitError("git hash-object wrote trees other than the ones reg computed")
    return top


@dataclass
class PushResult:
    """How a push ended. `status`: "ok"; "rejected" (the remote moved on: fetch and replay);
    "declined" (a server hook refused it: `remote_lines` is what the server said); "error" (anything
    else: unreachable, no permission; `detail` is git's line)."""
    status: str
    detail: str = ""
    remote_lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def push(root: Path, remote: str, refspecs: list[str], *, atomic: bool = True, timeout: float | None = 300) -> PushResult:
    """`git push --porcelain`, its outcome read from git's own per-ref lines, never a guess from prose.
    --atomic: tags land only with the branch, so a rejected branch leaves no orphan tags behind."""
    args = ["git", "push", "--porcelain", *(["--atomic"] if atomic else []), remote, *refspecs]
    try:
        proc = subprocess.run(args, cwd=str(root), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        return PushResult("error", f"no answer from {remote} in {timeout:.0f} s")
    output = proc.stderr + "\n" + proc.stdout
    said = [ln[len("remote:"):].strip() for ln in output.splitlines() if ln.startswith("remote:")]
    if proc.returncode == 0:
        return PushResult("ok", remote_lines=said)
    refused = [ln.split("\t") for ln in proc.stdout.splitlines() if ln.startswith("!")]
    reasons = [parts[-1] for parts in refused if len(parts) >= 3]
    if any("hook declined" in r for r in reasons) or (not reasons and "hook declined" in output):
        return PushResult("declined", next((r for r in reasons if "hook declined" in r), "hook declined"),
                          [ln for ln in said if ln])
    # --atomic marks the other refs "atomic push failed"; the ref that failed says why. Another push
    # landing at the same instant shows as the server failing to lock or move the ref: a race, retried.
    raced = ("fetch first", "non-fast-forward", "already exists", "atomic", "cannot lock ref", "failed to lock",
             "failed to update ref", "incorrect old value", "but expected")
    if reasons and all(any(word in r for word in raced) for r in reasons):
        return PushResult("rejected", next((r for r in reasons if "atomic" not in r), reasons[0]))
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and ln.strip() != "Done"]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return PushResult("error", (reasons or fatal or lines or [f"exit {proc.returncode}"])[0])


def fetch_branch(root: Path, remote: str, branch: str) -> str:
    """Fetch the remote's branch and its tags; the commit it is at."""
    run(["fetch", "-q", "--tags", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"], root)
    return run(["rev-parse", f"refs/remotes/{remote}/{branch}^{{commit}}"], root).strip()


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    return ok(["merge-base", "--is-ancestor", older, newer], root)


def remote_branch_exists(root: Path, remote: str, branch: str) -> bool:
    """Whether the remote has this branch (`git ls-remote`); GitError when the remote cannot be reached."""
    proc = subprocess.run(["git", "ls-remote", "--heads", remote, f"refs/heads/{branch}"], cwd=str(root),
                          capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        raise GitError((fatal or lines or [f"exit {proc.returncode}"])[0])
    return bool(proc.stdout.strip())


def remote_default_branch(root: Path, remote: str) -> str | None:
    """The remote's default branch as this clone recorded it (refs/remotes/<remote>/HEAD)."""
    out = run(["symbolic-ref", "-q", "--short", f"refs/remotes/{remote}/HEAD"], root, check=False).strip()
    return out.removeprefix(f"{remote}/") or None


def dirty_paths_later(root: Path, pathspecs: list[str]):
    """`dirty_paths(untracked=False)` started now and answered when called: git stats every tracked file
    (0.1-0.3 s at 10,000 versions) while the caller reads the registry in Python."""
    proc = subprocess.Popen(["git", "--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=no", "--", *pathspecs],
                            cwd=str(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def answer() -> list[str]:
        out, err = proc.communicate()
        if proc.returncode != 0:
            detail = err.strip().splitlines()
            raise GitError(f"git status failed: {detail[-1] if detail else 'exit ' + str(proc.returncode)}")
        return [entry[3:] for entry in out.split("\0") if len(entry) > 3]
    return answer
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
    return run(["cat-file", "blob", sha], root)
