"""Fit the ensemble on data/train.csv and write the model folder (see features.py):

    model/ensemble.json, model/lightgbm.txt, model/hist_gradient_boosting.skops, model/signature.json
and metrics.json: each member's and the ensemble's RMSPE on the last `valid_days` of the training data
(fitted without them), before the members are refitted on all of it.
"""
from __future__ import annotations

import shutil

import lightgbm as lgb
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from features import FEATURES, HERE, OUTPUT, TARGET, TYPES, params, predict, rmspe, write_json


def fit(frame: pd.DataFrame, p: dict) -> list:
    """The members, each fitted on log1p(sales): RMSPE is a relative error, so the log scale fits it."""
    X, y = frame[FEATURES], np.log1p(frame[TARGET].to_numpy(dtype="float64"))
    lp, hp = p["lightgbm"], p["hist_gradient_boosting"]
    booster = lgb.train(
        {"objective": "regression", "learning_rate": float(lp["learning_rate"]), "num_leaves": int(lp["num_leaves"]),
         "min_data_in_leaf": int(lp["min_child_samples"]), "feature_fraction": float(lp["feature_fraction"]),
         "seed": int(p["seed"]), "num_threads": 1, "deterministic": True, "verbose": -1},
        lgb.Dataset(X, label=y), num_boost_round=int(lp["n_estimators"]))
    hgb = HistGradientBoostingRegressor(
        max_iter=int(hp["max_iter"]), learning_rate=float(hp["learning_rate"]),
        max_leaf_nodes=int(hp["max_leaf_nodes"]), l2_regularization=float(hp["l2_regularization"]),
        early_stopping=False, random_state=int(p["seed"]))
    with threadpool_limits(1):  # OpenMP threads on a few thousand rows cost far more than they save
        hgb.fit(X, y)
    weights = p["weights"]
    return [("lightgbm", float(weights["lightgbm"]), booster),
            ("hist_gradient_boosting", float(weights["hist_gradient_boosting"]), hgb)]


def main() -> None:
    p = params("train")
    frame = pd.read_csv(HERE / "data" / "train.csv")
    dates = pd.to_datetime(frame["date"])
    cut = dates.max() - pd.Timedelta(days=int(p["valid_days"]) - 1)
    early, late = frame[dates < cut], frame[dates >= cut]
    members = fit(early, p)
    y_late = late[TARGET].to_numpy()
    metrics = {"train_rows": int(len(frame)), "valid_days": int(p["valid_days"])}
    for name, _, model in members:
        metrics[f"valid_rmspe_{name}"] = round(rmspe(y_late, predict([(name, 1.0, model)], late)), 4)
    metrics["valid_rmspe"] = round(rmspe(y_late, predict(members, late)), 4)

    members = fit(frame, p)  # the registered members learn from every training day
    out = HERE / "model"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    (lgbm_name, lgbm_weight, booster), (hgb_name, hgb_weight, hgb) = members
    booster.save_model(str(out / "lightgbm.txt"))
    sio.dump(hgb, out / "hist_gradient_boosting.skops")
    write_json(out / "ensemble.json", {
        "schema": 1, "combine": "weighted_mean", "target_transform": "log1p", "output_min": 0, "features": FEATURES,
        "members": [{"name": lgbm_name, "format": "lightgbm", "file": "lightgbm.txt", "weight": lgbm_weight},
                    {"name": hgb_name, "format": "skops", "file": "hist_gradient_boosting.skops",
                     "weight": hgb_weight}]})
    write_json(out / "signature.json", {"inputs": [{"name": c, "type": TYPES[c]} for c in FEATURES],
                                        "outputs": [{"name": OUTPUT, "type": "float64"}]})
    write_json(HERE / "metrics.json", metrics)
    print("train: " + ", ".join(f"{k} {v}" for k, v in metrics.items()))


if __name__ == "__main__":
    main()
