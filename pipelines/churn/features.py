"""What the churn pipeline's stages share: the columns, the params, and reading the model folder.

The stages are in the repository's root dvc.yaml and run from the root (`dvc repro churn-evaluate`);
their outputs go beside this code (data/, model/, plots/, metrics.json, evaluation.json)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TARGET = "churned"
ID = "customer_id"
NUMERIC = ["tenure_months", "monthly_charges", "total_charges", "support_calls", "senior_citizen"]
CATEGORICAL = ["contract", "internet_service", "payment_method", "paperless_billing"]
FEATURES = NUMERIC + CATEGORICAL


def params(section: str) -> dict:
    """params.yaml's `churn.<section>`, read where DVC runs the stage (the folder of dvc.yaml): the file
    and the keys DVC tracks for it."""
    path = Path("params.yaml")
    if not path.is_file():
        raise SystemExit(f"no params.yaml in {Path.cwd()}; run the stage from the repository root (dvc repro)")
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["churn"][section]


def load_model(folder: Path):
    """The model folder as `train` wrote it: (preprocessing, booster). skops loads only the types listed
    as trusted, so a tampered file cannot run code."""
    import lightgbm as lgb
    import skops.io as sio

    path = folder / "preprocess.skops"
    preprocess = sio.load(path, trusted=_trusted(path))
    booster = lgb.Booster(model_file=str(folder / "model.txt"))
    return preprocess, booster


def _trusted(path: Path) -> list[str]:
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    allowed = [t for t in untrusted if t.startswith(("numpy.", "sklearn."))]
    if len(allowed) != len(untrusted):
        raise ValueError(f"{path} holds types outside numpy and scikit-learn: {sorted(set(untrusted) - set(allowed))}")
    return allowed


def predict(preprocess, booster, frame) -> "list[float]":
    return booster.predict(preprocess.transform(frame[FEATURES]))


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
