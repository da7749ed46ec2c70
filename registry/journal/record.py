"""The record of a change in progress, `.git/reg/journal.json`, and the atomic writes it and the change
rely on (temp file, rename, fsync)."""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import git

JOURNAL = "journal.json"
INCOMING = "incoming"  # artifacts copied, hashed and pushed before the change set is built


def crash_point(name: str) -> None:
    """Where the crash tests kill a real reg process (SIGKILL, as `kill -9` would): REG_CRASH_AT=<name>."""
    if os.environ.get("REG_CRASH_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def reg_dir(root: Path) -> Path:
    return git.git_dir(root) / "reg"


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
