"""The folder a serving host reads: what `reg sync --to DIR` writes and nothing else touches.

    DIR/.reg-sync               marker: reg made this folder, and which ref it follows
    DIR/versions/<N>-<hash8>/   manifest.yaml + model/, written whole under a temporary name, never changed
    DIR/current -> versions/... a relative symlink, replaced by renaming a new link over it (atomic)
    DIR/status.json             what is served since when, when the registry was last read, the last error

A reader that opened DIR/current/... keeps reading one version's files: version folders are immutable and
the last few are kept after a swap, so the one just replaced is still there.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import CorruptState, NotFound, StateError, StorageError, UsageError
from .loading import MANIFEST_NAME
from .loading.integrity import IntegrityError, verify
from .manifest import ModelVersion

MARKER = ".reg-sync"
LOCK = ".reg-sync.lock"
STATUS = "status.json"
CURRENT = "current"
VERSIONS = "versions"
NAME_RE = re.compile(r"(\d{1,12})-([0-9a-f]{8})")
MAX_STATUS_BYTES = 1 << 20


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def artifact_dir(manifest: ModelVersion) -> str:
    """The artifact's folder name inside a version folder, from the manifest (pushed by anyone: checked)."""
    sub = manifest.artifact.get("path", "model")
    if not isinstance(sub, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", sub):
        raise CorruptState(f"the manifest of {manifest.model} v{manifest.version} gives artifact path {sub!r}, "
                           "which is not a plain folder name; it is not served (fix the manifest in the registry)")
    return sub


def version_name(manifest: ModelVersion) -> str:
    """`<N>-<first 8 of the content hash>`: the hash comes from a manifest, so it is checked, not trusted."""
    artifact_dir(manifest)
    md5 = (manifest.md5 or "").lower()
    if not re.fullmatch(r"[0-9a-f]{32}(\.dir)?", md5):
        raise StorageError(f"{manifest.model} v{manifest.version} records no valid artifact md5 ({md5!r}), so its "
                           "bytes cannot be verified; it is not served")
    return f"{int(manifest.version)}-{md5[:8]}"


@dataclass
class ServingDir:
    path: Path

    @classmethod
    def open(cls, path: Path, ref: str, *, registry_root: Path | None = None) -> "ServingDir":
        """DIR, made if new or empty; refused if it holds anything reg sync did not make, or follows another ref."""
        path = Path(path).absolute()
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise UsageError(f"--to {path} is not a folder; give a new or empty folder (or one `reg sync` made)")
        if registry_root is not None:
            root = Path(registry_root).resolve()
            real = path.resolve()
            if real == root or root in real.parents and real.relative_to(root).parts[:1] in (("models",), (".git",),
                                                                                               (".dvc",)):
                raise UsageError(f"--to {path} is inside the registry clone's models/, .git or .dvc; give a folder "
                                 "outside it (e.g. /srv/models/churn)")
            if real in root.parents:
                raise UsageError(f"--to {path} holds the registry clone itself; give a folder of its own")
        marker = path / MARKER
        if path.is_dir() and any(path.iterdir()):
            if marker.is_symlink() or not marker.is_file():
                raise UsageError(f"{path} exists and was not made by `reg sync` (no {MARKER}); give a new or empty "
                                 "folder")
            followed = _read_json(marker).get("ref")
            if followed != ref:
                raise UsageError(f"{path} follows {followed!r}, not {ref!r}; give another folder for {ref}, or "
                                 f"remove {path} to start over")
        else:
            try:
                (path / VERSIONS).mkdir(parents=True, exist_ok=True)
                _write_json(marker, {"made_by": "reg sync", "ref": ref})
            except OSError as exc:
                raise StorageError(f"could not make {path}: {exc.strerror or exc}") from None
        (path / VERSIONS).mkdir(exist_ok=True)
        return cls(path)

    # -- one writer at a time ---------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self):
        """Held while a process follows DIR: two followers would swap the link under each other."""
        fh = open(self.path / LOCK, "a+")
        try:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read(32).strip()
                raise StateError(f"another `reg sync` (pid {holder or '?'}) is following {self.path}; stop it "
                                 "first, or give another folder") from None
            fh.seek(0)
            fh.truncate()
            fh.write(str(os.getpid()))
            fh.flush()
            yield self
        finally:
            fh.close()

    # -- versions ---------------------------------------------------------------------------------
    def current(self) -> str | None:
        """The version folder name DIR/current points at, if it is one of ours and is there."""
        link = self.path / CURRENT
        try:
            target = os.readlink(link)
        except OSError:
            return None
        parts = Path(target).parts
        if len(parts) != 2 or parts[0] != VERSIONS or not NAME_RE.fullmatch(parts[1]):
            return None
        folder = self.path / VERSIONS / parts[1]
        return parts[1] if folder.is_dir() and not folder.is_symlink() else None

    def folder(self, name: str) -> Path:
        return self.path / VERSIONS / name

    def intact(self, manifest: ModelVersion) -> Path | None:
        """The kept folder of this version if it still holds exactly the registered bytes (a rollback is then
        just a swap); a changed one is removed, never served and never reused."""
        dest = self.folder(version_name(manifest))
        if not dest.is_dir() or dest.is_symlink():
            return None
        try:
            verify(dest / artifact_dir(manifest), manifest)
            return dest
        except (IntegrityError, NotFound, OSError):
            self._remove(dest)
            return None

    def stage(self, source: Path, manifest_file: Path, manifest: ModelVersion) -> Path:
        """Write DIR/versions/<N>-<hash>/ (manifest.yaml + the artifact) under a temporary name, verify the
        copy, rename it in."""
        name = version_name(manifest)
        dest = self.folder(name)
        sub = artifact_dir(manifest)
        tmp = self.path / VERSIONS / f".{name}.{os.getpid()}.tmp"
        self._remove(tmp)
        try:
            tmp.mkdir()
            shutil.copytree(source, tmp / sub)
            shutil.copyfile(manifest_file, tmp / MANIFEST_NAME)
            verify(tmp / sub, manifest, restore=f"reg sync (it rewrites {dest})")
            self._remove(dest)
            os.replace(tmp, dest)
        except OSError as exc:
            raise StorageError(f"could not write {dest}: {exc.strerror or exc}") from None
        finally:
            self._remove(tmp)
        return dest

    def swap(self, name: str) -> None:
        """Point DIR/current at versions/<name> by renaming a new link over the old one."""
        if not NAME_RE.fullmatch(name) or not self.folder(name).is_dir():
            raise StorageError(f"{self.folder(name)} is not a version folder; nothing swapped")
        tmp = self.path / f".{CURRENT}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        try:
            os.symlink(f"{VERSIONS}/{name}", tmp)
            os.replace(tmp, self.path / CURRENT)
            os.utime(self.folder(name))  # most recently served first, for prune
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageError(f"could not swap {self.path / CURRENT}: {exc.strerror or exc}") from None

    def prune(self, keep: int) -> list[str]:
        """Remove all but the `keep` most recently served version folders: never the current one, nor the one
        it just replaced (a reader may still be in it)."""
        keep = max(keep, 2)
        current = self.current()
        names = [p.name for p in (self.path / VERSIONS).iterdir()
                 if NAME_RE.fullmatch(p.name) and p.is_dir() and not p.is_symlink()]
        names.sort(key=lambda n: self.folder(n).stat().st_mtime, reverse=True)
        kept = [n for n in names if n == current][:1]
        for n in names:
            if len(kept) >= keep:
                break
            if n not in kept:
                kept.append(n)
        removed = [n for n in names if n not in kept]
        for n in removed:
            self._remove(self.folder(n))
        return removed

    def _remove(self, path: Path) -> None:
        if path.is_symlink() or path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
        elif path.is_dir():
            shutil.rmtree(path, ignore_errors=True)

    # -- status -----------------------------------------------------------------------------------
    def status(self) -> dict:
        return _read_json(self.path / STATUS)

    def write_status(self, status: dict) -> None:
        _write_json(self.path / STATUS, status)


def _read_json(path: Path) -> dict:
    try:
        if path.is_symlink() or path.stat().st_size > MAX_STATUS_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise StorageError(f"could not write {path}: {exc.strerror or exc}") from None
