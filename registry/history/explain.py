"""Explaining a commit as registry events: from its trailers when `reg` made it, else from the manifests
on both sides of its diff (stage, aliases, deleted, description and tags, validations)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .. import rules
from ..refs import is_number
from ..rules import NO_REASON
from .commits import FAST_ACTIONS, Blobs, Commit, told_by_trailers

ACTIONS = ("create", "register", "promote", "archive", "alias", "annotate", "delete", "rollback", "validate")


@dataclass
class Event:
    time: str  # when the commit was made (committer date, UTC)
    actor: str  # who made the change (the commit's author)
    action: str  # one of ACTIONS
    model: str
    version: int | None
    from_stage: str | None
    to_stage: str | None
    reason: str | None
    commit: str
    tag: str | None = None
    alias: str | None = None
    detail: str = ""
    subject: str = ""
    # Who signed its commit and whether that verified against models/allowed_signers (signing.describe);
    # None when the registry has no allowed signers (then nothing is verified, and history stays fast).
    signed: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


# -- explaining a commit ---------------------------------------------------------------------------

def _trailer_paths(t: dict[str, str]) -> set[str] | None:
    """Manifests a `reg`-made commit changes, by its trailers; None when the trailers do not say."""
    model, action = t.get("Reg-Model"), t.get("Reg-Action")
    version = t.get("Reg-Version")
    if action not in FAST_ACTIONS or not model:
        return None
    if version is None:
        return set() if action in ("annotate", "create") else None
    if not is_number(version):
        return None
    paths = {f"models/{model}/{version}/manifest.yaml"}
    if action in ("promote", "archive"):
        for n in filter(None, t.get("Reg-Archived", "").split(",")):
            paths.add(f"models/{model}/{n.strip()}/manifest.yaml")
    if action == "alias" and is_number(t.get("Reg-From", "").lstrip("v")):
        paths.add(f"models/{model}/{t['Reg-From'].lstrip('v')}/manifest.yaml")
    if action == "promote":  # promote --alias: the versions the alias left
        for n in filter(None, t.get("Reg-Alias-From", "").split(",")):
            if not is_number(n.strip().lstrip("v")):
                return None
            paths.add(f"models/{model}/{n.strip().lstrip('v')}/manifest.yaml")
    return paths


def _from_trailers(c: Commit, t: dict[str, str], archive_stage: str) -> list[Event]:
    model, action = t["Reg-Model"], t["Reg-Action"]
    version = int(t["Reg-Version"]) if is_number(t.get("Reg-Version", "")) else None
    reason = c.reason or NO_REASON
    base = dict(time=c.time, actor=c.actor, model=model, reason=reason, commit=c.sha, subject=c.subject)
    if action in ("alias", "unalias"):
        alias = t.get("Reg-Alias")
        detail = (f"@{alias} -> v{version}" if action == "alias" else f"@{alias} removed from v{version}")
        return [Event(action="alias", version=version, from_stage=None, to_stage=None, alias=alias, detail=detail,
                      **base)]
    if action == "annotate":
        return [Event(action="annotate", version=version, from_stage=None, to_stage=None,
                      detail="description/tags", **base)]
    if action == "create":
        return [Event(action="create", version=None, from_stage=None, to_stage=None, detail="model card", **base)]
    if action == "delete":
        return [Event(action="delete", version=version, from_stage=t.get("Reg-From"), to_stage=None, **base)]
    if action == "register":
        alias = t.get("Reg-Alias")
        return [Event(action="register", version=version, from_stage=None, to_stage=t.get("Reg-To"), alias=alias,
                      detail=f"@{alias} -> v{version}" if alias else "", **base)]
    stage = t.get("Reg-To")
    out = [Event(action=action, version=version, from_stage=t.get("Reg-From"), to_stage=stage, **base)]
    for n in filter(None, t.get("Reg-Archived", "").split(",")):
        out.append(Event(action="archive", version=int(n), from_stage=stage, to_stage=archive_stage,
                         detail=f"replaced by v{version}", **base))
    for alias in filter(None, t.get("Reg-Alias", "").split(",")):  # promote --alias: moved in the same commit
        out.append(Event(action="alias", version=version, from_stage=None, to_stage=None, alias=alias,
                         detail=f"@{alias} -> v{version}", **base))
    return out


def _from_diff(c: Commit, blobs: Blobs, archive_stage: str) -> list[Event]:
    is_rollback = bool(c.reverts) or c.trailers.get("Reg-Action") == "rollback"
    made_by_reg = "Reg-Action" in c.trailers
    reason = c.reason or (NO_REASON if made_by_reg else c.subject)
    base = dict(time=c.time, actor=c.actor, reason=reason, commit=c.sha, subject=c.subject)
    out: list[Event] = []
    for ch in c.changes:
        card = rules.card_of(ch.path)
        if card:
            old, new = blobs.get(ch.old) or {}, blobs.get(ch.new) or {}
            if ch.new is not None and (old.get("description"), old.get("tags")) != (new.get("description"),
                                                                                    new.get("tags")):
                out.append(Event(action="annotate", model=card, version=None, from_stage=None,
                                 to_stage=None, detail="model description/tags", **base))
            continue
        found = rules.manifest_of(ch.path)
        if not found:
            continue
        model, number = found
        old, new = blobs.version(ch.old, ch.path), blobs.version(ch.new, ch.path)
        ev = dict(model=model, version=number, **base)
        if old is None and new is None:
            continue
        if old is None:
            out.append(Event(action="register", from_stage=None, to_stage=new.stage, **ev))
            for a in new.aliases:
                out.append(Event(action="alias", from_stage=None, to_stage=None, alias=a, detail=f"@{a} -> v{number}",
                                 **ev))
            continue
        if new is None:
            out.append(Event(action="rollback" if is_rollback else "delete", from_stage=old.stage, to_stage=None,
                             detail="manifest removed", **ev))
            continue
        if new.deleted and not old.deleted:
            out.append(Event(action="delete", from_stage=old.stage, to_stage=None,
                             **{**ev, "reason": new.deleted_reason or ev["reason"]}))
            continue
        if old.deleted and not new.deleted:
            out.append(Event(action="rollback" if is_rollback else "register", from_stage=None, to_stage=new.stage,
                             detail="deletion undone", **ev))
        if old.stage != new.stage:
            action = "rollback" if is_rollback else ("archive" if new.stage == archive_stage else "promote")
            out.append(Event(action=action, from_stage=old.stage, to_stage=new.stage, **ev))
        for a in sorted(set(new.aliases) - set(old.aliases)):
            out.append(Event(action="alias", from_stage=None, to_stage=None, alias=a, detail=f"@{a} -> v{number}",
                             **ev))
        for a in sorted(set(old.aliases) - set(new.aliases)):
            out.append(Event(action="alias", from_stage=None, to_stage=None, alias=a,
                             detail=f"@{a} removed from v{number}", **ev))
        if (old.description, old.tags) != (new.description, new.tags):
            out.append(Event(action="annotate", from_stage=None, to_stage=None, detail="description/tags", **ev))
        if len(new.validations or []) > len(old.validations or []):
            latest = new.validations[-1] if isinstance(new.validations[-1], dict) else {}
            scores = ", ".join(f"{k}={v}" for k, v in (latest.get("metrics") or {}).items())
            out.append(Event(action="validate", from_stage=None, to_stage=None, detail=scores, **ev))
    # A promotion first, then the versions it archived, as `reg` writes them.
    out.sort(key=lambda e: e.action == "archive")
    return out


def _manifest_paths(c: Commit) -> set[str]:
    return {ch.path for ch in c.changes if rules.manifest_of(ch.path)}


def explain(commits: list[Commit], root: Path, archive_stage: str = "archived") -> dict[str, list[Event]]:
    """Events of each commit (by sha): from its trailers when `reg` made it (and, when its diff was read,
    the trailers account for exactly what changed), else from the manifest diffs."""
    fast: dict[str, list[Event]] = {}
    slow: list[Commit] = []
    for c in commits:
        if told_by_trailers(c) and (not c.changes or _trailer_paths(c.trailers) == _manifest_paths(c)):
            fast[c.sha] = _from_trailers(c, c.trailers, archive_stage)
        else:
            slow.append(c)
    if slow:
        blobs = Blobs(root)
        wanted = {sha: ch.path for c in slow for ch in c.changes for sha in (ch.old, ch.new) if sha}
        blobs.load(wanted)
        for c in slow:
            fast[c.sha] = _from_diff(c, blobs, archive_stage)
    return fast
