"""What the pages show, gathered once: the registry state, its history events grouped by model and
version, the commit the site is built from, and the forge to link to."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from .. import forge as forge_mod
from .. import git, history
from ..history import Event
from ..state import ModelState, RegistryState


def finite(x) -> bool:
    """A value a chart can place: a number, not a bool, NaN or infinity (a hand-edited manifest may hold any)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@dataclass
class ModelData:
    state: ModelState
    events: list[Event]  # newest first
    by_version: dict[int, list[Event]] = field(default_factory=dict)
    _holders: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.state.name

    # Asked once per version page: computed once, or a 1,000-version model costs a million steps.
    @cached_property
    def numbers(self) -> list[int]:
        return sorted(self.state.versions)

    @cached_property
    def position(self) -> dict[int, int]:
        return {n: i for i, n in enumerate(self.numbers)}

    def holder(self, stage: str | None):
        if stage is None:
            return None
        if stage not in self._holders:
            self._holders[stage] = self.state.stage_holder(stage)
        return self._holders[stage]

    def metric_names(self) -> list[str]:
        """Metrics with a finite number in at least one live version, in the order they first appear."""
        names: list[str] = []
        seen: set[str] = set()
        for v in self.state.live():
            for k, x in v.metrics.items():
                if k not in seen and finite(x):
                    seen.add(k)
                    names.append(k)
        return names

    def last_event(self) -> Event | None:
        return self.events[0] if self.events else None


@dataclass
class Site:
    state: RegistryState
    models: list[ModelData]
    commit: str | None  # the commit the pages describe (None: a repository with no commit yet)
    commit_time: str | None
    dirty: bool  # built from a working tree whose registry files differ from that commit
    forge: forge_mod.Forge | None

    @property
    def settings(self):
        return self.state.settings

    @property
    def top_stage(self) -> str | None:
        """The stage a version is compared against by default: the first exclusive stage (production)."""
        s = self.settings
        return s.exclusive_stages[0] if s.exclusive_stages else (s.pointer_stages() or [None])[-1]


def gather(state: RegistryState, events: list[Event] | None = None) -> Site:
    """Everything the pages need. `events`: the history (newest first) when the caller has it already."""
    root = state.root
    rev = state.rev or "HEAD"
    commit = git.rev_parse(root, rev)
    when = git.commit_time(root, commit) if commit else None
    if events is None:
        events = history.events(root, rev=commit, archive_stage=state.settings.archive_stage) if commit else []
    dirty = state.rev is None and commit is not None and bool(git.dirty_paths(root, ["models"], untracked=False))
    by_model: dict[str, list[Event]] = {}
    for ev in events:
        by_model.setdefault(ev.model, []).append(ev)
    models = []
    for m in state.models():
        evs = by_model.get(m.name, [])
        data = ModelData(m, evs)
        for ev in evs:
            if ev.version is not None:
                data.by_version.setdefault(ev.version, []).append(ev)
        models.append(data)
    return Site(state, models, commit, when, dirty, forge_mod.of_repo(root, state.settings.git_remote))
