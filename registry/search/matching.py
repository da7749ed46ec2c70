"""Evaluating a parsed filter: the value of an attribute, tag, metric or param of a version or a model,
comparisons as MLflow's SQL makes them (LIKE, IN, IS NULL, numbers), and its multi-key sort."""
from __future__ import annotations

import datetime as dt
import re
from typing import Callable

from .grammar import Comparison


def _like(pattern: str, value: str, insensitive: bool) -> bool:
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.IGNORECASE | re.DOTALL if insensitive else re.DOTALL) is not None


def _compare(actual, op: str, value) -> bool:
    if op == "IS NULL":
        return actual is None
    if op == "IS NOT NULL":
        return actual is not None
    if actual is None:
        return False
    if op in ("IN", "NOT IN"):
        hit = str(actual) in {str(v) for v in value} or (
            isinstance(actual, (int, float)) and any(_num(v) == actual for v in value))
        return hit if op == "IN" else not hit
    if op in ("LIKE", "ILIKE"):
        return _like(str(value), str(actual), op == "ILIKE")
    if isinstance(value, float) or op in ("<", "<=", ">", ">="):
        a, b = _num(actual), _num(value)
        if a is None or b is None:
            return False
    else:
        a, b = str(actual), str(value)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _num(x):
    if isinstance(x, bool):
        return float(x)
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def millis(stamp: str | None) -> int | None:
    """`2026-11-25T19:10:32Z` as MLflow's milliseconds since the epoch."""
    if not stamp:
        return None
    try:
        when = dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return int(when.timestamp() * 1000)


def version_value(v, kind: str, key: str):
    """What a comparison reads from a version (a `manifest.ModelVersion`)."""
    if kind == "tags":
        return None if key not in v.tags else str(v.tags[key])
    if kind == "metrics":
        return v.metrics.get(key)
    if kind == "params":
        params = (v.lineage or {}).get("params") or {}
        return None if key not in params else str(params[key])
    lineage = v.lineage or {}
    return {
        "name": v.model,
        "version_number": v.version,
        "run_id": lineage.get("run_id"),
        "source_path": lineage.get("source") or lineage.get("source_repo"),
        "current_stage": v.stage, "stage": v.stage,
        "description": v.description,
        "created_by": v.created_by, "user_id": v.created_by,
        "creation_timestamp": millis(v.created_at),
        "last_updated_timestamp": millis(v.created_at),
        "aliases": ",".join(v.aliases),
        "format": (v.artifact or {}).get("format"),
    }.get(key)


def model_value(m, kind: str, key: str):
    """What a comparison reads from a model (a `state.ModelState`)."""
    card = m.card
    if kind == "tags":
        tags = card.tags if card else {}
        return None if key not in tags else str(tags[key])
    if kind in ("metrics", "params"):
        latest = m.latest()
        return version_value(latest, kind, key) if latest else None
    if key in ("creation_timestamp", "last_updated_timestamp"):
        stamps = [millis(v.created_at) for v in m.versions.values()]
        stamps = [s for s in stamps if s is not None]
        return (min if key == "creation_timestamp" else max)(stamps) if stamps else None
    return {"name": m.name, "description": card.description if card else "",
            "owners": ",".join(card.owners) if card else ""}.get(key)


PROMPT_TAG = "mlflow.prompt.is_prompt"


def matches(item, comparisons: list[Comparison], read: Callable) -> bool:
    return all(_compare(_read(item, c, read), c.op, c.value) for c in comparisons)


def _read(item, c: Comparison, read: Callable):
    value = read(item, c.kind, c.key)
    if value is None and c.kind == "tags" and c.key == PROMPT_TAG:
        return "false"  # MLflow's client adds `tags.`mlflow.prompt.is_prompt` != 'true'`: no model is a prompt
    return value


def sort(items: list, order: list[tuple[str, str, bool]], read: Callable) -> list:
    """Stable multi-key sort; items missing a key go last whatever the direction (as MLflow's SQL does)."""
    for kind, key, desc in reversed(order):
        present = [x for x in items if read(x, kind, key) is not None]
        missing = [x for x in items if read(x, kind, key) is None]

        def sort_key(x, kind=kind, key=key):
            val = read(x, kind, key)
            num = _num(val) if not isinstance(val, str) or kind != "tags" else None
            return (0, num, "") if num is not None else (1, 0.0, str(val))

        items = sorted(present, key=sort_key, reverse=desc) + missing
    return items
