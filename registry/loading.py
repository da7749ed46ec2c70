"""Load a registered model by its manifest's `format`, after proving its bytes are the registered ones.

Every file of the artifact is read once: its bytes are hashed the way DVC hashes a folder (an md5 per
file, then the md5 of the sorted JSON list of `{md5, relpath}` plus ".dir") and compared with the
manifest's `artifact.md5`. Only when that matches are the very bytes that were hashed handed to a
deserialiser, so a file changed between the check and the load cannot slip through.

LightGBM and scikit-learn load lazily; pickle is refused unless the caller trusts it.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import paths
from .errors import NotFound, RegistryError, StorageError, UsageError
from .manifest import ModelVersion, version_from_dict

CHUNK = 1 << 20
MANIFEST_NAME = "manifest.yaml"

# skops refuses to build any type it does not trust by default. Beyond its own list, a fitted scikit-learn
# model needs some of the library's own classes (a forest's `sklearn.tree._tree.Tree`, an MLP's optimizer)
# and numpy/scipy data types. Only CLASSES under these prefixes are trusted by default: a name there may
# also be a function (`sklearn.datasets.dump_svmlight_file` in a FunctionTransformer writes any file when
# the model predicts), and a function needs the caller's explicit trusted_types.
SAFE_CLASS_PREFIXES = ("sklearn.", "lightgbm.sklearn.", "scipy.sparse.")
SAFE_TYPES = {"numpy.dtype", "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32",
              "numpy.bool_", "numpy.str_", "numpy.object_", "builtins.slice", "collections.OrderedDict",
              "collections.defaultdict"}


class IntegrityError(StorageError):
    """An artifact whose bytes are not the ones its manifest registered."""


class FormatError(RegistryError):
    """An artifact that cannot be loaded in its format (missing library, refused format, unknown)."""


# -- hashing ---------------------------------------------------------------------------------------

def _files(folder: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), folder)
            out.append(rel.replace(os.sep, "/"))
    return sorted(out)


def digest(folder: Path, keep: Callable[[str], bool] = lambda rel: False) -> tuple[str, int, int, dict[str, bytes]]:
    """(DVC dir md5, total size, file count, {relpath: bytes} of the files `keep` selects)."""
    entries, size, kept = [], 0, {}
    for rel in _files(folder):
        h = hashlib.md5()
        want = keep(rel)
        parts = []
        with open(folder / rel, "rb") as fh:
            while chunk := fh.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                if want:
                    parts.append(chunk)
        if want:
            kept[rel] = b"".join(parts)
        entries.append({"md5": h.hexdigest(), "relpath": rel})
    tree = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(tree).hexdigest() + ".dir", size, len(entries), kept


def verify(folder: Path, manifest: ModelVersion, keep: Callable[[str], bool] = lambda rel: False, *,
           restore: str | None = None) -> dict[str, bytes]:
    """Raise IntegrityError unless `folder` holds exactly the bytes the manifest registered; `restore` is the
    command that brings them back, when not `reg pull REF`."""
    label = f"{manifest.model} v{manifest.version}"
    expected = manifest.md5
    if not expected:
        raise IntegrityError(f"the manifest of {label} records no artifact md5, so its bytes cannot be verified")
    if not folder.is_dir():
        raise NotFound(f"the artifact of {label} is not at {folder}; run `reg pull {manifest.model}/{manifest.version}`")
    md5, size, nfiles, kept = digest(folder, keep)
    if md5 != expected:
        want_size, want_files = manifest.artifact.get("size"), manifest.artifact.get("files")
        how = ""
        if want_files is not None and int(want_files) != nfiles:
            how = f" ({nfiles} files, registered {want_files})"
        elif want_size is not None and int(want_size) != size:
            how = f" ({size} bytes, registered {want_size}: truncated or changed)"
        fix = f"Restore it with `{restore or f'reg pull {manifest.model}/{manifest.version}'}`"
        pointer = folder.parent / f"{folder.name}.dvc"
        if folder.parent.name == manifest.model and pointer.is_file():
            # A stage or alias folder on a serving host: most often `git pull` ran without `dvc pull`.
            fix = (f"Fetch the registered bytes with `dvc pull --force models/{manifest.model}/{pointer.name}` "
                   f"(after a git pull the folder is most often just stale), or `reg pull {manifest.model}/"
                   f"{manifest.version}`")
        raise IntegrityError(f"the artifact of {label} at {folder} does not match its manifest{how}: content hash "
                             f"{md5} is not the registered {expected}. It was changed or is incomplete; refusing "
                             f"to load it. {fix}")
    return kept


# -- the loaded model ------------------------------------------------------------------------------

@dataclass
class LoadedModel:
    name: str
    version: int
    manifest: ModelVersion
    model: Any
    preprocess: Any = None
    format: str = "unknown"
    path: Path | None = None
    files: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<LoadedModel {self.name} v{self.version} ({self.format})>"

    @property
    def signature(self) -> dict | None:
        return self.manifest.signature

    def predict(self, df):
        """The positive-class probability for a binary classifier, the predictions otherwise (a numpy array)."""
        import numpy as np

        if self.format == "lightgbm":
            X = self.preprocess.transform(df) if self.preprocess is not None else _booster_input(self.model, df)
            out = np.asarray(self.model.predict(X))
        elif self.format == "onnx":
            out = _onnx_predict(self.model, df)
        else:
            X = self.preprocess.transform(df) if self.preprocess is not None else df
            out = _sklearn_predict(self.model, X)
        if out.ndim == 2 and out.shape[1] == 1:
            out = out[:, 0]
        return out


def _booster_input(booster, df):
    names = booster.feature_name()
    if hasattr(df, "columns") and set(names) <= set(map(str, df.columns)):
        return df[names]
    return df


def _sklearn_predict(model, X):
    import numpy as np

    proba = getattr(model, "predict_proba", None)
    classes = getattr(model, "classes_", None)
    if proba is not None and classes is not None and len(classes) == 2:
        return np.asarray(proba(X))[:, 1]
    return np.asarray(model.predict(X))


def _onnx_predict(session, df):
    import numpy as np

    inputs = session.get_inputs()
    if len(inputs) == 1:
        feeds = {inputs[0].name: np.asarray(df, dtype=np.float32)}
    else:
        feeds = {i.name: np.asarray(df[i.name]).reshape(-1, 1) for i in inputs}
    outputs = session.run(None, feeds)
    if len(outputs) > 1:  # classifiers export (labels, probabilities)
        probs = outputs[1]
        if isinstance(probs, list) and probs and isinstance(probs[0], dict):
            keys = sorted(probs[0])
            if len(keys) == 2:
                return np.array([row[keys[1]] for row in probs])
        probs = np.asarray(probs)
        if probs.ndim == 2 and probs.shape[1] == 2:
            return probs[:, 1]
    return np.asarray(outputs[0])


# -- formats ---------------------------------------------------------------------------------------

def _trusted(untrusted: list[str], trusted_types: list[str] | None) -> list[str]:
    """The types of `untrusted` that still need the caller's word."""
    extra = set(trusted_types or ())
    return [t for t in untrusted if not (t in SAFE_TYPES or t in extra or _safe_class(t))]


