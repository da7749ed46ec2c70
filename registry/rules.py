"""The registry's rules, each in one function, so what `reg` does and what `reg check` accepts cannot drift:
the operations, `validate` and `rollback` build changes with these, and `reg check` (and the server hook)
judges every commit with the same ones.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import UsageError
from .manifest import IMMUTABLE_FIELDS, ModelVersion
from .refs import is_number

NO_REASON = "(none given)"  # written when an exclusive stage changes without a reason; never counts as one

# -- paths under models/ ---------------------------------------------------------------------------

MANIFEST_RE = re.compile(r"^models/([^/]+)/([1-9][0-9]*)/manifest\.yaml$")
CARD_RE = re.compile(r"^models/([^/]+)/model\.yaml$")
VERSION_FILES = frozenset({"manifest.yaml", "model.dvc", ".gitignore"})  # all git holds of a version folder


def version_number(folder: str) -> int | None:
    """The version a folder under a model is named for (`7`), else None. Only ASCII digits without a leading
    zero: `int()` also takes `007` and `٧` (another folder than the `7` every reader opens), and
    `str.isdigit()` takes `²`, which `int()` then refuses with a ValueError."""
    return int(folder) if is_number(folder) and folder[0] != "0" else None


def manifest_of(path: str) -> tuple[str, int] | None:
    """(model, version) when `path` is a version's manifest (`models/churn/7/manifest.yaml`), else None."""
    m = MANIFEST_RE.fullmatch(path)  # not match: its `$` also matches before a final newline, a byte a path may hold
    return (m.group(1), int(m.group(2))) if m else None


def card_of(path: str) -> str | None:
    """The model whose card `path` is (`models/churn/model.yaml`), else None."""
    m = CARD_RE.fullmatch(path)
    return m.group(1) if m else None


def pointer_path(model: str, name: str) -> str:
    """A stage or alias pointer file: `models/churn/production.dvc`."""
    return f"models/{model}/{name}.dvc"


def version_pointer_path(model: str, version: int) -> str:
    return f"models/{model}/{version}/model.dvc"


# -- stages, aliases and the pointer files that follow from them -------------------------------------

def pointer_targets(versions: Mapping[int, ModelVersion], settings) -> dict[str, ModelVersion]:
    """Which version each pointer file (`<stage>.dvc`, `<alias>.dvc`) of a model must track: for each stage
    that has a pointer, the highest-numbered live version in it; for each alias, its (highest) holder.
    `versions` may hold anything with a version's `version`, `stage`, `aliases` and `deleted` (the model
    index's briefs); what is returned is taken from it."""
    stages = dict.fromkeys(settings.pointer_stages())
    held: dict[str, ModelVersion] = {}
    by_alias: dict[str, ModelVersion] = {}
    for _, v in sorted(versions.items()):
        if v.deleted:
            continue
        if v.stage in stages:
            held[v.stage] = v
        for alias in v.aliases:
            by_alias[alias] = v
    wanted = {stage: held[stage] for stage in stages if stage in held}
    wanted.update(by_alias)
    return wanted


def displaced(versions: Mapping[int, ModelVersion], number: int, stage: str, settings) -> list[ModelVersion]:
    """The versions moving `number` into `stage` archives: the others in it, when the stage is exclusive."""
    if stage not in settings.exclusive_stages:
        return []
    return [v for _, v in sorted(versions.items()) if not v.deleted and v.stage == stage and v.version != number]


def is_displacement(from_stage: str, to_stage: str, entered: set[str] | frozenset[str], settings) -> bool:
    """Whether a move `from_stage -> to_stage` is the archiving of a version displaced from an exclusive
    stage that another version of the same model `entered` in the same change: part of that promotion,
    judged with it, not on its own."""
    return to_stage == settings.archive_stage and from_stage in settings.exclusive_stages and from_stage in entered


def stage_of(manifest: Mapping | None, initial_stage: str) -> str:
    """A manifest's stage as read from its YAML (absent means the initial stage; case-insensitive)."""
    return str((manifest or {}).get("stage") or initial_stage).lower()


# -- what never changes ----------------------------------------------------------------------------

def immutable_changes(old: Mapping, new: Mapping) -> list[str]:
    """The immutable fields (what was registered) that differ between two manifests' YAML."""
    return [f for f in IMMUTABLE_FIELDS if old.get(f) != new.get(f)]


def revived(old: Mapping, new: Mapping) -> bool:
    """A tombstone that is no longer deleted: never allowed (register the artifact again)."""
    return bool(old.get("deleted")) and not new.get("deleted")


# -- reasons ---------------------------------------------------------------------------------------

def given_reason(reason: str | None) -> str | None:
    """A reason a person gave, or None (empty, or the placeholder reg writes when none was given)."""
    if not reason or not reason.strip() or reason.strip() == NO_REASON:
        return None
    return reason


def require_deletion_reason(reason: str | None) -> str:
    if not reason or not reason.strip():
        raise UsageError("a deletion needs a reason: pass --reason TEXT")
    return reason
