"""Gates and permissions from models/<name>/model.yaml: judge one stage transition.

```yaml
owners: [ada@example.com]
permissions:                 # who may move a version into each stage (git user.email; "*" is anyone)
  production: [ada@example.com, grace@example.com]
  staging: ["*"]
gates:
  staging:
    metrics: {roc_auc: ">= 0.80", log_loss: "<= 0.45"}
  production:
    from: staging            # only a Staging version may enter Production
    beat_current: roc_auc    # at least as good as the version now in Production
    require_reason: true
```

A stage that `permissions` does not list is open to the model's owners (to anyone when there are no
owners); a model.yaml without `permissions` lets anyone move any stage. `--force --reason` overrides
failed gates, never a permission.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field

from .errors import CorruptState, PolicyError, UsageError
from .rules import given_reason

OPS = {">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
       "<": lambda a, b: a < b, "==": lambda a, b: a == b}
SPEC_RE = re.compile(r"^\s*(>=|<=|==|>|<)\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")
LOWER_IS_BETTER = re.compile(r"loss|error|err$|mse|mae|rmse|rmspe|mape|brier|latency", re.I)


@dataclass
class Check:
    name: str      # e.g. "roc_auc >= 0.80", "from: staging", "beat_current: roc_auc", "reason required", "permission"
    passed: bool
    detail: str    # e.g. "roc_auc = 0.7712, needs >= 0.80"


@dataclass
class Gate:
    metrics: dict[str, tuple[str, float, str]] = field(default_factory=dict)  # name -> (op, threshold, as written)
    from_stages: list[str] = field(default_factory=list)
    beat_current: dict[str, str] = field(default_factory=dict)  # metric -> "higher" | "lower"
    require_reason: bool = False


def _where(name: str) -> str:
    return f"models/{name}/model.yaml"


def _card(model):
    return getattr(model, "card", None)


def parse_gates(name: str, raw, stages: list[str]) -> dict[str, Gate]:
    """The `gates:` mapping of a model card, validated; a bad spec is a CorruptState naming the file."""
    where = _where(name)
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise CorruptState(f"{where}: 'gates' must map a stage to its rules, e.g. gates: {{staging: {{metrics: "
                           "{roc_auc: '>= 0.80'}}}")
    out = {}
    for stage, spec in raw.items():
        key = str(stage).lower()
        if key not in stages:
            raise CorruptState(f"{where}: gates.{stage}: unknown stage; the stages are {', '.join(stages)}")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise CorruptState(f"{where}: gates.{stage} must be a mapping of metrics, from, beat_current, "
                               "require_reason")
        unknown = set(spec) - {"metrics", "from", "beat_current", "require_reason"}
        if unknown:
            raise CorruptState(f"{where}: gates.{stage}: unknown key {sorted(unknown)[0]!r}; use metrics, from, "
                               "beat_current or require_reason")
        gate = Gate()
        metrics = spec.get("metrics") or {}
        if not isinstance(metrics, dict):
            raise CorruptState(f"{where}: gates.{stage}.metrics must map a metric to a comparison, e.g. "
                               "{roc_auc: '>= 0.80'}")
        for metric, text in metrics.items():
            m = SPEC_RE.match(str(text))
            if not m:
                raise CorruptState(f"{where}: gates.{stage}.metrics.{metric}: {text!r} is not a comparison such as "
                                   "'>= 0.80' or '<= 0.45' (quote it in YAML)")
            gate.metrics[str(metric)] = (m.group(1), float(m.group(2)), m.group(2))
        frm = spec.get("from")
        if frm is not None:
            frm = [frm] if isinstance(frm, str) else frm
            if not isinstance(frm, list) or not all(isinstance(s, str) for s in frm):
                raise CorruptState(f"{where}: gates.{stage}.from must be a stage or a list of stages")
            for s in frm:
                if s.lower() not in stages:
                    raise CorruptState(f"{where}: gates.{stage}.from: unknown stage {s!r}; the stages are "
                                       f"{', '.join(stages)}")
            gate.from_stages = [s.lower() for s in frm]
        beat = spec.get("beat_current")
        if beat is not None:
            if isinstance(beat, str):
                beat = {beat: None}
            elif isinstance(beat, list) and all(isinstance(b, str) for b in beat):
                beat = {b: None for b in beat}
            if not isinstance(beat, dict):
                raise CorruptState(f"{where}: gates.{stage}.beat_current must be a metric name, a list of them, "
                                   "or {metric: higher|lower}")
            for metric, direction in beat.items():
                if direction is None:
                    direction = "lower" if LOWER_IS_BETTER.search(str(metric)) else "higher"
                if direction not in ("higher", "lower"):
                    raise CorruptState(f"{where}: gates.{stage}.beat_current.{metric}: {direction!r} must be "
                                       "'higher' or 'lower' (which is better)")
                gate.beat_current[str(metric)] = direction
        rr = spec.get("require_reason", False)
        if not isinstance(rr, bool):
            raise CorruptState(f"{where}: gates.{stage}.require_reason must be true or false")
        gate.require_reason = rr
        out[key] = gate
    return out


def parse_permissions(name: str, card) -> dict[str, list[str]] | None:
    """stage -> allowed patterns, or None when the card declares no permissions."""
    where = _where(name)
    raw = card.permissions if card is not None else None
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise CorruptState(f"{where}: 'permissions' must map a stage to a list of emails, e.g. "
                           "{production: [ada@example.com], staging: ['*']}")
    out = {}
    for stage, who in raw.items():
        who = [who] if isinstance(who, str) else who
        if not isinstance(who, list) or not all(isinstance(w, str) for w in who):
            raise CorruptState(f"{where}: permissions.{stage} must be a list of emails (or '*')")
        out[str(stage).lower()] = who
    return out


def email_of(actor: str | None) -> str:
    """'Ada <ada@example.com>' or 'ada@example.com' -> 'ada@example.com'."""
    if not actor:
        return ""
    m = re.search(r"<([^>]*)>", actor)
    return (m.group(1) if m else actor).strip().lower()


def format_number(x) -> str:
    if isinstance(x, float):
        text = f"{x:.4f}".rstrip("0").rstrip(".")
        return text if text not in ("", "-0") else f"{x:.4g}"
    return str(x)


def _value(metrics: dict, name: str):
    v = (metrics or {}).get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v


def effective_metrics(version) -> dict:
    """What gates judge when no fresh scores are given: the registered metrics, overlaid with those of the
    latest `reg validate` record (the newer evidence, on the holdout set)."""
    out = dict(version.metrics or {})
    for record in reversed(getattr(version, "validations", None) or []):
        if isinstance(record, dict) and isinstance(record.get("metrics"), dict):
            out.update(record["metrics"])
            break
    return out


def allowed(model_name: str, card, stage: str, actor: str | None) -> Check:
    perms = parse_permissions(model_name, card)
    who = email_of(actor)
    if perms is None:
        return Check("permission", True, f"{model_name} declares no permissions")
    if stage in perms:
        patterns, source = perms[stage], f"permissions.{stage}"
    else:
        owners = list(card.owners or []) if card is not None else []
        if not owners:
            return Check("permission", True, f"{stage} is open to anyone (not listed in permissions, no owners)")
        patterns, source = owners, "owners"
    if who and any(fnmatch.fnmatchcase(who, p.strip().lower()) for p in patterns):
        return Check("permission", True, f"{who} is allowed by {source}")
    return Check("permission", False, f"{who or 'unknown user'} may not move {model_name} to {stage} "
                                      f"({source}: {', '.join(patterns) or 'nobody'})")


def gates_for(model, stage: str, stages: list[str]) -> Gate | None:
    card = _card(model)
    if card is None:
        return None
    return parse_gates(model.name, card.gates, stages).get(stage)


def gate_checks(state, model, version, stage, *, reason=None, actor=None, metrics=None) -> list[Check]:
    """Every check of moving `version` of `model` (a ModelState) to `stage`: the permission when `actor`
    is given, then the target stage's gates. `metrics` overrides version.metrics (e.g. fresh holdout scores)."""
    stages = state.settings.stages
    stage = str(stage).lower()
    checks: list[Check] = []
    if actor is not None and parse_permissions(model.name, _card(model)) is not None:
        checks.append(allowed(model.name, _card(model), stage, actor))
    gate = gates_for(model, stage, stages)
    if gate is None:
        return checks
    values = dict(effective_metrics(version) if metrics is None else metrics)
    label = f"v{version.version}"
    for name, (op, threshold, written) in gate.metrics.items():
        value = _value(values, name)
        if value is None:
            checks.append(Check(f"{name} {op} {written}", False, f"{label} has no {name}, needs {op} {written}"))
        else:
            checks.append(Check(f"{name} {op} {written}", OPS[op](value, threshold),
                                f"{name} = {format_number(value)}, needs {op} {written}"))
    if gate.from_stages:
        want = " or ".join(gate.from_stages)
        checks.append(Check(f"from: {', '.join(gate.from_stages)}", version.stage in gate.from_stages,
                            f"{label} is in {version.stage}, needs to be in {want}"))
    if gate.beat_current:
        current = [v for v in model.in_stage(stage) if v.version != version.version]
        holder = current[-1] if current else None
        for name, direction in gate.beat_current.items():
            cname = f"beat_current: {name}"
            if holder is None:
                checks.append(Check(cname, True, f"no version is in {stage} yet"))
                continue
            mine, theirs = _value(values, name), _value(effective_metrics(holder), name)
            if theirs is None:
                checks.append(Check(cname, True, f"v{holder.version} in {stage} has no {name}"))
            elif mine is None:
                checks.append(Check(cname, False, f"{label} has no {name}, needs {'>=' if direction == 'higher' else '<='} "
                                                  f"{format_number(theirs)} (v{holder.version} in {stage})"))
            else:
                op = ">=" if direction == "higher" else "<="
                checks.append(Check(cname, OPS[op](mine, theirs),
                                    f"{name} = {format_number(mine)}, needs {op} {format_number(theirs)} "
                                    f"(v{holder.version} in {stage})"))
    if gate.require_reason:
        given = given_reason(reason) is not None
        checks.append(Check("reason required", given, "a reason is given" if given else "no reason given; pass --reason TEXT"))
    return checks


