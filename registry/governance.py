"""Policy is data under policy: who may change the rules themselves, judged as they stood at the base.

A model's owners, permissions, gates and validation (`models/<name>/model.yaml`) are changed only by an
owner of that model at the base; a model with no owners there falls to the registry's admins.
`models/registry.yaml` and `models/allowed_signers` are changed only by a registry admin at the base: its
`admins:` list, or, when none is set, the registry's initializer (the author of the commit that created
models/registry.yaml). A model that did not exist at the base is new: whoever registers it writes its
first rules. Nothing a push brings can widen what that same push may do.

Stage changes are judged against the base's stages too, so renaming or reordering `stages:` in between
cannot skip a gate: a new version enters at the base's initial stage, and a version moves only into a
stage the base knows (add a stage in a push of its own, then move versions into it).

`reg check --base` (CLI, CI) and the pre-receive hook both reach this through `check.check_range`.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from . import git, policy, rules, settings as settings_mod
from .errors import CorruptState, RegistryError
from .manifest import card_path

GOVERNED_CARD_KEYS = ("owners", "permissions", "gates", "validation")
SIGNERS_PATH = "models/allowed_signers"
REGISTRY_FILES = (settings_mod.SETTINGS_PATH, SIGNERS_PATH)


@dataclass
class Authority:
    """Who may change a piece of policy, and how to say so in one line."""
    patterns: list[str]
    role: str      # "an owner of churn", "a registry admin"
    source: str    # "owners at the base: ada@example.com"

    def allows(self, who: str) -> bool:
        return bool(who) and any(fnmatch.fnmatchcase(who, policy.email_of(p)) for p in self.patterns)


def actor(commit) -> str:
    """The identity a change is judged by: the verified signer's principal where the registry has signers
    (registry/signers.py: it must name the author), else the commit's author email."""
    return policy.email_of(getattr(commit, "signer", None) or commit.email)


def registry_authority(root: Path, base_state) -> Authority | None:
    """The registry's admins at the base; None when there is no registry there yet (it is being created)."""
    if base_state is None:
        return None
    tree = base_state.tree or {}
    admins = list(base_state.settings.admins)
    if admins:
        return Authority(admins, "a registry admin", f"admins at the base: {', '.join(admins)}")
    if not tree:
        return None
    path = settings_mod.SETTINGS_PATH if settings_mod.SETTINGS_PATH in tree else "models"
    first = git.first_author_adding(root, base_state.rev, path)
    if first is None:
        return None
    sha, email = first
    return Authority([email.lower()], "a registry admin",
                     f"no admins: in {settings_mod.SETTINGS_PATH} at the base, so the registry's initializer "
                     f"{email}, who created {path} in {sha[:8]}")


def model_authority(root: Path, base_state, name: str) -> Authority | None:
    """An owner of `name` at the base; the registry's admins when it has none; None when the model is new."""
    if base_state is None or not any(p.startswith(f"models/{name}/") for p in base_state.tree or {}):
        return None
    try:
        card = base_state.read(card_path(name)) or {}
    except RegistryError:
        card = {}  # its card did not parse at the base: nobody there is an owner
    owners = card.get("owners") if isinstance(card, dict) else None
    owners = [str(o) for o in owners] if isinstance(owners, list) else []
    if owners:
        return Authority(owners, f"an owner of {name}", f"owners at the base: {', '.join(owners)}")
    admin = registry_authority(root, base_state)
    if admin is None:
        return None
    return Authority(admin.patterns, f"a registry admin ({name} has no owners at the base)", admin.source)


def _parsed(root: Path, cache, sha: str | None, rel: str):
    """A blob's YAML, {} for no file, or None when it does not parse (the tree check names it)."""
    if sha is None:
        return {}
    try:
        return cache.blob(sha, rel, lambda: git.blob_text(root, sha))
    except CorruptState:
        return None


def _own_changes(olds: list, new, keys=None) -> list[str]:
    """The keys whose new value no parent had: a commit's own change (a merge's, when there are several
    parents). A side that does not parse cannot vouch for any key."""
    if new is None or not isinstance(new, dict):
        return ["its content (it does not parse)"]
    sides = [old for old in olds if isinstance(old, dict)]
    names = keys if keys is not None else sorted(set(new).union(*[set(o) for o in sides]), key=str)
    return [str(k) for k in names if all(old.get(k) != new.get(k) for old in sides)]


