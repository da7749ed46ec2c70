"""A model's signature: its input columns with types, and its outputs.

    {"inputs": [{"name": "tenure", "type": "int64"}, ...], "outputs": [{"name": "churn_probability", "type": "float64"}]}

Written at registration from the artifact's own `signature.json`, an explicit file, or inferred from a
CSV of training data; checked against a batch's columns before `reg predict` runs the model. pandas is
imported only by the functions that read data.
"""
from __future__ import annotations

import json
from pathlib import Path

from .errors import UsageError

SIGNATURE_FILE = "signature.json"
TYPE_ALIASES = {
    "int": "int64", "int64": "int64", "int32": "int64", "integer": "int64", "long": "int64",
    "float": "float64", "float64": "float64", "float32": "float64", "double": "float64", "number": "float64",
    "str": "string", "string": "string", "object": "string", "category": "string", "text": "string",
    "bool": "bool", "boolean": "bool",
    "datetime": "datetime", "datetime64": "datetime", "timestamp": "datetime", "date": "datetime",
}


def _pandas():
    try:
        import pandas
    except ImportError:
        raise UsageError("reading tabular data needs pandas: pip install 'reg[ml]'") from None
    return pandas


def _column(entry, where: str) -> dict:
    if isinstance(entry, str):
        entry = {"name": entry, "type": "float64"}
    if not isinstance(entry, dict) or not entry.get("name"):
        raise UsageError(f"{where}: each column needs a name and a type, e.g. {{\"name\": \"tenure\", \"type\": \"int64\"}}")
    kind = str(entry.get("type", "float64")).lower()
    if kind not in TYPE_ALIASES:
        raise UsageError(f"{where}: column {entry['name']!r} has unknown type {entry.get('type')!r}; "
                         f"use one of int64, float64, string, bool, datetime")
    return {"name": str(entry["name"]), "type": TYPE_ALIASES[kind]}