def _safe_class(name: str) -> bool:
    # skops builds an object of a class without calling it; a function it hands over as is, to be called
    return name.startswith(SAFE_CLASS_PREFIXES) and isinstance(_resolve(name), type)


def _resolve(name: str):
    """The object a dotted name refers to, imported from its longest importable module; None if none.
    Only names under the prefixes above get here, so only scikit-learn, LightGBM or SciPy modules load."""
    import importlib

    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _skops_load(data: bytes, rel: str, label: str, trusted_types: list[str] | None):
    try:
        import skops.io as sio
    except ImportError:
        raise FormatError(f"{label} has a skops file ({rel}) but skops is not installed: pip install skops") from None
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise FormatError(f"{label}: {rel} is not a readable skops file ({exc})") from None
    refused = _trusted(untrusted, trusted_types)
    if refused:
        flags = " ".join(f"--trust {t}" for t in refused)
        raise FormatError(f"{label}: {rel} contains types that are not trusted: {', '.join(refused)} (a function, or a "
                          f"type from outside scikit-learn, can run code when the model is used); only if you trust "
                          f"whoever registered it, pass trusted_types={refused!r} (`reg predict ... {flags}`)")
    try:
        return sio.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise FormatError(f"{label}: could not load {rel} with skops ({type(exc).__name__}: {exc})") from None


def _load_lightgbm(files, read, label, **kw):
    try:
        import lightgbm
    except ImportError:
        raise FormatError(f"{label} is a LightGBM model but lightgbm is not installed: pip install lightgbm") from None
    texts = [f for f in files if f.endswith(".txt")]
    candidates = [f for f in texts if f.rsplit("/", 1)[-1] == "model.txt"] + [f for f in texts if read[f][:5] == b"tree\n"]
    if not candidates:
        raise FormatError(f"{label} is recorded as lightgbm but has no LightGBM text model (model.txt)")
    rel = candidates[0]
    try:
        booster = lightgbm.Booster(model_str=read[rel].decode("utf-8"))
    except Exception as exc:
        raise FormatError(f"{label}: {rel} is not a LightGBM model ({exc})") from None
    pre = next((f for f in files if f.rsplit("/", 1)[-1] == "preprocess.skops"), None)
    preprocess = _skops_load(read[pre], pre, label, kw.get("trusted_types")) if pre else None
    return booster, preprocess


