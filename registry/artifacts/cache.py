"""This machine's DVC cache: an artifact copied in and hashed into it (with dvc-data, no repository-wide
scan), whether it holds an artifact, and removing objects whose bytes do not match their names."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from ..errors import StorageError, UsageError
from .hashing import file_md5
from .repo import open_repo


def copy_in(src: Path, dest: Path) -> None:
    """Copy a file or folder to `dest` (always a folder), via a temporary name so a failure leaves nothing."""
    if not src.exists():
        raise UsageError(f"artifact path {src} does not exist; give the file or folder to register")
    if src.is_dir() and not any(src.iterdir()):
        raise UsageError(f"artifact folder {src} is empty; give the folder that holds the model files")
    if src.is_file() and src.stat().st_size == 0:
        raise UsageError(f"artifact file {src} is empty; give the trained model file")
    tmp = dest.with_name(f".{dest.name}.reg-{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if src.is_dir():
        shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(".git", ".dvc", "__pycache__"))
        if not any(p.is_file() for p in tmp.rglob("*")):
            shutil.rmtree(tmp, ignore_errors=True)
            raise UsageError(f"artifact folder {src} holds no model files (only .git, .dvc, __pycache__ or "
                             "empty folders); give the folder that holds the model files")
    else:
        tmp.mkdir(parents=True)
        shutil.copy2(src, tmp / src.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, dest)


def hash_into_cache(root: Path, folder: Path) -> dict:
    """Hash `folder` into the DVC cache (dvc-data, no repository-wide scan) and describe it."""
    from dvc_data.hashfile.build import build
    from dvc_data.hashfile.transfer import transfer
    from dvc_objects.fs.local import LocalFileSystem

    repo = open_repo(root)
    try:
        odb = repo.cache.local
        staging, meta, obj = build(odb, str(folder), LocalFileSystem(), "md5")
        result = transfer(staging, odb, {obj.hash_info}, shallow=False, hardlink=False)
        # dvc-data reports files it could not write (a full disk) in the result instead of raising.
        if result.failed or not odb.exists(obj.hash_info.value):
            raise OSError(28 if shutil.disk_usage(folder).free < (1 << 20) else 5,
                          "No space left on device" if shutil.disk_usage(folder).free < (1 << 20)
                          else f"{len(result.failed)} file(s) could not be written")
    except Exception as exc:
        if "No space left on device" in str(exc) or getattr(exc, "errno", None) == 28:
            raise StorageError(f"the disk is full (No space left on device) while adding {folder.name} to the "
                               "DVC cache; nothing was registered: free some space and run the command again") from None
        raise StorageError(f"could not add {folder} to the DVC cache: {exc}") from None
    finally:
        repo.close()
    files = sum(1 for _, _, names in os.walk(folder) for _ in names)
    return {"md5": obj.hash_info.value, "size": int(meta.size or 0), "files": int(meta.nfiles or files)}


def in_cache(root: Path, md5: str) -> bool:
    """Whether this machine's DVC cache has the artifact's `.dir` object (so `dvc push` can repair the remote)."""
    value = md5[:-4] if md5.endswith(".dir") else md5
    return (root / ".dvc" / "cache" / "files" / "md5" / value[:2] / (value[2:] + (".dir" if md5.endswith(".dir") else ""))).is_file()


MAX_LISTING_BYTES = 64 << 20


def evict_damaged(root: Path, dir_md5: str) -> int:
    """Remove from the local DVC cache the objects of one artifact whose bytes do not hash to their names
    (a damaged remote, a torn download). DVC trusts its cache, so without this a pull retried after the
    remote is repaired would check the same bad bytes out again. Returns how many objects went."""
    import json
    import re

    if not re.fullmatch(r"[0-9a-f]{32}\.dir", dir_md5 or ""):
        return 0
    repo = open_repo(root)
    try:
        odb = repo.cache.local
        listing = Path(odb.oid_to_path(dir_md5))
        oids = []
        if listing.is_file() and listing.stat().st_size <= MAX_LISTING_BYTES:
            try:
                entries = json.loads(listing.read_bytes())
                oids = [e["md5"] for e in entries if isinstance(e, dict) and re.fullmatch(r"[0-9a-f]{32}",
                                                                                          str(e.get("md5")))]
            except (ValueError, TypeError):
                oids = []
        removed = 0
        for oid, path in [(o, Path(odb.oid_to_path(o))) for o in oids] + [(dir_md5[:-4], listing)]:
            with contextlib.suppress(OSError):
                if path.is_file() and file_md5(path) != oid:
                    path.unlink()
                    removed += 1
        return removed
    finally:
        repo.close()
