"""`Registry`: the Python API over a registry repository. The CLI is a thin layer over this."""
from __future__ import annotations

import os
from pathlib import Path

from . import git, lineage as lineage_mod, operations, refs, rules, settings as settings_mod
from .changes import Applied, ChangeSet, apply
from .errors import StateError, UsageError
from .manifest import ModelVersion
from .state import ModelState, RegistryState, read_state


REPO_ENV = "REG_REPO"


def registry_root(path: str | Path | None = None) -> Path:
    """The registry repository's top folder: `path`, else $REG_REPO (as MLflow's MLFLOW_REGISTRY_URI),
    else the current folder. Outside any repository, the message says how to name the registry."""
    if path is not None:
        return git.toplevel(Path(path).resolve())
    env = os.environ.get(REPO_ENV, "").strip()
    where = Path(env or ".").resolve()
    if env and not where.exists():
        raise StateError(f"{REPO_ENV}={env} does not exist; set {REPO_ENV} to your registry repository's folder")
    found = git.toplevel_of(where if where.is_dir() else where.parent)
    if found is not None:
        return found
    if env:
        raise StateError(f"{REPO_ENV}={env} is not inside a git repository; set {REPO_ENV} to a clone of your "
                         "registry repository")
    raise StateError(f"{where} is not inside a git repository: set {REPO_ENV} to your registry repository's "
                     "clone (or pass its path), or run from inside it")


