"""MLflow's model-registry store over a reg registry: `reg:///abs/path/to/registry`.

Installed as the `mlflow.model_registry_store` entry point for the scheme `reg`, so MLflow's own client,
fluent API and server work unchanged with `mlflow.set_registry_uri("reg:///...")` or
`MLFLOW_REGISTRY_URI`. Every call that changes state is one reg commit (trailers, tags, gates,
permissions, webhooks) made through `registry.Registry`; a reg refusal surfaces as an `MlflowException`
carrying reg's one-line message. Loading (`models:/NAME/Production`) goes through
`get_model_version_download_uri`, which pulls the version's artifact and verifies its hash first.

Where MLflow and reg differ, reg's rule wins and the README says so: an exclusive stage (production by
default) archives its previous holder even when `archive_existing_versions` is false; a model is not
renamed or deleted whole; a deleted version stays as a tombstone.
"""
from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from mlflow.entities.model_registry import (ModelVersion as MlflowVersion, ModelVersionTag, RegisteredModel,
                                            RegisteredModelAlias, RegisteredModelTag)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (INVALID_PARAMETER_VALUE, INVALID_STATE, PERMISSION_DENIED,
                                          RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry.abstract_store import AbstractStore

from .. import search
from ..api import Registry
from ..errors import AlreadyExists, NotFound, PolicyError, RegistryError, UsageError
from ..refs import is_number

DELETE_REASON = "deleted through MLflow (delete_model_version)"
DEFAULT_PAGE = 100


def registry_path(store_uri: str) -> Path:
    """`reg:///abs/path` (or `reg:/abs/path`) -> the registry repository's path."""
    parsed = urlparse(store_uri)
    if parsed.scheme != "reg":
        raise MlflowException(f"not a reg registry URI: {store_uri!r}; use reg:///absolute/path/to/registry",
                              INVALID_PARAMETER_VALUE)
    path = unquote(parsed.path or parsed.netloc)
    if parsed.netloc and parsed.path:  # reg://host/path is not a thing: there is no server
        raise MlflowException(f"reg registry URIs name a local repository (reg:///abs/path), not a host: "
                              f"{store_uri!r}", INVALID_PARAMETER_VALUE)
    if not path:
        raise MlflowException("a reg registry URI needs the repository's path: reg:///abs/path/to/registry",
                              INVALID_PARAMETER_VALUE)
    return Path(path)


def _mlflow_errors(fn):
    """reg's refusals as the MlflowException MLflow's callers catch, with reg's message."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MlflowException:
            raise
        except NotFound as exc:
            raise MlflowException(str(exc), RESOURCE_DOES_NOT_EXIST) from exc
        except AlreadyExists as exc:
            raise MlflowException(str(exc), RESOURCE_ALREADY_EXISTS) from exc
        except PolicyError as exc:
            code = PERMISSION_DENIED if "permission" in str(exc).lower() or "may " in str(exc) else INVALID_STATE
            raise MlflowException(str(exc), code) from exc
        except UsageError as exc:
            raise MlflowException(str(exc), INVALID_PARAMETER_VALUE) from exc
        except RegistryError as exc:
            raise MlflowException(str(exc), INVALID_STATE) from exc
    return wrapper


def mlflow_stage(stage: str) -> str:
    """reg's `production` as MLflow's `Production` (`none` -> `None`)."""
    return stage[:1].upper() + stage[1:]


def _tags(tags: dict, cls):
    return [cls(str(k), "" if v is None else str(v)) for k, v in (tags or {}).items()]


def to_version(v) -> MlflowVersion:
    lineage = v.lineage or {}
    stamp = search.millis(v.created_at)
    mlflow_info = lineage.get("mlflow") or {}
    return MlflowVersion(
        name=v.model, version=str(v.version), creation_timestamp=stamp, last_updated_timestamp=stamp,
        description=v.description or "", user_id=v.created_by, current_stage=mlflow_stage(v.stage),
        source=mlflow_info.get("source") or lineage.get("source") or f"models/{v.model}/{v.version}/model",
        run_id=lineage.get("run_id") or mlflow_info.get("run_id"), tags=_tags(v.tags, ModelVersionTag),
        aliases=list(v.aliases), run_link=mlflow_info.get("run_link"))


class RegStore(AbstractStore):
    """The model-registry store for `reg:///path`: each method is a reg read or one reg commit."""

    def __init__(self, store_uri=None, tracking_uri=None):
        super().__init__(store_uri, tracking_uri)
        self.store_uri = store_uri
        self.tracking_uri = tracking_uri
        try:
            self.reg = Registry(registry_path(store_uri))
        except RegistryError as exc:
            raise MlflowException(f"{store_uri}: {exc}", INVALID_PARAMETER_VALUE) from exc

    # -- models ------------------------------------------------------------------------------------
    def _model(self, m, stages: list[str]) -> RegisteredModel:
        latest = [m.stage_holder(s) for s in stages]
        stamps = [search.millis(v.created_at) for v in m.versions.values()]
        stamps = [s for s in stamps if s is not None]
        card = m.card
        return RegisteredModel(
            name=m.name, creation_timestamp=min(stamps) if stamps else None,
            last_updated_timestamp=max(stamps) if stamps else None,
            description=card.description if card else "",
            latest_versions=[to_version(v) for v in latest if v is not None],
            tags=_tags(card.tags if card else {}, RegisteredModelTag),
            aliases=[RegisteredModelAlias(a, str(n)) for a, n in sorted(m.aliases().items())])

    def _named(self, name: str) -> RegisteredModel:
        state = self.reg.state()
        return self._model(state.model(name), state.settings.stages)

    @_mlflow_errors
    def create_registered_model(self, name, tags=None, description=None, deployment_job_id=None):
        self.reg.create_model(name, description=description or "",
                              tags={t.key: t.value for t in (tags or [])})
        return self._named(name)

    @_mlflow_errors
    def update_registered_model(self, name, description, deployment_job_id=None):
        self.reg.annotate(name, description=description or "")
        return self._named(name)

    def rename_registered_model(self, name, new_name):
        raise MlflowException(
            f"reg does not rename models: {name!r} is in every version's path, git tag and history. Register the "
            f"versions you need under {new_name!r} instead (mlflow.register_model(..., {new_name!r}))",
            INVALID_STATE)

    def delete_registered_model(self, name):
        raise MlflowException(
            f"reg does not delete a whole model: its versions are kept as history. Delete versions one by one "
            f"(each stays as a tombstone): `reg delete {name} N --reason ...` or delete_model_version",
            INVALID_STATE)

    @_mlflow_errors
    def get_registered_model(self, name):
        return self._named(name)

    @_mlflow_errors
    def search_registered_models(self, filter_string=None, max_results=None, order_by=None, page_token=None):
        state = self.reg.state()  # read once: a model per page entry must not re-read the registry
        found = search.search_models(state, filter_string, order_by or None)
        return _page([self._model(m, state.settings.stages) for m in found], max_results, page_token)

    @_mlflow_errors
    def get_latest_versions(self, name, stages=None):
        state = self.reg.state()
        m = state.model(name)
        wanted = state.settings.stages if not stages else [_stage(state, s) for s in stages]
        found = [m.stage_holder(s) for s in wanted]
        return [to_version(v) for v in found if v is not None]

    @_mlflow_errors
    def set_registered_model_tag(self, name, tag):
        self.reg.annotate(name, tags={tag.key: tag.value})

    @_mlflow_errors
    def delete_registered_model_tag(self, name, key):
        self.reg.annotate(name, untag=[key])

    # -- versions ----------------------------------------------------------------------------------
    @_mlflow_errors
    def create_model_version(self, name, source, run_id=None, tags=None, run_link=None, description=None,
                             local_model_path=None, model_id=None):
        from .runs import run_lineage

        metrics, lineage = run_lineage(self.tracking_uri, run_id, source=source, run_link=run_link,
                                       model_id=model_id)
        with tempfile.TemporaryDirectory(prefix="reg-mlflow-") as tmp:
            folder = Path(local_model_path) if local_model_path else _download(source, tmp, self.tracking_uri)
            applied = self.reg.register(name, folder, metrics=metrics, description=description or "",
                                        tags={t.key: t.value for t in (tags or [])}, extra_lineage=lineage)
        return to_version(applied.result)

    @_mlflow_errors
    def update_model_version(self, name, version, description):
        self.reg.annotate(f"{name}/{int(version)}", description=description or "")
        return self.get_model_version(name, version)

    @_mlflow_errors
    def transition_model_version_stage(self, name, version, stage, archive_existing_versions):
        # A move to the stage the version is in is `unchanged` (no commit), as MLflow treats it.
        applied = self.reg.promote(name, _number(version), stage, archive_existing=bool(archive_existing_versions))
        return to_version(applied.result)

    @_mlflow_errors
    def delete_model_version(self, name, version):
        self.reg.delete(name, int(version), reason=DELETE_REASON)

    @_mlflow_errors
    def get_model_version(self, name, version):
        v = self.reg.state().version(name, _number(version))
        if v.deleted:
            raise MlflowException(f"Model Version (name={name}, version={version}) was deleted: "
                                  f"{v.deleted_reason}", RESOURCE_DOES_NOT_EXIST)
        return to_version(v)

    @_mlflow_errors
    def get_model_version_download_uri(self, name, version):
        """A local folder holding the version's verified artifact (pulled from the DVC remote if needed)."""
        from ..pulling import pull

        v = self.reg.state().version(name, _number(version))
        return str(pull(self.reg.root, v))

    @_mlflow_errors
    def search_model_versions(self, filter_string=None, max_results=None, order_by=None, page_token=None):
        found = search.search_versions(self.reg.state(), filter_string, order_by or None)
        return _page([to_version(v) for v in found], max_results, page_token)

    @_mlflow_errors
    def set_model_version_tag(self, name, version, tag):
        self.reg.annotate(f"{name}/{_number(version)}", tags={tag.key: tag.value})

    @_mlflow_errors
    def delete_model_version_tag(self, name, version, key):
        self.reg.annotate(f"{name}/{_number(version)}", untag=[key])

    # -- aliases -----------------------------------------------------------------------------------
    @_mlflow_errors
    def set_registered_model_alias(self, name, alias, version):
        self.reg.alias(name, _number(version), alias)  # already there: unchanged, no commit (as MLflow)

    @_mlflow_errors
    def delete_registered_model_alias(self, name, alias):
        self.reg.remove_alias(name, alias)

    @_mlflow_errors
    def get_model_version_by_alias(self, name, alias):
        return to_version(self.reg.state().resolve(f"{name}@{alias}"))


def _number(version) -> int:
    from ..refs import parse_version

    return parse_version(str(version))


def _stage(state, stage: str) -> str:
    from ..refs import normalize_stage

    return normalize_stage(str(stage), state.settings.stages)


def _page(items: list, max_results, page_token) -> PagedList:
    start = int(page_token) if page_token and is_number(str(page_token)) else 0
    size = int(max_results) if max_results else DEFAULT_PAGE
    chunk = items[start:start + size]
    token = str(start + size) if start + size < len(items) else None
    return PagedList(chunk, token)


def _download(source: str, tmp: str, tracking_uri: str | None) -> Path:
    """The model files behind an MLflow artifact URI (`runs:/`, `models:/m-...`, a path, s3://, ...)."""
    import mlflow.artifacts

    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp, tracking_uri=tracking_uri)
    except MlflowException:
        raise
    except Exception as exc:  # MLflow's artifact repositories raise their own kinds
        raise MlflowException(f"could not download the model from {source}: {exc}", INVALID_PARAMETER_VALUE) from exc
    return Path(local)
