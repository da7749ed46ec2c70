"""The registry the site tests publish, made with real reg operations: registrations with metrics,
params, data hashes and tags, promotions that archive, aliases, a deletion, a model description, a
hand-committed gate, and (with `validated=True`) a tiny LightGBM model re-scored by `reg validate`."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from registry import Registry

from .conftest import git, init_registry, isolate, new_project, run_reg

REMOTE = "https://deploy:s3cr3t-token@github.com/acme/models.git"
CHURN_METRICS = {1: {"roc_auc": 0.81, "f1": 0.62, "log_loss": 0.45},
                 2: {"roc_auc": 0.84, "f1": 0.66, "log_loss": 0.41},
                 3: {"roc_auc": 0.83, "f1": 0.7, "log_loss": 0.43},
                 4: {"roc_auc": 0.86, "f1": 0.71, "log_loss": 0.39}}
CHURN_PARAMS = {1: {"learning_rate": 0.05, "num_leaves": 31}, 2: {"learning_rate": 0.05, "num_leaves": 63},
                3: {"learning_rate": 0.1, "num_leaves": 63}, 4: {"learning_rate": 0.1, "num_leaves": 15}}
CHURN_DATA = {1: "9b1e0c1d2e3f40516273849a0b1c2d3e", 2: "9b1e0c1d2e3f40516273849a0b1c2d3e",
              3: "77aa0c1d2e3f40516273849a0b1c2d3e", 4: "77aa0c1d2e3f40516273849a0b1c2d3e"}
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _files(tmp: Path, n: int, text: str) -> tuple[Path, Path]:
    art = tmp / f"art{n}" / "model"
    art.mkdir(parents=True, exist_ok=True)
    (art / "model.txt").write_text(text)
    params = tmp / f"params{n}.json"
    params.write_text(json.dumps(CHURN_PARAMS[n]))
    return art, params


def populate(root: Path, reg, tmp: Path, *, validated: bool = False) -> Path:
    """`root` is a registry (after `reg init`); `reg` runs the CLI."""
    api = Registry(root)

    def ok(*args: str):
        result = reg(root, *args)
        assert result.exit_code == 0, f"reg {' '.join(args)}: {result.output}"
        return result

    git(root, "remote", "add", "origin", REMOTE)
    for n in (1, 2, 3):
        art, params = _files(tmp, n, f"tree v{n}\n")
        api.register("churn", art, metrics=CHURN_METRICS[n], params_file=params,
                     description={1: "First churn model", 2: "Retrained on October data", 3: "New features"}[n],
                     tags={"team": "growth"} if n == 1 else None, alias="challenger" if n == 2 else None,
                     extra_lineage={"data": {"data/churn.csv": CHURN_DATA[n]}})
        if n == 2:
            ok("promote", "churn", "1", "production", "--reason", "baseline")
            ok("promote", "churn", "2", "staging")
            ok("promote", "churn", "2", "production", "--reason", "better roc_auc")
    ok("alias", "churn", "3", "champion")
    ok("annotate", "churn", "--description", "Predicts which customers cancel next month")
    ok("delete", "churn", "1", "--reason", "trained on leaked data")
    if validated:
        from .churnmodel import SIGNATURE, build, frame

        card = root / "models/churn/model.yaml"
        card.write_text(card.read_text() + "gates:\n  staging:\n    metrics: {roc_auc: \">= 0.5\"}\n")
        git(root, "commit", "-qam", "Gate staging on roc_auc")
        art = build(tmp / "art4" / "model")
        (tmp / "params4.json").write_text(json.dumps(CHURN_PARAMS[4]))
        api.register("churn", art, metrics=CHURN_METRICS[4], params_file=tmp / "params4.json",
                     description="LightGBM on the new features", signature=SIGNATURE,
                     extra_lineage={"data": {"data/churn.csv": CHURN_DATA[4]}})
        df, y = frame(n=200, seed=3)
        df["churned"] = y
        df.to_csv(tmp / "holdout.csv", index=False)
        ok("validate", "churn", "4", "--data", str(tmp / "holdout.csv"), "--target", "churned")
    for n, rmspe in ((1, 0.131), (2, 0.118)):
        art = tmp / f"sales{n}" / "model"
        art.mkdir(parents=True, exist_ok=True)
        (art / "model.txt").write_text(f"sales {n}\n")
        api.register("sales", art, metrics={"rmspe": rmspe}, description=HOSTILE if n == 2 else "Sales forecast",
                     tags={"note": HOSTILE} if n == 2 else None)
    ok("promote", "sales", "1", "production", "--reason", "first launch")
    ok("annotate", "sales", "--description", "Weekly sales per store")
    return root


def build_once(tmp_path_factory, *, validated: bool = False) -> Path:
    """A populated registry for a module's tests to read (built once; its own git identity and storage,
    since the per-test environment does not exist yet when a module fixture runs)."""
    base = tmp_path_factory.mktemp("site-registry")
    home = base / "home"
    with pytest.MonkeyPatch.context() as mp:
        isolate(mp, home)
        root = init_registry(run_reg, new_project(base / "project"), base / "storage")
        populate(root, run_reg, base / "inputs", validated=validated)
    assert os.environ.get("HOME") != str(home)
    return root
