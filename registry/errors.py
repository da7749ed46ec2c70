"""Errors the engine raises. Each message says what is wrong and what to do about it."""


class RegistryError(Exception):
    """Base class: the CLI prints the message as one line and exits non-zero."""


class UsageError(RegistryError):
    """A name, version, stage, alias or ref that is not valid."""


class NotFound(RegistryError):
    """A model, version, stage holder or alias that does not exist."""


class StateError(RegistryError):
    """The repository is not in a state where the change can be made (dirty, mid-merge, ...)."""


class CorruptState(RegistryError):
    """A registry file that does not parse or breaks an invariant."""


class GitError(RegistryError):
    """A git command failed."""


class StorageError(RegistryError):
    """DVC or the remote storage failed."""


class PolicyError(RegistryError):
    """A gate or permission refused the change."""


class HostileContent(CorruptState):
    """A file reg refuses to read or act on at all: YAML anchors or aliases, over the size cap, a path
    outside its folder, a symlink in an artifact. Refused on every read path, never skipped."""


class AlreadyExists(UsageError):
    """Something to create that exists already (a model: MLflow's RESOURCE_ALREADY_EXISTS)."""
