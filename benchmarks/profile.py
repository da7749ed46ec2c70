"""Where reg's commands spend their time at N versions: `-X importtime` (slowest imports) and cProfile
(slowest calls) of `reg show churn/production`, `reg promote` and `reg register`, on a copy of the cached
synthetic registry.

    python -m benchmarks.profile [--versions 10000] [--top 25]
"""
from __future__ import annotations

import argparse
import os
import pstats
import re
import subprocess
import sys
from pathlib import Path

from . import fixtures
from .reg_bench import reg_env, registry_fixture


def _run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full.update(env)
    return subprocess.run(args, cwd=cwd, env=full, capture_output=True, text=True)


def slowest_imports(stderr: str, top: int) -> list[str]:
    rows = []
    for line in stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    rows.sort(reverse=True)
    return [f"{us / 1000:7.1f} ms  {'  ' * depth}{name}" for us, depth, name in rows[:top]]


def profile(name: str, reg_args: list[str], cwd: Path, out: Path, top: int, first: list[str] | None = None) -> None:
    """`first`: the arguments of the importtime run when running `reg_args` twice would fail (promote)."""
    env = reg_env()
    imp = _run([sys.executable, "-X", "importtime", "-m", "cli", *(first or reg_args)], cwd, env)
    prof = out / f"{name}.prof"
    done = _run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "cli", *reg_args], cwd, env)
    if done.returncode != 0:
        print(f"## {name}: failed\n{done.stderr}")
        return
    print(f"## reg {' '.join(reg_args)}\n\nslowest imports (cumulative):")
    print("\n".join(slowest_imports(imp.stderr, top)))
    print("\nslowest calls (cumulative):")
    stats = pstats.Stats(str(prof), stream=sys.stdout)
    stats.sort_stats("cumulative").print_stats(r"registry|cli/|dvc|subprocess.py.*\(run\)", top)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    p.add_argument("--versions", type=int, default=10_000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--cache", type=Path, default=fixtures.DEFAULT_CACHE)
    args = p.parse_args(argv)
    repo, _ = registry_fixture(args.cache, args.versions)
    work = args.cache / "profile"
    copy = fixtures.copy_repo(repo, work / "repo")
    (copy / ".dvc/config.local").write_text(f"['remote \"reg\"']\n    url = {work / 'storage'}\n")
    artifact = work / "artifact" / "model"
    artifact.mkdir(parents=True, exist_ok=True)
    (artifact / "model.txt").write_text("tree\n")
    _run([sys.executable, "-m", "cli", "list"], copy, reg_env())  # warm: bytecode and parse cache
    profile("show", ["show", "churn/production"], copy, work, args.top)
    profile("promote", ["promote", "churn", "3", "production"], copy, work, args.top,
            first=["promote", "churn", "2", "production"])
    (artifact / "weights.bin").write_bytes(os.urandom(1024))
    first = ["register", "churn", str(artifact)]
    profile("register", ["register", "churn", str(artifact / "model.txt")], copy, work, args.top, first=first)
    print(f"\nprofiles: {work}/*.prof (python -m pstats FILE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
