"""Everything DVC: init, remotes, hashing an artifact into the cache, pointer files, push and pull.

This is the one module that imports DVC, and only inside functions, so the read path never pays for it.
Register does not use `Repo.add` (it parses every .dvc file in the repository to look for overlapping
outputs, which grows with the number of versions); it hashes the folder into the cache with dvc-data,
writes the pointer itself, and pushes only that pointer.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .errors import StorageError, UsageError

DEFAULT_REMOTE_NAME = "reg"


def default_storage_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "reg" / "storage"


def _quiet_dvc() -> None:
    """DVC's package import installs handlers that print to the terminal; the engine never prints."""
    import logging

    # `import dvc` gives all three of its loggers console handlers (dvc_data warns about missing files).
    # Their level also gates DVC's progress bars (drawn unless above ERROR): none outside a transfer that
    # asked for them (transfer.progress), e.g. the "Checking cache" bar of hashing at register.
    for name in ("dvc", "dvc_data", "dvc_objects"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
        log.addHandler(logging.NullHandler())
        log.propagate = False
        log.setLevel(logging.CRITICAL)


def _repo(root: Path):
    from dvc.repo import Repo

    _quiet_dvc()

    try:
        return Repo(str(root))
    except Exception as exc:  # dvc raises many kinds; all mean the same to the user
        raise StorageError(f"DVC could not open {root}: {exc}; run `reg init` first") from None


def is_dvc_repo(root: Path) -> bool:
    return (root / ".dvc").is_dir()


def init(root: Path) -> None:
    from dvc.repo import Repo

    _quiet_dvc()
    if not is_dvc_repo(root):
        Repo.init(str(root), no_scm=False, force=False)


def remotes(root: Path) -> tuple[dict, str | None]:
    """(name -> url, default remote name) from DVC's merged config."""
    repo = _repo(root)
    try:
        conf = repo.config
        return {name: r.get("url") for name, r in conf.get("remote", {}).items()}, conf.get("core", {}).get("remote")
    finally:
        repo.close()


def add_remote(root: Path, url: str, *, name: str = DEFAULT_REMOTE_NAME, endpoint_url: str | None = None,
               access_key_id: str | None = None, secret_access_key: str | None = None,
               make_default: bool = True) -> str:
    """Add (or keep) a DVC remote. Credentials go to .dvc/config.local, never into a commit."""
    repo = _repo(root)
    try:
        with repo.config.edit("repo") as conf:
            section = conf["remote"].setdefault(name, {})
            section["url"] = url
            if endpoint_url:
                section["endpointurl"] = endpoint_url
            if make_default:
                conf["core"]["remote"] = name
        if access_key_id or secret_access_key:
            with repo.config.edit("local") as conf:
                section = conf["remote"].setdefault(name, {})
                if access_key_id:
                    section["access_key_id"] = access_key_id
                if secret_access_key:
                    section["secret_access_key"] = secret_access_key
    except Exception as exc:
        raise StorageError(f"could not configure DVC remote {name!r}: {exc}") from None
    finally:
        repo.close()
    return name


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

    repo = _repo(root)
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


def pointer_text(md5: str, size: int, nfiles: int, path: str, *, model: str | None = None,
                 version: int | None = None) -> str:
    """A .dvc file tracking `path` (beside it) with the given content hash: the same bytes for a
    version's own pointer and for a stage or alias pointer, so no copy is ever stored. Stage and alias
    pointers also name their version in DVC's free-form `meta`, so resolving them reads two files."""
    text = f"outs:\n- md5: {md5}\n  size: {size}\n  nfiles: {nfiles}\n  hash: md5\n  path: {path}\n"
    if model is not None and version is not None:
        text += f"meta:\n  reg:\n    model: {model}\n    version: {version}\n"
    return text


def push(root: Path, targets: list[str], remote: str | None, *, progress: bool = False,
         what: str | None = None) -> None:
    _transfer(root, "push", targets, remote, progress=progress, what=what, force=False)


def push_object(root: Path, md5: str, remote: str | None, *, progress: bool = False, what: str | None = None) -> None:
    """Push one hashed artifact (a `.dir` object and its files) from the cache by its hash: no pointer file
    and no repository scan needed, so it can happen before the version's number is known."""
    _transfer(root, "push", [], remote, progress=progress, what=what, force=False, objects=[md5])


def pull(root: Path, targets: list[str], remote: str | None, *, progress: bool = False,
         what: str | None = None, force: bool = False) -> None:
    """`force` replaces a working copy that differs from the pointer (a damaged registered artifact)."""
    _transfer(root, "pull", targets, remote, progress=progress, what=what, force=force)


def _transfer(root: Path, verb: str, targets: list[str], remote: str | None, *, progress: bool,
              what: str | None, force: bool, objects: list[str] | None = None) -> None:
    """Push or pull exactly `targets`, with bounded S3 timeouts; failures become one clear StorageError."""
    from . import transfer

    repo = _repo(root)
    try:
        name = remote or repo.config.get("core", {}).get("remote")
        if not name:
            raise StorageError(f"{root} has no DVC remote to {verb} {what or 'the artifact'} "
                               f"{'to' if verb == 'push' else 'from'}: set one with `reg init --remote URL` "
                               "(or `dvc remote add -d NAME URL`), then retry")
        if name not in repo.config.get("remote", {}):
            raise StorageError(f"DVC remote {name!r} (the registry's remote) is not configured in {root}: add it "
                               f"with `dvc remote add {name} URL`, or set `remote:` in models/registry.yaml to one "
                               "of `dvc remote list`")
        overrides = transfer.config_overrides(repo, remote)
        label, hidden = transfer.describe_remote(repo, remote), transfer.secrets(repo)
        if overrides:
            repo.close()
            from dvc.repo import Repo

            repo = Repo(str(root), config=overrides)
        paths = [str(root / t) for t in targets]
        try:
            transfer.probe(repo, remote, label, verb, what)
        except transfer.Unreachable as exc:
            raise StorageError(str(exc)) from None
        try:
            with transfer.progress(progress or transfer.SHOW_PROGRESS.get()), transfer.bounded_retries():
                if objects:
                    from dvc_data.hashfile.hash_info import HashInfo
                    from dvc_data.hashfile.tree import Tree

                    # A `.dir` object names its files; DataCloud.push sends only the objects it is given.
                    wanted = []
                    for md5 in objects:
                        wanted.append(HashInfo("md5", md5))
                        if md5.endswith(".dir"):
                            wanted += [hi for _, _, hi in Tree.load(repo.cache.local, HashInfo("md5", md5))]
                    result = repo.cloud.push(wanted, remote=name)
                    if result.failed:  # reported like any failed transfer below (the server may be gone)
                        raise RuntimeError(f"{len(result.failed)} object(s) failed to upload")
                elif verb == "push":
                    repo.push(targets=paths, remote=remote)
                else:
                    repo.pull(targets=paths, remote=remote, force=force)
        except StorageError:
            raise
        except Exception as exc:
            missing = verb == "pull" and type(exc).__name__ in ("CheckoutError", "FetchError", "DownloadError")
            text = transfer.message(verb, label, exc, hidden, what=what, missing_hint=missing)
            if missing or text.startswith(f"could not {verb}"):
                # DVC counts failed files without saying why; a server that went away mid-transfer is not
                # "missing data": ask it again, quickly, and say so if it is down.
                try:
                    transfer.probe(repo, remote, label, verb, what)
                except transfer.Unreachable as down:
                    text = str(down)
            raise StorageError(text) from None
    finally:
        repo.close()


FORMATS = ("lightgbm", "skops", "onnx", "ensemble", "pickle", "unknown")


def check_format(fmt: str) -> str:
    """A `--format` value, case-insensitive; a typo must not be recorded as a format nothing can load."""
    value = str(fmt).strip().lower()
    if value not in FORMATS:
        raise UsageError(f"unknown artifact format {fmt!r}; use one of {', '.join(FORMATS)} "
                         "(or leave --format out to detect it from the files)")
    return value


def detect_format(folder: Path) -> str:
    """The artifact's format from its files: an ensemble.json names members of other formats, and a LightGBM
    text model wins over its skops preprocessing."""
    if (folder / "ensemble.json").is_file():
        return "ensemble"
    files = [p for p in folder.rglob("*") if p.is_file()]
    if any(p.suffix.lower() == ".txt" and _is_lightgbm(p) for p in files):
        return "lightgbm"
    suffixes = {p.suffix.lower() for p in files}
    for fmt, exts in (("skops", {".skops"}), ("onnx", {".onnx"}), ("pickle", {".pkl", ".pickle", ".joblib"})):
        if suffixes & exts:
            return fmt
    return "unknown"


def _is_lightgbm(path: Path) -> bool:
    with contextlib.suppress(OSError):
        with open(path, "rb") as fh:
            return fh.read(5) == b"tree\n"
    return False


MAX_LISTING_BYTES = 64 << 20


def evict_damaged(root: Path, dir_md5: str) -> int:
    """Remove from the local DVC cache the objects of one artifact whose bytes do not hash to their names
    (a damaged remote, a torn download). DVC trusts its cache, so without this a pull retried after the
    remote is repaired would check the same bad bytes out again. Returns how many objects went."""
    import json
    import re

    if not re.fullmatch(r"[0-9a-f]{32}\.dir", dir_md5 or ""):
        return 0
    repo = _repo(root)
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


def remote_status(root: Path, md5s: list[str], remote: str | None) -> dict[str, tuple[str, str]]:
    """Whether the DVC remote holds each artifact whole: md5 -> ("ok" | "missing" | "damaged", detail).
    Missing: the `.dir` object or some of its files are not there. Damaged: the `.dir` object does not parse,
    or a file's size (and, on a local-folder remote, its md5) is not what the `.dir` object records."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    from . import transfer

    repo = _repo(root)
    out: dict[str, tuple[str, str]] = {}
    try:
        name = remote or repo.config.get("core", {}).get("remote")
        if not name or name not in repo.config.get("remote", {}):
            raise StorageError(f"{root} has no DVC remote {name or ''} to check: set `remote:` in models/registry.yaml "
                               "to one of `dvc remote list`")
        label = transfer.describe_remote(repo, name)
        try:
            transfer.probe(repo, name, label, "check", None)
        except transfer.Unreachable as exc:
            raise StorageError(str(exc)) from None
        odb = repo.cloud.get_remote_odb(name, "push")
        local = odb.fs.protocol in ("local", "file") if isinstance(odb.fs.protocol, str) else "local" in odb.fs.protocol
        for md5 in md5s:
            try:
                if not odb.exists(md5):
                    out[md5] = ("missing", "its .dir object is not there")
                    continue
                try:
                    tree = Tree.load(odb, HashInfo("md5", md5))
                except Exception:
                    out[md5] = ("damaged", "its .dir object does not parse")
                    continue
                entries = [(key, meta, hi) for key, meta, hi in tree]
                # The file system's own answer: the odb's (oids_exist) re-hashes a local remote's files and calls
                # a damaged one missing, sometimes deleting it.
                paths = [odb.oid_to_path(hi.value) for _, _, hi in entries]
                found = odb.fs.exists(paths) if paths else []
                missing = ["/".join(k) for (k, _, _), there in zip(entries, found) if not there]
                if missing:
                    out[md5] = ("missing", f"{len(missing)} of {len(entries)} files are not there ({missing[0]})")
                    continue
                bad = []
                for key, meta, hi in entries:
                    path = odb.oid_to_path(hi.value)
                    if meta is not None and meta.size is not None and odb.fs.size(path) != meta.size:
                        bad.append("/".join(key))
                    elif local and file_md5(Path(path)) != hi.value:
                        bad.append("/".join(key))
                out[md5] = ("damaged", f"{len(bad)} of {len(entries)} files differ from their hash ({bad[0]})") \
                    if bad else ("ok", "")
            except StorageError:
                raise
            except Exception as exc:
                out[md5] = ("missing", f"could not be read: {transfer.scrub(str(exc), transfer.secrets(repo))[:120]}")
        return out
    finally:
        repo.close()


def in_cache(root: Path, md5: str) -> bool:
    """Whether this machine's DVC cache has the artifact's `.dir` object (so `dvc push` can repair the remote)."""
    value = md5[:-4] if md5.endswith(".dir") else md5
    return (root / ".dvc" / "cache" / "files" / "md5" / value[:2] / (value[2:] + (".dir" if md5.endswith(".dir") else ""))).is_file()


def repush(root: Path, md5: str, remote: str | None) -> bool:
    """Send an artifact from this machine's cache to the remote again, asking the remote what it lacks
    (not DVC's local index of the remote, which can believe lost data is still there). False when this
    machine's cache does not have it whole."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    repo = _repo(root)
    try:
        name = remote or repo.config.get("core", {}).get("remote")
        cache = repo.cache.local
        try:
            tree = Tree.load(cache, HashInfo("md5", md5))
        except Exception:
            return False
        objs = [HashInfo("md5", md5)] + [hi for _, _, hi in tree]
        if not all(cache.exists(hi.value) for hi in objs):
            return False
        odb = repo.cloud.get_remote_odb(name, "push")
        for hi in objs:  # a damaged copy on the remote is replaced, not skipped
            path = odb.oid_to_path(hi.value)
            with contextlib.suppress(Exception):
                if odb.fs.exists(path) and odb.fs.size(path) != cache.fs.size(cache.oid_to_path(hi.value)):
                    odb.fs.rm(path)
                elif odb.fs.exists(path) and not hi.value.endswith(".dir") and odb.fs.protocol == "local" \
                        and file_md5(Path(path)) != hi.value:
                    odb.fs.rm(path)
        result = repo.cloud.transfer(cache, odb, objs)
        return not result.failed
    except Exception as exc:
        raise StorageError(f"could not push {md5} to remote {remote or ''}: {exc}") from None
    finally:
        repo.close()