def _load_skops(files, read, label, **kw):
    skops_files = [f for f in files if f.endswith(".skops")]
    main = [f for f in skops_files if f.rsplit("/", 1)[-1] != "preprocess.skops"] or skops_files
    if not main:
        raise FormatError(f"{label} is recorded as skops but has no .skops file")
    model = _skops_load(read[main[0]], main[0], label, kw.get("trusted_types"))
    pre = next((f for f in skops_files if f.rsplit("/", 1)[-1] == "preprocess.skops" and f != main[0]), None)
    return model, (_skops_load(read[pre], pre, label, kw.get("trusted_types")) if pre else None)


def _load_onnx(files, read, label, **kw):
    try:
        import onnxruntime
    except ImportError:
        raise FormatError(f"{label} is an ONNX model but onnxruntime is not installed: pip install onnxruntime") from None
    rel = next((f for f in files if f.endswith(".onnx")), None)
    if rel is None:
        raise FormatError(f"{label} is recorded as onnx but has no .onnx file")
    try:
        return onnxruntime.InferenceSession(read[rel], providers=["CPUExecutionProvider"]), None
    except Exception as exc:
        raise FormatError(f"{label}: {rel} is not a loadable ONNX model ({exc})") from None


def _load_pickle(files, read, label, **kw):
    if not kw.get("trust_pickle"):
        raise FormatError(f"{label} is a pickle artifact: unpickling can run arbitrary code, so it is refused; "
                          "load it with trust_pickle=True (`reg predict --trust-pickle`) only if you trust whoever "
                          "registered it")
    rel = next((f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))), None)
    if rel is None:
        raise FormatError(f"{label} is recorded as pickle but has no .pkl, .pickle or .joblib file")
    try:
        if rel.endswith(".joblib"):
            import joblib

            return joblib.load(io.BytesIO(read[rel])), None
        import pickle

        return pickle.loads(read[rel]), None
    except Exception as exc:
        raise FormatError(f"{label}: could not unpickle {rel} ({type(exc).__name__}: {exc})") from None


# -- ensembles ------------------------------------------------------------------------------------

ENSEMBLE_FILE = "ensemble.json"
ENSEMBLE_MEMBER_FORMATS = ("lightgbm", "skops")
ENSEMBLE_TRANSFORMS = ("none", "log1p")  # log1p: members predict log1p(y), the ensemble returns expm1 of the blend
MAX_ENSEMBLE_BYTES, MAX_ENSEMBLE_MEMBERS = 1 << 20, 32


@dataclass
class Ensemble:
    """A weighted mean of member models' predictions (format `ensemble`): ensemble.json names each member's
    file, format and weight, the feature columns in order, the target transform and an optional floor
    (`output_min: 0` for a quantity that cannot be negative, such as sales)."""
    members: list[tuple[str, float, Any]]  # (name, weight, loaded model)
    features: list[str] = field(default_factory=list)
    target_transform: str = "none"
    output_min: float | None = None

    @property
    def weights(self) -> dict[str, float]:
        return {name: weight for name, weight, _ in self.members}

    def predict(self, df):
        import numpy as np

        X = df[self.features] if self.features and hasattr(df, "columns") else df
        total = sum(w for _, w, _ in self.members)
        blend = sum(w * np.asarray(model.predict(X), dtype="float64").reshape(len(X), -1)[:, 0]
                    for _, w, model in self.members) / total
        out = np.expm1(blend) if self.target_transform == "log1p" else blend
        return out if self.output_min is None else np.maximum(out, self.output_min)


