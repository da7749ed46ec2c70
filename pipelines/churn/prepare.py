"""Make a synthetic churn data set (fixed seed) and split it into data/train.csv and data/holdout.csv.

The data is synthetic: customers of a made-up telecom, with churn driven by contract type, tenure,
support calls, fibre service and payment method, plus noise, so a model can learn it but not perfectly.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features import HERE, ID, TARGET, params


def generate(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tenure = np.clip(np.round(rng.gamma(1.3, 22.0, rows)), 0, 72).astype("int64")
    long_term = np.clip(tenure / 72.0, 0, 1)
    u = rng.random(rows)  # longer-standing customers are more often on yearly contracts
    contract = np.select([u < 0.75 - 0.5 * long_term, u < 0.90 - 0.3 * long_term],
                         ["Month-to-month", "One year"], "Two year")
    internet = rng.choice(["DSL", "Fiber optic", "No"], size=rows, p=[0.35, 0.45, 0.20])
    base = np.select([internet == "No", internet == "DSL"], [20.0, 55.0], 85.0)
    monthly = np.round(np.clip(base + rng.normal(0, 12, rows), 18.0, 120.0), 2)
    total = np.round(tenure * monthly * rng.normal(1.0, 0.05, rows), 2).astype("float64")
    total[tenure == 0] = np.nan  # new customers have no bill yet, as in real billing exports
    support = rng.poisson(0.8 + 1.2 * (internet == "Fiber optic"), rows).astype("int64")
    payment = rng.choice(["Electronic check", "Mailed check", "Bank transfer", "Credit card"], size=rows,
                         p=[0.34, 0.23, 0.22, 0.21])
    paperless = rng.choice(["Yes", "No"], size=rows, p=[0.6, 0.4])
    senior = (rng.random(rows) < 0.16).astype("int64")
    logit = (-2.2 - 0.05 * tenure + 1.6 * (contract == "Month-to-month") - 1.0 * (contract == "Two year")
             + 0.7 * (internet == "Fiber optic") + 0.45 * support + 0.6 * (payment == "Electronic check")
             + 0.35 * senior + 0.25 * (paperless == "Yes") + 0.012 * (monthly - 65) + rng.normal(0, 0.6, rows))
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
    return pd.DataFrame({
        ID: [f"C{seed:02d}-{i:06d}" for i in range(rows)],
        "tenure_months": tenure, "contract": contract, "monthly_charges": monthly, "total_charges": total,
        "support_calls": support, "payment_method": payment, "internet_service": internet,
        "paperless_billing": paperless, "senior_citizen": senior, TARGET: churned,
    })


def main() -> None:
    p = params("prepare")
    frame = generate(int(p["rows"]), int(p["seed"]))
    rng = np.random.default_rng(int(p["seed"]) + 1)
    holdout = rng.random(len(frame)) < float(p["holdout_fraction"])
    out = HERE / "data"
    out.mkdir(exist_ok=True)
    frame[~holdout].to_csv(out / "train.csv", index=False)
    frame[holdout].to_csv(out / "holdout.csv", index=False)
    print(f"prepare: {int((~holdout).sum())} train rows, {int(holdout.sum())} holdout rows, "
          f"churn rate {frame[TARGET].mean():.1%}")


if __name__ == "__main__":
    main()
