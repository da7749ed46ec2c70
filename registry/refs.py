"""Names, version numbers, stages, aliases and refs: the one place that parses and validates them.

A ref names a version:
    churn              latest non-deleted version
    churn/7, churn/v7  version 7
    churn/production   the version in that stage (case-insensitive)
    churn@champion     the version holding that alias
    models:/churn/7, models:/churn/Production, models:/churn@champion   (MLflow forms)
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import UsageError

NAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
RESERVED_MODEL_NAMES = {"registry.yaml"}
RESERVED_ALIASES = {"latest", "model"}
MLFLOW_PREFIX = "models:/"


def check_name(name: str, what: str = "model name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name) or ".." in name or name.endswith((".", ".lock")):
        raise UsageError(
            f"invalid {what} {name!r}: use 1-64 characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit (no '/', '..', spaces or capitals)"
        )
    if what == "model name" and name in RESERVED_MODEL_NAMES:
        raise UsageError(f"{name!r} is reserved by the registry; choose another model name")
    return name


def is_number(text: str) -> bool:
    """Whether `text` is a whole number as reg writes one: ASCII digits only. What a pushed tag, trailer,
    folder or token says is read with this, never `str.isdigit()` alone, which takes `²` and `٧` (and then
    `int()` refuses the first with a ValueError, or reads the second as 7)."""
    return text.isascii() and text.isdigit()


def parse_version(value: str | int) -> int:
    text = str(value).strip()
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not is_number(digits) or int(digits) < 1:
        raise UsageError(f"invalid version {text!r}: a version is a positive whole number such as 7 (or v7)")
    return int(digits)


def is_version_text(value: str) -> bool:
    return is_number(value[1:] if value[:1] in ("v", "V") else value)


def normalize_stage(value: str, stages: list[str]) -> str:
    stage = str(value).strip().lower()
    if stage not in stages:
        raise UsageError(f"unknown stage {value!r}: the stages are {', '.join(stages)}")
    return stage


def check_alias(alias: str, stages: list[str]) -> str:
    if is_version_text(alias):
        raise UsageError(f"invalid alias {alias!r}: an alias cannot look like a version number")
    check_name(alias, "alias")
    if alias in stages:
        raise UsageError(f"invalid alias {alias!r}: it is a stage name; choose another name (e.g. champion)")
    if alias in RESERVED_ALIASES:
        raise UsageError(f"invalid alias {alias!r}: the name is reserved; choose another")
    return alias


def parse_tag_pairs(pairs: list[str] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"invalid tag {pair!r}: write tags as key=value")
        tags[key.strip()] = value.strip()
    return tags


def check_tags(tags) -> dict:
    """Tags from Python callers: a mapping of non-empty text keys to plain values, as `--tag k=v` gives."""
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        raise UsageError(f"tags must be a mapping such as {{'team': 'growth'}}, not {type(tags).__name__}")
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise UsageError(f"invalid tag key {key!r}: use a non-empty text key")
        if not isinstance(value, (str, int, float, bool)):
            raise UsageError(f"invalid tag {key!r}: its value must be text or a number, not {type(value).__name__}")
    return tags


def check_metrics(metrics) -> dict:
    """Metrics from Python callers: a mapping of names to numbers, as the CLI reads from a metrics file."""
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise UsageError(f"metrics must be a mapping such as {{'roc_auc': 0.84}}, not {type(metrics).__name__}")
    for key, value in metrics.items():
        if not isinstance(key, str) or not key.strip():
            raise UsageError(f"invalid metric name {key!r}: use a non-empty text name")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"invalid metric {key!r}: its value must be a number, not {value!r}")
    return metrics


@dataclass(frozen=True)
class Ref:
    model: str
    kind: str  # "latest" | "version" | "stage" | "alias"
    value: str | int | None = None

    def __str__(self) -> str:
        if self.kind == "latest":
            return self.model
        if self.kind == "alias":
            return f"{self.model}@{self.value}"
        return f"{self.model}/{self.value}"


def parse_ref(text: str, stages: list[str]) -> Ref:
    raw = str(text).strip()
    body = raw[len(MLFLOW_PREFIX):] if raw.startswith(MLFLOW_PREFIX) else raw
    if not body:
        raise UsageError("empty model reference: write churn, churn/7, churn/production or churn@champion")
    if "@" in body:
        model, _, alias = body.partition("@")
        check_name(model)
        if not alias:
            raise UsageError(f"invalid reference {raw!r}: an alias goes after '@', e.g. {model}@champion")
        return Ref(model, "alias", alias)
    if "/" in body:
        model, _, rest = body.partition("/")
        check_name(model)
        if not rest or "/" in rest:
            raise UsageError(f"invalid reference {raw!r}: write {model}/7, {model}/production or {model}@champion")
        if rest.lower() == "latest":
            return Ref(model, "latest")
        if is_version_text(rest) or rest.lstrip("-").isdigit():
            return Ref(model, "version", parse_version(rest))
        if rest.lower() in stages:
            return Ref(model, "stage", rest.lower())
        raise UsageError(
            f"invalid reference {raw!r}: {rest!r} is neither a version number nor a stage ({', '.join(stages)})"
        )
    check_name(body)
    return Ref(body, "latest")
