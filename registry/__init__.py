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



def load(ref: str, path: str = ".", *, trust_pickle: bool = False, **kw):
    """Load a registered model ("churn/production", "churn@champion", ...) after verifying its bytes;
    see registry.loading. Imported lazily, so `import registry` stays light."""
    from .loading import load as _load

    return _load(path, ref, trust_pickle=trust_pickle, **kw)


__all__ = ["Registry", "load", "ModelVersion", "ModelCard", "RegistryError", "UsageError", "NotFound", "StateError",
           "CorruptState", "GitError", "StorageError", "PolicyError"]
