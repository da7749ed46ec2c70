"""Proving an artifact's bytes are the registered ones.

Every file of the artifact is read once: its bytes are hashed the way DVC hashes a folder (an md5 per
file, then the md5 of the sorted JSON list of `{md5, relpath}` plus ".dir") and compared with the
manifest's `artifact.md5`. The bytes of the files a loader wants are kept, so what is deserialised is
exactly what was hashed.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from ..errors import NotFound, StorageError
from ..manifest import ModelVersion

CHUNK = 1 << 20


class IntegrityError(StorageError):
    """An artifact whose bytes are not the ones its manifest registered."""


def list_files(folder: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), folder)
            out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def digest(folder: Path, keep: Callable[[str], bool] = lambda rel: False) -> tuple[str, int, int, dict[str, bytes]]:
    """(DVC dir md5, total size, file count, {relpath: bytes} of the files `keep` selects)."""
    entries, size, kept = [], 0, {}
    for rel in list_files(folder):
        h = hashlib.md5()
        want = keep(rel)
        parts = []
        with open(folder / rel, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                if want:
                    parts.append(chunk)
        if want:
            kept[rel] = b"".join(parts)
        entries.append({"md5": h.hexdigest(), "relpath": rel})
    tree = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(tree).hexdigest() + ".dir", size, len(entries), kept


def verify(folder: Path, manifest: ModelVersion, keep: Callable[[str], bool] = lambda rel: False, *,
           restore: str | None = None) -> dict[str, bytes]:
    """Raise IntegrityError unless `folder` holds exactly the bytes the manifest registered; `restore` is the
    command that brings them back, when not `reg pull REF`."""
    label = f"{manifest.model} v{manifest.version}"
    expected = manifest.md5
    if not expected:
        raise IntegrityError(f"the manifest of {label} records no artifact md5, so its bytes cannot be verified")
    if not folder.is_dir():
        raise NotFound(f"the artifact of {label} is not at {folder}; run `reg pull {manifest.model}/{manifest.version}`")
    md5, size, nfiles, kept = digest(folder, keep)
    if md5 != expected:
        want_size, want_files = manifest.artifact.get("size"), manifest.artifact.get("files")
        how = ""
        if want_files is not None and int(want_files) != nfiles:
            how = f" ({nfiles} files, registered {want_files})"
        elif want_size is not None and int(want_size) != size:
            how = f" ({size} bytes, registered {want_size}: truncated or changed)"
        fix = f"Restore it with `{restore or f'reg pull {manifest.model}/{manifest.version}'}`"
        pointer = folder.parent / f"{folder.name}.dvc"
        if folder.parent.name == manifest.model and pointer.is_file():
            # A stage or alias folder on a serving host: most often `git pull` ran without `dvc pull`.
            fix = (f"Fetch the registered bytes with `dvc pull --force models/{manifest.model}/{pointer.name}` "
                   f"(after a git pull the folder is most often just stale), or `reg pull {manifest.model}/"
                   f"{manifest.version}`")
        raise IntegrityError(f"the artifact of {label} at {folder} does not match its manifest{how}: content hash "
                             f"{md5} is not the registered {expected}. It was changed or is incomplete; refusing "
                             f"to load it. {fix}")
    return kept
