"""The audit trail: registry events derived from what commits changed in the manifests.

One `git log` reads every commit's message. Commits made by `reg` carry `Reg-*` trailers that explain
them without a diff (the fast path). Every other commit (a plain `git revert`, a squash merge, a reviewed
hand edit, a rollback) is diffed against its parent in one `git diff-tree --stdin`, and the manifests on
both sides are read in one `git cat-file --batch` (through the parsed-manifest cache) and compared: stage,
aliases, deleted, description and tags. So history made with plain git is as complete as history made
with `reg`.

Also here: parsing a user's date, and finding the commit that was current at a time (`--at`).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

from . import git, rules
from .errors import CorruptState, GitError, HostileContent, UsageError
from .git import Change
from .manifest import ModelVersion, version_from_dict
from .rules import NO_REASON
from .state import ParseCache

ACTIONS = ("create", "register", "promote", "archive", "alias", "annotate", "delete", "rollback", "validate")
_TRAILER_RE = re.compile(r"^(Reg-[A-Za-z-]+):[ \t]*(.*)$", re.M)
_REVERTS_RE = re.compile(r"This reverts commit ([0-9a-f]{7,40})")


def trailers(message: str) -> dict[str, str]:
    """A commit message's Reg-* trailers. They are the last paragraph only: "Reg-Action: delete" inside a
    reason or description is text, and a hand-written `Reg-Forced:` there must not excuse failed gates."""
    if "Reg-" not in message:
        return {}
    last = message.strip().rsplit("\n\n", 1)[-1]
    return {k: v.strip() for k, v in _TRAILER_RE.findall(last)}


def held_stage(root: Path, rel: str, stage: str, cache: ParseCache, *, rev: str = "HEAD",
               initial_stage: str = "none") -> bool:
    """Whether the manifest at `rel` said `stage` in any commit up to `rev` (its own history only)."""
    reader = git.blobs(root)
    for sha in git.path_blobs(root, rel, rev):
        try:
            data = cache.blob(sha, rel, lambda: reader.read_text(sha))
        except CorruptState:
            continue
        if isinstance(data, dict) and str(data.get("stage") or initial_stage).lower() == stage:
            return True
    return False


_REASON_RE = re.compile(r"^Reason:[ \t]*(.+)$", re.M)


def reason_in(message: str, reg_trailers: dict[str, str] | None = None) -> str | None:
    """The reason a commit message gives: its Reg-Reason trailer, else a `Reason:` line (plain git)."""
    t = trailers(message) if reg_trailers is None else reg_trailers
    if t.get("Reg-Reason"):
        return t["Reg-Reason"]
    m = _REASON_RE.search(message)
    return m.group(1).strip() if m else None


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


@dataclass
class Commit:
    sha: str
    parents: list[str]
    actor: str
    time: str
    message: str
    changes: list[Change] = field(default_factory=list)

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0].strip()

    @cached_property
    def trailers(self) -> dict[str, str]:
        return trailers(self.message)

    @cached_property
    def reverts(self) -> list[str]:
        """Commits this one undoes: `git revert`'s line, or the trailer of `reg rollback`."""
        if self.trailers.get("Reg-Action"):  # reg's own commits say it in a trailer; their body is user text
            return [self.trailers["Reg-Reverts"]] if self.trailers.get("Reg-Reverts") else []
        return _REVERTS_RE.findall(self.message) if "This reverts commit" in self.message else []

    @property
    def reason(self) -> str | None:
        return reason_in(self.message, self.trailers)


# -- dates -----------------------------------------------------------------------------------------

def parse_time(text: str, what: str = "time") -> dt.datetime:
    """A date or date-time as people write it (ISO 8601; no zone means UTC) -> aware UTC datetime."""
    raw = str(text).strip()
    value = raw.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", raw) else raw
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"cannot read {what} {raw!r}: write it as 2026-11-01, 2026-11-01T12:00 or "
                         "2026-11-01T12:00:00+02:00 (no zone means UTC)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def commit_at(root: Path, when: dt.datetime, rev: str = "HEAD") -> str | None:
    """The last commit of `rev`'s first-parent history made at or before `when` (what was checked out then)."""
    seconds = int(when.timestamp())
    if seconds < 100_000_000:  # git reads a number of fewer than nine digits as no date at all (so "now")
        return None  # and no commit is older than 1973: `--at 1900-01-01` is before any registry
    return git.commit_before(root, seconds, rev)