def describe(checks: list[Check]) -> str:
    return "\n".join(f"  {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in checks)


def check_promotion(state, model, version, stage, *, reason, force, actor, metrics=None) -> list[Check]:
    """Judge moving `version` to `stage`. Raises PolicyError listing every check (value and threshold) when
    one fails, unless `force` (which needs a reason and never overrides a permission). Returns the checks
    so the caller can record an override."""
    stage = str(stage).lower()
    label = f"{model.name} v{version.version}"
    perm = allowed(model.name, _card(model), stage, actor) if actor is not None else None
    if perm is not None and not perm.passed:
        raise PolicyError(f"{perm.detail}; ask an owner, or change permissions in models/{model.name}/model.yaml "
                          "(--force does not override permissions)")
    checks = gate_checks(state, model, version, stage, reason=reason, actor=actor, metrics=metrics)
    failed = [c for c in checks if not c.passed]
    if force and not (reason and reason.strip()):
        raise UsageError("--force needs --reason TEXT saying why the gates are overridden (it is recorded)")
    if failed and not force:
        if all(c.name == "reason required" for c in failed):
            advice = "Pass --reason TEXT saying why."
        else:
            advice = "Fix the model, or override with --force --reason TEXT (recorded in the commit and manifest)."
        raise PolicyError(f"{label} cannot move to {stage}: {len(failed)} of {len(checks)} checks failed\n"
                          f"{describe(checks)}\n{advice}")
    return checks


def check_rollback(state, model, version, stage, *, actor) -> list[Check]:
    """A rollback restores a state that was already accepted, so only the permission is judged: gates such
    as `from: staging` or `beat_current` would refuse putting back the archived version they guarded."""
    if actor is None:
        return []
    perm = allowed(model.name, _card(model), str(stage).lower(), actor)
    if not perm.passed:
        raise PolicyError(f"{perm.detail}; ask an owner, or change permissions in models/{model.name}/model.yaml")
    return [perm]


def forced_summary(checks: list[Check]) -> str:
    """The Reg-Forced trailer: the failed checks an override passed."""
    return "; ".join(f"{c.name} ({c.detail})" for c in checks if not c.passed)
