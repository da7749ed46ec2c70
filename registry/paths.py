"""Paths read from registry files stay inside their folder: the one rule `reg check`, the server hook and
every reader share.

A manifest's `artifact.path` and a pointer's `outs[].path` are written by whoever pushes, and DVC and
`reg pull --to` write wherever they say: `artifact.path: ../../x` once made `reg pull --to DIR` write
outside DIR. So nothing here is normalised or joined and then hoped for: the only accepted values are the
ones reg itself writes (`model`; a pointer file's own name), and every other reader refuses the file.
"""
from __future__ import annotations

from pathlib import Path

from .errors import HostileContent

ARTIFACT_DIR = "model"  # a version's artifact folder, beside its manifest
FORBIDDEN_POINTER_KEYS = ("wdir", "deps")  # they move what DVC writes, or make it fetch from elsewhere


def artifact_problem(artifact) -> str | None:
    """What is wrong with a manifest's `artifact.path`, or None (missing means the default)."""
    if not isinstance(artifact, dict) or "path" not in artifact:
        return None
    if artifact["path"] != ARTIFACT_DIR:
        return f"artifact.path is {str(artifact['path'])[:80]!r}; it must be {ARTIFACT_DIR!r} (the folder beside the manifest)"
    return None


def pointer_problem(data, rel: str) -> str | None:
    """What is wrong with the DVC pointer at `rel` (`models/churn/7/model.dvc`, `models/churn/production.dvc`),
    or None: it tracks exactly one output, named like the pointer and beside it, and nothing else."""
    expected = rel.rsplit("/", 1)[-1].removesuffix(".dvc")
    if not isinstance(data, dict):
        return "is not a DVC pointer (a mapping with outs)"
    extra = [k for k in FORBIDDEN_POINTER_KEYS if k in data]
    if extra:
        return f"has {extra[0]!r}, which a registry pointer never has (it holds outs and meta)"
    outs = data.get("outs")
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        return "must track exactly one output (outs: [{md5, path, ...}])"
    if outs[0].get("path") != expected:
        return (f"tracks path {str(outs[0].get('path'))[:80]!r}; a registry pointer tracks {expected!r}, "
                "the folder beside it")
    return None


def check_artifact(artifact, where: str) -> None:
    problem = artifact_problem(artifact)
    if problem:
        raise HostileContent(f"{where}: {problem}; refusing to use it: fix or restore it (git checkout -- {where})")


def check_pointer(data, rel: str) -> None:
    problem = pointer_problem(data, rel)
    if problem:
        raise HostileContent(f"{rel} {problem}; refusing to use it: fix or restore it (git checkout -- {rel})")


def inside(base: Path, rel: str, what: str = "path") -> Path:
    """`base / rel`, refused unless it stays inside `base` (after resolving links): the last guard of
    every writer, behind the checks above."""
    base = Path(base).resolve()
    target = (base / rel).resolve()
    if target == base or base not in target.parents:
        raise HostileContent(f"{what} {rel!r} leads outside {base}; refusing to write or read there")
    return target
