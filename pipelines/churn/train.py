"""Fit a LightGBM classifier inside a scikit-learn pipeline and write the model folder:

    model/model.txt          the booster in LightGBM's native text format
    model/preprocess.skops   the fitted preprocessing (skops, no pickle)
    model/signature.json     input columns and types, and the output
and metrics.json (the early-stopping validation scores).
"""
from __future__ import annotations

import shutil
import warnings

import lightgbm as lgb
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from features import CATEGORICAL, FEATURES, HERE, NUMERIC, TARGET, params, write_json

TYPES = {"int64": "int64", "float64": "float64", "object": "string", "str": "string", "string": "string"}


def build(p: dict) -> Pipeline:
    preprocess = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), NUMERIC),
        ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
    ])
    model = lgb.LGBMClassifier(
        n_estimators=int(p["n_estimators"]), learning_rate=float(p["learning_rate"]),
        num_leaves=int(p["num_leaves"]), min_child_samples=int(p["min_child_samples"]),
        colsample_bytree=float(p["feature_fraction"]), random_state=int(p["seed"]), n_jobs=1, verbose=-1)
    return Pipeline([("preprocess", preprocess), ("model", model)])


def signature(frame: pd.DataFrame) -> dict:
    return {"inputs": [{"name": c, "type": TYPES.get(str(frame[c].dtype), str(frame[c].dtype))} for c in FEATURES],
            "outputs": [{"name": "churn_probability", "type": "float64"}]}


def main() -> None:
    p = params("train")
    frame = pd.read_csv(HERE / "data" / "train.csv")
    X, y = frame[FEATURES], frame[TARGET]
    X_fit, X_val, y_fit, y_val = train_test_split(X, y, test_size=0.1, random_state=int(p["seed"]), stratify=y)
    pipe = build(p)
    # Early stopping needs the validation rows in the model's feature space, so fit the preprocessing first.
    pipe[:-1].fit(X_fit, y_fit)
    with warnings.catch_warnings():  # eval_set is renamed in newer LightGBM; keep both working
        warnings.simplefilter("ignore", category=Warning)
        pipe[-1].fit(pipe[:-1].transform(X_fit), y_fit, eval_set=[(pipe[:-1].transform(X_val), y_val)],
                     callbacks=[lgb.early_stopping(int(p["early_stopping_rounds"]), verbose=False)])
    booster = pipe[-1].booster_
    best = int(pipe[-1].best_iteration_ or booster.current_iteration())
    val_prob = booster.predict(pipe[:-1].transform(X_val), num_iteration=best)

    out = HERE / "model"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    booster.save_model(str(out / "model.txt"), num_iteration=best)
    sio.dump(pipe[:-1], out / "preprocess.skops")
    write_json(out / "signature.json", signature(X))
    write_json(HERE / "metrics.json", {
        "train_rows": int(len(X_fit)), "best_iteration": best,
        "valid_roc_auc": round(float(roc_auc_score(y_val, val_prob)), 4),
        "valid_log_loss": round(float(log_loss(y_val, np.clip(val_prob, 1e-7, 1 - 1e-7))), 4),
    })
    print(f"train: {best} trees, validation roc_auc {roc_auc_score(y_val, val_prob):.4f}")


if __name__ == "__main__":
    main()
