"""`reg validate`: re-score a version on a holdout set, record it, and promote to staging if the gate passes.

Scoring happens before the change (it loads LightGBM and scikit-learn, and needs no lock); the record
of the validation and the stage change are then one change set, so one commit: a `git revert` of it
undoes both. A version already past the initial stage is never moved by validation, only recorded.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import artifacts, operations, policy, rules
from .changes import ChangeSet, Tag, stage_tag_number
from .errors import UsageError
from .manifest import ModelVersion
from .state import RegistryState

TARGET_STAGE = "staging"
DEFAULT_THRESHOLD = 0.5
TASKS = ("classification", "regression")
CLASSIFICATION_METRICS = ("roc_auc", "f1", "log_loss", "precision", "recall", "accuracy", "brier")
REGRESSION_METRICS = ("rmse", "mae", "rmspe", "mape", "r2")
HEADLINE = {"classification": ("roc_auc", "f1", "log_loss"), "regression": ("rmspe", "rmse", "r2")}
CUSTOM_RE = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")


@dataclass
class Spec:
    """What to score on: model.yaml's `validation:` with --data/--target/--task over it."""
    data: Path
    target: str
    task: str = "classification"
    metrics: list = field(default_factory=list)  # names to report (built-in or module:function); [] = all built-in
    threshold: float = DEFAULT_THRESHOLD


@dataclass
class Scored:
    data: str          # the holdout as given (relative to the registry when inside it)
    data_md5: str
    target: str
    rows: int
    metrics: dict
    threshold: float = DEFAULT_THRESHOLD
    task: str = "classification"


@dataclass
class Validation:
    version: ModelVersion
    scored: Scored
    checks: list = field(default_factory=list)
    passed: bool = False
    promoted: bool = False
    stage: str = ""      # the stage the version is in afterwards
    why_not: str = ""    # when not promoted: why
    gate: bool = True    # whether model.yaml has a gate for the stage (no gate: never promoted)


def _settings(state: RegistryState, name: str) -> dict:
    card = state.model(name).card
    spec = (card.raw.get("validation") if card is not None else None) or {}
    if not isinstance(spec, dict):
        raise UsageError(f"models/{name}/model.yaml: 'validation' must be a mapping such as "
                         "{task: regression, data: data/holdout.csv, target: sales, metrics: [rmspe, rmse]}")
    return spec


def spec_of(state: RegistryState, name: str, data: str | Path | None = None, target: str | None = None,
            task: str | None = None) -> Spec:
    """--data/--target/--task, else model.yaml's `validation: {task, data, target, metrics, threshold}`."""
    raw = _settings(state, name)
    path, column = holdout_spec(state, name, data, target)
    task = str(task or raw.get("task") or "classification").lower()
    if task not in TASKS:
        raise UsageError(f"models/{name}/model.yaml: validation.task must be classification or regression "
                         f"(found {task!r})")
    metrics = raw.get("metrics") or []
    metrics = [metrics] if isinstance(metrics, str) else metrics
    builtin = CLASSIFICATION_METRICS if task == "classification" else REGRESSION_METRICS
    if not isinstance(metrics, list):
        raise UsageError(f"models/{name}/model.yaml: validation.metrics must be a list such as "
                         f"[{', '.join(builtin[:3])}, my_metrics:score]")
    for m in metrics:
        if not isinstance(m, str) or (m not in builtin and not CUSTOM_RE.match(m)):
            raise UsageError(f"models/{name}/model.yaml: validation.metrics has {m!r}, which is neither a "
                             f"{task} metric ({', '.join(builtin)}) nor module:function")
    recorded: dict = {}
    for m in metrics:  # a custom metric is recorded under its function's name
        recorded.setdefault(m.split(":", 1)[-1], []).append(m)
    for key, given in recorded.items():
        if len(given) > 1:
            raise UsageError(f"models/{name}/model.yaml: validation.metrics records {key!r} twice "
                             f"({', '.join(given)}); rename the custom function or list the metric once")
    return Spec(path, column, task, [str(m) for m in metrics], threshold_of(state, name))


