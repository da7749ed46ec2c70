"""What a mutation leaves behind when it is interrupted, and how the next command deals with it.

`changes.apply` holds the repository lock (`lock`) for the whole mutation and records what it is about to
do in `.git/reg/journal.json` before it touches the working tree: the commit it starts from, the files
and folders it writes, the tags, whether it pushes. A `kill -9`, a power cut or a full disk can stop it
anywhere; the next reg command (or `reg recover`) reads the record and either finishes the change (the
commit is on the branch: tags, index, push) or undoes it (it is not: files, folders, stray locks), and
says what it did in one line. No state ever needs cleaning by hand.

The lock is an flock: the kernel releases it when its holder dies, so a dead holder's lock is simply
taken; the file also names the holder (pid, command) for the message a waiting command gives.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import git
from .errors import GitError, StateError

JOURNAL = "journal.json"
INCOMING = "incoming"  # artifacts copied, hashed and pushed before the change set is built


def crash_point(name: str) -> None:
    """Where the crash tests kill a real reg process (SIGKILL, as `kill -9` would): REG_CRASH_AT=<name>."""
    if os.environ.get("REG_CRASH_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def reg_dir(root: Path) -> Path:
    return git.git_dir(root) / "reg"


def lock_timeout() -> float:
    try:
        return float(os.environ.get("REG_LOCK_TIMEOUT", "") or 180)
    except ValueError:
        return 180.0


def _holder(path: Path) -> str:
    try:
        pid, _, command = path.read_text().strip().partition(" ")
    except OSError:
        return ""
    return f" (pid {pid}: {command})" if pid.isdigit() else ""


@contextlib.contextmanager
def lock(root: Path, timeout: float | None = None):
    """The repository's reg lock. Waits up to `timeout` for a live holder, then names it."""
    timeout = lock_timeout() if timeout is None else timeout
    path = reg_dir(root) / "lock"
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
                    raise StateError(f"another reg command{_holder(path)} has held {path} for over {timeout:.0f} s; "
                                     "wait for it to finish (or stop it) and retry") from None
                time.sleep(0.05)
        with contextlib.suppress(OSError):
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()} {' '.join(_argv())[:200]}\n")
            fh.flush()
        yield
    finally:
        fh.close()


def _argv() -> list[str]:
    argv = list(sys.argv)
    if argv and argv[0].endswith(("__main__.py", "/reg")):
        argv[0] = "reg"
    return argv


@contextlib.contextmanager
def try_lock(root: Path):
    """The lock if nobody holds it (yields True), else yields False at once."""
    path = reg_dir(root) / "lock"
    try:
        fh = open(path, "a+")
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        fh.close()


# -- the record ------------------------------------------------------------------------------------

@dataclass
class Entry:
    subject: str
    parent: str | None  # the commit the change starts from
    branch: str | None  # refs/heads/<name>, or None on a detached HEAD
    paths: list[str] = field(default_factory=list)  # files written or deleted
    created_dirs: list[str] = field(default_factory=list)  # folders that did not exist before
    moves: dict[str, str] = field(default_factory=dict)  # repo-relative destination -> staged source
    stale_dirs: list[str] = field(default_factory=list)  # untracked copies to remove once the change is made
    tags: list[dict] = field(default_factory=list)  # {name, message}
    commit: str | None = None
    push: dict | None = None  # {remote, branch} when the change is to be pushed
    phase: str = "files"  # files -> committed -> pushing; or "sync" (fast-forward to the remote's head)
    sync: dict | None = None  # {from, to} during a fast-forward
    pid: int = field(default_factory=os.getpid)
    started: float = field(default_factory=time.time)


