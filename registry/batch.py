"""Batch prediction (`reg predict`): check a CSV against the version's signature, load the verified
model, and write its predictions with the model name and version on every row."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import git, signature as signature_mod
from .errors import NotFound, StorageError, UsageError
from .loading import load_folder, locate
from .manifest import ModelVersion
from .state import read_state

MODEL_COLUMN, VERSION_COLUMN = "model", "model_version"


@dataclass
class BatchResult:
    manifest: ModelVersion
    rows: int
    output: Path
    column: str


PREDICTION_SUFFIX = "_prediction"


def output_column(sig: dict | None, taken=()) -> str:
    """The prediction column: the signature's output name, so every version of a model writes the same one;
    when the batch already has a column of that name (a regressor's output named after its target, and the
    batch holds the true values), `<name>_prediction`. An input column is never overwritten."""
    outputs = (sig or {}).get("outputs") or []
    name = outputs[0]["name"] if outputs else "prediction"
    taken = {str(c) for c in taken} | {MODEL_COLUMN, VERSION_COLUMN}
    if name in taken and not name.endswith(PREDICTION_SUFFIX):
        name += PREDICTION_SUFFIX
    if name in taken:
        raise UsageError(f"the input already has a column {name!r}, where the predictions go; rename or drop it")
    return name


def predict_csv(root: str | Path, ref: str, input_path: str | Path, output_path: str | Path, *,
                trust_pickle: bool = False, progress: bool = False,
                trusted_types: list[str] | None = None) -> BatchResult:
    root = git.toplevel(Path(root).resolve())
    manifest = read_state(root).resolve(ref)
    if manifest.deleted:
        raise NotFound(f"{manifest.model} v{manifest.version} was deleted; it cannot predict")
    input_path, output_path = Path(input_path), Path(output_path)
    if output_path.resolve() == input_path.resolve():
        raise UsageError("--output is the same file as --input; write the predictions to another file")
    check_output(output_path)
    sig = signature_mod.normalize(manifest.signature) if manifest.signature else None
    label = f"{manifest.model} v{manifest.version}"
    df = signature_mod.read_csv(input_path, sig)
    features = signature_mod.check(df, sig, where=str(input_path), model=f"{label}'s signature")
    if len(df) == 0:
        raise UsageError(f"{input_path} has a header but no rows; nothing to predict")
    column = output_column(sig, df.columns)  # before pulling anything: a clash is the input's to fix
    folder = locate(root, manifest)
    if folder is None:
        from .pulling import pull_version

        folder = pull_version(root, manifest, progress=progress)
    model = load_folder(folder, manifest, trust_pickle=trust_pickle, trusted_types=trusted_types)
    try:
        values = model.predict(features)
    except Exception as exc:
        raise UsageError(f"{label} could not predict on {input_path}: {type(exc).__name__}: {exc}") from None
    out = df.copy()
    if getattr(values, "ndim", 1) == 2:
        names = [f"{column}_{i}" for i in range(values.shape[1])]
        clash = [n for n in names if n in out.columns]
        if clash:
            raise UsageError(f"the input already has a column {clash[0]!r}, where the predictions go; "
                             "rename or drop it")
        for i, n in enumerate(names):
            out[n] = values[:, i]
    else:
        out[column] = values
    out[MODEL_COLUMN] = manifest.model
    out[VERSION_COLUMN] = manifest.version
    tmp = output_path.with_name(f".{output_path.name}.reg-{os.getpid()}.tmp")
    try:
        output_path.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(tmp, index=False)
        os.replace(tmp, output_path)
    except OSError as exc:
        raise StorageError(f"could not write {output_path}: {exc.strerror or exc}; give another --output") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return BatchResult(manifest, len(out), output_path, column)


def check_output(path: Path) -> None:
    """Refuse an --output that cannot be written before any model is pulled or run."""
    if path.is_dir():
        raise UsageError(f"--output {path} is a folder; give a file path such as {path / 'predictions.csv'}")
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # missing folders are made; the nearest existing one must take them
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--output {path} cannot be written ({parent} is not a writable folder); "
                         "give another path")