def holdout_spec(state: RegistryState, name: str, data: str | Path | None, target: str | None) -> tuple[Path, str]:
    """The holdout file and target column: --data/--target, else model.yaml's `validation:`."""
    spec = _settings(state, name)
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
    spec = _settings(state, name)
    value = spec.get("threshold", DEFAULT_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise UsageError(f"models/{name}/model.yaml: validation.threshold must be a number between 0 and 1 "
                         f"such as 0.5 (found {value!r})")
    return float(value)


def score(root: Path, v: ModelVersion, spec: Spec) -> Scored:
    """Predict with version `v` on the holdout and compute the task's metrics (and the custom ones)."""
    try:
        import numpy as np
        import pandas as pd
        import sklearn.metrics  # noqa: F401  (the metrics need it; say so before the model is loaded)
    except ImportError as exc:
        raise UsageError(f"reg validate needs pandas, numpy and scikit-learn ({exc.name or exc} is not installed): "
                         "install the ml extras with pip install -e '.[ml]' in the reg checkout") from None

    data, target = spec.data, spec.target
    custom = {m: load_metric(root, m) for m in spec.metrics if CUSTOM_RE.match(m)}
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
    if spec.task == "classification":
        labels = set(np.unique(y).tolist())
        if not labels <= {0, 1, True, False} or len(labels) < 2:
            raise UsageError(f"target column {target!r} in {data} must hold both classes as 0/1 "
                             f"(found {sorted(labels)[:5]}); for a numeric target set validation.task: regression")
        y = y.astype(int)
    else:
        y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype="float64")
        if np.isnan(y).any():
            raise UsageError(f"target column {target!r} in {data} must hold numbers for a regression (a value is "
                             "empty or text); fix the data or pass another --data file")
    model = _load(root, v)
    try:
        pred = np.asarray(model.predict(frame.drop(columns=[target])), dtype="float64").reshape(-1)
    except (ValueError, TypeError, KeyError) as exc:  # data the model cannot take; a one-line reason
        reason = " ".join(str(exc).split())
        raise UsageError(f"{v.model} v{v.version} could not score {data}: {reason}") from None
    if len(pred) != len(y):
        raise UsageError(f"{v.model} v{v.version} gave {len(pred)} predictions for {len(y)} rows of {data}; "
                         "validate scores one prediction per row")
    if spec.task == "classification":
        values = metrics(y, pred, spec.threshold)
    else:
        values = regression_metrics(y, pred)
    if spec.metrics:
        values = {k: values[k] for k in spec.metrics if k in values}
    for name, fn in custom.items():
        values[name.split(":", 1)[1]] = _custom_value(name, fn, y, pred)
    return Scored(data=_shown(root, data), data_md5=artifacts.file_md5(data), target=target, rows=int(len(y)),
                  metrics=values, threshold=spec.threshold, task=spec.task)