class Registry:
    def __init__(self, path: str | Path | None = None):
        """`path`: any folder inside the registry repository (default: $REG_REPO, else the current folder)."""
        self.root = registry_root(path)
        from . import journal

        # A change interrupted by kill -9, a power cut or a full disk is finished or undone by the next
        # command, reads included (one stat when there is none); `recovered` says what was done.
        self.recovered: str | None = journal.recover_if_idle(self.root)

    # -- reading -----------------------------------------------------------------------------------
    def state(self, rev: str | None = None) -> RegistryState:
        return read_state(self.root, rev)

    def models(self) -> list[ModelState]:
        return self.state().models()

    def model(self, name: str) -> ModelState:
        return self.state().model(name)

    def versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        m = self.state().model(name)
        return [v for _, v in sorted(m.versions.items()) if include_deleted or not v.deleted]

    def resolve(self, ref: str) -> ModelVersion:
        return self.state().resolve(ref)

    def search_versions(self, filter: str | None = None, order_by: list[str] | str | None = None, *,
                        model: str | None = None, include_deleted: bool = False) -> list[ModelVersion]:
        """Versions matching an MLflow filter string (`"name = 'churn' and metrics.roc_auc > 0.9"`), in
        MLflow's grammar with `metrics.*` and `params.*` added; `order_by` as MLflow's (`["metrics.f1 DESC"]`)."""
        from . import search

        return search.search_versions(self.state(), filter, order_by, model=model, include_deleted=include_deleted)

    def search_models(self, filter: str | None = None, order_by: list[str] | str | None = None) -> list[ModelState]:
        """Registered models matching an MLflow filter string (`"name LIKE 'churn%' and tags.team = 'growth'"`)."""
        from . import search

        return search.search_models(self.state(), filter, order_by)

    def load(self, ref: str, trust_pickle: bool = False, **kw):
        """The model `ref` names, verified against its manifest and loaded by format (`registry.loading`)."""
        from .loading import load

        return load(self.root, ref, trust_pickle=trust_pickle, **kw)

    # -- changing ----------------------------------------------------------------------------------
    def _apply(self, build, push: bool | None, **kw) -> Applied:
        if getattr(self, "_proposing", False):
            from . import propose

            return propose.propose(self.root, build)
        applied = apply(self.root, build, push=push, **kw)
        if applied.unchanged:
            return applied
        from . import notify

        applied.warnings += notify.send(settings_mod.read(self.root), applied.change, applied.commit)
        return applied

    def proposing(self) -> "Registry":
        """This registry, but every change goes to a new pushed branch for review (`--propose`)."""
        other = Registry.__new__(Registry)
        other.__dict__.update(self.__dict__, _proposing=True)
        return other

    def init(self, remote: str | None = None, *, endpoint_url: str | None = None,
             access_key_id: str | None = None, secret_access_key: str | None = None) -> Applied | None:
        from . import init as init_mod

        return init_mod.init(self.root, remote, endpoint_url=endpoint_url, access_key_id=access_key_id,
                             secret_access_key=secret_access_key)

    def create_model(self, name: str, *, description: str = "", tags: dict | None = None,
                     push: bool | None = None) -> Applied:
        """A model with no versions yet: its card `models/<name>/model.yaml` (MLflow's
        create_registered_model). `applied.result` is the `ModelCard`; an existing model raises AlreadyExists."""
        refs.check_name(name)
        return self._apply(lambda s: operations.create_model(s, name, description=description, tags=tags), push)

    def register(self, name: str, path: str | Path, *, metrics: dict | None = None,
                 params_file: str | Path | None = None, description: str = "", tags: dict | None = None,
                 alias: str | None = None, fmt: str | None = None, signature: dict | None = None,
                 signature_data=None, signature_target: str | None = None, source_sha: str | None = None,
                 source_repo: str | None = None, run_id: str | None = None, push: bool | None = None,
                 **kw) -> Applied:
        """Register `path` as the next version of `name`. `signature_data` (a DataFrame, or a CSV path) infers
        the signature as `--signature-data` does, `signature_target` being its label column; `source_sha`,
        `source_repo` and `run_id` (default: $REG_SOURCE_SHA, $REG_SOURCE_REPO, $REG_RUN_ID) name the
        training code when it ran elsewhere, under `lineage`. The artifact is copied, hashed and pushed once
        (`incoming.stage`) before the commit is built."""
        from . import incoming

        refs.check_name(name)
        signature = _signature(signature, signature_data, signature_target)
        source = lineage_mod.source(source_sha, source_repo, run_id)
        if source:
            kw["extra_lineage"] = {**(kw.get("extra_lineage") or {}), **source}
        settings = settings_mod.read(self.root)
        incoming.check_inputs(name, metrics, tags, alias, settings.stages)
        if (settings.push if push is None else push) and not getattr(self, "_proposing", False):
            from .changes import check_push_target

            check_push_target(self.root, settings.git_remote)  # before the artifact is copied and pushed
        from . import signing

        signing.preflight(self.root, settings)  # a registry that requires signing, and no key: before the copy too
        staged = incoming.stage(self.root, path, remote=settings.remote, fmt=fmt,
                                signature=signature, params_file=Path(params_file) if params_file else None, **kw)
        try:
            return self._apply(lambda s: operations.register(s, name, staged, metrics=metrics, description=description,
                                                             tags=tags, alias=alias), push)
        finally:
            staged.discard()

    def register_from_dvc(self, name: str, stage: str, path: str | Path | None = None, *,
                          cwd: str | Path | None = None, description: str = "", tags: dict | None = None,
                          alias: str | None = None, signature: dict | None = None, signature_data=None,
                          signature_target: str | None = None, source_sha: str | None = None,
                          source_repo: str | None = None, run_id: str | None = None,
                          push: bool | None = None) -> Applied:
        """Register what DVC stage `stage` (`train` or `path/to/dvc.yaml:train`) produced, with its lineage."""
        from . import from_dvc

        refs.check_name(name)
        signature = _signature(signature, signature_data, signature_target)
        run = from_dvc.read_stage(stage, cwd=Path(cwd or Path.cwd()), root=self.root, path=path)
        return self.register(name, run.artifact, metrics=run.metrics, description=description, tags=tags,
                             alias=alias, signature=signature or run.signature, source_sha=source_sha,
                             source_repo=source_repo, run_id=run_id, push=push, extra_lineage=run.lineage)

    def validate(self, name: str, version: int | str, *, data: str | Path | None = None,
                 target: str | None = None, task: str | None = None, push: bool | None = None) -> Applied:
        """Re-score a version on a holdout (model.yaml's `validation:`; `data`, `target` and `task` override
        it), record it, and promote to staging when the staging gate passes (one commit). No staging gate:
        recorded, never promoted. `applied.result` is a `validate.Validation` saying what happened and why."""
        from . import validate as validate_mod

        number = refs.parse_version(version)
        state = self.state()
        v = state.version(name, number)
        if v.deleted:
            raise UsageError(f"{name} v{number} was deleted; it cannot be validated")
        spec = validate_mod.spec_of(state, name, data, target, task)
        scored = validate_mod.score(self.root, v, spec)
        return self._apply(lambda s: validate_mod.build(s, name, number, scored), push)

    def compare(self, name: str, first: str, second: str):
        from .compare import compare

        return compare(self.state(), name, first, second)

    def promote(self, name: str, version: int | str, stage: str, *, reason: str | None = None,
                keep_existing: bool = False, push: bool | None = None, force: bool = False,
                alias: str | None = None, archive_existing: bool = False) -> Applied:
        """Move a version to `stage`; with `alias`, point that alias at it in the same commit. A version
        already there (with that alias) is `applied.unchanged`, no commit, as in MLflow. `archive_existing`
        archives the stage's other versions even where the stage is not exclusive (MLflow's
        archive_existing_versions)."""
        number = refs.parse_version(version)
        return self._apply(lambda s: operations.promote(s, name, number, stage, reason=reason,
                                                        keep_existing=keep_existing, force=force, alias=alias,
                                                        archive_existing=archive_existing), push)

    def archive(self, name: str, version: int | str, *, reason: str | None = None,
                push: bool | None = None) -> Applied:
        number = refs.parse_version(version)
        return self._apply(lambda s: operations.archive(s, name, number, reason=reason), push)

    def alias(self, name: str, version: int | str, alias: str, *, push: bool | None = None) -> Applied:
        number = refs.parse_version(version)
        return self._apply(lambda s: operations.set_alias(s, name, number, alias), push)

    def remove_alias(self, name: str, alias: str, *, push: bool | None = None) -> Applied:
        return self._apply(lambda s: operations.remove_alias(s, name, alias), push)

    def annotate(self, ref: str, *, description: str | None = None, tags: dict | None = None,
                 untag: list[str] | None = None, push: bool | None = None) -> Applied:
        return self._apply(lambda s: operations.annotate(s, ref, description=description, tags=tags,
                                                         untag=untag), push)

    def delete(self, name: str, version: int | str, *, reason: str, force: bool = False,
               push: bool | None = None) -> Applied:
        number = refs.parse_version(version)
        rules.require_deletion_reason(reason)
        return self._apply(lambda s: operations.delete(s, name, number, reason=reason, force=force), push)

    def recover(self) -> str | None:
        """Finish or undo a change that was interrupted (waits for a running reg command first). One line
        saying what was done, or None when there was nothing to do."""
        from . import journal

        if self.recovered:
            return self.recovered
        with journal.lock(self.root):
            done = journal.recover(self.root)
            journal.clean_incoming(self.root)
            return done

    def verify(self, model: str | None = None, *, repair: bool = False):
        """Which versions' artifacts are missing or damaged on the DVC remote (`verify.Report`); `repair`
        first sends again what this machine's DVC cache has of them."""
        from . import verify as verify_mod

        return verify_mod.verify(self.root, model, repair=repair)

    # -- history and rollback (registry/history/, registry/rollback.py) -----------------------------
    def history(self, model: str | None = None, *, stage: str | None = None, since=None,
                rev: str = "HEAD") -> list:
        """Registry events newest first (see `history.Event`); `since` is a datetime or a date string."""
        from . import history

        state = self.state()
        if model is not None and model not in state.model_names():
            state.model(model)  # raises the precise error (invalid name, or unknown with the known ones)
        if stage is not None:
            stage = refs.normalize_stage(stage, state.settings.stages)
        if isinstance(since, str):
            since = history.parse_time(since, "--since date")
        return history.events(self.root, model, stage=stage, since=since, rev=rev,
                              archive_stage=state.settings.archive_stage)

    def rollback(self, name: str, stage: str = "production", *, reason: str | None = None,
                 to: int | str | None = None, push: bool | None = None) -> Applied:
        from . import rollback

        number = refs.parse_version(to) if to is not None else None
        return self._apply(lambda s: rollback.rollback(s, name, stage, reason=reason, to=number), push)

    def state_at(self, when=None, rev: str | None = None) -> RegistryState:
        """The registry as it was at a time (the last commit of this branch's first-parent history at or
        before it) or at a revision. `state.rev` is the commit read."""
        from . import history

        if when is not None and rev is not None:
            raise UsageError("give either --at TIME or --rev REV, not both")
        if when is not None:
            t = history.parse_time(when, "--at time") if isinstance(when, str) else when
            commit = history.commit_at(self.root, t)
            if commit is None or not git.has_path(self.root, commit, settings_mod.SETTINGS_PATH):
                if git.is_shallow(self.root):
                    raise StateError(f"no registry commit at or before {t.strftime('%Y-%m-%dT%H:%M:%SZ')} here, "
                                     f"but {git.SHALLOW_HINT}")
                raise UsageError(f"the registry did not exist yet at {t.strftime('%Y-%m-%dT%H:%M:%SZ')}; "
                                 "give a later time (see `reg history`)")
        else:
            commit = git.rev_parse(self.root, rev)
            if not commit:
                raise UsageError(f"unknown revision {rev!r}: give a commit, branch or tag that exists")
            if not git.has_path(self.root, commit, settings_mod.SETTINGS_PATH):
                raise UsageError(f"the registry did not exist yet at {rev} ({commit[:8]}); give a later revision "
                                 "(see `reg history`)")
        return read_state(self.root, commit)

    def placed_by(self, v: ModelVersion, *, stage: str | None = None, alias: str | None = None,
                  rev: str = "HEAD"):
        """The history event that put version `v` into `stage` (or under `alias`, or registered it)."""
        from . import history

        return history.placed(self.root, v.model, v.version, stage=stage, alias=alias, rev=rev,
                              archive_stage=self.state().settings.archive_stage)


def _signature(signature: dict | None, data, target: str | None) -> dict | None:
    """An explicit signature, or one inferred from training data (a DataFrame or a CSV path) as the CLI does."""
    from . import signature as signature_mod

    if signature is not None and data is not None:
        raise UsageError("give either signature or signature_data, not both")
    if target is not None and data is None:
        raise UsageError("signature_target names the label column of signature_data; give that too")
    if data is None:
        return signature
    if isinstance(data, (str, Path)):
        return signature_mod.infer_from_csv(data, target)
    return signature_mod.infer(data, target)


__all__ = ["Registry", "registry_root", "Applied", "ChangeSet", "settings_mod"]
