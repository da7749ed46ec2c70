"""The loaded model: what `load` returns, and its `predict` for each format."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..manifest import ModelVersion


@dataclass
class LoadedModel:
    name: str
    version: int
    manifest: ModelVersion
    model: Any
    preprocess: Any = None
    format: str = "unknown"
    path: Path | None = None
    files: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<LoadedModel {self.name} v{self.version} ({self.format})>"

    @property
    def signature(self) -> dict | None:
        return self.manifest.signature

    def predict(self, df):
        """The positive-class probability for a binary classifier, the predictions otherwise (a numpy array)."""
        import numpy as np

        if self.format == "lightgbm":
            X = self.preprocess.transform(df) if self.preprocess is not None else _booster_input(self.model, df)
            out = np.asarray(self.model.predict(X))
        elif self.format == "onnx":
            out = _onnx_predict(self.model, df)
        else:
            X = self.preprocess.transform(df) if self.preprocess is not None else df
            out = _sklearn_predict(self.model, X)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out


def _booster_input(booster, df):
    names = booster.feature_name()
    if hasattr(df, "columns") and set(names) <= set(map(str, df.columns)):
        return df[names]
    return df


def _sklearn_predict(model, X):
    import numpy as np

    proba = getattr(model, "predict_proba", None)
    classes = getattr(model, "classes_", None)
    if proba is not None and classes is not None and len(classes) == 2:
        return np.asarray(proba(X))[:, 1]
    return np.asarray(model.predict(X))


def _onnx_predict(session, df):
    import numpy as np

    inputs = session.get_inputs()
    if len(inputs) == 1:
        feeds = {inputs[0].name: np.asarray(df, dtype=np.float32)}
    else:
        feeds = {i.name: np.asarray(df[i.name]).reshape(-1, 1) for i in inputs}
    outputs = session.run(None, feeds)
    if len(outputs) > 1:  # classifiers export (labels, probabilities)
        probs = outputs[1]
        if isinstance(probs, list) and probs and isinstance(probs[0], dict):
            keys = sorted(probs[0])
            if len(keys) == 2:
                return np.array([row[keys[1]] for row in probs])
        probs = np.asarray(probs)
        if probs.ndim == 2 and probs.shape[1] == 2:
            return probs[:, 1]
    return np.asarray(outputs[0])
