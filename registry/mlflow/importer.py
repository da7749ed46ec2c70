"""`reg import mlflow`: move an existing MLflow registry into a reg registry, with its history.

Each model's past is replayed in time order as reg commits: the model card, one commit per registration
(artifact downloaded from MLflow, DVC-tracked and pushed, the run's metrics and params in the manifest),
one per stage a version is in, one per alias. The commits are authored by the MLflow user at MLflow's
timestamps (GIT_AUTHOR_NAME/EMAIL/DATE), so `reg history` and `git log` show MLflow's past. MLflow keeps a
version's current stage and last-update time, not every transition, so that is what can be replayed.

Running it again adds only what is new: versions are matched by `lineage.mlflow.version`, and a stage or
alias that moved in MLflow since is moved here too. Nothing already in reg is removed.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..api import Registry
from ..errors import AlreadyExists, RegistryError, UsageError

ORDER = {"create": 0, "register": 1, "stage": 2, "alias": 3}


@dataclass
class Event:
    time_ms: int
    kind: str  # create, register, stage, alias
    model: str
    version: str | None = None
    user: str | None = None
    detail: str | None = None  # stage or alias name
    data: object = None


@dataclass
class ImportResult:
    done: list[str] = field(default_factory=list)  # one line per commit made
    skipped: list[str] = field(default_factory=list)  # what was already here
    warnings: list[str] = field(default_factory=list)


def _author_env(user: str | None, time_ms: int | None) -> dict[str, str]:
    env = {}
    if user:
        name, _, domain = user.partition("@")
        env["GIT_AUTHOR_NAME"] = name or user
        env["GIT_AUTHOR_EMAIL"] = user if domain else f"{user}@mlflow"
    if time_ms:
        env["GIT_AUTHOR_DATE"] = f"@{int(time_ms) // 1000} +0000"
    return env


@contextlib.contextmanager
def _environ(env: dict[str, str]):
    """These environment variables set for the block, and put back as they were after it."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _as_author(user: str | None, time_ms: int | None):
    """Commits (and the manifest times and names reg records) as MLflow's user at MLflow's time."""
    return _environ(_author_env(user, time_ms))


def import_mlflow(reg: Registry, tracking_uri: str, models: list[str] | None = None, *,
                  registry_uri: str | None = None, push: bool | None = None) -> ImportResult:
    from mlflow.tracking import MlflowClient

    if registry_uri and registry_uri.startswith("reg:"):
        raise UsageError("the MLflow registry to import from must be MLflow's own (sqlite:///..., a folder or "
                         "http://...), not a reg registry")
    for uri in {tracking_uri, registry_uri or tracking_uri}:
        _check_source(uri)
    with _reading_from(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=registry_uri or tracking_uri)
        names = models or [m.name for m in _all(client.search_registered_models)]
        result = ImportResult()
        for name in names:
            _import_model(reg, client, name, result, push, tracking_uri)
    return result


