"""The `ensemble` format: a weighted mean of member models named by ensemble.json."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .loaders import FormatError, skops_load

ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_MEMBER_FORMATS = ("lightgbm", "skops")
ENSEMBLE_TRANSFORMS = ("none", "log1p")  # log1p: members predict log1p(y), the ensemble returns expm1 of the blend
MAX_ENSEMBLE_BYTES, MAX_ENSEMBLE_MEMBERS = 1 << 20, 32


@dataclass
class Ensemble:
    """A weighted mean of member models' predictions (format `ensemble`): ensemble.json names each member's
    file, format and weight, the feature columns in order, the target transform and an optional floor
    (`output_min: 0` for a quantity that cannot be negative, such as sales)."""
    members: list[tuple[str, float, Any]]  # (name, weight, loaded model)
    features: list[str] = field(default_factory=list)
    target_transform: str = "none"
    output_min: float | None = None

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, weight, _ in self.members}

    def predict(self, df):
        import numpy as np

        X = df[self.features] if self.features and hasattr(df, "columns") else df
        total = sum(w for _, w, _ in self.members)
        blend = sum(w * np.asarray(model.predict(X), dtype="float64").reshape(len(X), -1)[:, 0]
                    for _, w, model in self.members) / total
        out = np.expm1(blend) if self.target_transform == "log1p" else blend
        return out if self.output_min is None else np.maximum(out, self.output_min)


def _ensemble_spec(data: bytes, files: list[str], label: str) -> dict:
    bad = f"{label}: {ENSEMBLE_FILE} "
    if len(data) > MAX_ENSEMBLE_BYTES:
        raise FormatError(bad + f"is larger than {MAX_ENSEMBLE_BYTES} bytes; it should list a few members")
    try:
        spec = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(bad + f"is not valid JSON ({exc})") from None
    members = spec.get("members") if isinstance(spec, dict) else None
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_ENSEMBLE_MEMBERS:
        raise FormatError(bad + f"must be an object whose 'members' lists 1 to {MAX_ENSEMBLE_MEMBERS} "
                          "{name, format, file, weight}")
    transform = spec.get("target_transform") or "none"
    if transform not in ENSEMBLE_TRANSFORMS:
        raise FormatError(bad + f"has target_transform {transform!r}; use one of {', '.join(ENSEMBLE_TRANSFORMS)}")
    features = spec.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise FormatError(bad + "has 'features' that is not a list of column names")
    import math

    floor = spec.get("output_min")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float))
                              or not math.isfinite(floor)):
        raise FormatError(bad + f"has output_min {floor!r}; it is a number (the lowest value to predict) or absent")
    for i, m in enumerate(members):
        where = bad + f"member {i + 1} "
        if not isinstance(m, dict):
            raise FormatError(where + "is not an object {name, format, file, weight}")
        if m.get("format") not in ENSEMBLE_MEMBER_FORMATS:
            raise FormatError(where + f"has format {m.get('format')!r}; members may be "
                              f"{' or '.join(ENSEMBLE_MEMBER_FORMATS)}")
        # Only a file of this verified folder, named exactly: no path leads outside it.
        if not isinstance(m.get("file"), str) or m["file"] not in files or m["file"] == ENSEMBLE_FILE:
            raise FormatError(where + f"names file {m.get('file')!r}, which is not a model file of the artifact "
                              f"(its files: {', '.join(f for f in files if f != ENSEMBLE_FILE)})")
        weight = m.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise FormatError(where + f"has weight {weight!r}; a weight is a number >= 0")
    if not sum(m["weight"] for m in members) > 0:
        raise FormatError(bad + "has weights that add up to 0")
    return {"members": members, "features": features, "target_transform": transform, "output_min": floor}


def load_ensemble(files, read, label, **kw):
    if ENSEMBLE_FILE not in read:
        raise FormatError(f"{label} is recorded as ensemble but has no {ENSEMBLE_FILE}")
    spec = _ensemble_spec(read[ENSEMBLE_FILE], files, label)
    members = []
    for m in spec["members"]:
        if m["format"] == "lightgbm":
            try:
                import lightgbm
            except ImportError:
                raise FormatError(f"{label} has a LightGBM member but lightgbm is not installed: "
                                  "pip install lightgbm") from None
            try:
                model = lightgbm.Booster(model_str=read[m["file"]].decode("utf-8"))
            except Exception as exc:
                raise FormatError(f"{label}: {m['file']} is not a LightGBM model ({exc})") from None
        else:
            model = skops_load(read[m["file"]], m["file"], label, kw.get("trusted_types"))
        members.append((str(m.get("name") or m["file"]), float(m["weight"]), model))
    return Ensemble(members, spec["features"], spec["target_transform"],
                    None if spec["output_min"] is None else float(spec["output_min"])), None
