"""The repository's reg lock: an flock the kernel releases when its holder dies, in a file that names
the holder (pid, command) for the message a waiting command gives."""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path

from ..errors import StateError
from .record import reg_dir


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
