"""Deserialisers by format (LightGBM, skops, ONNX, pickle), each from bytes already verified.

LightGBM, skops and onnxruntime load lazily; pickle is refused unless the caller trusts it, and skops
builds only the types trusted by default or by the caller's word.
"""
from __future__ import annotations

import io

from ..errors import RegistryError

# skops refuses to build any type it does not trust by default. Beyond its own list, a fitted scikit-learn
# model needs some of the library's own classes (a forest's `sklearn.tree._tree.Tree`, an MLP's optimizer)
# and numpy/scipy data types. Only CLASSES under these prefixes are trusted by default: a name there may
# also be a function (`sklearn.datasets.dump_svmlight_file` in a FunctionTransformer writes any file when
# the model predicts), and a function needs the caller's explicit trusted_types.
SAFE_CLASS_PREFIXES = ("sklearn.", "lightgbm.sklearn.", "scipy.sparse.")
SAFE_TYPES = {"numpy.dtype", "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32",
              "numpy.bool_", "numpy.str_", "numpy.object_", "builtins.slice", "collections.OrderedDict",
              "collections.defaultdict"}


class FormatError(RegistryError):
    """An artifact that cannot be loaded in its format (missing library, refused format, unknown)."""


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


def skops_load(data: bytes, rel: str, label: str, trusted_types: list[str] | None):
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


def load_lightgbm(files, read, label, **kw):
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
    preprocess = skops_load(read[pre], pre, label, kw.get("trusted_types")) if pre else None
    return booster, preprocess


def load_skops(files, read, label, **kw):
    skops_files = [f for f in files if f.endswith(".skops")]
    main = [f for f in skops_files if f.rsplit("/", 1)[-1] != "preprocess.skops"] or skops_files
    if not main:
        raise FormatError(f"{label} is recorded as skops but has no .skops file")
    model = skops_load(read[main[0]], main[0], label, kw.get("trusted_types"))
    pre = next((f for f in skops_files if f.rsplit("/", 1)[-1] == "preprocess.skops" and f != main[0]), None)
    return model, (skops_load(read[pre], pre, label, kw.get("trusted_types")) if pre else None)


def load_onnx(files, read, label, **kw):
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


def load_pickle(files, read, label, **kw):
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
