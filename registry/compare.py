"""`reg compare churn 7 8`: two versions side by side: metrics with the difference, the params and data
hashes that changed, and the git commits that produced them. Reads manifests only (no DVC, no ML)."""
from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UsageError
from .manifest import ModelVersion
from .state import RegistryState


@dataclass
class Comparison:
    model: str
    a: ModelVersion
    b: ModelVersion
    metrics: list[tuple[str, object, object, float | None]] = field(default_factory=list)  # name, a, b, b - a
    params: list[tuple[str, object, object]] = field(default_factory=list)  # changed only
    data: list[tuple[str, object, object]] = field(default_factory=list)    # changed only
    git: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        side = lambda v: {"version": v.version, "stage": v.stage, "created_at": v.created_at,  # noqa: E731
                          "deleted": bool(v.deleted), "git_sha": v.lineage.get("git_sha"),
                          "git_dirty": v.lineage.get("git_dirty"),
                          "artifact_md5": v.md5}
        return {"model": self.model, "a": side(self.a), "b": side(self.b),
                "metrics": [{"name": n, "a": x, "b": y, "diff": d} for n, x, y, d in self.metrics],
                "params_changed": [{"name": n, "a": x, "b": y} for n, x, y in self.params],
                "data_changed": [{"path": n, "a": x, "b": y} for n, x, y in self.data]}


def _ref(name: str, which: str) -> str:
    which = str(which).strip()
    if not which:
        raise UsageError("give two versions to compare, e.g. reg compare churn 7 8")
    if which.startswith("@"):
        return f"{name}{which}"
    return f"{name}/{which.lstrip('v') if which[1:].isdigit() else which}"


def flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in (data or {}).items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def compare(state: RegistryState, name: str, first: str, second: str) -> Comparison:
    """`first` and `second`: version numbers (7, v7), stages (production) or aliases (@champion)."""
    a, b = state.resolve(_ref(name, first)), state.resolve(_ref(name, second))
    c = Comparison(name, a, b)
    names = list(a.metrics) + [k for k in b.metrics if k not in a.metrics]
    for n in names:
        x, y = a.metrics.get(n), b.metrics.get(n)
        c.metrics.append((n, x, y, round(y - x, 6) if _num(x) and _num(y) else None))
    pa, pb = flatten(a.lineage.get("params") or {}), flatten(b.lineage.get("params") or {})
    c.params = [(k, pa.get(k), pb.get(k)) for k in sorted(set(pa) | set(pb)) if pa.get(k) != pb.get(k)]
    da, db = a.lineage.get("data") or {}, b.lineage.get("data") or {}
    c.data = [(k, da.get(k), db.get(k)) for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)]
    c.git = {"a": a.lineage.get("git_sha"), "b": b.lineage.get("git_sha")}
    return c
