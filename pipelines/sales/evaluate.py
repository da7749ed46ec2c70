"""Score the model folder on data/holdout.csv (the last days, never seen in training): evaluation.json
with RMSPE (the seed's metric, over the days with sales), each member's RMSPE, RMSE, MAE and R²."""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import HERE, TARGET, load_model, predict, predict_members, rmspe, write_json


def main() -> None:
    holdout = pd.read_csv(HERE / "data" / "holdout.csv")
    members, _ = load_model(HERE / "model")
    y = holdout[TARGET].to_numpy(dtype="float64")
    pred = predict(members, holdout)
    err = y - pred
    result = {"rmspe": round(rmspe(y, pred), 4)}
    for name, member_pred in predict_members(members, holdout).items():
        result[f"rmspe_{name}"] = round(rmspe(y, member_pred), 4)
    result.update({
        "rmse": round(float(np.sqrt(np.mean(err ** 2))), 2),
        "mae": round(float(np.mean(np.abs(err))), 2),
        "r2": round(float(1 - np.sum(err ** 2) / np.sum((y - y.mean()) ** 2)), 4),
        "holdout_rows": int(len(y)), "holdout_days": int(holdout["date"].nunique()),
    })
    write_json(HERE / "evaluation.json", result)
    print("evaluate: " + ", ".join(f"{k} {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
