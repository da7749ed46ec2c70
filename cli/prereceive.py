"""What the pre-receive hook written by `reg hook install` runs: `python -m cli.prereceive`.

The judging runs in a child process of its own session, so a push that takes longer than the time limit
(`git config reg.hookTimeout`, seconds) is refused in one line and the child, with any git it started, is
killed. The pusher never sees a traceback: an unexpected error is one line too, and its traceback goes to
`reg-hook.log` in the server repository.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

LOG = "reg-hook.log"


def _root() -> Path:
    return Path(os.environ.get("GIT_DIR") or ".").resolve()


def judge() -> int:
    """The child: judge the push, print what the pusher should read, exit 0 to accept."""
    root = _root()
    try:
        from registry import hook
        from registry.errors import RegistryError

        try:
            ok, message = hook.pre_receive(root, sys.stdin.read())
        except RegistryError as exc:
            ok, message = False, hook.one_line(f"reg guard refused this push: {exc}") + "\n"
    except BaseException as exc:  # noqa: BLE001 - the one place a traceback must not reach the pusher
        import traceback

        try:
            with open(root / LOG, "a", encoding="utf-8") as fh:
                traceback.print_exc(file=fh)
            where = f"; the server's {LOG} has the details"
        except OSError:
            where = ""
        detail = " ".join(str(exc).split())[:200]
        sys.stderr.write(f"reg guard refused this push: it could not be judged ({type(exc).__name__}: "
                         f"{detail}){where}\n")
        return 1
    sys.stderr.write(message)
    return 0 if ok else 1


def main() -> int:
    try:
        return _guarded()
    except BaseException as exc:  # noqa: BLE001 - never a traceback for the pusher
        detail = " ".join(str(exc).split())[:200]
        sys.stderr.write(f"reg guard refused this push: the hook failed ({type(exc).__name__}: {detail})\n")
        return 1


def _guarded() -> int:
    from registry import hook

    limit = hook.time_limit(_root())
    child = subprocess.Popen([sys.executable, "-m", "cli.prereceive", "--judge"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = child.communicate(sys.stdin.buffer.read(), timeout=limit)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        child.communicate()
        sys.stderr.write(f"reg guard refused this push: judging it took longer than the server's limit of "
                         f"{limit:g}s (git config reg.hookTimeout); push fewer commits at a time, or ask the "
                         "server's administrator\n")
        return 1
    sys.stderr.write((out + err).decode("utf-8", errors="replace"))
    return 0 if child.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(judge() if sys.argv[1:] == ["--judge"] else main())
