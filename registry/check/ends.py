"""Comparing the two ends of a range: what the commit-by-commit rules cannot see (merges, manifests that
did not parse, a force push with no commits), and the metrics comparison a review shows."""
from __future__ import annotations

from ..errors import CorruptState, RegistryError
from .. import rules
from .commits import Range, field_change
from .report import Problem, Report
from .tree import blob


def compare_ends(rng: Range, report: Report, before: str, head: str) -> None:
    """Every version `before` had is still there at `head`, with the same immutable fields, and not revived."""
    old_state, new_state = rng.state(before), rng.state(head)
    old_tree, new_tree = old_state.tree or {}, new_state.tree or {}
    already = {p.where for p in report.problems}
    for rel, sha in sorted(old_tree.items()):
        if not rules.manifest_of(rel) or rel in already or new_tree.get(rel) == sha:
            continue
        try:
            old = blob(old_state, sha, rel)
        except CorruptState:
            continue
        if not isinstance(old, dict):
            continue
        if rel not in new_tree:
            report.problems.append(Problem(rel, f"was there at {before[:8]} and is gone at {head[:8]}: versions are "
                                                "never removed or renumbered (`reg delete` keeps the manifest as a "
                                                "tombstone)"))
            continue
        try:
            new = blob(new_state, new_tree[rel], rel)
        except CorruptState:
            continue  # the tree check names it
        if not isinstance(new, dict):
            continue
        for f in rules.immutable_changes(old, new):
            report.problems.append(Problem(rel, f"immutable field {field_change(f, old.get(f), new.get(f))} "
                                                f"changed between {before[:8]} and {head[:8]} (in a merge or "
                                                "through a commit that did not parse); register a new version "
                                                "instead"))
        if rules.revived(old, new):
            report.problems.append(Problem(rel, f"was deleted at {before[:8]} and is revived at {head[:8]}; a "
                                                "tombstone stays deleted (register the artifact again)"))


def comparisons(rng: Range, report: Report, head: str, base: str | None) -> None:
    """For each model the range changed: its new or moved versions beside the version in the target stage
    (production, else the first exclusive stage) at the base."""
    head_state = rng.state(head)
    base_state = rng.state(base) if base else None
    s = head_state.settings
    target = "production" if "production" in s.stages else (s.exclusive_stages or s.stages[-2:-1] or [s.stages[-1]])[0]
    names = sorted({m.model for m in report.moves} | {n for n, _ in report.new_versions})
    for name in names:
        try:
            now = head_state.model(name)
        except RegistryError:
            continue
        numbers = sorted({m.version for m in report.moves if m.model == name and m.to_stage != s.archive_stage}
                         | {n for m, n in report.new_versions if m == name})
        current = None
        if base_state is not None:
            try:
                if base_state.has_model(name):
                    current = base_state.model(name).stage_holder(target)
            except RegistryError:
                current = None
        report.comparisons[name] = {"stage": target, "current": current,
                                    "candidates": [now.versions[n] for n in numbers if n in now.versions]}
