"""The DVC repository: opening it quietly (DVC's import installs printing handlers; the engine never
prints), `dvc init`, its remotes and where a local remote goes by default."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import StorageError

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


def open_repo(root: Path):
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
    repo = open_repo(root)
    try:
        conf = repo.config
        return {name: r.get("url") for name, r in conf.get("remote", {}).items()}, conf.get("core", {}).get("remote")
    finally:
        repo.close()


def add_remote(root: Path, url: str, *, name: str = DEFAULT_REMOTE_NAME, endpoint_url: str | None = None,
               access_key_id: str | None = None, secret_access_key: str | None = None,
               make_default: bool = True) -> str:
    """Add (or keep) a DVC remote. Credentials go to .dvc/config.local, never into a commit."""
    repo = open_repo(root)
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