def _ensemble_spec(data: bytes, files: list[str], label: str) -> dict:
    bad = f"{label}: {ENSEMBLE_FILE} "
    if len(data) > MAX_ENSEMBLE_BYTES:
        raise FormatError(bad + f"is larger than {MAX_ENSEMBLE_BYTES} bytes; it should list a few members")
    try:
        spec = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(bad + f"is not valid JSON ({exc})") from None
    members = spec.get("members") if isinstance(spec, dict) else None
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_ENSEMBLE_MEMBERS:
        raise FormatError(bad + f"must be an object whose 'members' lists 1 to {MAX_ENSEMBLE_MEMBERS} "
                          "{name, format, file, weight}")
    transform = spec.get("target_transform") or "none"
    if transform not in ENSEMBLE_TRANSFORMS:
        raise FormatError(bad + f"has target_transform {transform!r}; use one of {', '.join(ENSEMBLE_TRANSFORMS)}")
    features = spec.get("features") or []
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise FormatError(bad + "has 'features' that is not a list of column names")
    import math

    floor = spec.get("output_min")
    if floor is not None and (isinstance(floor, bool) or not isinstance(floor, (int, float))
                              or not math.isfinite(floor)):
        raise FormatError(bad + f"has output_min {floor!r}; it is a number (the lowest value to predict) or absent")
    for i, m in enumerate(members):
        where = bad + f"member {i + 1} "
        if not isinstance(m, dict):
            raise FormatError(where + "is not an object {name, format, file, weight}")
        if m.get("format") not in ENSEMBLE_MEMBER_FORMATS:
            raise FormatError(where + f"has format {m.get('format')!r}; members may be "
                              f"{' or '.join(ENSEMBLE_MEMBER_FORMATS)}")
        # Only a file of this verified folder, named exactly: no path leads outside it.
        if not isinstance(m.get("file"), str) or m["file"] not in files or m["file"] == ENSEMBLE_FILE:
            raise FormatError(where + f"names file {m.get('file')!r}, which is not a model file of the artifact "
                              f"(its files: {', '.join(f for f in files if f != ENSEMBLE_FILE)})")
        weight = m.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise FormatError(where + f"has weight {weight!r}; a weight is a number >= 0")
    if not sum(m["weight"] for m in members) > 0:
        raise FormatError(bad + "has weights that add up to 0")
    return {"members": members, "features": features, "target_transform": transform, "output_min": floor}


def _load_ensemble(files, read, label, **kw):
    if ENSEMBLE_FILE not in read:
        raise FormatError(f"{label} is recorded as ensemble but has no {ENSEMBLE_FILE}")
    spec = _ensemble_spec(read[ENSEMBLE_FILE], files, label)
    members = []
    for m in spec["members"]:
        if m["format"] == "lightgbm":
            try:
                import lightgbm
            except ImportError:
                raise FormatError(f"{label} has a LightGBM member but lightgbm is not installed: "
                                  "pip install lightgbm") from None
            try:
                model = lightgbm.Booster(model_str=read[m["file"]].decode("utf-8"))
            except Exception as exc:
                raise FormatError(f"{label}: {m['file']} is not a LightGBM model ({exc})") from None
        else:
            model = _skops_load(read[m["file"]], m["file"], label, kw.get("trusted_types"))
        members.append((str(m.get("name") or m["file"]), float(m["weight"]), model))
    return Ensemble(members, spec["features"], spec["target_transform"],
                    None if spec["output_min"] is None else float(spec["output_min"])), None


LOADERS = {"lightgbm": (_load_lightgbm, (".txt", ".skops")), "skops": (_load_skops, (".skops",)),
           "onnx": (_load_onnx, (".onnx",)), "ensemble": (_load_ensemble, (".json", ".txt", ".skops")),
           "pickle": (_load_pickle, (".pkl", ".pickle", ".joblib"))}


def load_folder(folder: Path, manifest: ModelVersion, *, trust_pickle: bool = False,
                trusted_types: list[str] | None = None, restore: str | None = None) -> LoadedModel:
    """Verify `folder` against `manifest`, then deserialise the verified bytes by the manifest's format."""
    folder = Path(folder)
    label = f"{manifest.model} v{manifest.version}"
    fmt = manifest.artifact.get("format") or "unknown"
    if fmt == "unknown" and folder.is_dir():
        from .artifacts import detect_format

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
                       preprocess=preprocess, format=fmt, path=folder, files=_files(folder))


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
    from . import yamlio

    return yamlio.read_text(pointer, str(pointer))  # bounded, and never through a link


def locate(root: Path, manifest: ModelVersion) -> Path | None:
    for path in artifact_candidates(root, manifest):
        if path.is_dir() and any(path.iterdir()):
            return path
    return None


def load(root: str | Path, ref: str, *, trust_pickle: bool = False, pull: bool = True,
         trusted_types: list[str] | None = None) -> LoadedModel:
    """Resolve `ref` in the registry at `root`, fetch the artifact if it is not here yet, verify, load."""
    from . import git
    from .state import read_state

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
        from .pulling import pull_version

        folder = pull_version(root, manifest)
    return load_folder(folder, manifest, trust_pickle=trust_pickle, trusted_types=trusted_types)


def read_manifest_file(path: Path) -> ModelVersion:
    from . import yamlio

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
