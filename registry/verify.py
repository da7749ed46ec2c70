"""`reg verify`: does the DVC remote hold every registered version's artifact, whole?

A commit never names data the remote lacks when reg made it (the artifact is pushed before the commit),
but a remote can still lose data afterwards (a bucket lifecycle rule, a hand `rm`, a registration made
with an older reg). This lists each version whose data is missing or damaged, with the fix.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import artifacts
from .state import read_state


@dataclass
class Finding:
    model: str
    version: int
    status: str  # "missing" or "damaged"
    detail: str
    fix: str

    def line(self) -> str:
        return f"{self.model} v{self.version}: {self.status} on the remote ({self.detail}); fix: {self.fix}"

    def to_dict(self) -> dict:
        return {"model": self.model, "version": self.version, "status": self.status, "detail": self.detail,
                "fix": self.fix}


@dataclass
class Report:
    checked: int
    remote: str | None
    findings: list[Finding]

    @property
    def ok(self) -> bool:
        return not self.findings


def verify(root: Path, model: str | None = None, *, repair: bool = False) -> Report:
    """`repair`: send what this machine's DVC cache has of each missing or damaged artifact again, then check."""
    state = read_state(root)
    models = [state.model(model)] if model else state.models()
    versions = [v for m in models for v in m.live() if v.md5]
    by_md5: dict[str, list] = {}
    for v in versions:
        by_md5.setdefault(v.md5, []).append(v)
    status = artifacts.remote_status(root, list(by_md5), state.settings.remote) if by_md5 else {}
    if repair:
        broken = [md5 for md5, (kind, _) in status.items() if kind != "ok"]
        if [md5 for md5 in broken if artifacts.repush(root, md5, state.settings.remote)]:
            status.update(artifacts.remote_status(root, broken, state.settings.remote))
    findings = []
    for md5, vs in by_md5.items():
        kind, detail = status.get(md5, ("ok", ""))
        if kind == "ok":
            continue
        for v in vs:
            pointer = f"models/{v.model}/{v.version}/model.dvc"
            if artifacts.in_cache(root, md5):
                fix = "this machine's DVC cache has it: run `reg verify --repair` here"
            else:
                fix = (f"run `reg verify --repair` on a machine whose DVC cache has it (its `{pointer}`), or retire "
                       f"the version (`reg delete {v.model} {v.version} --reason 'artifact lost'`)")
            findings.append(Finding(v.model, v.version, kind, detail, fix))
    findings.sort(key=lambda f: (f.model, f.version))
    return Report(len(versions), state.settings.remote, findings)
