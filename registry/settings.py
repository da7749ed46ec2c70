"""Registry-wide settings from models/registry.yaml."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import yamlio
from .errors import CorruptState

SETTINGS_PATH = "models/registry.yaml"
DEFAULT_STAGES = ["none", "staging", "production", "archived"]


@dataclass
class Settings:
    stages: list[str] = field(default_factory=lambda: list(DEFAULT_STAGES))
    exclusive_stages: list[str] = field(default_factory=lambda: ["production"])
    archive_stage: str = "archived"
    remote: str | None = None
    push: bool = False
    git_remote: str = "origin"
    webhooks: list = field(default_factory=list)
    push_timeout: float = 60.0  # seconds a rejected push is replayed and retried before giving up
    # The guard (registry/governance.py, registry/refupdates.py), always read at the base of a change:
    admins: list[str] = field(default_factory=list)          # who may change registry.yaml, allowed_signers
    protected_branches: list[str] | None = None              # None: the server's default branch
    allowed_refs: list[str] = field(default_factory=list)    # refs outside refs/heads/, refs/tags/ to accept
    signing: Any = None  # signing.SigningPolicy (registry/signing.py): who must sign which changes
    raw: dict = field(default_factory=dict)

    @property
    def initial_stage(self) -> str:
        return self.stages[0]

    def pointer_stages(self) -> list[str]:
        """Stages that get a `<stage>.dvc` pointer: all but the initial and the archive stage."""
        return [s for s in self.stages if s not in (self.initial_stage, self.archive_stage)]


def from_dict(data: dict, where: str = SETTINGS_PATH) -> Settings:
    s = Settings(raw=data)
    stages = data.get("stages", s.stages)
    if not isinstance(stages, list) or not stages or not all(isinstance(x, str) for x in stages):
        raise CorruptState(f"{where}: 'stages' must be a list of names such as [none, staging, production, archived]")
    s.stages = [x.lower() for x in stages]
    s.exclusive_stages = [x.lower() for x in data.get("exclusive_stages", s.exclusive_stages) or []]
    s.archive_stage = str(data.get("archive_stage", s.archive_stage)).lower()
    for stage in s.exclusive_stages + [s.archive_stage]:
        if stage not in s.stages:
            raise CorruptState(f"{where}: stage {stage!r} is not one of stages {s.stages}")
    s.remote = data.get("remote")
    s.push = bool(data.get("push", False))
    s.git_remote = data.get("git_remote", "origin")
    s.webhooks = data.get("webhooks") or []
    timeout = data.get("push_timeout", s.push_timeout)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout <= 3600:
        raise CorruptState(f"{where}: 'push_timeout' must be a number of seconds from 0 to 3600, not {timeout!r}")
    s.push_timeout = float(timeout)
    s.admins = _patterns(data, "admins", where, "emails such as [ada@example.com]")
    if data.get("protected_branches") is not None:
        s.protected_branches = _patterns(data, "protected_branches", where, "branch names such as [main, 'release/*']")
    s.allowed_refs = _patterns(data, "allowed_refs", where, "ref patterns such as ['refs/notes/*']")
    from .signing import policy as signing_policy

    s.signing = signing_policy(data, where)
    bad = [r for r in s.allowed_refs if not r.startswith("refs/")]
    if bad:
        raise CorruptState(f"{where}: allowed_refs: {bad[0]!r} is not a full ref pattern such as 'refs/notes/*'")
    return s


def _patterns(data: dict, key: str, where: str, example: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise CorruptState(f"{where}: {key!r} must be a list of {example}")
    return [x.strip() for x in value]


def read(root: Path) -> Settings:
    path = root / SETTINGS_PATH
    if not path.exists():
        return Settings()
    return from_dict(yamlio.read(path, SETTINGS_PATH))


DEFAULT_TEXT = """\
# reg registry settings. Stage names are lower-case; promoting to an exclusive stage
# moves its previous holder to the archive stage in the same commit.
schema: 1
stages: [none, staging, production, archived]
exclusive_stages: [production]
archive_stage: archived
# DVC remote that `reg register` pushes artifacts to.
remote: {remote}
# Push each registry commit and its tags to this git remote (or pass --push).
push: false
git_remote: origin
# The server hook and `reg check` let only these people change this file and models/allowed_signers;
# with none listed, the author of the commit that created this file (the registry's initializer).
# admins: [you@example.com]
# Branches whose history is never rewritten or deleted (default: the server's default branch).
# protected_branches: [main]
# Registry commits and tags need a signature from a key in models/allowed_signers (README: "Signed promotions").
# signing: required            # or per stage: {{production: required}}
"""