def _check_source(uri: str) -> None:
    """One line at once where MLflow would create an empty store at a mistyped path (and import nothing),
    or retry a refused connection for minutes."""
    import urllib.error
    import urllib.parse
    import urllib.request

    scheme = urllib.parse.urlparse(uri).scheme.lower()
    if scheme == "sqlite":
        path = uri.split(":///", 1)[1] if ":///" in uri else ""
        if path and path != ":memory:" and not Path(path).is_file():
            raise UsageError(f"there is no MLflow database at {path} ({uri}); give the path of MLflow's "
                             "database, e.g. --tracking-uri sqlite:///mlflow.db")
    elif scheme in ("", "file") or len(scheme) == 1:  # a folder (a Windows drive letter parses as a scheme)
        path = urllib.parse.urlparse(uri).path if scheme == "file" else uri
        if not Path(path).is_dir():
            raise UsageError(f"there is no MLflow tracking folder at {path}; give MLflow's folder (e.g. ./mlruns), "
                             "a database (sqlite:///mlflow.db) or a server (http://host:5000)")
    elif scheme in ("http", "https"):
        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10).close()
        except urllib.error.HTTPError:
            pass  # it answered: reachable (a proxy may not serve /health)
        except (urllib.error.URLError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            raise UsageError(f"cannot reach MLflow at {uri} ({why}); start the tracking server or fix "
                             "--tracking-uri") from None


def _reading_from(tracking_uri: str):
    """MLflow 3 refuses its file store unless told it may (reading one to move it into reg is what we want),
    and its file registry opens a default client, which would create ./mlflow.db here: point that at the source."""
    return _environ({"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_TRACKING_URI": tracking_uri})


def _all(search, *args):
    token, out = None, []
    while True:
        page = search(*args, max_results=100, page_token=token)
        out.extend(page)
        token = page.token
        if not token:
            return out


def _events(client, name: str) -> tuple[object, list, list[Event]]:
    rm = client.get_registered_model(name)
    versions = sorted(_all(client.search_model_versions, f"name = '{name}'"), key=lambda v: int(v.version))
    events = [Event(rm.creation_timestamp or 0, "create", name, data=rm)]
    for v in versions:
        user = v.user_id or _run_user(client, v.run_id)
        events.append(Event(v.creation_timestamp or 0, "register", name, str(v.version), user, data=v))
        stage = (v.current_stage or "None")
        if stage.lower() != "none":
            events.append(Event(v.last_updated_timestamp or v.creation_timestamp or 0, "stage", name, str(v.version),
                                user, stage.lower()))
    last = max((e.time_ms for e in events), default=0)
    for alias, version in sorted((getattr(rm, "aliases", None) or {}).items()):
        events.append(Event(last, "alias", name, str(version), None, alias))
    events.sort(key=lambda e: (e.time_ms, ORDER[e.kind], int(e.version or 0),
                               e.detail != "archived"))
    return rm, versions, events


def _run_user(client, run_id: str | None) -> str | None:
    """MLflow OSS leaves a version's user_id empty; the run that made it records who ran it."""
    if not run_id:
        return None
    try:
        return client.get_run(run_id).data.tags.get("mlflow.user")
    except Exception:  # a run deleted or out of reach: the importer's own identity stands in
        return None


def _import_model(reg: Registry, client, name: str, result: ImportResult, push, tracking_uri: str) -> None:
    rm, versions, events = _events(client, name)
    state = reg.state()
    imported = {}  # MLflow version -> reg version number
    if state.has_model(name):
        for v in state.model(name).versions.values():
            mv = ((v.lineage or {}).get("mlflow") or {}).get("version")
            if mv is not None:
                imported[str(mv)] = v.version
    for e in events:
        with _as_author(e.user, e.time_ms):
            try:
                _replay(reg, client, e, imported, result, push, tracking_uri)
            except RegistryError as exc:
                raise type(exc)(f"importing {name} from MLflow stopped at {e.kind} "
                                f"{'v' + e.version if e.version else ''} {e.detail or ''}: {exc}. What was "
                                "imported before stays; fix this and run `reg import mlflow` again to go on"
                                ) from exc


def _replay(reg: Registry, client, e: Event, imported: dict, result: ImportResult, push,
            tracking_uri: str) -> None:
    if e.kind == "create":
        rm = e.data
        try:
            reg.create_model(e.model, description=rm.description or "", tags=dict(rm.tags or {}), push=push)
            result.done.append(f"created {e.model}")
        except AlreadyExists:
            result.skipped.append(f"{e.model} exists")
        return
    if e.kind == "register":
        if e.version in imported:
            result.skipped.append(f"{e.model} v{e.version} already imported as v{imported[e.version]}")
            return
        number = _register(reg, client, e.data, push, tracking_uri)
        imported[e.version] = number
        if str(number) != e.version:
            result.warnings.append(f"{e.model}: MLflow's v{e.version} became reg's v{number} (MLflow's numbering "
                                   "has gaps from deleted versions); the manifest keeps MLflow's number under "
                                   "lineage.mlflow.version")
        result.done.append(f"registered {e.model} v{number}")
        return
    number = imported.get(e.version)
    if number is None:
        return
    if e.kind == "stage":
        applied = reg.promote(e.model, number, e.detail, reason=f"imported from MLflow (stage {e.detail})",
                              push=push)
        if not applied.unchanged:
            result.done.append(f"{e.model} v{number} to {e.detail}")
        return
    applied = reg.alias(e.model, number, e.detail, push=push)
    if not applied.unchanged:
        result.done.append(f"{e.model}@{e.detail} -> v{number}")


def _register(reg: Registry, client, mv, push, tracking_uri: str) -> int:
    import mlflow.artifacts

    from .runs import run_lineage

    metrics, lineage = run_lineage(tracking_uri, mv.run_id, source=mv.source,
                                   run_link=mv.run_link, model_id=getattr(mv, "model_id", None))
    lineage["mlflow"]["version"] = str(mv.version)
    uri = client.get_model_version_download_uri(mv.name, mv.version)
    with tempfile.TemporaryDirectory(prefix="reg-import-") as tmp:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp,
                                                    tracking_uri=tracking_uri)
        applied = reg.register(mv.name, Path(local), metrics=metrics, description=mv.description or "",
                               tags=dict(mv.tags or {}), extra_lineage=lineage, push=push)
    return applied.result.version
