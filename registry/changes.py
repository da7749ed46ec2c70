"""`ChangeSet` and the one `apply`: lock, atomic writes, one commit of only the registry's paths, tags, push.

Operations never touch git themselves: they return a ChangeSet from the current state, and `apply` is
the only place that writes, commits, tags, pushes, retries and undoes a half-done change.
"""
from __future__ import annotations

import contextlib
import errno
import os
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import git, journal, refs, signing
from .errors import GitError, PolicyError, RegistryError, StateError, StorageError, UsageError
from .state import RegistryState


class NothingToChange(UsageError):
    """The operation would change no file (e.g. `reg init` of a registry that is already one)."""


@dataclass
class Tag:
    name: str
    message: str


@dataclass
class ChangeSet:
    subject: str
    body: str = ""
    trailers: dict[str, str] = field(default_factory=dict)
    writes: dict[str, str] = field(default_factory=dict)  # repo-relative path -> new text
    deletes: list[str] = field(default_factory=list)  # repo-relative files to remove
    tags: list[Tag] = field(default_factory=list)
    created_dirs: list[str] = field(default_factory=list)  # made before the commit; removed if it fails
    stale_dirs: list[str] = field(default_factory=list)  # untracked working copies to remove after commit
    moves: dict[str, str] = field(default_factory=dict)  # repo-relative folder <- staged folder (an artifact)
    result: Any = None  # what the operation hands back to its caller
    unchanged: bool = False  # the registry already is as asked (MLflow-style idempotency): no commit

    @property
    def paths(self) -> list[str]:
        return sorted(set(self.writes) | set(self.deletes))

    def message(self) -> str:
        parts = [self.subject]
        if self.body.strip():
            parts.append(self.body.strip())
        if self.trailers:
            # One line each: a newline in a reason would end the trailer and start forged ones.
            parts.append("\n".join(f"{k}: {' '.join(str(v).split())}" for k, v in self.trailers.items()
                                   if v not in (None, "")))
        return "\n\n".join(parts) + "\n"


@dataclass
class Applied:
    commit: str
    tags: list[str]
    pushed: bool
    change: ChangeSet
    warnings: list[str] = field(default_factory=list)  # e.g. a webhook that failed; the change stands

    @property
    def result(self):
        return self.change.result

    @property
    def unchanged(self) -> bool:
        """True when nothing needed to change: no commit was made (`commit` is then HEAD's)."""
        return self.change.unchanged


def repo_lock(root: Path, timeout: float | None = None):
    return journal.lock(root, timeout)


def preflight(root: Path, pathspecs: list[str]):
    """Refuse a change git is in no state to take. Returns the check of tracked changes under `pathspecs`,
    started in the background: call it before writing anything."""
    if (git.git_dir(root) / "index.lock").exists():
        raise StateError("another git process is running (.git/index.lock exists); wait for it, "
                         "or remove that file if no git command is running")
    doing = git.operation_in_progress(root)
    if doing:
        raise StateError(f"{doing} is in progress; finish or abort it before changing the registry")
    # Tracked changes anywhere in the registry; untracked files only where this change writes
    # (`refuse_untracked`): walking every version folder for untracked files costs 0.1 s at 10k versions.
    dirty = git.dirty_paths_later(root, pathspecs)
    return lambda: _refuse_dirty(dirty(), pathspecs)


def refuse_untracked(root: Path, cs: ChangeSet, scope: tuple[str, ...]) -> None:
    def under(path: str, dirs) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)
    # Folders the build itself created (a new version's) hold only files it wrote.
    mine = [p for p in cs.paths if under(p, scope) and not under(p, cs.created_dirs)]
    dirty = git.dirty_paths(root, mine) if mine else []
    _refuse_dirty(dirty, dirty)


def _refuse_dirty(dirty: list[str], pathspecs: list[str]) -> None:
    if dirty:
        more = f" (and {len(dirty) - 1} more)" if len(dirty) > 1 else ""
        raise StateError(f"{dirty[0]}{more} has uncommitted changes; commit or stash them first "
                         f"(git stash -u -- {' '.join(pathspecs)})")


def _write_atomic(path: Path, text: str) -> None:
    journal.write_atomic(path, text.encode("utf-8"), durable=False)  # the journal is; see journal.finish_local


def _disk_full(root: Path, exc: BaseException) -> bool:
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in str(exc):
        return True
    if isinstance(exc, (OSError, GitError)):  # git's own words for it vary ("unable to write ... object")
        with contextlib.suppress(OSError):
            return shutil.disk_usage(root).free < (1 << 20)
    return False


def _next_tag_free(root: Path, tags: list[Tag]) -> None:
    for tag in tags:
        if git.ok(["rev-parse", "-q", "--verify", f"refs/tags/{tag.name}"], root):
            raise StateError(f"tag {tag.name} already exists; registry tags are never moved or reused. "
                             "Run `git fetch --tags` and retry, or delete the stray tag if you made it by hand")


