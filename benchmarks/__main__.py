"""`make bench`: reg beside GTO and MLflow in one run; the table goes to stdout and benchmarks/results.md.

    python -m benchmarks [--sizes 10,1000,10000] [--reps 5] [--no-peers] [--out FILE]
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import fixtures, gto_bench, mlflow_bench, reg_bench, writers
from .table import markdown

HERE = Path(__file__).resolve().parent


def _sizes(text: str) -> list[int]:
    return [int(x.replace("_", "")) for x in text.split(",") if x.strip()]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=_sizes, default=[10, 1000, 10000],
                   help="registry sizes (versions) for reg; list, show, history, promote and register run at the "
                        "largest")
    p.add_argument("--reps", type=int, default=5, help="runs per row (the median is reported)")
    p.add_argument("--budget", type=float, default=20.0,
                   help="seconds per row: stop repeating a slow row once it has used this much")
    p.add_argument("--writers", type=_sizes, default=[],
                   help="rows of concurrent `reg register --push` writers over separate clones of one bare remote, "
                        "e.g. 1,4,8 (`make bench` does)")
    p.add_argument("--writes-each", type=int, default=3, help="registrations per concurrent writer")
    p.add_argument("--no-peers", action="store_true", help="only reg (no GTO, no MLflow)")
    p.add_argument("--gto-sizes", type=_sizes, default=[200, 1000])
    p.add_argument("--mlflow-versions", type=int, default=2000)
    p.add_argument("--cache", type=Path, default=fixtures.DEFAULT_CACHE, help="where built fixtures are kept")
    p.add_argument("--out", type=Path, default=HERE / "results.md", help="markdown file to write ('-': none)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--no-serving", action="store_true", help="skip the `reg sync` rows (git push to served)")
    return p.parse_args(argv)


def _git_head() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "registry", "cli"], cwd=HERE.parent,
                           capture_output=True, text=True).stdout.strip()
    return (proc.stdout.strip() or "unknown") + (" (+ uncommitted changes)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    log = (lambda msg: None) if args.quiet else (lambda msg: print(f"[bench] {msg}", file=sys.stderr, flush=True))
    args.cache.mkdir(parents=True, exist_ok=True)
    work = args.cache / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started, load_before = time.monotonic(), os.getloadavg()
    try:
        rows = reg_bench.rows(args.cache, work, args.sizes, args.reps, args.budget, log)
        if args.writers:
            rows += writers.rows(work / "writers", args.writers, args.writes_each, reg_bench.reg_command(),
                                 {**os.environ, **reg_bench.reg_env()}, log)
        if not args.no_peers:
            rows += gto_bench.rows(args.cache, work, args.gto_sizes, args.reps, args.budget, log)
            rows += mlflow_bench.rows(args.cache, work, args.mlflow_versions, args.reps, args.budget, log)
        if not args.no_serving:
            from . import serving_bench

            rows += serving_bench.rows(work, args.reps, log)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    load_after = os.getloadavg()
    text = (
        f"# Benchmark results\n\n"
        f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, reg at {_git_head()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before and "
        f"{load_after[0]:.1f} after; {time.monotonic() - started:.0f} s in all. Median of `runs` runs (after one "
        f"untimed warm-up run for most process rows); peak RSS is the largest of the runs, the process and the "
        f"children it waited for (git). Targets are DESIGN.md's \"Performance targets\"; on a shared, loaded "
        f"machine times are noisy, so compare rows of one run rather than runs.\n\n"
        + markdown(rows)
    )
    print(text)
    if str(args.out) != "-":
        args.out.write_text(text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
