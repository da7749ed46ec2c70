"""The audit trail: registry events derived from what commits changed in the manifests.

One `git log` reads every commit's message. Commits made by `reg` carry `Reg-*` trailers that explain
them without a diff (the fast path). Every other commit (a plain `git revert`, a squash merge, a reviewed
hand edit, a rollback) is diffed against its parent in one `git diff-tree --stdin`, and the manifests on
both sides are read in one `git cat-file --batch` (through the parsed-manifest cache) and compared: stage,
aliases, deleted, description and tags. So history made with plain git is as complete as history made
with `reg`.

    commits.py   the log, trailers, the paths a commit changed, the manifests on both sides (`Blobs`)
    explain.py   `Event`, and the events of each commit (from trailers or from diffs)
    dates.py     parsing a user's date; the commit current at a time (`--at`)

Here: `events` (with tags and signatures), `placed` (the event that put a version where it is).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from .. import git
from ..errors import CorruptState
from .commits import (FAST_ACTIONS, Blobs, Commit, changes_of, held_stage, log, reason_in, told_by_trailers,
                      trailers)
from .dates import commit_at, parse_time
from .explain import ACTIONS, Event, explain


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
    tags_later = git.tags_by_commit_later(root)
    commits = log(root, model, rev=rev, since=since)
    explained = explain(commits, root, archive_stage)
    tags = tags_later()
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
    from .. import signers, signing

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


__all__ = ["events", "placed", "add_signatures", "Event", "ACTIONS", "explain", "Commit", "Blobs", "log",
           "changes_of", "held_stage", "trailers", "reason_in", "FAST_ACTIONS", "told_by_trailers", "parse_time",
           "commit_at"]
