"""`reg init`: make a git repository a registry (DVC, a remote, models/registry.yaml) in one commit."""
from __future__ import annotations

import contextlib
from pathlib import Path

from . import artifacts, git, yamlio
from .changes import Applied, ChangeSet, NothingToChange, apply
from .errors import StateError, UsageError
from .settings import DEFAULT_TEXT, SETTINGS_PATH

DVC_FILES = [".dvc/config", ".dvc/.gitignore", ".dvcignore"]
CREDENTIALS_FILE = ".dvc/config.local"  # DVC's per-clone config: where the S3 secret lives


def init(root: Path, remote_url: str | None = None, *, endpoint_url: str | None = None,
         access_key_id: str | None = None, secret_access_key: str | None = None) -> Applied | None:
    """Returns None when the repository is already a registry and nothing was asked to change."""
    if endpoint_url and not remote_url:
        raise UsageError("--endpoint-url needs --remote s3://bucket/prefix")
    if remote_url is not None and not remote_url.strip():
        raise UsageError("--remote is empty: give a local path or s3://bucket/prefix")
    _check_remote(remote_url, endpoint_url)

    from .operations import check_not_ignored

    check_not_ignored(Path(root), SETTINGS_PATH)

    def build(state) -> ChangeSet:
        # DVC's own files may be new and uncommitted (a `dvc init` never committed): they join the commit.
        # Edits to committed ones are the user's and are refused like any dirty registry path.
        changed = set(git.dirty_paths(root, DVC_FILES)) & _tracked_at_head(root)
        if changed:
            raise StateError(f"{sorted(changed)[0]} has uncommitted changes; commit or stash them first")
        artifacts.init(root)
        configured, default = artifacts.remotes(root)
        settings_file = root / SETTINGS_PATH
        current = yamlio.read(settings_file, SETTINGS_PATH) if settings_file.is_file() else None
        name = (current or {}).get("remote")
        if remote_url:
            url = remote_url if "://" in remote_url else str(Path(remote_url).expanduser().resolve())
            name = next((n for n, u in configured.items() if u == url), None)
            if name is None:
                name = artifacts.DEFAULT_REMOTE_NAME
                i = 1
                while name in configured:
                    i += 1
                    name = f"{artifacts.DEFAULT_REMOTE_NAME}{i}"
            if "://" not in url:
                try:
                    Path(url).mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise UsageError(f"cannot create the --remote folder {url}: {exc.strerror}; "
                                     "give a folder you can write to") from None
            s3 = url.startswith("s3://")
            if s3 and (access_key_id or secret_access_key):
                keep_private(root / CREDENTIALS_FILE)  # exists 0600 before DVC writes a secret into it
            artifacts.add_remote(root, url, name=name, endpoint_url=endpoint_url,
                                 access_key_id=access_key_id if s3 else None,
                                 secret_access_key=secret_access_key if s3 else None, make_default=default is None)
        elif name is None or name not in configured:
            if default:
                name = default  # a repository that already uses DVC keeps its remote
            else:
                storage = artifacts.default_storage_dir()
                storage.mkdir(parents=True, exist_ok=True)
                name = artifacts.add_remote(root, str(storage), name=artifacts.DEFAULT_REMOTE_NAME)
        keep_private(root / CREDENTIALS_FILE, create=False)  # DVC may have replaced it; an old one may be wide
        cs = ChangeSet(subject="reg: init registry", trailers={"Reg-Action": "init"})
        if current is None:
            cs.writes[SETTINGS_PATH] = DEFAULT_TEXT.format(remote=name)
        elif current.get("remote") != name:
            cs.writes[SETTINGS_PATH] = yamlio.update(settings_file.read_text(), {"remote": name})
        for rel in DVC_FILES:
            p = root / rel
            if p.is_file() and (rel not in _tracked(root) or git.dirty_paths(root, [rel])):
                cs.writes[rel] = p.read_text()
        cs.result = name
        return cs

    saved = _save_dvc_files(root)
    try:
        return apply(root, build, push=False)
    except NothingToChange:
        return None
    except BaseException:
        _restore_dvc_files(root, saved)
        raise


def keep_private(path: Path, *, create: bool = True) -> None:
    """A file that holds credentials is readable by its owner only: created 0600, narrowed if wider."""
    import os
    import stat

    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    if path.is_file() and not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)


def _check_remote(url: str | None, endpoint_url: str | None) -> None:
    """What DVC would only refuse after `dvc init` and half a config edit, refused first, in reg's words."""
    if url is None:
        return
    scheme, sep, rest = url.partition("://")
    # Credentials may come from REG_ACCESS_KEY_ID/REG_SECRET_ACCESS_KEY in the environment, so a local
    # remote ignores them (build() passes them only to s3://); an --endpoint-url is always the user's.
    if endpoint_url and scheme != "s3":
        raise UsageError(f"--endpoint-url applies only to an s3:// remote, not {url!r}")
    if sep and scheme == "s3" and not rest.split("/")[0]:
        raise UsageError(f"--remote {url!r} names no bucket: write s3://bucket/prefix")
    if not sep and Path(url).expanduser().exists() and not Path(url).expanduser().is_dir():
        raise UsageError(f"--remote {url} is a file: give a folder (created if missing) or s3://bucket/prefix")


def _save_dvc_files(root: Path) -> dict:
    saved = {rel: (root / rel).read_text() if (root / rel).is_file() else None
             for rel in DVC_FILES + [".dvc/config.local"]}
    return {**saved, "dir": (root / ".dvc").exists(), "models": (root / "models").exists()}


def _restore_dvc_files(root: Path, saved: dict) -> None:
    """A failed init leaves DVC's files as they were: `dvc init` stages what it creates, so unstage it too."""
    files = {rel: text for rel, text in saved.items() if rel not in ("dir", "models")}
    created = [rel for rel, text in files.items() if text is None]  # gone from disk maybe, still staged
    if created:
        git.run(["rm", "-q", "-f", "--cached", "--ignore-unmatch", "--", *created], root, check=False)
    for rel, text in files.items():
        path = root / rel
        if text is None:
            path.unlink(missing_ok=True)
        elif not path.is_file() or path.read_text() != text:
            path.write_text(text)
    keep_private(root / CREDENTIALS_FILE, create=False)
    if not saved["models"]:
        with contextlib.suppress(OSError):
            (root / "models").rmdir()  # only if empty
    if not saved["dir"]:
        import shutil

        shutil.rmtree(root / ".dvc", ignore_errors=True)


def _tracked_at_head(root: Path) -> set[str]:
    if git.head(root) is None:
        return set()
    return set(git.run(["ls-tree", "-r", "--name-only", "HEAD", "--", *DVC_FILES], root).split())


def _tracked(root: Path) -> set[str]:
    return set(git.run(["ls-files", "--", *DVC_FILES], root).split())
