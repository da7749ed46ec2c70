"""Fetch one version's artifact from the DVC remote (only that version, never the whole registry),
verify it against the manifest, and optionally place it with its manifest in a folder for a service."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import artifacts, paths, yamlio
from .errors import NotFound, StorageError, UsageError
from .loading import MANIFEST_NAME, locate
from .loading.integrity import IntegrityError, verify
from .manifest import ModelVersion

# Written into every folder `reg pull --to` makes. Only a folder holding it (or a new or empty one) is
# ever replaced: a `manifest.yaml` alone proved nothing, and a project folder that had one lost its src/.
MARKER = ".reg-pull"
MARKER_TEXT = ("This folder was written by `reg pull --to`; the next `reg pull --to` here replaces all of it.\n"
               "Keep nothing else in it.\n")


def pull_version(root: Path, manifest: ModelVersion, *, remote: str | None = None, progress: bool = False,
                 force: bool = False) -> Path:
    """Make the version's artifact present and verified in the working tree; return its folder."""
    label = f"{manifest.model} v{manifest.version}"
    if manifest.deleted:
        raise NotFound(f"{label} was deleted ({manifest.deleted_reason}); its artifact is no longer tracked")
    pointer = f"{manifest.artifact_path}.dvc"
    if not (root / pointer).is_file():
        raise NotFound(f"{label} has no artifact pointer {pointer}; the registry is incomplete (run `reg check`)")
    paths.check_pointer(yamlio.read(root / pointer, pointer), pointer)  # DVC writes where it says
    if remote is None:
        from .settings import read

        remote = read(root).remote
    artifacts.pull(root, [pointer], remote, progress=progress, what=label, force=force)
    folder = root / manifest.artifact_path
    try:
        verify(folder, manifest)
    except IntegrityError:
        # Bad bytes from the remote: drop them from the cache and the working tree, or DVC (which trusts
        # both) would serve them again to a retry made after the remote is repaired.
        artifacts.evict_damaged(root, manifest.md5 or "")
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def pull(root: Path, manifest: ModelVersion, *, to: Path | None = None, remote: str | None = None,
         progress: bool = False) -> Path:
    """`reg pull`: the verified artifact, in the working tree, or copied with its manifest into `to`."""
    if to is not None:
        check_destination(root, Path(to))  # before any download: a refused folder changes nothing
    folder = locate(root, manifest)
    damaged = False
    if folder is not None:
        try:
            verify(folder, manifest)
        except IntegrityError:
            folder, damaged = None, True  # a changed copy of registered bytes: restore them
    if folder is None:
        folder = pull_version(root, manifest, remote=remote, progress=progress, force=damaged)
    if to is None:
        return folder
    return place(root, folder, manifest, Path(to))


def place(root: Path, folder: Path, manifest: ModelVersion, to: Path) -> Path:
    """Write `to`/manifest.yaml and `to`/<artifact path>/, replacing an earlier `reg pull --to` there."""
    to = check_destination(root, to)
    tmp = to.with_name(f".{to.name}.reg-{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        target = paths.inside(tmp, manifest.artifact.get("path", paths.ARTIFACT_DIR), "artifact.path")
        shutil.copytree(folder, target)
        shutil.copyfile(root / manifest.path, tmp / MANIFEST_NAME)
        (tmp / MARKER).write_text(MARKER_TEXT)
        verify(target, manifest)
        if to.exists():
            old = to.with_name(f".{to.name}.reg-{os.getpid()}.old")
            os.replace(to, old)
            os.replace(tmp, to)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, to)
    except OSError as exc:
        raise StorageError(f"could not write {to}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return to


def is_reg_folder(folder: Path) -> bool:
    """Whether reg made `folder` (so it may replace it whole)."""
    marker = folder / MARKER
    return marker.is_file() and not marker.is_symlink()


def check_destination(root: Path, to: Path) -> Path:
    """`to`, resolved, if `reg pull --to` may write there: new, empty, or an earlier `--to` folder."""
    to = to.resolve()
    if to.exists() and not to.is_dir():
        raise UsageError(f"--to {to} is a file; give a folder (new, empty, or an earlier `reg pull --to` folder)")
    if to.exists() and any(to.iterdir()) and not is_reg_folder(to):
        raise UsageError(f"{to} exists and is not an earlier `reg pull --to` folder (it has no {MARKER}); give an "
                         "empty or new folder")
    if to == root or root in to.parents and to.relative_to(root).parts[:1] == ("models",):
        raise UsageError(f"{to} is inside the registry's models/ folder; give a folder outside it")
    return to
