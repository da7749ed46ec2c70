"""MLflow's search grammar over a registry: `name LIKE 'churn%' and tags.team = 'growth'`.

The same filter and order-by strings MLflow's `search_registered_models` and `search_model_versions`
take, plus `metrics.*` and `params.*` (reg keeps both in the manifest). Comparisons are joined by AND
only, as in MLflow; LIKE is case-sensitive and ILIKE is not, with `%` and `_` as in SQL. A comparison
on a tag, metric or param a version does not have is false (MLflow joins those tables), except
`IS NULL`. No MLflow import: this is on `reg list`'s read path.

    grammar.py   parsing filters and order-by clauses (`parse_filter`, `parse_order_by`, `FilterError`)
    matching.py  the value of a key, comparing and sorting as MLflow does
"""
from __future__ import annotations

from .grammar import (MODEL_ATTRIBUTES, ORDER_KEYS_MODELS, ORDER_KEYS_VERSIONS, VERSION_ATTRIBUTES, Comparison,
                      FilterError, parse_filter, parse_order_by)
from .matching import PROMPT_TAG, matches, millis, model_value, sort, version_value


def search_versions(state, filter_string: str | None = None, order_by=None, *, model: str | None = None,
                    include_deleted: bool = False) -> list:
    """Versions matching an MLflow filter, in MLflow's default order (name, then newest version first)."""
    comparisons = parse_filter(filter_string)
    order = parse_order_by(order_by, ORDER_KEYS_VERSIONS)
    names = [model] if model else _names_for(state, comparisons)
    found = []
    for name in names:
        m = state.model(name)
        for v in m.versions.values():
            if (include_deleted or not v.deleted) and matches(v, comparisons, version_value):
                found.append(v)
    found.sort(key=lambda v: (v.model, -v.version))
    return sort(found, order, version_value)


def _names_for(state, comparisons: list[Comparison]) -> list[str]:
    """Only the models an equality on `name` can match, so `name = 'churn'` reads one model."""
    names = state.model_names()
    for c in comparisons:
        if c.kind == "attribute" and c.key == "name" and c.op == "=":
            names = [n for n in names if n == c.value]
        elif c.kind == "attribute" and c.key == "name" and c.op == "IN":
            names = [n for n in names if n in c.value]
    return names


def search_models(state, filter_string: str | None = None, order_by=None) -> list:
    """Registered models matching an MLflow filter (name, tags.*, description; metrics.* of the latest)."""
    comparisons = parse_filter(filter_string, MODEL_ATTRIBUTES)
    order = parse_order_by(order_by, ORDER_KEYS_MODELS | MODEL_ATTRIBUTES)
    models = [state.model(n) for n in _names_for(state, comparisons)]
    found = [m for m in models if matches(m, comparisons, model_value)]
    return sort(found, order, model_value)


__all__ = ["search_versions", "search_models", "parse_filter", "parse_order_by", "FilterError", "Comparison",
           "matches", "sort", "millis", "version_value", "model_value", "PROMPT_TAG", "VERSION_ATTRIBUTES",
           "MODEL_ATTRIBUTES", "ORDER_KEYS_VERSIONS", "ORDER_KEYS_MODELS"]