# -- reading the log -------------------------------------------------------------------------------

def _pathspecs(model: str | None) -> list[str]:
    m = model or "*"
    return [f"models/{m}/*/manifest.yaml", f"models/{m}/model.yaml"]


FAST_ACTIONS = ("create", "register", "promote", "archive", "alias", "unalias", "annotate", "delete")


def _fast(c: Commit) -> bool:
    """A commit `reg` made, whose trailers say all it changed (so its diff need not be read)."""
    t = c.trailers
    return (len(c.parents) <= 1 and t.get("Reg-Action") in FAST_ACTIONS and bool(t.get("Reg-Model"))
            and not c.reverts and (t.get("Reg-Version", "").isdigit() or t.get("Reg-Action") in ("annotate", "create")))


def log(root: Path, model: str | None = None, *, rev: str = "HEAD", since: dt.datetime | None = None,
        with_changes: bool = False) -> list[Commit]:
    """Commits of `rev` (newest first) that changed a manifest or model card (of `model`).

    One `git log` reads every commit's message; only commits whose trailers do not explain them (plain
    git, rollbacks) are diffed, in one `git diff-tree --stdin`. Diffing is the cost at scale: a model
    folder of ten thousand versions is a large tree to compare per commit."""
    if git.head(root) is None:
        return []
    try:
        entries = git.log(root, [rev], since=int(since.timestamp()) if since is not None else None)
    except GitError:
        raise UsageError(f"unknown revision {rev!r}: give a commit, branch or tag that exists") from None
    commits = [Commit(e.sha, e.parents, e.author, e.time, e.message) for e in entries]
    fast = {c.sha for c in commits if not with_changes and _fast(c)}
    diffed = {c.sha for c in commits if c.sha not in fast and len(c.parents) <= 1}
    if diffed:
        _fill_changes(root, [c for c in commits if c.sha in diffed], model)
    out = []
    for c in commits:
        if c.sha in fast:
            if model is None or c.trailers.get("Reg-Model") == model:
                out.append(c)
        elif c.changes:
            out.append(c)
    return out


def _fill_changes(root: Path, commits: list[Commit], model: str | None) -> None:
    found = git.changes_by_commit(root, [c.sha for c in commits], _pathspecs(model))
    for c in commits:
        c.changes.extend(found.get(c.sha, []))


def changes_of(root: Path, c: Commit, model: str | None = None) -> list[Change]:
    if not c.changes:
        _fill_changes(root, [c], model)
    return c.changes


class Blobs:
    """Parsed manifests by blob id, read through the shared parse cache (one batch read for its misses)."""

    def __init__(self, root: Path):
        self.root = root
        self.cache = ParseCache(root)
        self.parsed: dict[str, dict] = {}

    def load(self, wanted: dict[str, str]) -> None:
        """wanted: blob id -> path (for messages)."""
        need = {sha: path for sha, path in wanted.items() if sha not in self.parsed}
        if need:
            got = self.cache.prefetch(need)
            self.parsed.update(got)
            reader = git.blobs(self.root)
            for sha in need.keys() - got.keys():
                try:  # read again for its error: hostile content is refused on every read path
                    self.cache.blob(sha, need[sha], lambda: reader.read_text(sha))
                except HostileContent:
                    raise
                except (CorruptState, GitError):
                    self.parsed[sha] = {}  # unreadable here; never cached, so every other reader refuses it too
            self.cache.save()

    def version(self, sha: str | None, path: str) -> ModelVersion | None:
        if sha is None:
            return None
        data = self.parsed.get(sha)
        if not data:
            return None
        try:
            return version_from_dict(data, path)
        except HostileContent:
            raise
        except CorruptState:
            return None

    def get(self, sha: str | None) -> dict | None:
        return None if sha is None else self.parsed.get(sha)


# -- explaining a commit ---------------------------------------------------------------------------

