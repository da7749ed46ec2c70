"""Gates and permissions from models/<name>/model.yaml: judge one stage transition."""
from __future__ import annotations


def check_promotion(state, model, version, stage: str, *, reason: str | None, force: bool, actor: str) -> None:
    """Raise PolicyError when moving `version` to `stage` is not allowed. (Gates and permissions: issue 3, 5.)"""
    return None