def metrics(y, prob, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """Classification on a positive-class probability; log_loss exactly as scikit-learn computes it."""
    from sklearn.metrics import (accuracy_score, brier_score_loss, f1_score, log_loss, precision_score,
                                 recall_score, roc_auc_score)

    pred = (prob >= threshold).astype(int)
    values = {
        "roc_auc": roc_auc_score(y, prob), "f1": f1_score(y, pred),
        "log_loss": log_loss(y, prob, labels=[0, 1]),
        "precision": precision_score(y, pred, zero_division=0), "recall": recall_score(y, pred),
        "accuracy": accuracy_score(y, pred), "brier": brier_score_loss(y, prob),
    }
    return {k: round(float(x), 4) for k, x in values.items()}


def regression_metrics(y, pred) -> dict:
    """rmse, mae, r2 (scikit-learn) and the percentage errors rmspe and mape, which leave out rows whose
    target is zero (a zero sale has no percentage error; the Rossmann metric skips them the same way)."""
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    nonzero = y != 0
    pct = (y[nonzero] - pred[nonzero]) / y[nonzero]
    values = {"rmse": float(np.sqrt(mean_squared_error(y, pred))), "mae": mean_absolute_error(y, pred),
              "rmspe": float(np.sqrt(np.mean(pct ** 2))) if nonzero.any() else float("nan"),
              "mape": float(np.mean(np.abs(pct))) if nonzero.any() else float("nan"),
              "r2": r2_score(y, pred)}
    return {k: round(float(x), 4) for k, x in values.items() if not np.isnan(x)}


def load_metric(root: Path, ref: str):
    """`module:function` from the registry repository's own files (`pipelines/sales/metrics.py` is
    `pipelines.sales.metrics:rmspe`): never from site-packages, never from outside the repository."""
    import importlib.util

    module, _, func = ref.partition(":")
    base = root.resolve() / Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            break
    else:
        raise UsageError(f"custom metric {ref}: no {Path(*module.split('.'))}.py in the registry repository; "
                         "give module:function with the module's path from the repository root, dotted")
    real = path.resolve()
    if root.resolve() not in real.parents:
        raise UsageError(f"custom metric {ref}: {path} leads outside the registry repository; keep it inside")
    name = f"reg_metric_{abs(hash(str(real)))}"
    try:
        spec = importlib.util.spec_from_file_location(name, real)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    except Exception as exc:  # the user's own code: one line with its error
        raise UsageError(f"custom metric {ref}: importing {path.relative_to(root.resolve())} failed: "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise UsageError(f"custom metric {ref}: {module} has no function {func}")
    return fn


def _custom_value(ref: str, fn, y, pred) -> float:
    try:
        value = fn(y, pred)
    except Exception as exc:
        raise UsageError(f"custom metric {ref} failed: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"custom metric {ref} returned {value!r}; it must return a number") from None
    if value != value:  # NaN
        raise UsageError(f"custom metric {ref} returned NaN; it must return a number")
    return round(value, 4)


def build(state: RegistryState, name: str, number: int, scored: Scored) -> ChangeSet:
    """The one change: append the validation record and, when the staging gate passes, move to staging.
    Fail closed: without a gate for the stage, the scores are recorded and nothing is promoted."""
    s = state.settings
    model = state.model(name)
    v = operations.live_version(state, name, number, "validated")
    who = operations.actor(state.root)
    stage = TARGET_STAGE if TARGET_STAGE in s.stages else s.stages[1]
    gate = policy.gates_for(model, stage, s.stages)
    has_gate = gate is not None and gate != policy.Gate()  # `staging: {}` checks nothing: no gate either
    shown = [k for k in HEADLINE[scored.task] if k in scored.metrics] or list(scored.metrics)[:3]
    summary = ", ".join(f"{k} {scored.metrics[k]}" for k in shown)
    reason = f"validated: {summary}"  # what the promotion records, so a gate's require_reason is met as reg check sees it
    checks = policy.gate_checks(state, model, v, stage, reason=reason, actor=who, metrics=scored.metrics)
    passed = has_gate and all(c.passed for c in checks)
    promote = passed and v.stage == s.initial_stage
    result = Validation(version=v, scored=scored, checks=checks, passed=passed, promoted=promote,
                        stage=stage if promote else v.stage, gate=has_gate)
    if not has_gate:
        example = 'rmspe: "< 0.10"' if scored.task == "regression" else 'roc_auc: ">= 0.80"'
        result.why_not = (f"models/{name}/model.yaml has no {stage} gate, so validation does not promote; add "
                          f"one, e.g. gates: {{{stage}: {{metrics: {{{example}}}}}}}")
    elif not passed:
        failed = [c for c in checks if not c.passed]
        result.why_not = f"the {stage} gate failed: " + "; ".join(f"{c.name} ({c.detail})" for c in failed)
    elif not promote:
        result.why_not = (f"v{number} is already in {v.stage}; validation only promotes a version in "
                          f"{s.initial_stage}, and never moves one back")
    record = {"at": operations.now(), "by": who, "task": scored.task, "data": scored.data,
              "data_md5": scored.data_md5, "target": scored.target, "rows": scored.rows,
              **({"threshold": scored.threshold} if scored.task == "classification" else {}),
              "metrics": dict(scored.metrics),
              "gate": {"stage": stage, "passed": passed,
                       "checks": [f"{'ok' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in checks]},
              "promoted": promote}
    if not has_gate:
        record["gate"]["missing"] = True
    new = replace(v, validations=list(v.validations) + [record])
    updated = {number: new}
    body = [f"Validated on {scored.data} ({scored.rows} rows): {summary}"]
    body += [f"  {line}" for line in record["gate"]["checks"]] or [f"  no {stage} gate in models/{name}/model.yaml"]
    if promote:
        new.stage = stage
        archived = []
        for brief in rules.displaced(model.brief, number, stage, s):
            other = model.versions[brief.version]
            updated[other.version] = replace(other, stage=s.archive_stage)
            archived.append(other.version)
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
