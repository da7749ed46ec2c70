"""Timing: a command as a process (wall time and peak RSS from wait4) or a call in-process, repeated,
reported as a median. Repetitions stop early once a row has used its time budget, so a slow peer at a
large size still finishes (the `runs` column says how many runs the median is of)."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence


class BenchError(RuntimeError):
    """A measured command failed: the table must not show the time of an error message."""


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak_rss_kb(self) -> int | None:
        return max(self.rss_kb) if self.rss_kb else None


# Runs the measured command for run_once. Linux records the memory of the process a child was forked
# from in the child's peak RSS (at exec), so forking straight from this harness (which has built fixtures)
# would inflate every row; a small interpreter in between forks it instead, and times it without its own
# start-up.
_SPAWN = """
import os, sys, time
result, cmd = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(cmd[0], cmd)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(result, "w") as fh:
    fh.write(f"{elapsed} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_once(cmd: Sequence[str], cwd: Path, env: dict | None = None) -> tuple[float, int, str]:
    """Run `cmd`; return (wall seconds, peak RSS in KB of it and the children it waited for, output)."""
    # Measure what an installed tool costs: with its bytecode cached. A shell that sets
    # PYTHONDONTWRITEBYTECODE would make every run compile reg's modules again (20+ ms).
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full_env.update(env or {})
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "rb") as stdin, tempfile.TemporaryFile() as out:
        result = Path(tmp) / "result"
        subprocess.run([sys.executable, "-S", "-c", _SPAWN, str(result), *cmd], cwd=str(cwd), env=full_env,
                       stdin=stdin, stdout=out, stderr=out)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        try:
            elapsed, rss, code = result.read_text().split()
        except OSError:
            elapsed, rss, code = 0, 0, -1
    if int(code) != 0:
        tail = "\n".join(text.strip().splitlines()[-5:])
        raise BenchError(f"{' '.join(cmd)} (in {cwd}) exited {code}:\n{tail}")
    return float(elapsed), int(rss), text


def process(cmd_for_run: Callable[[int], Sequence[str]] | Sequence[str], cwd: Path, *, reps: int,
            budget: float, env: dict | None = None, before: Callable[[int], None] | None = None,
            warmup: int = 0) -> Sample:
    """Median over `reps` runs of a process. `cmd_for_run(i)` lets a mutating command (promote, register)
    do something different each run; `before(i)` runs untimed before each run (e.g. drop a cache)."""
    make = cmd_for_run if callable(cmd_for_run) else (lambda i: cmd_for_run)
    for i in range(warmup):
        run_once(make(-1 - i), cwd, env)
    sample = Sample()
    spent = 0.0
    for i in range(reps):
        if before is not None:
            before(i)
        seconds, rss, _ = run_once(make(i), cwd, env)
        sample.seconds.append(seconds)
        sample.rss_kb.append(rss)
        spent += seconds
        if spent > budget:
            break
    return sample


def in_process(fn: Callable[[], object], *, reps: int, inner: int = 1, budget: float = 10.0) -> Sample:
    """Median over `reps` batches of the per-call time of `fn` (each batch is `inner` calls)."""
    fn()  # the first call pays for imports and warms the OS file cache, like every later call will
    sample = Sample()
    spent = 0.0
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        elapsed = time.perf_counter() - start
        sample.seconds.append(elapsed / inner)
        spent += elapsed
        if spent > budget:
            break
    return sample
