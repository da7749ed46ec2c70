"""reg: a model registry that lives in Git.

    from registry import Registry
    reg = Registry(".")
    reg.resolve("churn/production")

Importing this package is cheap: DVC and the ML libraries load only when an artifact is added,
pushed, pulled or loaded.
"""
from .api import Registry
from .errors import (AlreadyExists, CorruptState, GitError, NotFound, PolicyError, RegistryError, StateError, StorageError,
                     UsageError)
from .manifest import ModelCard, ModelVersion



def load(ref: str, path: str | None = None, *, trust_pickle: bool = False, **kw):
    """Load a registered model ("churn/production", "churn@champion", ...) after verifying its bytes;
    see registry.loading. The registry is `path`, else $REG_REPO, else the current folder's repository.
    Imported lazily, so `import registry` stays light."""
    from .api import registry_root
    from .loading import load as _load

    return _load(registry_root(path), ref, trust_pickle=trust_pickle, **kw)


__all__ = ["Registry", "load", "ModelVersion", "ModelCard", "RegistryError", "UsageError", "NotFound", "StateError",
           "CorruptState", "GitError", "StorageError", "PolicyError", "AlreadyExists"]
