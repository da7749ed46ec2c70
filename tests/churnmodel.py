"""A tiny churn model as the training pipeline leaves it: a LightGBM text model, the fitted scikit-learn
preprocessing saved with skops, and the input/output signature. Small and fast to build."""
from __future__ import annotations

import json
from pathlib import Path

SIGNATURE = {"inputs": [{"name": "tenure", "type": "int64"}, {"name": "monthly_charges", "type": "float64"},
                        {"name": "contract", "type": "string"}],
             "outputs": [{"name": "churn_probability", "type": "float64"}]}


def frame(n: int = 120, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"tenure": rng.integers(0, 72, n), "monthly_charges": rng.normal(70, 20, n).round(2),
                       "contract": rng.choice(["month", "one_year", "two_year"], n)})
    churn = ((df.tenure < 18) & (df.contract == "month")) | (rng.random(n) < 0.1)
    return df, churn.astype(int)


def build(folder: Path, *, rounds: int = 8, seed: int = 0) -> Path:
    import lightgbm as lgb
    import skops.io as sio
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    df, y = frame(seed=seed)
    pre = ColumnTransformer([("num", StandardScaler(), ["tenure", "monthly_charges"]),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), ["contract"])], sparse_threshold=0)
    X = pre.fit_transform(df)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 4, "min_data_in_leaf": 5,
                         "seed": seed, "deterministic": True}, lgb.Dataset(X, y), num_boost_round=rounds)
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / "model.txt"))
    sio.dump(pre, folder / "preprocess.skops")
    (folder / "signature.json").write_text(json.dumps(SIGNATURE, indent=2))
    return folder


def reference_predictions(folder: Path, df):
    """What the model in `folder` predicts for `df`, computed without the registry."""
    import lightgbm as lgb
    import skops.io as sio

    path = folder / "preprocess.skops"
    pre = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    return lgb.Booster(model_file=str(folder / "model.txt")).predict(pre.transform(df))
