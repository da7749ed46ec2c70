"""The DVC remote: push and pull exactly the targets asked for (bounded S3 timeouts, one clear message
on failure), whether the remote holds each artifact whole, and sending one again from the cache."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import StorageError
from .hashing import file_md5
from .repo import open_repo


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
    from .. import transfer

    repo = open_repo(root)
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


def remote_status(root: Path, md5s: list[str], remote: str | None) -> dict[str, tuple[str, str]]:
    """Whether the DVC remote holds each artifact whole: md5 -> ("ok" | "missing" | "damaged", detail).
    Missing: the `.dir` object or some of its files are not there. Damaged: the `.dir` object does not parse,
    or a file's size (and, on a local-folder remote, its md5) is not what the `.dir` object records."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    from .. import transfer

    repo = open_repo(root)
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


def repush(root: Path, md5: str, remote: str | None) -> bool:
    """Send an artifact from this machine's cache to the remote again, asking the remote what it lacks
    (not DVC's local index of the remote, which can believe lost data is still there). False when this
    machine's cache does not have it whole."""
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    repo = open_repo(root)
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
