"""What commits changed: one `git log` of every commit's message, the `Reg-*` trailers that explain a
commit `reg` made, the manifest paths the others changed (one `git diff-tree --stdin`), and the manifests
on both sides of a change (one `git cat-file --batch`, through the parsed-manifest cache)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from .. import git
from ..errors import CorruptState, GitError, HostileContent, UsageError
from ..git import Change
from ..manifest import ModelVersion, version_from_dict
from ..parsecache import ParseCache
from ..refs import is_number

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


def _pathspecs(model: str | None) -> list[str]:
    m = model or "*"
    return [f"models/{m}/*/manifest.yaml", f"models/{m}/model.yaml"]


FAST_ACTIONS = ("create", "register", "promote", "archive", "alias", "unalias", "annotate", "delete")


def told_by_trailers(c: Commit) -> bool:
    """A commit `reg` made, whose trailers say all it changed (so its diff need not be read)."""
    t = c.trailers
    return (len(c.parents) <= 1 and t.get("Reg-Action") in FAST_ACTIONS and bool(t.get("Reg-Model"))
            and not c.reverts and (is_number(t.get("Reg-Version", "")) or t.get("Reg-Action") in ("annotate", "create")))


def log(root: Path, model: str | None = None, *, rev: str = "HEAD", since: dt.datetime | None = None,
        with_changes: bool = False) -> list[Commit]:
    """Commits of `rev` (newest first) that changed a manifest or model card (of `model`).

    One `git log` reads every commit's message; only commits whose trailers do not explain them (plain
    git, rollbacks) are diffed, in one `git diff-tree --stdin`. Diffing is the cost at scale: a model
    folder of ten thousand versions is a large tree to compare per commit."""
    try:
        entries = git.log(root, [rev], since=int(since.timestamp()) if since is not None else None)
    except GitError:
        if git.head(root) is None:  # a repository with no commit yet has no history, and that is no error
            return []
        raise UsageError(f"unknown revision {rev!r}: give a commit, branch or tag that exists") from None
    commits = [Commit(e.sha, e.parents, e.author, e.time, e.message) for e in entries]
    fast = {c.sha for c in commits if not with_changes and told_by_trailers(c)}
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
