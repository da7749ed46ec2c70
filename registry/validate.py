"""`reg validate`: re-score a version on a holdout set, record it, and promote to staging if the gate passes.

Scoring happens before the change (it loads LightGBM and scikit-learn, and needs no lock); the record
of the validation and the stage change are then one change set, so one commit: a `git revert` of it
undoes both. A version already past the initial stage is never moved by validation, only recorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from . import artifacts, operations, policy, rules
from .changes import ChangeSet, Tag, stage_tag_number
from .errors import UsageError
from .manifest import ModelVersion
from .state import RegistryState

TARGET_STAGE = "staging"
DEFAULT_THRESHOLD = 0.5


@dataclass
class Scored:
    data: str          # the holdout as given (relative to the registry when inside it)
    data_md5: str
    target: str
    rows: int
    metrics: dict
    threshold: float = DEFAULT_THRESHOLD


@dataclass
class Validation:
    version: ModelVersion
    scored: Scored
    checks: list = field(default_factory=list)
    passed: bool = False
    promoted: bool = False
    stage: str = ""      # the stage the version is in afterwards
    why_not: str = ""    # when not promoted: why


def holdout_spec(state: RegistryState, name: str, data: str | Path | None, target: str | None) -> tuple[Path, str]:
    """The holdout file and target column: --data/--target, else model.yaml's `validation:`."""
    card = state.model(name).card
    spec = (card.raw.get("validation") if card is not None else None) or {}
    if not isinstance(spec, dict):
        raise UsageError(f"models/{name}/model.yaml: 'validation' must be a mapping such as "
                         "{data: data/holdout.csv, target: churned}")
    if data is None:
        if not spec.get("data"):
            raise UsageError(f"no holdout data for {name}: pass --data FILE, or set validation: {{data: PATH, "
                             f"target: COLUMN}} in models/{name}/model.yaml")
        path = Path(str(spec["data"]))
        path = path if path.is_absolute() else state.root / path
    else:
        path = Path(data).resolve()
    target = target or spec.get("target")
    if not target:
        raise UsageError(f"no target column for {name}: pass --target COLUMN, or set validation.target in "
                         f"models/{name}/model.yaml")
    if path.is_dir():
        raise UsageError(f"holdout data {path} is a folder; pass --data with a CSV file such as data/holdout.csv")
    if not path.is_file():
        raise UsageError(f"holdout data {path} does not exist; run the pipeline (dvc repro) or pass --data FILE")
    return path, str(target)


def threshold_of(state: RegistryState, name: str) -> float:
    """model.yaml's validation.threshold: the probability from which a row counts as positive for f1,
    precision, recall and accuracy (set it to the evaluate stage's, so the numbers match)."""
    card = state.model(name).card
    spec = (card.raw.get("validation") if card is not None else None) or {}
    value = spec.get("threshold", DEFAULT_THRESHOLD) if isinstance(spec, dict) else DEFAULT_THRESHOLD
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UsageError(f"models/{name}/model.yaml: validation.threshold must be a number between 0 and 1 "
                         f"such as 0.5 (found {value!r})")
    return float(value)


def score(root: Path, v: ModelVersion, data: Path, target: str, threshold: float = DEFAULT_THRESHOLD) -> Scored:
    """Predict with version `v` on `data` and compute the metrics the pipeline's evaluate stage reports."""
    try:
        import numpy as np
        import pandas as pd
        import sklearn.metrics  # noqa: F401  (metrics() needs it; say so before the model is loaded)
    except ImportError as exc:
        raise UsageError(f"reg validate needs pandas, numpy and scikit-learn ({exc.name or exc} is not installed): "
                         "install the ml extras with pip install -e '.[ml]' in the reg checkout") from None

    frame = _read_parquet(pd, data) if data.suffix.lower() == ".parquet" else _read_csv(pd, data)
    if target not in frame.columns:
        hint = "; is it a comma-separated CSV?" if len(frame.columns) == 1 else ""
        raise UsageError(f"{data} has no column {target!r} (its columns: {', '.join(map(str, frame.columns))}){hint}")
    if v.signature and v.signature.get("inputs"):
        missing = [c["name"] for c in v.signature["inputs"] if c.get("name") not in frame.columns]
        if missing:
            raise UsageError(f"{data} lacks the model's input column(s) {', '.join(missing)}")
        _check_numeric(pd, frame, v.signature["inputs"], data)
    y = frame[target].to_numpy()
    labels = set(np.unique(y).tolist())
    if not labels <= {0, 1, True, False} or len(labels) < 2:
        raise UsageError(f"target column {target!r} in {data} must hold both classes as 0/1 "
                         f"(found {sorted(labels)[:5]})")
    model = _load(root, v)
    try:
        prob = np.asarray(model.predict(frame.drop(columns=[target])), dtype="float64").reshape(-1)
    except (ValueError, TypeError, KeyError) as exc:  # data the model cannot take; a one-line reason
        reason = " ".join(str(exc).split())
        raise UsageError(f"{v.model} v{v.version} could not score {data}: {reason}") from None
    return Scored(data=_shown(root, data), data_md5=artifacts.file_md5(data), target=target, rows=int(len(y)),
                  metrics=metrics(y.astype(int), prob, threshold), threshold=threshold)


