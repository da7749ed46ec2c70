"""Score the model folder on data/holdout.csv: evaluation.json (roc_auc, f1, log_loss, ...) and a
calibration table plots/calibration.csv (`dvc plots show` draws it); plots/calibration.png as well
(the figure with matplotlib, from the ml extras)."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, log_loss, precision_score, recall_score,
                             roc_auc_score)

from features import HERE, TARGET, load_model, params, predict, write_json


def scores(y, prob, threshold: float) -> dict:
    pred = (prob >= threshold).astype(int)
    return {
        "roc_auc": round(float(roc_auc_score(y, prob)), 4),
        "f1": round(float(f1_score(y, pred)), 4),
        "log_loss": round(float(log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7))), 4),
        "precision": round(float(precision_score(y, pred, zero_division=0)), 4),
        "recall": round(float(recall_score(y, pred)), 4),
        "accuracy": round(float(accuracy_score(y, pred)), 4),
        "brier": round(float(brier_score_loss(y, prob)), 4),
    }


def main() -> None:
    p = params("evaluate")
    holdout = pd.read_csv(HERE / "data" / "holdout.csv")
    preprocess, booster = load_model(HERE / "model")
    prob = np.asarray(predict(preprocess, booster, holdout))
    y = holdout[TARGET].to_numpy()
    result = scores(y, prob, float(p["threshold"]))
    write_json(HERE / "evaluation.json", {**result, "holdout_rows": int(len(y))})

    plots = HERE / "plots"
    shutil.rmtree(plots, ignore_errors=True)
    plots.mkdir()
    frac, mean = calibration_curve(y, prob, n_bins=int(p["calibration_bins"]), strategy="quantile")
    pd.DataFrame({"mean_predicted": mean.round(4), "fraction_positive": frac.round(4)}).to_csv(
        plots / "calibration.csv", index=False)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        pass  # the CSV is the figure's data; `dvc plots show` renders it without matplotlib
    else:
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], ls="--", c="grey")
        ax.plot(mean, frac, marker="o")
        ax.set(xlabel="mean predicted churn probability", ylabel="observed churn rate", title="Calibration")
        fig.savefig(plots / "calibration.png", dpi=100, bbox_inches="tight")
    print("evaluate: " + ", ".join(f"{k} {v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
