"""Runs inside benchmarks/.venv-mlflow (MLflow is not a dependency of reg). Prints one JSON object.

    python mlflow_worker.py build DB N             # registered model `churn` with N versions, in SQLite
    python mlflow_worker.py measure DB N REPS      # in-process timings on a copy of a built DB
    python mlflow_worker.py transition DB VERSION  # one stage transition, as a process would do it
"""
from __future__ import annotations

import json
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # stages are deprecated in MLflow 3; the warnings would be noise here

MODEL = "churn"


def client(db: str):
    from mlflow import MlflowClient

    uri = f"sqlite:///{db}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def build(db: str, n: int) -> dict:
    start = time.perf_counter()
    c = client(db)
    opened = time.perf_counter() - start
    c.create_registered_model(MODEL)
    start = time.perf_counter()
    for i in range(1, n + 1):
        c.create_model_version(MODEL, source=f"file:///models/churn/{i}", tags={"roc_auc": str(0.8 + i / (n * 10))})
    elapsed = time.perf_counter() - start
    c.set_registered_model_alias(MODEL, "champion", str(n // 2))
    c.transition_model_version_stage(MODEL, str(n // 2), "Production")
    c.transition_model_version_stage(MODEL, str(n - 1), "Staging")
    return {"open_seconds": opened, "register_total_seconds": elapsed, "register_per_version": elapsed / n}


def _timed(fn, reps: int) -> list[float]:
    fn()
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def measure(db: str, n: int, reps: int) -> dict:
    c = client(db)
    targets = iter(range(1, n))
    res = {
        "get_model_version_by_alias": _timed(lambda: c.get_model_version_by_alias(MODEL, "champion"), reps),
        "search_model_versions": _timed(lambda: c.search_model_versions(f"name='{MODEL}'"), reps),
        "get_latest_versions": _timed(lambda: c.get_latest_versions(MODEL, stages=["Production"]), reps),
        "transition_model_version_stage": _timed(
            lambda: c.transition_model_version_stage(MODEL, str(next(targets)), "Production",
                                                     archive_existing_versions=True), reps),
        "create_model_version": _timed(lambda: c.create_model_version(MODEL, source="file:///models/churn/new"),
                                       reps),
    }
    res["search_model_versions_count"] = len(c.search_model_versions(f"name='{MODEL}'"))
    return res


def transition(db: str, version: str) -> dict:
    client(db).transition_model_version_stage(MODEL, version, "Production", archive_existing_versions=True)
    return {}


if __name__ == "__main__":
    cmd, db, *rest = sys.argv[1:]
    if cmd == "build":
        result = build(db, int(rest[0]))
    elif cmd == "measure":
        result = measure(db, int(rest[0]), int(rest[1]))
    else:
        result = transition(db, rest[0])
    print(json.dumps(result))
