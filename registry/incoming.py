"""An artifact on its way into the registry: copied, hashed and pushed ONCE, before the change set is built.

None of this depends on the version number, so `register`'s build (which a rejected push replays on the
new head, renumbering) only names the folder and writes small files; moving the staged folder into
`models/<name>/<N>/model` is a rename done by `changes.apply`. Staged folders live under
`.git/reg/incoming/<pid>-<token>/` (never committed); one whose command died is removed by the next.
"""
from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import artifacts, journal, lineage as lineage_mod, refs
from .errors import StateError, UsageError
from .plainfiles import plain_files


@dataclass
class StagedArtifact:
    source: Path  # what the user gave
    folder: Path  # the staged copy (moved into the version folder by apply)
    info: dict  # the manifest's artifact: path, md5, size, files, format
    signature: dict | None
    lineage: dict = field(default_factory=dict)

    def discard(self) -> None:
        """Remove the staging folder (a no-op once apply has moved the artifact into place)."""
        shutil.rmtree(self.folder.parent, ignore_errors=True)


def stage(root: Path, path: str | Path, *, remote: str | None, fmt: str | None = None, signature: dict | None = None,
          params_file: Path | None = None, dvc_stage: str | None = None,
          extra_lineage: dict | None = None) -> StagedArtifact:
    """Copy `path` into a staging folder, hash it into the DVC cache, push it to the DVC remote and collect
    its lineage: the expensive, number-independent half of a registration. A failure leaves nothing."""
    if fmt is not None:
        fmt = artifacts.check_format(fmt)
    if not artifacts.is_dvc_repo(root):
        raise StateError(f"{root} is not a registry yet; run `reg init` first")
    if not str(path).strip() or not Path(path).exists():
        raise UsageError(f"artifact path {str(path)!r} does not exist; give the file or folder to register")
    path = Path(path).resolve()
    if path == root or root in path.parents and (path.relative_to(root).parts[:1] == ("models",)):
        raise UsageError(f"{path} is inside the registry's models/ folder; register a file or folder from "
                         "your training workspace")
    base = journal.reg_dir(root) / journal.INCOMING / f"{os.getpid()}-{secrets.token_hex(4)}"
    folder = base / "model"
    try:
        base.mkdir(parents=True)
        # The one place an artifact folder is walked and copied in: no links, FIFOs or devices, checked
        # before a byte is copied.
        plain_files(path)
        artifacts.copy_in(path, folder)
        info = artifacts.hash_into_cache(root, folder)
        info = {"path": "model", **info, "format": fmt or artifacts.detect_format(folder)}
        from . import signature as signature_mod

        sig = signature_mod.normalize(signature) if signature else signature_mod.from_artifact(folder)
        workspace = lineage_mod.workspace_of(path, root)
        lin = lineage_mod.collect(workspace, params_file=params_file, dvc_stage=dvc_stage,
                                  ignore=["models"] if workspace == root else None)
        if extra_lineage:
            lin.update(extra_lineage)
        # Pushed before any commit names it: no registry commit ever points at data the remote lacks.
        artifacts.push_object(root, info["md5"], remote, what=f"the artifact {path.name}")
        journal.crash_point("staged")
    except BaseException as exc:
        shutil.rmtree(base, ignore_errors=True)
        if (isinstance(exc, OSError) and exc.errno == 28) or "No space left on device" in str(exc):
            from .errors import StorageError

            raise StorageError(f"the disk is full (No space left on device) while copying {path}; nothing was "
                               "registered: free some space and run the command again") from None
        if isinstance(exc, (OSError, shutil.Error)):
            from .errors import StorageError

            first = exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args and exc.args[0] else exc
            raise StorageError(f"could not copy {path} into the registry ({first}); nothing was registered") from None
        raise
    return StagedArtifact(path, folder, info, sig, lin)


def check_inputs(name: str, metrics: dict | None, tags: dict | None, alias: str | None, stages: list[str]) -> None:
    """What can be refused before anything is copied."""
    refs.check_name(name)
    refs.check_metrics(metrics)
    refs.check_tags(tags)
    if alias:
        refs.check_alias(alias, stages)
