"""Every ref a push updates is judged, not only the branches whose commits `reg check` reads.

- A protected branch (`protected_branches:` in models/registry.yaml; default: the server's default branch)
  only moves forward and is never deleted: registry history there is append-only.
- A registry tag (`NAME@vN`, `NAME#STAGE#N`) is only created, never moved or deleted; it is annotated and
  names the commit reg would have tagged: the one that registered NAME vN, or one that moved a version of
  NAME into STAGE and carries no stage tag yet, with N above every stage tag NAME has. Other tags pass.
- Refs outside refs/heads/ and refs/tags/ are refused unless `allowed_refs:` lists them.

The rules are read from the default branch as it stands before the push (the base); a push that changes
them takes effect for the next push. Each refusal is one line naming the ref, the rule and who may act.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from . import git, refs
from .errors import CorruptState, RegistryError
from .settings import Settings

ZERO = git.ZERO_SHA
# Anything shaped like a registry tag is held to the registry's rules, so a near-miss cannot pose as one.
VERSION_TAG_RE = re.compile(r"^(?P<name>[^@#]+)@v(?P<number>[0-9]+)$")
STAGE_TAG_RE = re.compile(r"^(?P<name>[^@#]+)#(?P<stage>[^#]+)#(?P<number>[0-9]+)$")


@dataclass
class Update:
    old: str
    new: str
    ref: str

    @property
    def created(self) -> bool:
        return self.old == ZERO

    @property
    def deleted(self) -> bool:
        return self.new == ZERO


def parse(lines: str) -> list[Update]:
    """The `old new ref` lines git gives a pre-receive hook."""
    out = []
    for line in lines.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append(Update(*parts))
    return out


@dataclass
class Rules:
    default_branch: str | None       # refs/heads/main
    protected: list[str]             # branch name patterns
    allowed: list[str]               # ref patterns outside heads and tags
    source: str                      # where the rules were read, for messages

    def is_protected(self, branch: str) -> bool:
        return any(fnmatch.fnmatchcase(branch, p) for p in self.protected)


def rules(root: Path, settings: Settings | None = None) -> Rules:
    """The ref rules of the server repository at `root`, from its default branch before the push."""
    head = git.symbolic_head(root)
    default = head.removeprefix("refs/heads/") if head and head.startswith("refs/heads/") else None
    candidates = [default] if default else []
    if default is None or git.rev_commit(root, head) is None:
        # HEAD names a branch nobody pushed (a server made with another default name): guard the usual ones
        candidates += [b for b in ("main", "master") if b not in candidates]
    if settings is None:
        settings = _settings_at(root, next((f"refs/heads/{b}" for b in candidates
                                            if git.rev_commit(root, f"refs/heads/{b}")), None))
    if settings.protected_branches is not None:
        protected, source = list(settings.protected_branches), "protected_branches in models/registry.yaml"
    else:
        protected, source = candidates, "the default branch"
    return Rules(head, protected, list(settings.allowed_refs), source)


def _settings_at(root: Path, ref: str | None) -> Settings:
    from .state import RegistryState

    tip = git.rev_commit(root, ref) if ref else None
    if tip is None:
        return Settings()
    try:
        return RegistryState(root, tip).settings
    except CorruptState:
        return Settings()  # the tree check names the broken file; protect the default branch meanwhile


def judge(root: Path, updates: list[Update], rules_: Rules | None = None) -> list[str]:
    """One line per refused update; empty when every ref update keeps the rules."""
    root = Path(root)
    r = rules_ or rules(root)
    tips = _branch_tips_after(root, updates)
    # Registry tags name registry history, which lives on the protected branches (any branch when none is).
    held = sorted({c for ref, c in tips.items() if not r.protected or r.is_protected(ref.removeprefix("refs/heads/"))})
    refusals = []
    for u in updates:
        try:
            why = _judge_one(root, u, r, held, updates)
        except RegistryError as exc:
            why = f"could not be judged ({exc}); refused"
        if why:
            refusals.append(f"{u.ref}: {why}")
    return refusals


def _branch_tips_after(root: Path, updates: list[Update]) -> dict[str, str]:
    tips = git.refs_matching(root, "refs/heads")
    for u in updates:
        if u.ref.startswith("refs/heads/"):
            if u.deleted:
                tips.pop(u.ref, None)
            else:
                tips[u.ref] = u.new
    return tips


def _judge_one(root: Path, u: Update, r: Rules, tips: list[str], updates: list[Update]) -> str | None:
    if u.ref.startswith("refs/heads/"):
        branch = u.ref.removeprefix("refs/heads/")
        if not r.is_protected(branch):
            return None
        if u.deleted:
            return (f"{branch} is a protected branch ({r.source}), so it is never deleted; a registry admin "
                    "may unprotect it first (protected_branches in models/registry.yaml)")
        if not u.created and not git.is_ancestor(root, u.old, u.new):
            return (f"non-fast-forward push to protected branch {branch} ({r.source}): registry history there is "
                    f"append-only and {u.old[:8]} is not in {u.new[:8]}'s history; nobody may rewrite it: fetch, "
                    "rebase onto it and push again (undo a change with `git revert` or `reg rollback`)")
        return None
    if u.ref.startswith("refs/tags/"):
        return _judge_tag(root, u, r, tips, updates)
    if any(fnmatch.fnmatchcase(u.ref, p) for p in r.allowed):
        return None
    return ("refs outside refs/heads/ and refs/tags/ are refused here; a registry admin may allow them with "
            "allowed_refs: ['refs/notes/*'] in models/registry.yaml")


def _judge_tag(root: Path, u: Update, r: Rules, tips: list[str], updates: list[Update]) -> str | None:
    tag = u.ref.removeprefix("refs/tags/")
    version = VERSION_TAG_RE.match(tag)
    stage = STAGE_TAG_RE.match(tag)
    if not version and not stage:
        return None  # not a registry tag: release tags and the like are the project's own business
    if u.deleted:
        return "registry tags are never deleted (serving hosts and the audit trail rely on them); nobody may delete one"
    if not u.created:
        return (f"registry tags are never moved (it names {u.old[:8]}); nobody may move one: a new change gets "
                "a new tag, which reg makes")
    m = version or stage
    name, number = m.group("name"), m.group("number")
    canonical = refs.NAME_RE.fullmatch(name) and not number.startswith("0") and (
        version or re.fullmatch(r"[a-z0-9][a-z0-9_-]*", m.group("stage")))
    if not canonical:
        return ("is shaped like a registry tag (NAME@vN, NAME#STAGE#N) but is not one reg makes; registry tags "
                "are made only by reg, on the commit of the change")
    if git.object_type(root, u.new) != "tag":
        return "registry tags are annotated (tagger and reason), made by reg; push the tag reg made"
    commit = git.rev_commit(root, u.new)
    if commit is None:
        return "does not name a commit"
    if git.new_commits(root, [commit], tips, limit=1):
        where = f"no protected branch ({', '.join(r.protected)})" if r.protected else "no branch"
        return (f"names {commit[:8]}, which {where} holds after this push; registry tags name registry history: "
                "push the change to its branch with its tag (reg pushes both in one atomic push)")
    if version:
        return _judge_version_tag(root, name, int(number), commit)
    return _judge_stage_tag(root, name, m.group("stage"), int(number), commit, u, updates)


def _judge_version_tag(root: Path, name: str, number: int, commit: str) -> str | None:
    rel = f"models/{name}/{number}/manifest.yaml"
    if any(path == rel and old is None and new is not None for path, old, new in git.diff_tree(root, commit, rel)):
        return None
    return (f"must name the commit that registered {name} v{number}; {commit[:8]} did not (it does not add {rel}); "
            "registry tags are made only by reg")


def _judge_stage_tag(root: Path, name: str, stage: str, number: int, commit: str, u: Update,
                     updates: list[Update]) -> str | None:
    from .parsecache import ParseCache

    existing = {ref: c for ref, c in git.refs_matching(root, f"refs/tags/{name}#*").items()
                if STAGE_TAG_RE.match(ref.removeprefix("refs/tags/"))}
    others = {ref: c for ref, c in existing.items() if ref != u.ref}
    for other in updates:  # tags made in this same push count too
        if other.ref != u.ref and other.created and other.ref in _stage_refs_of(name, updates):
            others[other.ref] = git.rev_commit(root, other.new) or ""
    already = sorted(ref.removeprefix("refs/tags/") for ref, c in others.items() if c == commit)
    if already:
        return (f"{commit[:8]} already carries stage tag {already[0]}; a change gets one tag, and a new tag on an "
                "old change would move what the tags say the stage holds")
    top = max((int(ref.rsplit("#", 1)[1]) for ref in existing if ref != u.ref), default=0)
    if number <= top:
        return (f"{name}'s stage tags already reach #{top}; reg numbers the next one #{top + 1}, so #{number} "
                "would reorder the history")
    cache = ParseCache(root)
    for rel, old, new in git.diff_tree(root, commit, f"models/{name}"):
        parts = rel.split("/")
        if len(parts) != 4 or parts[3] != "manifest.yaml" or new is None:
            continue
        try:
            after = cache.blob(new, rel, lambda: git.blob_text(root, new))
            before = cache.blob(old, rel, lambda: git.blob_text(root, old)) if old else {}
        except CorruptState:
            continue
        if not isinstance(after, dict) or not isinstance(before, dict) or after.get("deleted"):
            continue
        if str(after.get("stage") or "").lower() == stage and str(before.get("stage") or "").lower() != stage:
            return None
    return (f"must name a commit that moved a version of {name} to {stage}; {commit[:8]} did not; registry tags "
            "are made only by reg")


def _stage_refs_of(name: str, updates: list[Update]) -> set[str]:
    return {u.ref for u in updates if u.ref.startswith(f"refs/tags/{name}#")
            and STAGE_TAG_RE.match(u.ref.removeprefix("refs/tags/"))}