def judge(root: Path, base: str | None, commits: list, state_at, cache) -> list[tuple[str, str, str]]:
    """(where, message, commit) for each change in `commits` (oldest first, with sha, parents and email) that
    the policy at `base` does not allow. `state_at(rev)` reads the registry at a revision; with no base, the
    parent of the first commit is the base (a new branch's starting point)."""
    root = Path(root)
    if base is None and commits and commits[0].parents:
        base = commits[0].parents[0]
    base_state = state_at(base) if base else None
    if base_state is not None and not (base_state.tree or {}):
        base_state = None  # no registry at the base: the push creates it and writes its first rules
    found: list[tuple[str, str, str]] = []
    authorities: dict[str, Authority | None] = {}

    def authority(key: str) -> Authority | None:
        if key not in authorities:
            authorities[key] = (registry_authority(root, base_state) if key == "" else
                                model_authority(root, base_state, key))
        return authorities[key]

    by_sha = {c.sha: c for c in commits}
    changes = git.raw_changes(root, [c.sha for c in commits])
    for sha, files in changes.items():
        c = by_sha.get(sha)
        if c is None:
            continue
        who, short = actor(c), sha[:8]
        for rel, olds, new in files:
            parts = rel.split("/")
            if rel in REGISTRY_FILES:
                auth = authority("")
                if auth is None or auth.allows(who):
                    continue
                if rel == SIGNERS_PATH:
                    what = "the allowed signers"
                else:
                    keys = _own_changes([_parsed(root, cache, old, rel) for old in olds],
                                        _parsed(root, cache, new, rel))
                    if not keys:
                        continue  # comments or layout only
                    what = ", ".join(keys)
                found.append((rel, f"{what} changed in {short} by {who or 'unknown'}: only {auth.role} may change "
                                   f"{rel} ({auth.source})", sha))
            elif len(parts) == 3 and parts[2] == "model.yaml":
                auth = authority(parts[1])
                if auth is None or auth.allows(who):
                    continue
                keys = _own_changes([_parsed(root, cache, old, rel) for old in olds], _parsed(root, cache, new, rel),
                                    GOVERNED_CARD_KEYS)
                if not keys:
                    continue  # description or tags: anyone may
                found.append((rel, f"{', '.join(keys)} changed in {short} by {who or 'unknown'}: only "
                                   f"{auth.role} may change its owners, permissions, gates or validation "
                                   f"({auth.source})", sha))
            elif (len(parts) == 4 and parts[3] == "manifest.yaml" and base_state is not None
                  and rules.version_number(parts[2]) is not None):
                found += _judge_stage(root, cache, base_state.settings, c, rel, parts[1], int(parts[2]), olds, new)
    return found


def _judge_stage(root, cache, base_settings, c, rel, name, number, olds, new) -> list[tuple[str, str, str]]:
    new_data = _parsed(root, cache, new, rel)
    if not isinstance(new_data, dict) or not new_data or new_data.get("deleted"):
        return []
    initial = base_settings.initial_stage
    stage = str(new_data.get("stage") or initial).lower()
    by = f"in {c.sha[:8]} by {actor(c) or 'unknown'}"
    if all(old is None for old in olds):
        if stage != initial:
            return [(rel, f"{name} v{number} is added in {stage} {by}: a new version enters at {initial} (the "
                          "initial stage at the base); register it, then promote it so its gates are judged", c.sha)]
        return []
    old_stages = set()
    for old in olds:
        old_data = _parsed(root, cache, old, rel)
        if isinstance(old_data, dict):
            old_stages.add(str(old_data.get("stage") or initial).lower())
    if stage in old_stages or stage in base_settings.stages:
        return []
    return [(rel, f"{name} v{number} moved to {stage} {by}, a stage the base does not know (stages at the base: "
                  f"{', '.join(base_settings.stages)}); a registry admin adds a stage in a push of its own, then "
                  "versions move into it and meet its gates", c.sha)]
