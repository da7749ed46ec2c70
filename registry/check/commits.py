"""The rules every commit since a base must keep, judged commit by commit.

Immutable fields never change; no version is removed, renumbered or revived; each stage change passes
the target stage's gates as they stood at the base, was made by a commit author the permissions allow,
and has a reason where one is required. A commit that says `Reg-Forced:` (written by
`reg promote --force --reason`) may pass failed gates, never a permission; it is reported as a warning.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from .. import git, governance, history, policy, rules, signers
from ..errors import CorruptState, RegistryError
from ..git import LogEntry
from ..manifest import version_from_dict
from ..parsecache import ParseCache
from ..state import ModelState, RegistryState
from .report import Move, Problem, Report
from .tree import blob, prefetch, read_state

_REVERT_LINE = re.compile(r"^This reverts commit [0-9a-f]{7,40}", re.M)


class Range:
    """The revisions one check reads, each read once, all through one parse cache."""

    def __init__(self, root: Path, base: str | None, cache: ParseCache):
        self.root = root
        self.cache = cache
        self._states: dict[str, RegistryState] = {}
        self.base_state = self.state(base) if base else None

    def state(self, rev: str) -> RegistryState:
        if rev not in self._states:
            st = read_state(self.root, rev, self.cache)
            prefetch(st, ("/manifest.yaml", "/model.yaml"))
            self._states[rev] = st
        return self._states[rev]

    def model_at(self, rev: str | None, name: str) -> ModelState | None:
        if rev is None:
            return None
        try:
            st = self.state(rev)
            return st.model(name) if st.has_model(name) else None
        except RegistryError:
            return None

    def gate_card(self, name: str, parent: str | None):
        """The card whose gates and permissions judge a change: as it stood at the base (else the parent)."""
        if self.base_state is not None:
            try:
                if self.base_state.has_model(name):
                    return self.base_state.model(name).card
            except RegistryError:
                pass
        m = self.model_at(parent, name)
        return m.card if m else None


def reason_of(message: str) -> str | None:
    """The reason a commit gives (its trailer, else a `Reason:` line); reg's placeholder is no reason."""
    return rules.given_reason(history.reason_in(message))


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def field_change(name: str, old, new) -> str:
    """An immutable field's change as a person reads it: `metrics (roc_auc: 0.7 -> 0.9)`."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=str)
        parts = [f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
        return f"{name} ({'; '.join(parts[:3])}{'; ...' if len(parts) > 3 else ''})"
    return f"{name} ({_short(old)} -> {_short(new)})"


def check_range(root: Path, head: str, base: str | None, report: Report, *, exclude_all: bool = False,
                cache: ParseCache | None = None) -> Range:
    root = Path(root)
    rng = Range(root, base, cache or ParseCache(root))
    spec = [head, "--not", "--all"] if exclude_all else [f"{base}..{head}"]
    commits = git.log(root, spec, order="--topo-order", reverse=True)
    report.commits = len(commits)
    trust, sigs = _verify_signers(rng, base, commits)
    for c in commits:
        if len(c.parents) > 1:
            _check_merge(rng, c, report)  # its parents' commits are judged one by one
            continue
        _check_commit(rng, c, report)
    # Who may change the rules themselves, and stages as the base knows them (registry/governance.py).
    report.problems += [Problem(*found) for found in governance.judge(root, base, commits, rng.state, rng.cache)]
    _judge_signatures(rng, trust, sigs, commits, report, judge_tags=not exclude_all)
    return rng


def _verify_signers(rng: Range, base: str | None, commits: list[LogEntry]):
    """Where the base requires signing (registry/signers.py): each commit's signature, and its verified
    signer set on it first, so every rule after judges that identity (governance.actor), not the typed author."""
    start = base or (commits[0].parents[0] if commits and commits[0].parents else None)
    trust = signers.trust_at(rng.root, rng.state(start)) if start else None
    sigs = signers.verify_commits(rng.root, trust, [c.sha for c in commits]) if trust else {}
    for c in commits:
        c.signer = signers.verified_signer(sigs.get(c.sha))
    return trust, sigs


def _judge_signatures(rng: Range, trust, sigs, commits: list[LogEntry], report: Report, *, judge_tags: bool) -> None:
    """Unsigned or badly signed commits where required, and the registry tags on them (the hook judges the
    tags a push brings as ref updates instead: judge_tags False)."""
    unsigned, required = signers.judge_commits(rng.root, trust, commits, sigs, report.moves)
    report.problems += [Problem(*found) for found in unsigned]
    if trust is not None and judge_tags:
        tags = signers.tags_on(rng.root, {c.sha for c in commits})
        report.problems += [Problem(f"refs/tags/{name}", why) for name, why in
                            signers.judge_tags(rng.root, trust, tags, required)]


def _check_merge(rng: Range, c: LogEntry, report: Report) -> None:
    """A merge brings changes already judged in its parents; only a stage that no parent had is the merge's
    own move (made while resolving it), judged like any other. Immutable fields: see `ends.compare_ends`."""
    paths = git.merge_changed_paths(rng.root, c.sha, ["models"])
    if not any(rules.manifest_of(rel) for rel in paths):
        return  # the usual merge: nothing of its own
    head_state = rng.state(c.sha)
    s = head_state.settings
    moves = []
    for rel in paths:
        found = rules.manifest_of(rel)
        if not found or rel not in (head_state.tree or {}):
            continue
        try:
            new = blob(head_state, head_state.tree[rel], rel)
            olds = []
            for p in c.parents:
                st = rng.state(p)
                olds.append(blob(st, st.tree[rel], rel) if rel in (st.tree or {}) else None)
        except CorruptState:
            continue
        if not isinstance(new, dict) or new.get("deleted"):
            continue
        new_stage = rules.stage_of(new, s.initial_stage)
        if any(old is not None and rules.stage_of(old, s.initial_stage) == new_stage for old in olds):
            continue
        old = olds[0]
        if old is None or rules.stage_of(old, s.initial_stage) == new_stage:
            continue
        moves.append((*found, old, new, rules.stage_of(old, s.initial_stage), new_stage))
    entered: dict[str, set[str]] = {}
    for name, _, _, _, _, new_stage in moves:
        entered.setdefault(name, set()).add(new_stage)
    for name, number, old, new, old_stage, new_stage in moves:
        if rules.is_displacement(old_stage, new_stage, entered.get(name, set()), s):
            continue  # displaced by the version this merge moved in, which is judged
        _judge_move(rng, c, report, name, number, old, new, old_stage, new_stage)


def _check_commit(rng: Range, c: LogEntry, report: Report) -> None:
    root = rng.root
    by = f"in {c.sha[:8]} by {c.email}"
    parent = c.parents[0] if c.parents else None
    head_state = rng.state(c.sha)
    s = head_state.settings
    touched: dict[tuple[str, int], tuple[dict | None, dict | None]] = {}
    for ch in git.tree_changes(root, c.sha, parent, ["models"]):
        key = rules.manifest_of(ch.path)
        if key is None:
            continue
        try:
            touched[key] = (blob(head_state, ch.old, ch.path) if ch.old else None,
                            blob(head_state, ch.new, ch.path) if ch.new else None)
        except CorruptState:
            continue  # the tree check names an unparseable manifest
    entered: dict[str, set[str]] = {}
    moves = []
    for (name, number), (old, new) in sorted(touched.items()):
        rel = f"models/{name}/{number}/manifest.yaml"
        if old is not None and new is None:
            report.problems.append(Problem(rel, f"was removed {by}: versions are never removed or renumbered "
                                                "(`reg delete` keeps the manifest as a tombstone)", c.sha))
            continue
        if new is None:
            continue
        if old is not None:
            for f in rules.immutable_changes(old, new):
                report.problems.append(Problem(rel, f"immutable field {field_change(f, old.get(f), new.get(f))} "
                                                    f"changed {by}; register a new version instead", c.sha))
            if rules.revived(old, new):
                report.problems.append(Problem(rel, f"{name} v{number} was deleted and is revived {by}; a "
                                                    "tombstone stays deleted (register the artifact again)", c.sha))
                continue
        else:
            before = rng.model_at(parent, name)
            top = max(before.versions, default=0) if before else 0
            if number <= top:
                report.problems.append(Problem(rel, f"{name} v{number} is added {by}, but v{top} already existed "
                                                    "there; numbers are never reused", c.sha))
            report.new_versions.append((name, number))
        old_stage = rules.stage_of(old, s.initial_stage)
        new_stage = rules.stage_of(new, s.initial_stage)
        if old_stage != new_stage and not new.get("deleted"):
            moves.append((name, number, old, new, old_stage, new_stage))
            entered.setdefault(name, set()).add(new_stage)
    for name, number, old, new, old_stage, new_stage in moves:
        # Archiving the version an exclusive stage's newcomer displaced is part of that promotion.
        if rules.is_displacement(old_stage, new_stage, entered.get(name, set()), s):
            continue
        _judge_move(rng, c, report, name, number, old, new, old_stage, new_stage)


def _judge_move(rng: Range, c: LogEntry, report: Report, name, number, old, new, old_stage, new_stage) -> None:
    parent = c.parents[0] if c.parents else None
    rel = f"models/{name}/{number}/manifest.yaml"
    by = f"in {c.sha[:8]} by {c.email}"
    reason = reason_of(c.message)
    said = history.trailers(c.message)
    forced = bool(said.get("Reg-Forced"))
    # `reg rollback` or a plain `git revert` puts back a state that was accepted: judge who, not the gates.
    # Only a real one: the version held that stage before (anyone can type "This reverts commit").
    says_rollback = said.get("Reg-Action") == "rollback" or _REVERT_LINE.search(c.message) is not None
    rollback = says_rollback and parent is not None and history.held_stage(
        rng.root, rel, new_stage, rng.state(parent).cache, rev=parent,
        initial_stage=rng.state(parent).settings.initial_stage)
    before = rng.model_at(parent, name)
    card = rng.gate_card(name, parent)
    candidate = version_from_dict(new, rel)  # with any validation recorded in this same commit
    candidate.stage = old_stage
    model = ModelState(name, card, dict(before.versions) if before else {})
    state = rng.state(parent) if parent else rng.state(c.sha)
    move = Move(name, number, old_stage, new_stage, c.sha, governance.actor(c), reason, forced=forced)
    report.moves.append(move)
    try:
        if rollback:
            perms = policy.parse_permissions(name, card)
            move.checks = [policy.allowed(name, card, new_stage, governance.actor(c))] if perms is not None else []
        else:
            move.checks = policy.gate_checks(state, model, candidate, new_stage, reason=reason, actor=governance.actor(c))
    except CorruptState as exc:
        report.problems.append(Problem(f"models/{name}/model.yaml", str(exc).removeprefix(f"models/{name}/model.yaml: "),
                                       c.sha))
        return
    what = f"{name} v{number} moved {old_stage} -> {new_stage} {by}"
    for chk in move.checks:
        if chk.passed:
            continue
        if chk.name == "permission":
            report.problems.append(Problem(rel, f"{what}: not allowed: {chk.detail}", c.sha))
        elif forced and reason:
            report.warnings.append(f"{what}: gate {chk.name} forced ({chk.detail}); reason: {reason}")
        else:
            report.problems.append(Problem(rel, f"{what}: gate {chk.name} failed: {chk.detail}", c.sha))
