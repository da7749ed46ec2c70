"""MLflow's rows, from its own venv (benchmarks/.venv-mlflow, made on first use): MLflow is a peer to
compare with, not a dependency of reg. The registry is MLflow's SQLite backend, the usual local setup."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from . import fixtures, measure
from .measure import Sample
from .table import Row

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-mlflow"
WORKER = HERE / "mlflow_worker.py"
# 3.18 needs mlflow-skinny 3.18, which the local package index does not have yet: pip then takes 3.17.x.
SPEC = "mlflow>=3.17,<3.19"


def ensure_venv(log, venv: Path = VENV, spec: str = SPEC) -> Path:
    """The venv's python, after creating it and installing MLflow if that was not done before."""
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if marker.exists() and marker.read_text() == spec:
        return python
    log(f"installing {spec} into {venv} (once; about a minute)")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    proc = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", spec],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("ERROR")]
        raise measure.BenchError(errors[-1] if errors else f"pip install {spec} failed")
    marker.write_text(spec)
    return python


def _worker(python: Path, *args: str) -> dict:
    proc = subprocess.run([str(python), str(WORKER), *map(str, args)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise measure.BenchError(f"mlflow worker {args[0]} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rows(cache: Path, work: Path, n: int, reps: int, budget: float, log) -> list[Row]:
    try:
        python = ensure_venv(log)
    except (measure.BenchError, subprocess.CalledProcessError) as exc:
        return [Row("MLflow", "import mlflow", None, "process", None, note=f"skipped: {exc}")]
    version = subprocess.run([str(python), "-c", "import mlflow; print(mlflow.__version__)"], capture_output=True,
                             text=True).stdout.strip()
    out: list[Row] = []

    def proc(op: str, cmd, versions: int | None, note: str = "") -> None:
        log(f"MLflow: {op}")
        sample = measure.process(cmd, work, reps=reps, budget=budget, warmup=1)
        out.append(Row("MLflow", op, versions, "process", sample, note=note))

    proc(f'python -c "import mlflow" ({version})', [str(python), "-c", "import mlflow"], None)
    proc("mlflow --help", [str(python.parent / "mlflow"), "--help"], None)

    key = fixtures.source_key(WORKER)
    info: dict = {}

    def build(path: Path) -> None:
        log(f"MLflow: registering {n:,} versions in SQLite (once, cached)")
        info.update(_worker(python, "build", path, n))
        path.with_suffix(".json").write_text(json.dumps(info))

    db, built = fixtures.cached(cache, f"mlflow-{n}-{key}.db", build)
    if not info and db.with_suffix(".json").exists():
        info = json.loads(db.with_suffix(".json").read_text())
    copy = work / "mlflow.db"
    shutil.copyfile(db, copy)

    log(f"MLflow: in-process calls at {n:,} versions")
    timings = _worker(python, "measure", copy, n, reps)
    found = timings.pop("search_model_versions_count")
    notes = {
        "create_model_version": "register one more version" + (
            f"; building all {n:,} took {info['register_total_seconds']:.0f} s "
            f"({info['register_per_version'] * 1e3:.0f} ms each)" if info else ""),
        "search_model_versions": f"all versions of churn ({found:,} rows)",
        "transition_model_version_stage": "to Production, archive_existing_versions=True",
    }
    for name, seconds in timings.items():
        out.append(Row("MLflow", f"MlflowClient.{name}", n, "in-process", Sample(seconds), note=notes.get(name, "")))
    if info:
        out.append(Row("MLflow", "MlflowClient(sqlite) first open", None, "in-process",
                       Sample([info["open_seconds"]]), note="creates and migrates the database"))

    targets = iter(range(n - 2, 0, -1))
    proc("transition_model_version_stage", lambda i: [str(python), str(WORKER), "transition", str(copy),
                                                      str(next(targets))], n,
         note="as a process: a script or CI job (MLflow has no CLI for it)")
    return out