def _trailer_paths(t: dict[str, str]) -> set[str] | None:
    """Manifests a `reg`-made commit changes, by its trailers; None when the trailers do not say."""
    model, action = t.get("Reg-Model"), t.get("Reg-Action")
    version = t.get("Reg-Version")
    if action not in FAST_ACTIONS or not model:
        return None
    if version is None:
        return set() if action in ("annotate", "create") else None
    if not version.isdigit():
        return None
    paths = {f"models/{model}/{version}/manifest.yaml"}
    if action in ("promote", "archive"):
        for n in filter(None, t.get("Reg-Archived", "").split(",")):
            paths.add(f"models/{model}/{n.strip()}/manifest.yaml")
    if action == "alias" and t.get("Reg-From", "").lstrip("v").isdigit():
        paths.add(f"models/{model}/{t['Reg-From'].lstrip('v')}/manifest.yaml")
    if action == "promote":  # promote --alias: the versions the alias left
        for n in filter(None, t.get("Reg-Alias-From", "").split(",")):
            if not n.strip().lstrip("v").isdigit():
                return None
            paths.add(f"models/{model}/{n.strip().lstrip('v')}/manifest.yaml")
    return paths


def _from_trailers(c: Commit, t: dict[str, str], archive_stage: str) -> list[Event]:
    model, action = t["Reg-Model"], t["Reg-Action"]
    version = int(t["Reg-Version"]) if t.get("Reg-Version", "").isdigit() else None
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
        if _fast(c) and (not c.changes or _trailer_paths(c.trailers) == _manifest_paths(c)):
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


def _pick_tag(names: list[str], ev: Event) -> str | None:
    mine = [n for n in names if n.startswith((f"{ev.model}#", f"{ev.model}@v"))]
    if not mine:
        return None
    if ev.action == "register":
        reg = [n for n in mine if n == f"{ev.model}@v{ev.version}"]
        return reg[0] if reg else mine[0]
    stage_tags = [n for n in mine if "#" in n]
    return stage_tags[0] if stage_tags else None


def events(root: Path, model: str | None = None, *, stage: str | None = None, since: dt.datetime | None = None,
           rev: str = "HEAD", archive_stage: str = "archived", signatures: bool = True) -> list[Event]:
    """Every registry event reachable from `rev`, newest first (with who signed each, `signatures`)."""
    commits = log(root, model, rev=rev, since=since)
    explained = explain(commits, root, archive_stage)
    tags = git.tags_by_commit(root)
    out: list[Event] = []
    for c in commits:
        for ev in explained.get(c.sha, []):
            if model is not None and ev.model != model:
                continue
            if stage is not None and stage not in (ev.from_stage, ev.to_stage):
                continue
            if since is not None and parse_time(ev.time) < since:
                continue
            ev.tag = _pick_tag(tags.get(c.sha, []), ev)
            out.append(ev)
    if signatures:
        add_signatures(root, out, rev)
    return out


def add_signatures(root: Path, evs: list[Event], rev: str = "HEAD") -> None:
    """Say who signed each event's commit, checked against models/allowed_signers at `rev` (git's own
    verification: a key's validity at the time of the commit). One `git log` for all of them."""
    from . import signers, signing

    if not evs:
        return
    try:
        text = signers.signers_text(root, rev)
    except CorruptState:
        return
    if text is None:
        return
    with signing.allowed_signers_file(text) as path:
        sigs = git.commit_signatures(root, sorted({e.commit for e in evs}), path)
    for e in evs:
        e.signed = signing.describe(sigs.get(e.commit))


def placed(root: Path, model: str, version: int, *, stage: str | None = None, alias: str | None = None,
           rev: str = "HEAD", archive_stage: str = "archived") -> Event | None:
    """The event that put `version` where it is at `rev`: into `stage`, under `alias`, or its registration."""
    for ev in events(root, model, stage=stage, rev=rev, archive_stage=archive_stage, signatures=False):
        if ev.version != version:
            continue
        if (stage is not None and ev.to_stage == stage
                or alias is not None and ev.alias == alias and "removed" not in ev.detail
                or stage is None and alias is None and ev.action == "register"):
            add_signatures(root, [ev], rev)
            return ev
    return None
