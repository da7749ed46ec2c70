"""GTO's rows. A GTO registry is git tags: `churn@v0.0.N` (annotated) registers version N at its commit,
`churn#<stage>#K` assigns a stage. The fixture has one commit and one registration tag per version, and
stage assignments the way `gto assign` makes them (every 5th version to staging, every 10th to prod),
all through one `git fast-import`, with the tag messages GTO writes."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from . import fixtures, measure
from .synth import _Stream
from .table import Row


def gto_command() -> list[str] | None:
    script = Path(sys.executable).parent / "gto"
    if script.exists():
        return [str(script)]
    found = shutil.which("gto")
    return [found] if found else None


def build(root: Path, versions: int) -> None:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run(["git", "config", "user.name", "Bench"], cwd=root, check=True)
    subprocess.run(["git", "config", "user.email", "bench@example.com"], cwd=root, check=True)
    s = _Stream()
    s.commit("Annotate artifact `churn` of type `model` with path `models/churn.txt`",
             {"artifacts.yaml": "churn:\n  type: model\n  path: models/churn.txt\n"})
    counter = 0
    for n in range(1, versions + 1):
        version = f"v0.0.{n}"
        mark = s.commit(f"train churn {n}", {"models/churn.txt": f"model {n}\n"})
        s.tag(f"churn@{version}", mark, f"Registering artifact churn version {version}")
        for stage, every in (("staging", 5), ("prod", 10)):
            if n % every == 0:
                counter += 1
                s.tag(f"churn#{stage}#{counter}", mark,
                      f"Assigning stage {stage} to artifact churn version {version}")
    subprocess.run(["git", "fast-import", "--quiet", "--done"], cwd=root, input=s.bytes(), check=True,
                   capture_output=True)
    subprocess.run(["git", "reset", "-q", "--hard", "main"], cwd=root, check=True)
    subprocess.run(["git", "pack-refs", "--all"], cwd=root, check=True)


def rows(cache: Path, work: Path, sizes: list[int], reps: int, budget: float, log) -> list[Row]:
    gto = gto_command()
    if gto is None:
        return [Row("GTO", "gto --help", None, "process", None, note="skipped: gto is not installed")]
    env = {"GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}
    out: list[Row] = []
    key = fixtures.source_key(Path(__file__), Path(__file__).with_name("synth.py"))
    for index, n in enumerate(sizes):
        repo, built = fixtures.cached(cache, f"gto-{n}-{key}", lambda p: build(p, n))
        if built:
            log(f"built a GTO repository of {n:,} versions in {repo}")

        def proc(op: str, cwd: Path, args, note: str = "", warmup: int = 1) -> None:
            log(f"GTO: {op} at {n:,} versions")
            cmd = (lambda i: [*gto, *args(i)]) if callable(args) else [*gto, *args]
            try:
                sample = measure.process(cmd, cwd, reps=reps, budget=budget, env=env, warmup=warmup)
                out.append(Row("GTO", op, n, "process", sample, note=note))
            except measure.BenchError as exc:
                out.append(Row("GTO", op, n, "process", None, note=f"failed: {str(exc).splitlines()[-1]}"))

        if index == 0:
            proc("gto --help", repo, ["--help"])
        proc("gto show churn#prod", repo, ["show", "churn#prod"], warmup=0)
        proc("gto show churn", repo, ["show", "churn"], warmup=0)
        proc("gto show", repo, ["show"], warmup=0)
        copy = fixtures.copy_repo(repo, work / f"gto-{n}")
        # Versions never assigned to prod (n % 10 != 0), a different one each run.
        targets = iter(v for v in range(1, n + 1) if v % 10)
        proc("gto assign churn --version vX --stage prod", copy,
             lambda i: ["assign", "churn", "--version", f"v0.0.{next(targets)}", "--stage", "prod"],
             note="creates one annotated tag", warmup=0)
    return out