def _place(src: Path, dest: Path) -> None:
    """Move a staged artifact into its version folder (a rename; a copy across file systems)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copytree(src, dest)
        shutil.rmtree(src, ignore_errors=True)


def _entry(root: Path, cs: ChangeSet, push_to: dict | None, branch: str | None) -> journal.Entry:
    return journal.Entry(subject=cs.subject, parent=git.head(root), branch=f"refs/heads/{branch}" if branch else None,
                         paths=cs.paths, created_dirs=list(cs.created_dirs), moves=dict(cs.moves),
                         stale_dirs=list(cs.stale_dirs),
                         tags=[{"name": t.name, "message": t.message} for t in cs.tags], push=push_to)


def _commit(root: Path, cs: ChangeSet, entry: journal.Entry) -> str:
    """Write the change set's files and commit exactly those paths, leaving the user's index alone.

    The commit's tree is the parent's with only the changed folders rewritten (`git.tree_with`): the cost
    grows with the change, not with the number of versions."""
    commit_flags, tag_flags = signing.flags_for_change(root, cs)  # refuses here, before any write
    parent = entry.parent
    originals: dict[str, bytes | None] = {}
    for rel in cs.paths:
        p = root / rel
        originals[rel] = p.read_bytes() if p.is_file() else None
    try:
        journal.save(root, entry)  # before the working tree is touched: what the next command finishes or undoes
        journal.crash_point("journaled")
        for dest, src in cs.moves.items():
            _place(Path(src), root / dest)
        for rel, text in cs.writes.items():
            _write_atomic(root / rel, text)
        for rel in cs.deletes:
            with contextlib.suppress(FileNotFoundError):
                (root / rel).unlink()
        journal.crash_point("files")
        blobs = git.write_blobs(root, sorted(cs.writes))
        changed: dict = {rel: ("100644", sha) for rel, sha in blobs.items()}
        changed.update({rel: None for rel in cs.deletes})
        tree = git.tree_with(root, parent, changed)
        args = [*git.DURABLE, "commit-tree", *commit_flags, tree, "-F", "-"] + (["-p", parent] if parent else [])
        try:
            committed = git.run(args, root, input=cs.message()).strip()
        except GitError as exc:
            if "who you are" in str(exc) or "auto-detect" in str(exc) or "empty ident" in str(exc):
                raise StateError("git does not know who you are, and every registry change records it: run "
                                 "`git config user.name \"Your Name\"` and `git config user.email you@example.com`"
                                 ) from None
            if commit_flags:
                raise StateError(signing.failed(exc)) from None
            raise
        entry.commit = committed
        journal.save(root, entry)
        journal.crash_point("commit-object")
        git.run([*git.DURABLE, "update-ref", "-m", cs.subject, "HEAD", committed, parent or ""], root)
        journal.crash_point("ref")
        # The real index now lags HEAD for exactly these paths; bring just them up to date.
        git.run([*git.DURABLE, "update-index", "--add", "--remove", "-z", "--stdin"], root,
                input="\0".join(cs.paths) + "\0")
        journal.crash_point("index")
        for tag in cs.tags:
            git.run([*git.DURABLE, "tag", *(tag_flags or ["-a"]), tag.name, "-m", tag.message, committed], root)
        journal.crash_point("tags")
        return committed
    except BaseException as exc:
        with contextlib.suppress(Exception):
            journal.take_back(root, entry, keep_artifacts=True)
            for rel, data in originals.items():  # files the user had there, untracked, outside models/ (init)
                p = root / rel
                if data is not None and (not p.is_file() or p.read_bytes() != data):
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_bytes(data)
            journal.clear(root)
        if _disk_full(root, exc):
            raise StorageError("the disk is full (No space left on device); the change was not made: free some "
                               "space and run the command again") from None
        raise


def _remove_dirs(root: Path, dirs: list[str]) -> None:
    for rel in dirs:
        shutil.rmtree(root / rel, ignore_errors=True)


def push_timeout(settings) -> float:
    """How long a rejected push is replayed and retried: REG_PUSH_TIMEOUT, else push_timeout in registry.yaml."""
    env = os.environ.get("REG_PUSH_TIMEOUT", "").strip()
    if env:
        try:
            return max(0.0, float(env))
        except ValueError:
            raise UsageError(f"REG_PUSH_TIMEOUT={env!r} is not a number of seconds") from None
    return settings.push_timeout


def backoff(attempt: int) -> float:
    """Full jitter: writers that collided spread out instead of colliding again in step."""
    return random.uniform(0.05, min(2.0, 0.1 * 2 ** attempt))


def apply(root: Path, build: Callable[[RegistryState], ChangeSet], *, push: bool | None = None,
          scope: tuple[str, ...] = ("models",)) -> Applied:
    """Build a change set from the current state and make it one commit (and its tags), under the lock.

    `build` may be called again after a rejected push, on the new head, so it must derive everything
    (version numbers included) from the state it is given, and be cheap: expensive work that does not
    depend on the state (an artifact's copy, hash and push) happens before, once.
    """
    root = Path(root)
    with repo_lock(root):
        recovered = journal.recover(root)
        journal.clean_incoming(root)
        refuse_dirty = preflight(root, list(scope))
        try:
            state = RegistryState(root, indexed=True)
            signing.preflight(root, state.settings)  # no key where signing is required: refuse before building
            cs = _build(root, build, state, scope)
        finally:
            refuse_dirty()  # a dirty registry is the first thing to say, whatever the build found
        first = True
        want_push = state.settings.push if push is None else push
        remote, branch = state.settings.git_remote, git.current_branch(root)
        if want_push:
            check_push_target(root, remote)
        warnings = [recovered] if recovered else []
        deadline = time.monotonic() + (push_timeout(state.settings) if want_push else 0)
        attempt = 0
        while True:
            if not first:
                cs = _build(root, build, state, scope)
            first = False
            if cs.unchanged:  # already as asked (MLflow-style idempotency), perhaps by whoever pushed first
                return Applied(git.head(root) or "", [], False, cs, warnings)
            entry = _entry(root, cs, {"remote": remote, "branch": branch} if want_push else None, branch)
            commit = _commit(root, cs, entry)
            if not want_push:
                _remove_dirs(root, cs.stale_dirs)
                journal.clear(root)
                return Applied(commit, [t.name for t in cs.tags], False, cs, warnings)
            entry.phase = "pushing"
            journal.save(root, entry)
            journal.crash_point("pushing")
            result = git.push(root, remote, [f"HEAD:refs/heads/{branch}"] +
                              [f"refs/tags/{t.name}:refs/tags/{t.name}" for t in cs.tags])
            journal.crash_point("pushed")
            if result.ok:
                _remove_dirs(root, cs.stale_dirs)
                journal.clear(root)
                return Applied(commit, [t.name for t in cs.tags], True, cs, warnings)
            journal.take_back(root, entry, keep_artifacts=True)
            journal.clear(root)
            if result.status == "declined":
                said = [ln for ln in result.remote_lines if not ln.startswith("Fix these")]
                raise PolicyError("the server refused the change, so it was not made: "
                                  f"{' '.join(said) or 'pre-receive hook declined'}")
            if result.status != "rejected":
                raise GitError(f"push to {remote} failed ({result.detail}); the change was not made and this clone "
                               "is as it was: check the remote and run the command again")
            # Someone pushed first: wait a little, then replay the same operation on their head, never force.
            attempt += 1
            time.sleep(max(0.0, min(backoff(attempt), deadline - time.monotonic())))
            try:
                upstream = git.fetch_branch(root, remote, branch)
            except GitError as exc:
                raise GitError(f"push to {remote} was rejected and fetching {remote}/{branch} failed ({exc}); the "
                               "change was not made: run the command again") from None
            if entry.parent and not git.is_ancestor(root, entry.parent, upstream):
                raise StateError(f"push rejected: your branch has diverged from {remote}/{branch} (it has commits "
                                 f"{remote} does not); the change was not made: run `git pull --rebase`, then run "
                                 "the command again")
            journal.fast_forward(root, entry, upstream)
            if time.monotonic() >= deadline:
                raise StateError(f"push to {remote} was rejected for {push_timeout(state.settings):.0f} s ({attempt} "
                                 f"tries; others kept pushing first); the change was not made and this clone is at "
                                 f"{remote}/{branch}: run the command again, or raise push_timeout in "
                                 "models/registry.yaml")
            state = RegistryState(root, indexed=True)


def check_push_target(root: Path, remote: str) -> None:
    """Refuse before committing what could only fail after: a push with nowhere to go."""
    if not git.ok(["remote", "get-url", remote], root):
        raise StateError(f"there is no git remote {remote!r} to push to: add it (`git remote add {remote} URL`), "
                         "set git_remote in models/registry.yaml, or pass --no-push")
    if not git.current_branch(root):
        raise StateError("HEAD is detached, so there is no branch to push: check out a branch, or pass --no-push")


def _build(root: Path, build, state: RegistryState, scope: tuple[str, ...] = ("models",)) -> ChangeSet:
    cs = None
    try:
        cs = build(state)
        if cs.unchanged:
            return cs
        if not cs.paths:
            raise NothingToChange("nothing to change")
        _next_tag_free(root, cs.tags)
        refuse_untracked(root, cs, scope)
        return cs
    except BaseException:
        if cs is not None:
            _remove_dirs(root, cs.created_dirs)
        raise


def stage_tag_number(root: Path, model: str) -> int:
    """N for the next `model#stage#N` tag: one more than the highest of that model's stage tags."""
    out = git.run(["tag", "-l", f"{model}#*#*"], root)
    ends = [t.rsplit("#", 1)[1] for t in out.split()]
    numbers = [int(n) for n in ends if refs.is_number(n)]  # a pushed tag may end in anything
    return max(numbers, default=0) + 1


__all__ = ["ChangeSet", "Tag", "Applied", "apply", "repo_lock", "stage_tag_number", "NothingToChange", "RegistryError"]
