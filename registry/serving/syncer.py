"""`Syncer`: one follower of one ref into one serving folder. Fetch the registry remote, resolve the ref
at its head, fast-forward the clone and pull only that version when it must, verify, swap it in, keep
what was served on any error (with a backoff per failing version); `sync` is `reg sync` once."""
from __future__ import annotations

import logging
import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import git
from ..errors import GitError, NotFound, RegistryError, StateError, StorageError
from ..loading.integrity import IntegrityError
from ..manifest import ModelVersion
from ..serving_dir import ServingDir, now, version_name

log = logging.getLogger("registry.serving")
log.addHandler(logging.NullHandler())  # events are for a CLI or service that asks for them
MAX_BACKOFF = 300.0


def fetch_env(root: Path) -> dict:
    """A fetch must never wait for a password nobody will type, nor hang on a dead server forever (an ssh
    command or key the host configured itself is kept)."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_HTTP_LOW_SPEED_LIMIT": "1000", "GIT_HTTP_LOW_SPEED_TIME": "30"}
    if not (os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH") or git.config(root, "core.sshCommand")):
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes -o ConnectTimeout=20"
    return env


class SwapRejected(RegistryError):
    """A version that was pulled and verified but refused after the swap (its --exec command failed)."""


@dataclass
class Outcome:
    """What one sync did: `changed` when DIR/current now points at another version (or it was reloaded)."""
    changed: bool
    manifest: ModelVersion | None
    name: str | None
    path: Path | None
    commit: str | None
    previous: str | None = None
    loaded: Any = None
    skipped: str | None = None  # why a moved ref was not tried now (retry later)


@dataclass
class _Failure:
    count: int
    retry_at: float
    message: str


@dataclass
class Syncer:
    """Keep `dir` at the version `ref` names at the registry remote's head."""
    root: Path
    ref: str
    dir: ServingDir
    keep: int = 3
    interval: float = 30.0
    # Called with (version folder, manifest) before the swap; what it returns rides on the Outcome. Raising
    # RegistryError refuses the version (Follower loads the model here: a model that does not load is not served).
    accept: Callable[[Path, ModelVersion], Any] | None = None
    # Called with the Outcome after the swap; raising RegistryError swaps back (the --exec command).
    after_swap: Callable[[Outcome], None] | None = None
    failures: dict = field(default_factory=dict)
    _last_logged_error: str | None = None

    # -- the registry remote ----------------------------------------------------------------------
    def tracking(self) -> tuple[str, str]:
        """(git remote, remote-tracking ref) this clone follows: its branch's upstream, else <remote>/HEAD."""
        from ..settings import read

        branch = git.current_branch(self.root)
        remote = merge = None
        if branch:
            remote = git.config(self.root, f"branch.{branch}.remote")
            merge = git.config(self.root, f"branch.{branch}.merge")
        remote = remote or read(self.root).git_remote
        if not remote or remote == ".":
            raise StateError(f"{self.root} follows no git remote; clone the registry on the host (`git clone URL`) "
                             "and run reg sync there")
        head = f"refs/remotes/{remote}/{merge.removeprefix('refs/heads/')}" if merge else f"refs/remotes/{remote}/HEAD"
        return remote, head

    def fetch(self) -> str:
        """Fetch the registry remote; the commit at its head. A clone with no git remote at all (a registry
        on a laptop, the demo's) follows its own HEAD: what `reg promote` there commits is served."""
        if not git.run(["remote"], self.root).strip():
            commit = git.head(self.root)
            if commit is None:
                raise StateError(f"{self.root} has no commits yet; register and promote a model first")
            return commit
        remote, head = self.tracking()
        try:
            git.run(["fetch", "--quiet", "--prune", remote], self.root, env=fetch_env(self.root))
        except GitError as exc:
            detail = re.sub(r"://[^/@\s]+@", "://***@", str(exc).split(": ", 1)[-1])  # a token in the URL
            raise GitError(f"could not fetch the registry from {remote!r}: {detail}; still serving what was "
                           "served") from None
        commit = git.run(["rev-parse", "--verify", "-q", f"{head}^{{commit}}"], self.root, check=False).strip()
        if not commit:
            raise StateError(f"{remote} has no {head.removeprefix('refs/remotes/')} after a fetch; check the "
                             "clone's upstream branch (`git branch -u origin/main`)")
        return commit

    def fast_forward(self, commit: str) -> None:
        head = git.head(self.root)
        if head == commit:
            return
        if head and not git.ok(["merge-base", "--is-ancestor", head, commit], self.root):
            raise StateError(f"the clone at {self.root} has commits its remote does not (HEAD {head[:8]} is not "
                             f"behind {commit[:8]}); reg sync needs a clone that only follows: clone it again")
        try:
            git.run(["merge", "--ff-only", "--quiet", commit], self.root)
        except GitError as exc:
            raise StateError(f"could not fast-forward the clone at {self.root} to {commit[:8]} ({exc}); a serving "
                             "clone must have no local changes: `git status` there") from None

    # -- one sync ---------------------------------------------------------------------------------
    def sync(self, *, forced: bool = False, reload: bool = False) -> Outcome:
        """Bring DIR/current to the version `ref` names at the remote's head. Raises on failure, after
        recording it in status.json; what was served stays served."""
        status = self.dir.status()
        target: ModelVersion | None = None
        try:
            commit = self.fetch()
            status["checked_at"] = now()
            status["commit"] = commit
            from ..state import read_state

            target = read_state(self.root, commit).resolve(self.ref)
            if target.deleted:
                raise NotFound(f"{target.model} v{target.version} was deleted; {self.ref} names no servable version")
            name = version_name(target)
            current = self.dir.current()
            if name == current and not reload:
                self._recovered(status, f"{self.ref} is v{target.version} and is served")
                self.dir.write_status(status)
                return Outcome(False, target, name, self.dir.folder(name), commit, previous=current)
            failure = self.failures.get(name)
            if failure and not forced and time.monotonic() < failure.retry_at:
                self.dir.write_status(status)
                return Outcome(False, target, name, None, commit, previous=current, skipped=failure.message)
            outcome = self._bring_in(target, name, commit, current)
        except RegistryError as exc:
            self._failed(status, exc, target)
            raise
        self.failures.pop(name, None)
        status.update(served(self.ref, outcome.manifest, outcome.name, commit), last_error=None)
        self.dir.write_status(status)
        self._last_logged_error = None
        removed = self.dir.prune(self.keep)
        if removed:
            log.info("removed old version folders %s (keeping %d)", ", ".join(removed), self.keep)
        return outcome

    def _bring_in(self, target: ModelVersion, name: str, commit: str, current: str | None) -> Outcome:
        folder = self.dir.intact(target)
        if folder is None:  # not kept from earlier (or changed on disk): pull it from the registry
            from .. import pulling

            self.fast_forward(commit)
            log.info("pulling %s v%s (%s) at %s", target.model, target.version, self.ref, commit[:8])
            try:
                source = pulling.pull(self.root, target)
            except IntegrityError as exc:
                found = re.search(r"\(.*?\): content hash \S+ is not the registered \S+|content hash \S+ is not the "
                                  r"registered \S+", str(exc))
                raise IntegrityError(
                    f"{target.model} v{target.version} as pulled from the DVC remote does not match its manifest"
                    f"{' (' + found.group(0).lstrip(' ') + ')' if found else ''}: the remote's copy is damaged or "
                    f"incomplete; not swapped in, still serving {current or 'nothing'}; retrying later") from None
            folder = self.dir.stage(source, self.root / target.path, target)
        loaded = None
        if self.accept:
            try:
                loaded = self.accept(folder, target)
            except RegistryError:
                raise
            except Exception as exc:  # a service's own loader: any failure refuses the version, it never escapes
                raise RegistryError(f"{target.model} v{target.version} did not load ({type(exc).__name__}: {exc}); "
                                    f"not swapped in, still serving {current or 'nothing'}") from None
        self.dir.swap(name)
        outcome = Outcome(True, target, name, folder, commit, previous=current, loaded=loaded)
        was = f" (was {current})" if current and current != name else ""
        log.info("serving %s v%s (%s), verified %s, at %s%s", target.model, target.version, self.ref, target.md5,
                 folder, was)
        if self.after_swap:
            try:
                self.after_swap(outcome)
            except RegistryError as exc:
                if current and current != name:
                    self.dir.swap(current)
                    from ..loading import read_manifest_file

                    back = self.dir.folder(current)
                    try:
                        self.after_swap(Outcome(True, read_manifest_file(back / "manifest.yaml"), current, back,
                                                commit, previous=name))
                    except RegistryError as again:
                        log.error("after swapping back to %s: %s", current, again)
                back = (f"swapped back to {current}" if current and current != name
                        else "left in place (nothing to go back to)")
                raise SwapRejected(f"{target.model} v{target.version} was {back}: {exc}") from None
        return outcome

    # -- bookkeeping ------------------------------------------------------------------------------
    def _failed(self, status: dict, exc: RegistryError, target: ModelVersion | None) -> None:
        message = str(exc)
        error = {"at": now(), "message": message}
        if target is not None:
            error.update(model=target.model, version=target.version, hash=target.md5)
            try:
                name = version_name(target)
            except RegistryError:
                name = None
            if name and not isinstance(exc, GitError):
                previous = self.failures.get(name)
                count = previous.count + 1 if previous else 1
                delay = min(self.interval * 2 ** (count - 1), max(MAX_BACKOFF, self.interval))
                self.failures[name] = _Failure(count, time.monotonic() + delay, message)
                error["retry_in_seconds"] = round(delay, 1)
        status["last_error"] = error
        try:
            self.dir.write_status(status)
        except StorageError as write_error:
            log.error("%s", write_error)
        if message != self._last_logged_error:  # a dead remote is one line, not one per poll
            log.error("%s", message)
            self._last_logged_error = message

    def _recovered(self, status: dict, what: str) -> None:
        if status.get("last_error") is not None or self._last_logged_error:
            log.info("ok again: %s", what)
        status["last_error"] = None
        self._last_logged_error = None

    def next_wait(self) -> float:
        """The poll interval, jittered by ±20% so a fleet of hosts does not fetch in lockstep."""
        return self.interval * random.uniform(0.8, 1.2)


def check_ref(root: Path, ref: str) -> str:
    """A ref that cannot name anything (a typo) is refused before a serving folder is made for it."""
    from .. import refs
    from ..settings import read

    refs.parse_ref(ref, read(root).stages)
    return ref


def served(ref: str, manifest: ModelVersion, name: str, commit: str) -> dict:
    return {"ref": ref, "model": manifest.model, "version": manifest.version, "stage": manifest.stage,
            "aliases": list(manifest.aliases), "hash": manifest.md5, "path": f"versions/{name}", "since": now(),
            "commit": commit}


def sync(root: Path, ref: str, to: Path, *, keep: int = 3) -> Outcome:
    """`reg sync REF --to DIR` once."""
    root = git.toplevel(Path(root).resolve())
    sdir = ServingDir.open(Path(to), check_ref(root, ref), registry_root=root)
    with sdir.locked():
        return Syncer(root, ref, sdir, keep=keep).sync(forced=True)