def normalize(data, where: str = "signature") -> dict:
    """The canonical form: {"inputs": [...], "outputs": [...]}; also takes the design's `output: {...}`."""
    if not isinstance(data, dict) or "inputs" not in data:
        raise UsageError(f"{where} must be a mapping with 'inputs' (a list of columns) and 'outputs'")
    inputs = data.get("inputs") or []
    outputs = data.get("outputs", data.get("output")) or []
    if isinstance(outputs, dict):
        outputs = [outputs]
    if not isinstance(inputs, list) or not inputs or not isinstance(outputs, list):
        raise UsageError(f"{where}: 'inputs' must be a non-empty list of columns and 'outputs' a list")
    out = {"inputs": [_column(c, where) for c in inputs], "outputs": [_column(c, where) for c in outputs]}
    names = [c["name"] for c in out["inputs"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{where}: input column {dupes[0]!r} appears more than once")
    return out


def from_file(path: str | Path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"signature file {path} is a folder; give the JSON or YAML file")
    if not path.is_file():
        raise UsageError(f"signature file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"signature file {path} is not UTF-8 text; give a JSON or YAML file") from None
    except OSError as exc:
        raise UsageError(f"could not read signature file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        if text.lstrip()[:1] in ("{", "["):  # meant as JSON: its own error says where
            raise UsageError(f"signature file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: "
                             f"{exc.msg}); fix it") from None
        data = _yaml(text, path)
    return normalize(data, str(path))


def _yaml(text: str, path: Path):
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"signature file {path} is neither valid JSON nor valid YAML{at}; fix it") from None


def from_artifact(folder: Path) -> dict | None:
    path = Path(folder) / SIGNATURE_FILE
    return from_file(path) if path.is_file() else None


def _kind(dtype) -> str:
    pd = _pandas()

    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float64"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def infer(df, target: str | None = None) -> dict:
    """A signature from a frame of training data: every column but `target` is an input."""
    if target is not None and target not in df.columns:
        raise UsageError(f"target column {target!r} is not in the data; its columns: {', '.join(map(str, df.columns))}")
    if len(df) == 0:  # every column would be inferred as text
        raise UsageError("the signature data has a header but no rows, so no column types can be inferred; "
                         "give training data with rows")
    inputs = [{"name": str(c), "type": _kind(df[c].dtype)} for c in df.columns if c != target]
    if not inputs:
        raise UsageError("the signature data has no input columns")
    if target is None:
        outputs = [{"name": "prediction", "type": "float64"}]
    elif df[target].nunique(dropna=True) <= 2:
        outputs = [{"name": f"{target}_probability", "type": "float64"}]
    else:  # never the target's own name: a batch that carries the true values keeps them beside the predictions
        outputs = [{"name": f"{target}_prediction", "type": "float64"}]
    return {"inputs": inputs, "outputs": outputs}


def infer_from_csv(path: str | Path, target: str | None = None, rows: int = 10_000) -> dict:
    pd = _pandas()

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"signature data {path} is a folder; give the CSV file of training data")
    if not path.is_file():
        raise UsageError(f"signature data {path} does not exist")
    try:
        df = pd.read_csv(path, nrows=rows)
    except Exception as exc:
        raise UsageError(f"could not read {path} as CSV: {exc}") from None
    if len(df) == 0:  # every column would be inferred as text
        raise UsageError(f"signature data {path} has a header but no rows, so no column types can be inferred; "
                         "give training data with rows")
    return infer(df, target)


def read_csv(path: str | Path, signature: dict | None):
    """Read a batch, keeping string columns as text (so '007' stays '007')."""
    pd = _pandas()

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"input {path} is a folder; give the CSV file")
    if not path.is_file():
        raise UsageError(f"input file {path} does not exist")
    dtypes = {c["name"]: str for c in (signature or {}).get("inputs", []) if c["type"] == "string"}
    try:
        return pd.read_csv(path, dtype=dtypes or None)
    except pd.errors.EmptyDataError:
        raise UsageError(f"input file {path} is empty; it needs a header row and data rows") from None
    except Exception as exc:
        raise UsageError(f"could not read {path} as CSV: {exc}") from None


def check(df, signature: dict | None, *, where: str = "the input", model: str = "the model"):
    """The signature's input columns of `df`, in order and converted to their types; a missing or mistyped
    column is a UsageError naming it."""
    pd = _pandas()

    if not signature:
        return df
    columns = {str(c): c for c in df.columns}
    missing = [c for c in signature["inputs"] if c["name"] not in columns]
    if missing:
        names = ", ".join(f"{c['name']!r} ({c['type']})" for c in missing)
        raise UsageError(f"{where} lacks column{'s' if len(missing) > 1 else ''} {names} that {model} needs; "
                         f"it has: {', '.join(map(str, df.columns)) or 'no columns'}")
    out = {}
    for col in signature["inputs"]:
        name, kind = col["name"], col["type"]
        series = df[columns[name]]
        out[name] = _convert(series, kind, name, where)
    return pd.DataFrame(out, index=df.index)


def _bad(series, ok_mask, name: str, kind: str, where: str):
    bad = series[~ok_mask & series.notna()]
    if len(bad):
        row = bad.index[0]
        line = f"line {row + 2}" if isinstance(row, (int,)) or hasattr(row, "__index__") else f"row {row}"
        value = bad.iloc[0]
        value = value.item() if hasattr(value, "item") else value
        raise UsageError(f"column {name!r} of {where} should be {kind} but {line} holds {value!r}; "
                         "fix the data or the column")


def _convert(series, kind: str, name: str, where: str):
    import numpy as np
    pd = _pandas()

    if kind == "string":
        return series.astype("object").where(series.notna(), None) if series.dtype != object else series
    if kind == "bool":
        if pd.api.types.is_bool_dtype(series.dtype):
            return series
        lowered = series.astype(str).str.strip().str.lower()
        mapping = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False,
                   "1.0": True, "0.0": False}
        _bad(series, lowered.isin(mapping.keys()), name, kind, where)
        return lowered.map(mapping).astype("boolean")
    if kind == "datetime":
        parsed = pd.to_datetime(series, errors="coerce")
        _bad(series, parsed.notna(), name, kind, where)
        return parsed
    if pd.api.types.is_bool_dtype(series.dtype):
        _bad(series, pd.Series(False, index=series.index), name, kind, where)
    numeric = pd.to_numeric(series, errors="coerce")
    _bad(series, numeric.notna(), name, kind, where)
    if kind == "int64":
        whole = numeric.isna() | (np.floor(numeric) == numeric)
        _bad(series, whole, name, kind, where)
        return numeric.astype("float64") if numeric.isna().any() else numeric.astype("int64")
    return numeric.astype("float64")
