"""Revisions, refs, the work tree, trees and what commits changed, and the log: the read side."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitError
from .core import ok, run

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
    return tags_by_commit_later(root)()


def tags_by_commit_later(root: Path):
    """`tags_by_commit`, started now and read when the returned function is called: a reader of ten
    thousand commits lets git list the tags while it reads the log. `show-ref -d` takes each annotated tag's
    commit from packed-refs' peeled lines (for-each-ref's `%(*objectname)` opens every tag object: 5x slower)."""
    proc = subprocess.Popen(["git", "show-ref", "--tags", "-d"], cwd=str(root), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)

    def result() -> dict[str, list[str]]:
        out, _ = proc.communicate()  # exit 1 when there is no tag at all: no output, no error
        target: dict[str, str] = {}
        for line in out.decode("utf-8", "replace").splitlines():
            sha, _, ref = line.partition(" ")
            name = ref.removeprefix("refs/tags/")
            if name == ref:
                continue
            target[name.removesuffix("^{}")] = sha  # the peeled line comes after the tag's own
        found: dict[str, list[str]] = {}
        for name, sha in target.items():
            found.setdefault(sha, []).append(name)
        return found
    return result


# -- the work tree -----------------------------------------------------------------------------------

def listed_files(root: Path, pathspecs: list[str]) -> list[str]:
    """Files under `pathspecs`, committed or not (ignored ones left out); [] outside a repository."""
    proc = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *pathspecs], cwd=str(root),
                          capture_output=True, text=True)
    return [p for p in proc.stdout.split("\n") if p] if proc.returncode == 0 else []


# -- trees and what commits changed --------------------------------------------------------------------

def tree_id(root: Path, rev: str, path: str) -> str | None:
    """The id of the tree `path` is at `rev` (`HEAD`, `models/churn`), or None when it is not a folder there."""
    proc = subprocess.run(["git", "ls-tree", "-z", "--full-tree", rev, "--", path], cwd=str(root),
                          capture_output=True, text=True)
    meta, _, name = proc.stdout.partition("\0")[0].partition("\t")
    parts = meta.split()
    return parts[2] if proc.returncode == 0 and name == path and parts[1:2] == ["tree"] else None


def tree_files(root: Path, tree: str) -> set[str]:
    """The paths of a tree's files, relative to it (`7/manifest.yaml`, `production.dvc`)."""
    return {path for path in run(["ls-tree", "-r", "-z", "--name-only", tree], root).split("\0") if path}


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


