"""Load a registered model by its manifest's `format`, after proving its bytes are the registered ones.

Every file of the artifact is read once: its bytes are hashed the way DVC hashes a folder (an md5 per
file, then the md5 of the sorted JSON list of `{md5, relpath}` plus ".dir") and compared with the
manifest's `artifact.md5`. Only when that matches are the very bytes that were hashed handed to a
deserialiser, so a file changed between the check and the load cannot slip through.

    integrity.py  the content hash, and `verify` against the manifest
    loaders.py    deserialisers by format (LightGBM, skops, ONNX, pickle) and which skops types are trusted
    ensemble.py   the `ensemble` format
    model.py      `LoadedModel` and its `predict`

LightGBM and scikit-learn load lazily; pickle is refused unless the caller trusts it.
"""
from __future__ import annotations

from pathlib import Path

from .. import paths
from ..errors import NotFound, RegistryError, UsageError
from ..manifest import ModelVersion, version_from_dict
from .ensemble import Ensemble, load_ensemble
from .integrity import IntegrityError, digest, list_files, verify
from .loaders import FormatError, load_lightgbm, load_onnx, load_pickle, load_skops
from .model import LoadedModel

MANIFEST_NAME = "manifest.yaml"

LOADERS = {"lightgbm": (load_lightgbm, (".txt", ".skops")), "skops": (load_skops, (".skops",)),
           "onnx": (load_onnx, (".onnx",)), "ensemble": (load_ensemble, (".json", ".txt", ".skops")),
           "pickle": (load_pickle, (".pkl", ".pickle", ".joblib"))}


def load_folder(folder: Path, manifest: ModelVersion, *, trust_pickle: bool = False,
                trusted_types: list[str] | None = None, restore: str | None = None) -> LoadedModel:
    """Verify `folder` against `manifest`, then deserialise the verified bytes by the manifest's format."""
    folder = Path(folder)
    label = f"{manifest.model} v{manifest.version}"
    fmt = manifest.artifact.get("format") or "unknown"
    if fmt == "unknown" and folder.is_dir():
        from ..artifacts import detect_format

        fmt = detect_format(folder)
    if fmt not in LOADERS:
        raise FormatError(f"{label} has artifact format {fmt!r}, which `load` cannot read (it reads "
                          f"{', '.join(LOADERS)}); read the files at {folder} yourself")
    loader, exts = LOADERS[fmt]
    if fmt == "pickle" and not trust_pickle:  # refuse before reading a byte
        loader([], {}, label, trust_pickle=False)
    read = verify(folder, manifest, keep=lambda rel: rel.lower().endswith(exts), restore=restore)
    files = sorted(read)
    model, preprocess = loader(files, read, label, trust_pickle=trust_pickle, trusted_types=trusted_types)
    return LoadedModel(name=manifest.model, version=manifest.version, manifest=manifest, model=model,
                       preprocess=preprocess, format=fmt, path=folder, files=list_files(folder))


# -- by ref, from a registry -----------------------------------------------------------------------

def artifact_candidates(root: Path, manifest: ModelVersion, ref: str | None = None) -> list[Path]:
    """Where a version's bytes may be in a working tree: its own folder, or (on a serving host that ran
    `dvc pull models/churn/production.dvc`) the stage or alias pointer's folder."""
    paths = [root / manifest.artifact_path]
    pointer_names = ([manifest.stage] if manifest.stage else []) + list(manifest.aliases)
    for name in pointer_names:
        pointer = root / "models" / manifest.model / f"{name}.dvc"
        if pointer.is_file() and manifest.md5 and manifest.md5 in _pointer_text(pointer):
            paths.append(root / "models" / manifest.model / name)
    return paths


def _pointer_text(pointer: Path) -> str:
    from .. import yamlio

    return yamlio.read_text(pointer, str(pointer))  # bounded, and never through a link


def locate(root: Path, manifest: ModelVersion) -> Path | None:
    for path in artifact_candidates(root, manifest):
        if path.is_dir() and any(path.iterdir()):
            return path
    return None


def load(root: str | Path, ref: str, *, trust_pickle: bool = False, pull: bool = True,
         trusted_types: list[str] | None = None) -> LoadedModel:
    """Resolve `ref` in the registry at `root`, fetch the artifact if it is not here yet, verify, load."""
    from .. import git
    from ..state import read_state

    root = git.toplevel(Path(root).resolve())
    manifest = read_state(root).resolve(ref)
    if manifest.deleted:
        raise NotFound(f"{manifest.model} v{manifest.version} was deleted ({manifest.deleted_reason}); "
                       "there is nothing to load")
    folder = locate(root, manifest)
    if folder is None:
        if not pull:
            raise NotFound(f"the artifact of {manifest.model} v{manifest.version} is not in {root}; run "
                           f"`reg pull {manifest.model}/{manifest.version}`")
        from ..pulling import pull_version

        folder = pull_version(root, manifest)
    return load_folder(folder, manifest, trust_pickle=trust_pickle, trusted_types=trusted_types)


def read_manifest_file(path: Path) -> ModelVersion:
    from .. import yamlio

    fix = f"rewrite its folder with `reg pull REF --to {path.parent}`"
    try:
        data = yamlio.read(path, str(path))
        if not isinstance(data, dict) or not data:
            raise UsageError(f"{path} is not a manifest")
        return version_from_dict(data, str(path))
    except UnicodeDecodeError:
        raise IntegrityError(f"{path} is not a readable manifest (not UTF-8 text); {fix}") from None
    except RegistryError as exc:
        reason = str(exc).split(": fix or restore it", 1)[0]  # a copy outside git: no `git checkout` advice
        raise IntegrityError(f"{reason}; {fix}") from None


def load_dir(path: str | Path, *, trust_pickle: bool = False, trusted_types: list[str] | None = None) -> LoadedModel:
    """Load a folder written by `reg pull REF --to DIR`: DIR/manifest.yaml beside the artifact folder."""
    path = Path(path)
    manifest_file = path / MANIFEST_NAME
    if not manifest_file.is_file():
        raise NotFound(f"{path} has no {MANIFEST_NAME}; make it with `reg pull REF --to {path}`")
    manifest = read_manifest_file(manifest_file)
    folder = paths.inside(path, manifest.artifact.get("path", paths.ARTIFACT_DIR), "artifact.path")
    return load_folder(folder, manifest, trust_pickle=trust_pickle, trusted_types=trusted_types,
                       restore=f"reg pull {manifest.model}/{manifest.version} --to {path}")


__all__ = ["load", "load_dir", "load_folder", "locate", "artifact_candidates", "read_manifest_file", "LoadedModel",
           "Ensemble", "IntegrityError", "FormatError", "digest", "verify", "MANIFEST_NAME", "LOADERS"]
