"""Artifact formats: the names `--format` accepts, and the format detected from an artifact's files."""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import UsageError

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
