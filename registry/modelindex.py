"""Each model's stages, aliases and tombstones by version number, keyed by the git tree of its folder.

A change (promote, alias, delete, register) needs the whole model only to know which version holds each
stage and alias; the manifests it rewrites are a handful. So a change reads this index and the manifests it
touches, never all ten thousand. The index is derived, kept under `.git/reg/index/` (never committed),
and trusted only for the exact tree it was made from (`git.tree_id(root, "HEAD", "models/<name>")`): after a pull or
a commit it is brought forward by the manifests `git diff-tree` says changed, read from git itself.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import git, rules, yamlio
from .errors import CorruptState, GitError
from .manifest import version_from_dict

INDEX_VERSION = 1
MAX_CHANGED = 2_000  # more changed manifests than this since the last index: rebuild from the files instead


@dataclass(slots=True)
class Brief:
    """What stage and alias bookkeeping needs of one version (a ModelVersion has the same fields)."""
    version: int
    stage: str
    aliases: list[str]
    deleted: bool


def brief_of(v) -> Brief:
    return Brief(v.version, v.stage, list(v.aliases), bool(v.deleted))


def _path(root: Path, name: str) -> Path:
    return git.git_dir(root) / "reg" / "index" / f"{name}.json"


def _read(root: Path, name: str) -> tuple[str | None, dict[int, Brief]]:
    """The saved index: (tree id, briefs), or (None, {}) when there is none or it is unreadable."""
    try:
        data = json.loads(_path(root, name).read_text())
        if data.get("v") != INDEX_VERSION or not isinstance(data.get("tree"), str):
            return None, {}
        briefs = {int(n): Brief(int(n), str(stage), [str(a) for a in aliases], bool(deleted))
                  for n, stage, aliases, deleted in data["entries"]}
        return data["tree"], briefs
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None, {}


def save(root: Path, name: str, tree: str, briefs: dict[int, Brief]) -> None:
    path = _path(root, name)
    entries = [[b.version, b.stage, b.aliases, b.deleted] for _, b in sorted(briefs.items())]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"v": INDEX_VERSION, "tree": tree, "entries": entries}, separators=(",", ":")))
        os.replace(tmp, path)
    except OSError:
        pass  # an index we cannot write only costs speed


def _brought_forward(root: Path, name: str, old_tree: str, new_tree: str,
                     briefs: dict[int, Brief]) -> dict[int, Brief] | None:
    """The index of `old_tree` updated to `new_tree` from the manifests that differ, read from git (so a
    dirty working tree can never leak into it); None when too much changed to be worth it."""
    changes = [(found[1], ch) for ch in git.tree_changes(root, new_tree, old_tree, [])
               for found in [rules.manifest_of(f"models/{name}/{ch.path}")]
               if found]  # `7/manifest.yaml`, as state.version_numbers reads them; never `007/` or `٧/`
    if len(changes) > MAX_CHANGED:
        return None
    texts = git.blobs(root).read_many([ch.new for _, ch in changes if ch.new])
    out = dict(briefs)
    for number, ch in changes:
        rel = f"models/{name}/{ch.path}"
        if ch.new is None:
            out.pop(number, None)
            continue
        mv = version_from_dict(yamlio.parse(texts[ch.new].decode("utf-8", "replace"), rel), rel)
        if (mv.model, mv.version) != (name, number):
            raise CorruptState(f"{rel} says it is {mv.model} v{mv.version}; a manifest must match its folder: "
                               f"fix or restore it (git checkout -- {rel})")
        out[number] = brief_of(mv)
    return dict(sorted(out.items()))


def lookup(root: Path, name: str, tree: str) -> dict[int, Brief] | None:
    """The briefs of `name` at its folder's `tree`, from the saved index (brought forward when it was made
    from an older tree); None when there is no saved index to start from."""
    saved_tree, briefs = _read(root, name)
    if saved_tree is None:
        return None
    if saved_tree == tree:
        return briefs
    try:
        forward = _brought_forward(root, name, saved_tree, tree, briefs)
    except (GitError, KeyError):  # a tree this clone no longer has (gc'd after a rewrite): rebuild instead
        return None
    if forward is not None:
        save(root, name, tree, forward)
    return forward
