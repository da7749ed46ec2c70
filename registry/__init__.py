"""reg: a model registry that lives in Git.

    from registry import Registry
    reg = Registry(".")
    reg.resolve("churn/production")

Importing this package is cheap: DVC and the ML libraries load only when an artifact is added,
pushed, pulled or loaded.
"""
from .api import Registry
from .errors import (CorruptState, GitError, NotFound, PolicyError, RegistryError, StateError, StorageError,
                     UsageError)
from .manifest import ModelCard, ModelVersion

__all__ = ["Registry", "ModelVersion", "ModelCard", "RegistryError", "UsageError", "NotFound", "StateError",
           "CorruptState", "GitError", "StorageError", "PolicyError"]
