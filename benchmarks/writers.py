"""Concurrent writers (issue 11): W `reg register --push` processes at once, each in its own clone of one
bare remote, each registering a few small artifacts. Reports registrations per second and the share that
succeeded (the goal is all of them: a rejected push fetches, renumbers and retries).

    python -m benchmarks.writers [--writers 1,4,8] [--each 3]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from .measure import Sample
from .table import Row


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _setup(work: Path, writers: int, reg: list[str], env: dict) -> tuple[Path, list[Path]]:
    seed, bare, storage = work / "seed", work / "origin.git", work / "dvc-storage"
    seed.mkdir(parents=True)
    _git(seed, "init", "-q", "-b", "main")
    (seed / "README.md").write_text("# writers bench\n")
    _git(seed, "add", "README.md")
    _git(seed, "-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-qm", "initial")
    subprocess.run([*reg, "-C", str(seed), "init", "--remote", str(storage)], check=True, env=env,
                   capture_output=True)
    _git(work, "init", "-q", "--bare", "--initial-branch=main", str(bare))
    _git(seed, "remote", "add", "origin", str(bare))
    _git(seed, "push", "-q", "origin", "main")
    clones = []
    for w in range(writers):
        dest = work / f"clone{w}"
        _git(work, "clone", "-q", str(bare), str(dest))
        clones.append(dest)
    return bare, clones


def run(work: Path, writers: int, each: int, reg: list[str], env: dict) -> tuple[float, int, int]:
    """(seconds, succeeded, attempted) for `writers` concurrent writers of `each` registrations."""
    bare, clones = _setup(work, writers, reg, env)
    script = ("import os, subprocess, sys\n"
              "reg, root, art, each = sys.argv[1].split('\\x1f'), sys.argv[2], sys.argv[3], int(sys.argv[4])\n"
              "ok = 0\n"
              "for i in range(each):\n"
              "    folder = os.path.join(art, str(i))\n"
              "    os.makedirs(folder)\n"
              "    open(os.path.join(folder, 'model.txt'), 'w').write(f'tree\\n{art} {i}\\n')\n"
              "    p = subprocess.run([*reg, '-C', root, 'register', 'churn', folder, '--push'], capture_output=True)\n"
              "    ok += p.returncode == 0\n"
              "    if p.returncode:\n"
              "        sys.stderr.write(p.stderr.decode(errors='replace').strip().splitlines()[-1][:300] + '\\n')\n"
              "print(ok)\n")
    started = time.monotonic()
    procs = [subprocess.Popen([sys.executable, "-c", script, "\x1f".join(reg), str(clone), str(work / f"art{w}"),
                               str(each)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for w, clone in enumerate(clones)]
    answers = [p.communicate() for p in procs]
    succeeded = sum(int((out or "0").strip() or 0) for out, _ in answers)
    errors = [line for _, err in answers for line in (err or "").splitlines() if line.strip()]
    seconds = time.monotonic() - started
    landed = sum(1 for p in _git(bare, "ls-tree", "-r", "--name-only", "main", "models/churn").split()
                 if p.endswith("/manifest.yaml"))
    if landed != succeeded:
        raise RuntimeError(f"{succeeded} registrations reported success but {landed} are on the remote")
    if errors:
        raise RuntimeError(f"{len(errors)} registrations failed; the first said: {errors[0]}")
    return seconds, succeeded, writers * each


def rows(work: Path, counts: list[int], each: int, reg: list[str], env: dict, log) -> list[Row]:
    out = []
    for writers in counts:
        log(f"reg: {writers} concurrent writers x {each} registrations")
        folder = work / f"writers-{writers}"
        seconds, succeeded, attempted = run(folder, writers, each, reg, env)
        rate = succeeded / seconds if seconds else 0.0
        note = (f"{writers} clone(s) of one bare remote, `register --push`: {succeeded}/{attempted} succeeded "
                f"({100 * succeeded / attempted:.0f}%), {rate:.2f} registrations/s")
        out.append(Row("reg", f"{writers} writer(s) x {each} reg register --push", None, "processes",
                       Sample([seconds]), None, note))
    return out


def main(argv: list[str] | None = None) -> int:
    from . import reg_bench

    p = argparse.ArgumentParser(prog="python -m benchmarks.writers", description=__doc__.splitlines()[0])
    p.add_argument("--writers", default="1,4,8")
    p.add_argument("--each", type=int, default=3)
    p.add_argument("--work", type=Path, default=Path(__file__).resolve().parent / ".cache" / "writers")
    args = p.parse_args(argv)
    import shutil

    shutil.rmtree(args.work, ignore_errors=True)
    env = {**os.environ, **reg_bench.reg_env()}
    try:
        found = rows(args.work, [int(x) for x in args.writers.split(",")], args.each, reg_bench.reg_command(), env,
                     lambda m: print(f"[bench] {m}", file=sys.stderr))
    finally:
        shutil.rmtree(args.work, ignore_errors=True)
    from .table import markdown

    print(markdown(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
