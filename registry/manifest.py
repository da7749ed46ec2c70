"""The version manifest and the model card (model.yaml): dataclasses and their YAML form."""
from __future__ import annotations

from dataclasses import dataclass, field

from . import paths
from .refs import NAME_RE
from .errors import CorruptState, HostileContent

SCHEMA = 1
# Fields that describe what was registered. `reg check` refuses any change to them.
IMMUTABLE_FIELDS = ("schema", "model", "version", "created_at", "created_by", "artifact", "lineage",
                    "metrics", "signature")
MUTABLE_FIELDS = ("stage", "aliases", "description", "tags", "validations", "deleted", "deleted_at",
                  "deleted_by", "deleted_reason", "overrides")
FIELD_ORDER = IMMUTABLE_FIELDS + MUTABLE_FIELDS


def manifest_path(model: str, version: int) -> str:
    return f"models/{model}/{version}/manifest.yaml"


def card_path(model: str) -> str:
    return f"models/{model}/model.yaml"


@dataclass
class ModelVersion:
    model: str
    version: int
    stage: str = "none"
    aliases: list[str] = field(default_factory=list)
    description: str = ""
    tags: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    created_at: str = ""
    created_by: str = ""
    artifact: dict = field(default_factory=dict)
    lineage: dict = field(default_factory=dict)
    signature: dict | None = None
    validations: list = field(default_factory=list)
    deleted: bool = False
    deleted_at: str | None = None
    deleted_by: str | None = None
    deleted_reason: str | None = None
    overrides: list = field(default_factory=list)  # gate overrides: stage, by, at, reason, failed

    @property
    def path(self) -> str:
        return manifest_path(self.model, self.version)

    @property
    def artifact_path(self) -> str:
        return f"models/{self.model}/{self.version}/{paths.ARTIFACT_DIR}"  # artifact.path may say nothing else

    @property
    def md5(self) -> str | None:
        return self.artifact.get("md5")

    def to_dict(self) -> dict:
        data = {"schema": SCHEMA}
        for name in FIELD_ORDER[1:]:
            value = getattr(self, name)
            if name in ("signature",) and value is None:
                continue
            if name in ("validations", "overrides") and not value:
                continue
            if name.startswith("deleted") and not self.deleted:
                continue
            data[name] = value
        return data


_NAMES_SEEN: set = set()  # valid names already checked: the read path checks ten thousand manifests


def _check_name(what: str, value, where: str) -> None:
    if isinstance(value, str) and NAME_RE.fullmatch(value) and ".." not in value:
        if len(_NAMES_SEEN) < 100_000:
            _NAMES_SEEN.add(value)
        return
    raise HostileContent(f"{where}: {what} {str(value)[:80]!r} is not a valid name (a-z, 0-9, '.', '_', '-'); "
                         f"refusing to use it: fix or restore it (git checkout -- {where})")


def version_from_dict(data: dict, where: str) -> ModelVersion:
    try:
        model = data["model"]
        version = int(data["version"])
    except (KeyError, TypeError, ValueError):
        raise CorruptState(f"{where} lacks a valid 'model' or 'version' field: fix or restore it "
                           f"(git checkout -- {where})") from None
    aliases = data.get("aliases") or []
    tags = data.get("tags") or {}
    if not isinstance(aliases, list) or not isinstance(tags, dict):
        raise CorruptState(f"{where}: 'aliases' must be a list and 'tags' a mapping")
    for name, kind, word in (("metrics", dict, "a mapping"), ("artifact", dict, "a mapping"),
                             ("lineage", dict, "a mapping"), ("validations", list, "a list"),
                             ("overrides", list, "a list")):
        if data.get(name) and not isinstance(data[name], kind):
            raise CorruptState(f"{where}: '{name}' must be {word}: fix or restore it (git checkout -- {where})")
    stage = str(data.get("stage") or "none").lower()
    # model, stage and aliases become path parts (models/<model>/<stage>.dvc) and artifact.path a folder:
    # whatever could lead outside is refused here, where every reader and `reg check` parse a manifest
    artifact = data.get("artifact")
    if isinstance(artifact, dict) and artifact.get("path", paths.ARTIFACT_DIR) != paths.ARTIFACT_DIR:
        paths.check_artifact(artifact, where)
    try:
        known = model in _NAMES_SEEN and stage in _NAMES_SEEN and _NAMES_SEEN.issuperset(aliases)
    except TypeError:  # a list or mapping where a name belongs
        known = False
    if not known:
        for what, value in [("model", model), ("stage", stage)] + [("alias", a) for a in aliases]:
            _check_name(what, value, where)
    return ModelVersion(
        model=str(model), version=version,
        stage=stage,
        aliases=[str(a) for a in aliases],
        description=data.get("description") or "",
        tags={str(k): v for k, v in tags.items()},
        metrics=data.get("metrics") or {},
        created_at=str(data.get("created_at") or ""),
        created_by=str(data.get("created_by") or ""),
        artifact=data.get("artifact") or {},
        lineage=data.get("lineage") or {},
        signature=data.get("signature"),
        validations=data.get("validations") or [],
        deleted=bool(data.get("deleted", False)),
        deleted_at=data.get("deleted_at"),
        deleted_by=data.get("deleted_by"),
        deleted_reason=data.get("deleted_reason"),
        overrides=data.get("overrides") or [],
    )


@dataclass
class ModelCard:
    """models/<name>/model.yaml: what the model is, who owns it, and its rules."""
    name: str
    description: str = ""
    owners: list[str] = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    gates: dict = field(default_factory=dict)
    permissions: dict = field(default_factory=dict)
    raw: dict = field(default_factory=dict)


def card_from_dict(name: str, data: dict, where: str) -> ModelCard:
    tags = data.get("tags") or {}
    if not isinstance(tags, dict):
        raise CorruptState(f"{where}: 'tags' must be a mapping of key: value")
    return ModelCard(
        name=name,
        description=data.get("description") or "",
        owners=list(data.get("owners") or []),
        tags=dict(tags),
        gates=data.get("gates") or {},
        permissions=data.get("permissions") or {},
        raw=data,
    )


def new_card_text(name: str, description: str, owner: str, tags: dict | None = None) -> str:
    from . import yamlio

    return (
        f"# Model card for {name}: description, owners and tags may be edited by hand or with\n"
        f"# `reg annotate {name}`; gates and permissions are judged by `reg promote` and `reg check`.\n"
        + yamlio.dump({"name": name, "description": description, "owners": [owner] if owner else [],
                       "tags": dict(tags or {})})
    )