def _path(root: Path) -> Path:
    return reg_dir(root) / JOURNAL


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """temp file, rename: a crash leaves the old file or the new one, never half of one. `durable` also
    fsyncs file and folder, so a power cut does too; files a journaled change writes need not be (the
    journal is, and recovery rewrites them from the commit or takes them back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.reg-{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    if durable:
        fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(root: Path, entry: Entry) -> None:
    write_atomic(_path(root), json.dumps(asdict(entry)).encode())


def load(root: Path) -> Entry | None:
    try:
        data = json.loads(_path(root).read_text())
        return Entry(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        return Entry(subject="(unreadable journal)", parent=None, branch=None, phase="broken")


def clear(root: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(root).unlink()
    fsync_dir(reg_dir(root))


def pending(root: Path) -> bool:
    """One stat: cheap enough for every command, reads included."""
    try:
        return os.path.exists(os.path.join(git.git_dir(root), "reg", JOURNAL))
    except Exception:
        return False


# -- undoing and finishing -------------------------------------------------------------------------

def branch_head(root: Path, entry: Entry) -> str | None:
    ref = entry.branch or "HEAD"
    out = git.run(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], root, check=False).strip()
    return out or None


def restore_paths(root: Path, paths: list[str]) -> None:
    """Index and working tree of `paths` as HEAD has them (gone where HEAD has none)."""
    if not paths:
        return
    head = git.head(root)
    existing = set(git.run(["ls-tree", "-r", "-z", "--name-only", head, "--", *paths], root).split("\0")) - {""} \
        if head else set()
    gone = [p for p in paths if p not in existing]
    if gone:
        for rel in gone:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                (root / rel).unlink()
        git.run(["update-index", "--force-remove", "-z", "--stdin"], root, input="\0".join(gone) + "\0", check=False)
    if existing:
        git.run(["checkout", "-q", "HEAD", "--", *sorted(existing)], root)


def remove_temp_files(root: Path, paths: list[str]) -> None:
    for folder in {(root / p).parent for p in paths}:
        with contextlib.suppress(OSError):
            for tmp in folder.glob(".*.reg-*.tmp"):
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink()


def take_back(root: Path, entry: Entry, *, keep_artifacts: bool = False) -> None:
    """Undo the change whatever point it reached: tags, the commit (if the branch is on it), files, folders.
    `keep_artifacts` moves staged artifacts back where they came from, for a replay under a new number."""
    for tag in entry.tags:
        if entry.commit and git.run(["rev-parse", "-q", "--verify", f"refs/tags/{tag['name']}^{{commit}}"], root,
                                    check=False).strip() == entry.commit:
            git.run(["tag", "-d", tag["name"]], root, check=False)
    if entry.commit and branch_head(root, entry) == entry.commit:
        ref = entry.branch or "HEAD"
        if entry.parent:
            git.run(["update-ref", "-m", f"reg: take back {entry.subject}", ref, entry.parent, entry.commit], root)
        else:
            git.run(["update-ref", "-d", ref, entry.commit], root)
    # Folders and temporary files first: on a full disk that frees the space restoring files needs.
    for dest, src in entry.moves.items():
        target = root / dest
        if keep_artifacts and target.exists() and not Path(src).exists():
            Path(src).parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, src)
        else:
            shutil.rmtree(target, ignore_errors=True)
    for rel in entry.created_dirs:
        shutil.rmtree(root / rel, ignore_errors=True)
    remove_temp_files(root, entry.paths)
    restore_paths(root, entry.paths)


def finish_local(root: Path, entry: Entry) -> list[str]:
    """The commit is on the branch: make the tags that are missing and bring the index up to date.
    Returns the tags made."""
    made = []
    for tag in entry.tags:
        if not git.ok(["rev-parse", "-q", "--verify", f"refs/tags/{tag['name']}"], root):
            signed = "\ngpgsig " in git.run(["cat-file", "commit", entry.commit], root)  # sign as the commit was
            if not (signed and git.ok(["tag", "-s", tag["name"], "-m", tag["message"], entry.commit], root)):
                git.run(["tag", "-a", tag["name"], "-m", tag["message"], entry.commit], root)
            made.append(tag["name"])
    if entry.paths and git.head(root) == entry.commit:
        # After a power cut the working files may be older than the commit: make them the commit's.
        git.run(["reset", "-q", entry.commit, "--", *entry.paths], root, check=False)
        kept = set(git.run(["ls-tree", "-r", "-z", "--name-only", entry.commit, "--", *entry.paths], root)
                   .split("\0")) - {""}
        if kept:
            git.run(["checkout", "-q", entry.commit, "--", *sorted(kept)], root)
        for rel in set(entry.paths) - kept:
            with contextlib.suppress(OSError):
                (root / rel).unlink()
    remove_temp_files(root, entry.paths)
    for rel in entry.stale_dirs:
        shutil.rmtree(root / rel, ignore_errors=True)
    return made


def _stale_locks(root: Path, entry: Entry) -> None:
    """Lock files git leaves when killed mid-write: ours if made after the change started (we hold the reg
    lock, so no other reg command made them)."""
    gdir = git.git_dir(root)
    candidates = [gdir / "index.lock", gdir / "HEAD.lock"]
    if entry.branch:
        candidates.append(gdir / f"{entry.branch}.lock")
    candidates += [gdir / "refs" / "tags" / f"{t['name']}.lock" for t in entry.tags]
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime >= entry.started - 1:
                path.unlink()


def clean_incoming(root: Path) -> None:
    """Staged artifacts of commands that are no longer running."""
    base = reg_dir(root) / INCOMING
    with contextlib.suppress(OSError):
        for d in base.iterdir():
            pid = d.name.split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(root: Path) -> str | None:
    """Finish or undo an interrupted change. The caller holds the lock. One line saying what was done."""
    entry = load(root)
    if entry is None:
        return None
    _stale_locks(root, entry)
    what = f"`{entry.subject}`"
    if entry.phase == "broken":
        clear(root)
        return "reg recover: removed an unreadable journal (.git/reg/journal.json); run `reg check` to be sure"
    if entry.phase == "sync":
        _finish_sync(root, entry)
        clear(root)
        return f"reg recover: finished bringing this clone to {entry.push and entry.push.get('remote') or 'the remote'}'s head"
    head = branch_head(root, entry)
    landed = bool(entry.commit) and head is not None and (
        head == entry.commit or git.is_ancestor(root, entry.commit, head))
    if not landed:
        take_back(root, entry)
        clear(root)
        return f"reg recover: undid the interrupted change {what}: it was not made; run the command again"
    made = finish_local(root, entry)
    done = f"reg recover: finished the interrupted change {what} ({entry.commit[:12]}" + (
        f", tagged {', '.join(made)}" if made else "") + ")"
    if entry.push:
        done = _finish_push(root, entry, done)
    clear(root)
    return done


def _finish_push(root: Path, entry: Entry, done: str) -> str:
    remote, branch = entry.push["remote"], entry.push["branch"]
    tags = [t["name"] for t in entry.tags]
    result = git.push(root, remote, [f"{entry.commit}:refs/heads/{branch}"] +
                      [f"refs/tags/{t}:refs/tags/{t}" for t in tags], timeout=60)
    if result.ok:
        return done + f" and pushed it to {remote}"
    if result.status in ("rejected", "declined"):
        if branch_head(root, entry) == entry.commit:
            try:
                upstream = git.fetch_branch(root, remote, branch)
            except GitError:
                upstream = None
            if upstream and git.is_ancestor(root, entry.commit, upstream):
                return done + f"; {remote} already has it"
            take_back(root, entry)
            if upstream and entry.parent and git.is_ancestor(root, entry.parent, upstream):
                fast_forward(root, entry, upstream)
            why = "the server refused it" if result.status == "declined" else f"{remote} moved on meanwhile"
            return (f"reg recover: undid the interrupted change {entry.subject!r}: it could not be pushed ({why}), "
                    "so it was not made; run the command again")
    return done + f", but could not push it ({result.detail}): push it with `git push --follow-tags {remote}`"


def fast_forward(root: Path, entry: Entry | None, upstream: str) -> None:
    """Move this clone (branch, index, working tree) to the remote's head; journaled, since a kill in the
    middle of a checkout leaves files of both commits."""
    start = git.head(root)
    if start == upstream:
        return
    if entry is not None:
        entry.phase, entry.sync = "sync", {"from": start, "to": upstream}
        save(root, entry)
        crash_point("sync")
    try:
        git.run(["merge", "-q", "--ff-only", upstream], root)
    except GitError as exc:
        if entry is not None:
            clear(root)  # git refused before touching anything: nothing to finish
        raise StateError(f"this clone could not be brought to the remote's head ({exc}); the change was not "
                         "made: `git pull`, then run the command again") from None
    if entry is not None:
        clear(root)


def _finish_sync(root: Path, entry: Entry) -> None:
    start, target = entry.sync["from"], entry.sync["to"]
    head = git.head(root)
    changed = [p for p in git.run(["diff", "--name-only", "-z", start, target], root).split("\0") if p]
    if head == start:
        # The checkout was cut short: the files it touched are either side's, and were clean before it.
        if changed:
            existing = set(git.run(["ls-tree", "-r", "-z", "--name-only", target, "--", *changed], root)
                           .split("\0")) - {""}
            if existing:
                git.run(["checkout", "-q", target, "--", *sorted(existing)], root)
            gone = [p for p in changed if p not in existing]
            if gone:
                git.run(["update-index", "--force-remove", "-z", "--stdin"], root, input="\0".join(gone) + "\0",
                        check=False)
                for rel in gone:
                    with contextlib.suppress(OSError):
                        (root / rel).unlink()
        git.run(["update-ref", "HEAD", target, start], root)
    elif head == target and changed:
        git.run(["reset", "-q", target, "--", *changed], root, check=False)


def recover_if_idle(root: Path) -> str | None:
    """For every command: if a change was interrupted and nobody is running one now, deal with it."""
    if not pending(root):
        return None
    with try_lock(root) as got:
        if not got:
            return None  # a live reg command is mid-change; its journal is its own
        return recover(root)
