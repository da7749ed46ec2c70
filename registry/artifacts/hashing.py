"""Content hashes as DVC records them, computed without a cache, and the pointer (.dvc) text that records
an artifact's hash."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import StorageError


def pointer_text(md5: str, size: int, nfiles: int, path: str, *, model: str | None = None,
                 version: int | None = None) -> str:
    """A .dvc file tracking `path` (beside it) with the given content hash: the same bytes for a
    version's own pointer and for a stage or alias pointer, so no copy is ever stored. Stage and alias
    pointers also name their version in DVC's free-form `meta`, so resolving them reads two files."""
    text = f"outs:\n- md5: {md5}\n  size: {size}\n  nfiles: {nfiles}\n  hash: md5\n  path: {path}\n"
    if model is not None and version is not None:
        text += f"meta:\n  reg:\n    model: {model}\n    version: {version}\n"
    return text


def file_md5(path: Path) -> str:
    """A file's md5, as dvc.lock records a file dependency (streamed, for large data sets)."""
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_md5(path: Path) -> str:
    """DVC's content hash of a file or folder, as dvc.lock records it, computed without touching any cache."""
    import tempfile

    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.db.local import LocalHashFileDB
    from dvc_objects.fs.local import LocalFileSystem

    fs = LocalFileSystem()
    try:  # dry_run: hashes only, nothing is written to this (never created) object store
        _, _, obj = build(LocalHashFileDB(fs, os.path.join(tempfile.gettempdir(), "reg-dry-run")), str(path), fs,
                          "md5", dry_run=True)
    except Exception as exc:
        raise StorageError(f"could not hash {path}: {exc}") from None
    return obj.hash_info.value
