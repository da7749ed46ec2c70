"""`ChangeSet` and the one `apply`: lock, atomic writes, one commit of only the registry's paths, tags, push.

Operations never touch git themselves: they return a ChangeSet from the current state, and `apply` is
the only place that writes, commits, tags, pushes, retries and undoes a half-done change.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import git, signing
from .errors import GitError, RegistryError, StateError, UsageError
from .state import RegistryState, read_state

LOCK_TIMEOUT = 60.0
PUSH_ATTEMPTS = 3


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
    result: Any = None  # what the operation hands back to its caller

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


@contextlib.contextmanager
def repo_lock(root: Path, timeout: float = LOCK_TIMEOUT):
    gdir = git.git_dir(root)
    path = gdir / "reg" / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StateError(f"another reg command holds {path}; wait for it to finish and retry") from None
                time.sleep(0.05)
        yield
    finally:
        fh.close()


def preflight(root: Path, pathspecs: list[str]) -> None:
    if (git.git_dir(root) / "index.lock").exists():
        raise StateError("another git process is running (.git/index.lock exists); wait for it, "
                         "or remove that file if no git command is running")
    doing = git.operation_in_progress(root)
    if doing:
        raise StateError(f"{doing} is in progress; finish or abort it before changing the registry")
    # Tracked changes anywhere in the registry; untracked files only where this change writes
    # (`refuse_untracked`): walking every version folder for untracked files costs 0.1 s at 10k versions.
    _refuse_dirty(git.dirty_paths(root, pathspecs, untracked=False), pathspecs)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.reg-{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _next_tag_free(root: Path, tags: list[Tag]) -> None:
    for tag in tags:
        if git.ok(["rev-parse", "-q", "--verify", f"refs/tags/{tag.name}"], root):
            raise StateError(f"tag {tag.name} already exists; registry tags are never moved or reused. "
                             "Run `git fetch --tags` and retry, or delete the stray tag if you made it by hand")


def _commit(root: Path, cs: ChangeSet) -> str:
    """Write the change set's files and commit exactly those paths, leaving the user's index alone."""
    commit_flags, tag_flags = signing.flags_for_change(root, cs)  # refuses here, before any write
    parent = git.head(root)
    originals: dict[str, bytes | None] = {}
    for rel in cs.paths:
        p = root / rel
        originals[rel] = p.read_bytes() if p.exists() else None
    index = git.git_dir(root) / "reg" / f"index.{os.getpid()}"
    env = {"GIT_INDEX_FILE": str(index)}
    committed = None
    try:
        for rel, text in cs.writes.items():
            _write_atomic(root / rel, text)
        for rel in cs.deletes:
            with contextlib.suppress(FileNotFoundError):
                (root / rel).unlink()
        git.run(["read-tree", parent] if parent else ["read-tree", "--empty"], root, env=env)
        git.run(["update-index", "--add", "--remove", "-z", "--stdin"], root, env=env,
                input="\0".join(cs.paths) + "\0")
        tree = git.run(["write-tree"], root, env=env).strip()
        args = ["commit-tree", *commit_flags, tree, "-F", "-"] + (["-p", parent] if parent else [])
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
        git.run(["update-ref", "-m", cs.subject, "HEAD", committed, parent or ""], root)
        # The real index now lags HEAD for exactly these paths; bring just them up to date.
        git.run(["update-index", "--add", "--remove", "-z", "--stdin"], root, input="\0".join(cs.paths) + "\0")
        for tag in cs.tags:
            git.run(["tag", *(tag_flags or ["-a"]), tag.name, "-m", tag.message, committed], root)
        return committed
    except BaseException:
        for tag in cs.tags:
            git.run(["tag", "-d", tag.name], root, check=False)
        if committed and git.head(root) == committed:
            git.run(["update-ref", "HEAD", parent, committed] if parent else ["update-ref", "-d", "HEAD"], root,
                    check=False)
            if parent:
                git.run(["reset", "-q", parent, "--", *cs.paths], root, check=False)
        for rel, data in originals.items():
            p = root / rel
            if data is None:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
            else:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            index.unlink()


def _undo_local(root: Path, cs: ChangeSet, commit: str, parent: str | None) -> None:
    """Take back a commit made by `_commit` that has not been pushed (before replaying it on a new head)."""
    for tag in cs.tags:
        git.run(["tag", "-d", tag.name], root, check=False)
    git.run(["update-ref", "HEAD", parent, commit], root)
    existed = set(git.run(["ls-tree", "-r", "--name-only", parent, "--", *cs.paths], root).split())
    if existed:
        git.run(["checkout", parent, "--", *sorted(existed)], root)
    for rel in set(cs.paths) - existed:
        git.run(["rm", "-q", "--cached", "--ignore-unmatch", "--", rel], root, check=False)
        with contextlib.suppress(FileNotFoundError):
            (root / rel).unlink()
    _remove_dirs(root, cs.created_dirs)


def _remove_dirs(root: Path, dirs: list[str]) -> None:
    for rel in dirs:
        shutil.rmtree(root / rel, ignore_errors=True)


def _push(root: Path, remote: str, branch: str, tags: list[str]) -> tuple[bool, str]:
    refspecs = [f"HEAD:refs/heads/{branch}"] + [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
    # --atomic: the tags land only with the branch; a rejected branch must not leave orphan tags behind.
    proc = git.subprocess.run(["git", "push", "--atomic", "--porcelain", remote, *refspecs], cwd=str(root),
                              capture_output=True, text=True)
    return proc.returncode == 0, (proc.stderr + proc.stdout)


def apply(root: Path, build: Callable[[RegistryState], ChangeSet], *, push: bool | None = None,
          scope: tuple[str, ...] = ("models",)) -> Applied:
    """Build a change set from the current state and make it one commit (and its tags), under the lock.

    `build` may be called again after a rejected push, on the new head, so it must derive everything
    (version numbers included) from the state it is given.
    """
    root = Path(root)
    with repo_lock(root):
        preflight(root, list(scope))
        state = read_state(root)
        want_push = state.settings.push if push is None else push
        if want_push:
            _check_push_target(root, state.settings.git_remote)
        signing.preflight(root, state.settings)  # before the build copies an artifact in
        cs = _build(root, build, state, scope)
        commit = _commit_or_cleanup(root, cs)
        if not want_push:
            _remove_dirs(root, cs.stale_dirs)
            return Applied(commit, [t.name for t in cs.tags], False, cs)
        remote = state.settings.git_remote
        branch = git.current_branch(root)
        if not branch:
            raise StateError("HEAD is detached, so there is no branch to push; the change is committed "
                             f"locally as {commit[:12]}; push it yourself")
        for attempt in range(PUSH_ATTEMPTS):
            ok, output = _push(root, remote, branch, [t.name for t in cs.tags])
            if ok:
                _remove_dirs(root, cs.stale_dirs)
                return Applied(commit, [t.name for t in cs.tags], True, cs)
            if "hook declined" in output:
                _refused_by_server(root, cs, commit, output)
            if "rejected" not in output and "fetch first" not in output and "non-fast-forward" not in output:
                last = [ln for ln in output.strip().splitlines() if ln.strip()]
                raise GitError(f"push to {remote} failed ({last[-1] if last else 'no output'}); the change is "
                               f"committed locally as {commit[:12]}: push it with `git push --follow-tags`")
            # Someone pushed first: replay the same operation on their head, never force.
            parent = git.run(["rev-parse", f"{commit}^"], root).strip() if git.ok(
                ["rev-parse", "-q", "--verify", f"{commit}^"], root) else None
            git.run(["fetch", "-q", "--no-tags", remote, f"refs/heads/{branch}"], root)
            upstream = git.run(["rev-parse", "FETCH_HEAD"], root).strip()
            if parent is None or not git.ok(["merge-base", "--is-ancestor", parent, upstream], root):
                raise StateError(f"push rejected and your branch has diverged from {remote}/{branch}; the change "
                                 f"is committed locally as {commit[:12]}: run `git pull --rebase` and push")
            _undo_local(root, cs, commit, parent)
            git.run(["fetch", "-q", remote, "--tags"], root)  # their tags, to number ours after them
            try:
                git.run(["merge", "-q", "--ff-only", upstream], root)
            except GitError as exc:
                raise StateError(f"push rejected and the remote's changes could not be fast-forwarded here "
                                 f"({exc}); the change was not made: pull, then run the command again") from None
            state = read_state(root)
            cs = _build(root, build, state, scope)
            commit = _commit_or_cleanup(root, cs)
        raise StateError(f"push to {remote} was rejected {PUSH_ATTEMPTS} times; the change is committed locally "
                         f"as {commit[:12]}: pull and push it yourself")


def _check_push_target(root: Path, remote: str) -> None:
    """Refuse before committing what could only fail after: a push with nowhere to go."""
    if not git.ok(["remote", "get-url", remote], root):
        raise StateError(f"there is no git remote {remote!r} to push to: add it (`git remote add {remote} URL`), "
                         "set git_remote in models/registry.yaml, or pass --no-push")
    if not git.current_branch(root):
        raise StateError("HEAD is detached, so there is no branch to push: check out a branch, or pass --no-push")


def _refused_by_server(root: Path, cs: ChangeSet, commit: str, output: str) -> None:
    """The server's hook (`reg hook install`) judged the change and refused it: take the local commit back,
    since it could never be pushed, and say what the server said."""
    said = [ln[len("remote:"):].strip() for ln in output.splitlines() if ln.startswith("remote:")]
    said = [ln for ln in said if ln and not ln.startswith("Fix these")]
    parent = git.run(["rev-parse", f"{commit}^"], root).strip()
    _undo_local(root, cs, commit, parent)
    from .errors import PolicyError

    raise PolicyError(f"the server refused the change, so it was not made: {' '.join(said) or 'pre-receive hook declined'}")


def _build(root: Path, build, state: RegistryState, scope: tuple[str, ...] = ("models",)) -> ChangeSet:
    cs = None
    try:
        cs = build(state)
        if not cs.paths:
            raise UsageError("nothing to change")
        _next_tag_free(root, cs.tags)
        refuse_untracked(root, cs, scope)
        return cs
    except BaseException:
        if cs is not None:
            _remove_dirs(root, cs.created_dirs)
        raise


def _commit_or_cleanup(root: Path, cs: ChangeSet) -> str:
    try:
        return _commit(root, cs)
    except BaseException:
        _remove_dirs(root, cs.created_dirs)
        raise


def stage_tag_number(root: Path, model: str) -> int:
    """N for the next `model#stage#N` tag: one more than the highest of that model's stage tags."""
    out = git.run(["tag", "-l", f"{model}#*#*"], root)
    numbers = [int(t.rsplit("#", 1)[1]) for t in out.split() if t.rsplit("#", 1)[1].isdigit()]
    return max(numbers, default=0) + 1


__all__ = ["ChangeSet", "Tag", "Applied", "apply", "repo_lock", "stage_tag_number", "RegistryError"]
