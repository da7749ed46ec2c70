"""What the sales pipeline's stages share: the columns, the params, the metric, and the model folder.

The stages are in the repository's root dvc.yaml and run from the root (`dvc repro sales-evaluate`);
their outputs go beside this code (data/, model/, metrics.json, evaluation.json).

The model folder is an ensemble reg loads by itself (format `ensemble`):

    model/ensemble.json                  members, their weights, the feature columns, the target transform
    model/lightgbm.txt                   a LightGBM booster, LightGBM's native text format
    model/hist_gradient_boosting.skops   a scikit-learn HistGradientBoostingRegressor (skops, no pickle)
    model/signature.json                 input columns and types, and the output

Each member predicts log1p(sales); the forecast is expm1 of their weighted mean, never below 0 (a closed
store's day would otherwise come out a hair under zero).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
TARGET = "sales"
OUTPUT = "predicted_sales"  # never the input's own `sales` column
FEATURES = ["store", "store_type", "competition_distance", "open", "promo", "state_holiday", "school_holiday",
            "day_of_week", "day_of_month", "month", "week_of_year", "day_of_year"]
TYPES = {name: ("float64" if name == "competition_distance" else "int64") for name in FEATURES}


def params(section: str) -> dict:
    """params.yaml's `sales.<section>`, read where DVC runs the stage (the folder of dvc.yaml)."""
    path = Path("params.yaml")
    if not path.is_file():
        raise SystemExit(f"no params.yaml in {Path.cwd()}; run the stage from the repository root (dvc repro)")
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["sales"][section]


def rmspe(y, pred) -> float:
    """Root mean squared percentage error over the days with sales: a closed store's zero is not scored
    (the seed's metric, as in the Rossmann competition)."""
    y, pred = np.asarray(y, dtype="float64"), np.asarray(pred, dtype="float64")
    scored = y != 0
    return float(np.sqrt(np.mean(((y[scored] - pred[scored]) / y[scored]) ** 2)))


def load_model(folder: Path):
    """The model folder as `train` wrote it: (members [(name, weight, model)], ensemble spec). skops loads
    only numpy and scikit-learn types, so a tampered file cannot run code."""
    import lightgbm as lgb
    import skops.io as sio

    spec = json.loads((folder / "ensemble.json").read_text(encoding="utf-8"))
    members = []
    for m in spec["members"]:
        path = folder / m["file"]
        if m["format"] == "lightgbm":
            model = lgb.Booster(model_file=str(path))
        else:
            untrusted = sio.get_untrusted_types(file=path)
            if any(not t.startswith(("numpy.", "sklearn.")) for t in untrusted):
                raise ValueError(f"{path} holds types outside numpy and scikit-learn: {untrusted}")
            model = sio.load(path, trusted=untrusted)
        members.append((m["name"], float(m["weight"]), model))
    return members, spec


def predict_members(members, frame) -> dict:
    """Each member's forecast in sales (expm1 of its log1p prediction)."""
    X = frame[FEATURES]
    return {name: np.maximum(np.expm1(np.asarray(model.predict(X), dtype="float64")), 0.0)
            for name, _, model in members}


def predict(members, frame):
    X = frame[FEATURES]
    total = sum(w for _, w, _ in members)
    blend = sum(w * np.asarray(model.predict(X), dtype="float64") for _, w, model in members) / total
    return np.maximum(np.expm1(blend), 0.0)


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