def metrics(y, prob, threshold: float = DEFAULT_THRESHOLD) -> dict:
    import numpy as np
    from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, log_loss, precision_score,
                                 recall_score, roc_auc_score)

    pred = (prob >= threshold).astype(int)
    values = {
        "roc_auc": roc_auc_score(y, prob), "f1": f1_score(y, pred),
        "log_loss": log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1]),
        "precision": precision_score(y, pred, zero_division=0), "recall": recall_score(y, pred),
        "accuracy": accuracy_score(y, pred), "brier": brier_score_loss(y, prob),
    }
    return {k: round(float(x), 4) for k, x in values.items()}


def build(state: RegistryState, name: str, number: int, scored: Scored) -> ChangeSet:
    """The one change: append the validation record and, when the staging gate passes, move to staging."""
    s = state.settings
    model = state.model(name)
    v = operations.live_version(state, name, number, "validated")
    who = operations.actor(state.root)
    stage = TARGET_STAGE if TARGET_STAGE in s.stages else s.stages[1]
    checks = policy.gate_checks(state, model, v, stage, reason=None, actor=who, metrics=scored.metrics)
    passed = all(c.passed for c in checks)
    promote = passed and v.stage == s.initial_stage
    result = Validation(version=v, scored=scored, checks=checks, passed=passed, promoted=promote,
                        stage=stage if promote else v.stage)
    if not passed:
        failed = [c for c in checks if not c.passed]
        result.why_not = f"the {stage} gate failed: " + "; ".join(f"{c.name} ({c.detail})" for c in failed)
    elif not promote:
        result.why_not = (f"v{number} is already in {v.stage}; validation only promotes a version in "
                          f"{s.initial_stage}, and never moves one back")
    record = {"at": operations.now(), "by": who, "data": scored.data, "data_md5": scored.data_md5,
              "target": scored.target, "rows": scored.rows, "threshold": scored.threshold,
              "metrics": dict(scored.metrics),
              "gate": {"stage": stage, "passed": passed,
                       "checks": [f"{'ok' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in checks]},
              "promoted": promote}
    new = replace(v, validations=list(v.validations) + [record])
    updated = {number: new}
    summary = ", ".join(f"{k} {scored.metrics[k]}" for k in ("roc_auc", "f1", "log_loss") if k in scored.metrics)
    body = [f"Validated on {scored.data} ({scored.rows} rows): {summary}"]
    body += [f"  {line}" for line in record["gate"]["checks"]] or [f"  no {stage} gate in models/{name}/model.yaml"]
    if promote:
        new.stage = stage
        archived = []
        for other in rules.displaced(model.versions, number, stage, s):
            updated[other.version] = replace(other, stage=s.archive_stage)
            archived.append(other.version)
        reason = f"validated: {summary}"
        if archived:
            body.append(f"Archived: {', '.join('v%d' % a for a in archived)} (was {stage})")
        subject = f"reg: promote {name} v{number} to {stage}"
        cs = ChangeSet(subject=subject, body="\n".join(body),
                       trailers=operations.trailers("promote", name, number, **{"from": v.stage}, to=stage,
                                                     archived=",".join(map(str, archived)) or None,
                                                     reason=reason, validated=scored.data))
        n = stage_tag_number(state.root, name)
        cs.tags.append(Tag(f"{name}#{stage}#{n}", f"promote {name} v{number} to {stage}\n\n{reason}"))
    else:
        body.append(f"Not promoted: {result.why_not}")
        cs = ChangeSet(subject=f"reg: validate {name} v{number}", body="\n".join(body),
                       trailers=operations.trailers("validate", name, number, validated=scored.data,
                                                     passed=str(passed).lower()))
    result.version = new
    cs.result = result
    return operations.finish(cs, state, model, updated)


# -- helpers ---------------------------------------------------------------------------------------

def _read_csv(pd, path: Path):
    try:
        return pd.read_csv(path)
    except Exception as exc:
        raise UsageError(f"{path} is not a readable CSV file: {' '.join(str(exc).split())}") from None


def _read_parquet(pd, path: Path):
    try:
        return pd.read_parquet(path)
    except ImportError:
        raise UsageError(f"reading {path} needs pyarrow (pip install pyarrow); or pass the holdout as a CSV") from None
    except Exception as exc:
        raise UsageError(f"{path} is not a readable Parquet file: {' '.join(str(exc).split())}") from None


NUMERIC_TYPES = ("int", "float", "double", "long", "bool")


def _check_numeric(pd, frame, inputs: list, path: Path) -> None:
    """A column the signature declares numeric must read as numbers (a stray text value makes it text)."""
    for col in inputs:
        name, kind = col.get("name"), str(col.get("type", ""))
        if not kind.startswith(NUMERIC_TYPES) or pd.api.types.is_numeric_dtype(frame[name]):
            continue
        bad = pd.to_numeric(frame[name], errors="coerce").isna() & frame[name].notna()
        example = frame[name][bad].iloc[0] if bad.any() else frame[name].iloc[0]
        raise UsageError(f"{path}: column {name!r} must hold numbers ({kind} in the model's signature) "
                         f"but holds {example!r}; fix the data or pass another --data file")


def _load(root: Path, v: ModelVersion):
    from .loading import load  # verifies the artifact's hash before deserialising it; pulls it if absent

    return load(root, f"{v.model}/{v.version}")


def _shown(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
