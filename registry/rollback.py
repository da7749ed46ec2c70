"""`reg rollback`: the computed revert of the commit that last changed a model's stage, as a ChangeSet.

The revert is computed field by field rather than by `git revert`: every manifest the target commit
touched gets back the stage and aliases it had at that commit's parent, and the pointer files are
recomputed from the result, so the stage, the archived version, the aliases that moved with it and
the pointers all return together, while later edits of other fields (a description, a tag) stay.
When a later commit changed the stage or aliases of one of those versions again, the revert would
undo more (or less) than one change, so it changes nothing and names the commits in the way.

One later change is taken along instead of refused: an alias given to the version *after* it entered
the stage (`reg promote churn 3 production`, then `reg alias churn 3 champion`). Such an alias was
put on the version because it held the stage, so it follows the stage back to the version that holds
it again, in the same commit: a rollback never leaves `@champion` on the version it took out of
production while production serves another. With no version left in the stage, it refuses instead.

Rollbacks stack: a rollback (or a plain `git revert`) and the commit it undid are both skipped when
looking for the change to undo, so rolling back twice goes v3 -> v2 -> v1. To put a version back that
is not the previous one, `--to N` promotes N (archiving the holder), recorded as a rollback.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from . import git, history, operations, policy, refs, rules
from .changes import ChangeSet, Tag, stage_tag_number
from .errors import NotFound, PolicyError, StateError, UsageError
from .manifest import ModelVersion
from .state import RegistryState

STAGE_ACTIONS = ("register", "promote", "archive", "rollback")


@dataclass
class RolledBack:
    model: str
    stage: str
    replaced: int | None  # the version that held the stage before
    restored: int | None  # the version that holds it now
    reverts: str | None  # the commit undone (None for --to)
    aliases: list[str] = field(default_factory=list)  # aliases that followed the stage to `restored`

    def to_dict(self) -> dict:
        return asdict(self)


def _v(n: int | None) -> str:
    return f"v{n}" if n is not None else "(none)"


def _undone_prefix(sha: str, undone: set[str]) -> bool:
    return any(sha.startswith(u) for u in undone)


def find_target(root: Path, name: str, stage: str, archive_stage: str) -> tuple[history.Commit | None, bool]:
    """The newest commit that changed `stage` of `name` and has not been undone already, and whether
    any commit ever changed that stage."""
    commits = history.log(root, name)
    explained = history.explain(commits, root, archive_stage)
    undone: set[str] = set()
    seen = False
    for c in commits:
        changes_stage = any(
            ev.model == name and ev.action in STAGE_ACTIONS and stage in (ev.from_stage, ev.to_stage)
            and ev.from_stage != ev.to_stage and not (ev.action == "register" and ev.to_stage != stage)
            for ev in explained.get(c.sha, []))
        seen = seen or changes_stage
        if _undone_prefix(c.sha, undone):
            continue  # a commit already undone; whatever it undid is back in effect
        if c.reverts:
            undone.update(c.reverts)
            continue
        if changes_stage:
            return c, True
    return None, seen


def _in_the_way(root: Path, since: str, paths: list[str]) -> list[str]:
    out = git.run(["log", "--format=%h (%s)", f"{since}..HEAD", "--", *paths], root)
    return [line for line in out.splitlines() if line.strip()]


def rollback(state: RegistryState, name: str, stage: str = "production", *, reason: str | None = None,
             to: int | None = None) -> ChangeSet:
    s = state.settings
    stage = refs.normalize_stage(stage, s.stages)
    if stage in (s.initial_stage, s.archive_stage):
        # Every promotion leaves `none` and every archive enters `archived`: "the last change" of these
        # is some other stage's change, so the revert (and its message) would be about the wrong stage.
        held = ", ".join(x for x in s.stages if x not in (s.initial_stage, s.archive_stage))
        raise UsageError(f"cannot roll back {stage!r}: roll back a stage a version is promoted to ({held}), "
                         f"e.g. `reg rollback {name} --stage production`")
    model = state.model(name)
    holder = model.stage_holder(stage)
    reason = operations.one_line(reason or "").strip() or rules.NO_REASON
    if to is not None:
        return _rollback_to(state, name, stage, to, reason, holder)
    target, seen = find_target(state.root, name, stage, s.archive_stage)
    if target is None:
        if git.is_shallow(state.root):
            raise StateError(f"found no change of {name} {stage} to roll back, but {git.SHALLOW_HINT}")
        if seen:
            raise UsageError(f"every change of {name} {stage} is already rolled back; put a version back with "
                             f"`reg rollback {name} --stage {stage} --to N`")
        raise UsageError(f"{name} {stage} has never changed, so there is nothing to roll back; "
                         f"see `reg history {name}`")
    if not target.parents and git.is_shallow(state.root):
        # The commit's parent was not fetched: its manifests would read as new, and the revert as "to none".
        raise StateError(f"cannot roll back {target.sha[:8]} ({target.subject}): {git.SHALLOW_HINT}")
    blobs = history.Blobs(state.root)
    changes = [ch for ch in history.changes_of(state.root, target, name)
               if (rules.manifest_of(ch.path) or ("",))[0] == name]
    blobs.load({sha: ch.path for ch in changes for sha in (ch.old, ch.new) if sha})
    updated: dict[int, ModelVersion] = {}
    blocked: list[str] = []
    previous: list[int] = []  # versions in the stage before the target commit
    followers: dict[str, int] = {}  # aliases a version leaving the stage got after it entered it
    for ch in changes:
        number = rules.manifest_of(ch.path)[1]
        before, after = blobs.version(ch.old, ch.path), blobs.version(ch.new, ch.path)
        current = model.versions.get(number)
        if after is None:
            continue  # the commit removed this manifest; nothing of it to put back
        stage_was = before.stage if before else s.initial_stage
        aliases_was = set(before.aliases) if before else set()
        if stage_was == stage:
            previous.append(number)
        if current is None:
            blocked.append(ch.path)
            continue
        # A three-way merge of the two fields a stage change moves: undo exactly what the commit did.
        new_stage = current.stage
        if stage_was != after.stage:
            if current.stage != after.stage:
                blocked.append(ch.path)
                continue
            new_stage = stage_was
        added, removed = set(after.aliases) - aliases_was, aliases_was - set(after.aliases)
        if not added <= set(current.aliases) or removed & set(current.aliases):
            blocked.append(ch.path)
            continue
        new_aliases = sorted((set(current.aliases) - added) | removed)
        if after.stage == stage != new_stage:
            followers.update({a: number for a in set(current.aliases) - set(after.aliases)})
        if (new_stage, new_aliases) != (current.stage, sorted(current.aliases)):
            updated[number] = replace(current, stage=new_stage, aliases=new_aliases)
    short = target.sha[:8]
    if not blocked:
        merged = {**model.brief, **updated}
        for v in updated.values():
            if v.deleted and (v.aliases or v.stage not in (s.initial_stage, s.archive_stage)):
                raise StateError(f"cannot roll back {name} {stage}: v{v.version} was deleted since {short} "
                                 f"({target.subject}); promote another version with `reg promote`")
        for alias in {a for v in updated.values() for a in v.aliases}:
            if sum(alias in v.aliases for v in merged.values() if not v.deleted) > 1:
                blocked.extend(f"models/{name}/{n}/manifest.yaml" for n, v in model.brief.items()
                               if alias in v.aliases)
    if blocked:
        way = _in_the_way(state.root, target.sha, sorted(set(blocked)))
        hint = (f"run `reg rollback {name} --stage {stage} --to {max(previous)}` instead" if previous else
                f"run `reg rollback {name} --stage {stage} --to N` to put a chosen version back")
        raise StateError(f"cannot roll back {short} ({target.subject}) cleanly: later commits changed the same "
                         f"versions: {', '.join(way) or 'uncommitted edits'}; {hint}")
    if not updated:
        raise UsageError(f"{short} ({target.subject}) is already undone; nothing to roll back")
    merged = {**model.brief, **updated}
    live_in_stage = [v.version for _, v in sorted(merged.items()) if v.stage == stage and not v.deleted]
    restored = (updated.get(live_in_stage[-1]) or model.versions[live_in_stage[-1]]) if live_in_stage else None
    replaced = holder.version if holder else None
    moved = _follow(model, updated, followers, restored, f"{name} {stage}", short, target.subject)
    subject = f"Rolled back {name} {stage}: {_v(replaced)} -> {_v(restored.version if restored else None)}"
    body = f"Reason: {reason}\n\nThis reverts commit {target.sha} ({target.subject})."
    cs = ChangeSet(subject=subject, body=body, trailers=operations.trailers(
        "rollback", name, restored.version if restored else None,
        **{"from": model.versions[restored.version].stage if restored else None},
        to=stage, stage=stage, replaced=replaced, reverts=target.sha, reason=reason,
        alias=",".join(sorted(moved)) or None))
    if moved:
        cs.body += "\n\nAliases that followed the stage: " + ", ".join(
            f"@{a} v{n} -> v{restored.version}" for a, n in sorted(moved.items()))
    cs.tags.append(Tag(f"{name}#{stage}#{stage_tag_number(state.root, name)}", f"{subject}\n\n{reason}"))
    cs.result = RolledBack(name, stage, replaced, restored.version if restored else None, target.sha,
                           sorted(moved))
    return operations.finish(cs, state, model, updated)


def _follow(model, updated: dict[int, ModelVersion], followers: dict[str, int], restored: ModelVersion | None,
            what: str, short: str, subject: str) -> dict[str, int]:
    """Move each alias in `followers` (alias -> the version leaving the stage) to `restored`, in `updated`."""
    if not followers:
        return {}
    if restored is None:
        names = ", ".join(f"@{a} (v{n})" for a, n in sorted(followers.items()))
        raise StateError(f"cannot roll back {short} ({subject}): {names} moved to the version after it entered "
                         f"{what.split()[-1]}, and no version would hold {what.split()[-1]} to take "
                         f"{'them' if len(followers) > 1 else 'it'}; move or delete the alias first "
                         f"(`reg alias {model.name} N ALIAS` or `reg alias {model.name} --delete ALIAS`)")
    for alias, number in followers.items():
        old = updated.get(number, model.versions[number])
        updated[number] = replace(old, aliases=[a for a in old.aliases if a != alias])
    new = updated.get(restored.version, restored)
    updated[restored.version] = replace(new, aliases=sorted(set(new.aliases) | set(followers)))
    return dict(followers)


def _gained_since(root: Path, v: ModelVersion, commit: str) -> set[str]:
    """Aliases `v` has now that its manifest did not have at `commit` (none if it did not exist then)."""
    from . import yamlio

    text = git.run(["cat-file", "blob", f"{commit}:{v.path}"], root, check=False)
    try:
        then = yamlio.parse(text, v.path) if text else {}
    except Exception:  # an unreadable old manifest: take nothing along rather than guess
        return set()
    return set(v.aliases) - set((then or {}).get("aliases") or [])


def _rollback_to(state: RegistryState, name: str, stage: str, number: int, reason: str,
                 holder: ModelVersion | None) -> ChangeSet:
    v = state.version(name, number)  # NotFound names the versions that exist
    if v.deleted:
        raise UsageError(f"{name} v{number} was deleted ({v.deleted_reason}); roll back to another version")
    if holder is not None and holder.version == number or v.stage == stage:
        raise UsageError(f"{name} v{number} already holds {stage}; nothing to roll back")
    if not history.held_stage(state.root, v.path, stage, state.cache,
                              initial_stage=state.settings.initial_stage):
        # Going back to a version that never held the stage is a promotion: its gates apply (as `reg check`
        # and the server hook judge it), and there is no --force here: use `reg promote --force`.
        try:
            policy.check_promotion(state, state.model(name), v, stage, reason=reason, force=False,
                                   actor=operations.actor(state.root))
        except PolicyError as exc:
            raise PolicyError(f"{name} v{number} never held {stage}, so --to {number} is a promotion and its "
                              f"gates apply; {exc}") from None
    gained: set[str] = set()
    if holder is not None and stage in state.settings.exclusive_stages:
        # Aliases the holder got when or after it entered the stage follow the stage to `number` (module doc).
        entered = history.placed(state.root, name, holder.version, stage=stage,
                                 archive_stage=state.settings.archive_stage)
        gained = _gained_since(state.root, holder, entered.commit + "^") if entered else set()
    cs = operations.promote(state, name, number, stage, reason=reason, action="rollback", alias=sorted(gained))
    replaced = holder.version if holder else None
    cs.subject = f"Rolled back {name} {stage}: {_v(replaced)} -> v{number}"
    if holder is not None and stage not in state.settings.exclusive_stages:
        # A shared stage keeps its holders: "v2 -> v3" would claim v2 left it.
        stay = ", ".join(f"v{v.version}" for v in reversed(state.model(name).in_stage(stage)))
        cs.subject = f"Rolled back {name} {stage}: v{number} added ({stay} stay{'s' if ',' not in stay else ''})"
        replaced = None
    cs.trailers["Reg-Action"] = "rollback"
    cs.trailers.pop("Reg-Reason", None)
    cs.trailers.update({"Reg-Stage": stage, "Reg-Replaced": str(replaced) if replaced else "", "Reg-Reason": reason})
    for tag in cs.tags:
        tag.message = f"{cs.subject}\n\n{reason}"
    cs.result = RolledBack(name, stage, replaced, number, None,
                           sorted(filter(None, cs.trailers.get("Reg-Alias", "").split(","))))
    return cs


__all__ = ["rollback", "find_target", "RolledBack", "NotFound"]
