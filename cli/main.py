"""The `reg` command: parse arguments, call the `registry` API, render. No registry logic here.

The core lifecycle commands live here; each area's commands live in their own module beside it.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import render
from .app import JsonOpt, ProposeOpt, PushOpt, app, open_registry


@app.command()
def init(ctx: typer.Context,
         remote: Optional[str] = typer.Option(None, help="DVC remote: a local path or s3://bucket/prefix "
                                                         "(default: a local directory, no server)."),
         endpoint_url: Optional[str] = typer.Option(None, help="S3-compatible server URL."),
         access_key_id: Optional[str] = typer.Option(None, envvar="REG_ACCESS_KEY_ID",
                                                     help="S3 key id (stored in .dvc/config.local only)."),
         secret_access_key: Optional[str] = typer.Option(None, envvar="REG_SECRET_ACCESS_KEY",
                                                         help="S3 secret (stored in .dvc/config.local only).")):
    """Make this git repository a registry: DVC, a remote and models/registry.yaml, in one commit."""
    reg = open_registry(ctx)
    applied = reg.init(remote, endpoint_url=endpoint_url, access_key_id=access_key_id,
                       secret_access_key=secret_access_key)
    render.initialized(reg, applied)


@app.command()
def register(ctx: typer.Context, name: str,
             path: Optional[str] = typer.Argument(None, help="File or folder to register (optional with --from-dvc)."),
             from_dvc: Optional[str] = typer.Option(None, "--from-dvc", metavar="STAGE",
                                                    help="Register what this DVC stage produced (train, or "
                                                         "path/to/dvc.yaml:train): metrics, params and data "
                                                         "hashes come from dvc.lock."),
             metrics: Optional[Path] = typer.Option(None, help="JSON or YAML file of metrics."),
             params: Optional[Path] = typer.Option(None, help="JSON or YAML file of params (default: params.yaml)."),
             description: str = typer.Option("", help="What this version is."),
             tag: List[str] = typer.Option([], "--tag", help="key=value, repeatable."),
             alias: Optional[str] = typer.Option(None, help="Give the new version this alias."),
             fmt: Optional[str] = typer.Option(None, "--format", help="Artifact format (default: detected)."),
             signature: Optional[Path] = typer.Option(None, "--signature", help="JSON/YAML signature file "
                                                      "(default: the artifact's signature.json)."),
             signature_data: Optional[Path] = typer.Option(None, "--signature-data",
                                                           help="Infer the signature from this CSV of training data."),
             signature_target: Optional[str] = typer.Option(None, "--signature-target",
                                                            help="The label column of --signature-data (not an input)."),
             source_sha: Optional[str] = typer.Option(None, "--source-sha", envvar="REG_SOURCE_SHA",
                                                      help="Commit of the training code, when it ran elsewhere "
                                                           "(recorded under lineage)."),
             source_repo: Optional[str] = typer.Option(None, "--source-repo", envvar="REG_SOURCE_REPO",
                                                       help="Repository of the training code (URL; any token is "
                                                            "dropped)."),
             run_id: Optional[str] = typer.Option(None, "--run-id", envvar="REG_RUN_ID",
                                                  help="The training run's id (a CI job, an MLflow run)."),
             quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
             push: Optional[bool] = PushOpt, as_json: bool = JsonOpt, propose: bool = ProposeOpt):
    """Register a file or folder as the next version of NAME."""
    from registry import lineage, refs
    from registry.errors import UsageError

    reg = open_registry(ctx).proposing() if propose else open_registry(ctx)
    sig = serving.register_signature(signature, signature_data, signature_target)
    source = dict(source_sha=source_sha, source_repo=source_repo, run_id=run_id)
    if from_dvc is not None:
        if metrics or params or fmt:
            raise UsageError("--from-dvc takes metrics, params and format from the pipeline; "
                             "drop --metrics/--params/--format")
        with serving.show_progress(quiet):
            applied = reg.register_from_dvc(name, from_dvc, path, description=description,
                                            tags=refs.parse_tag_pairs(tag), alias=alias, signature=sig, push=push,
                                            **source)
        if propose:
            return review.proposal(applied, as_json)
        render.applied(applied, as_json, f"Registered {name} v{applied.result.version} from DVC stage {from_dvc}")
        return
    if path is None:
        raise UsageError("give the PATH to register, or --from-dvc STAGE (e.g. --from-dvc train)")

    metric_values = lineage.flat_metrics(lineage.read_data_file(metrics, "metrics")) if metrics else None
    if metrics and not metric_values:  # DVC-style: text values are skipped, but not every value silently
        raise UsageError(f"metrics file {metrics} holds no numbers; write metrics as name: number "
                         "(e.g. {\"roc_auc\": 0.84})")
    with serving.show_progress(quiet):
        applied = reg.register(name, path, metrics=metric_values, params_file=params, description=description,
                               tags=refs.parse_tag_pairs(tag), alias=alias, fmt=fmt, signature=sig, push=push,
                               **source)
    if propose:
        return review.proposal(applied, as_json)
    render.applied(applied, as_json, f"Registered {name} v{applied.result.version}")


@app.command("list")
def list_(ctx: typer.Context,
          filter_: Optional[str] = typer.Option(None, "--filter", metavar="FILTER",
                                                help="MLflow filter: \"name LIKE 'churn%' and tags.team = 'growth'\"."),
          order_by: List[str] = typer.Option([], "--order-by", metavar="KEY", help="e.g. 'name DESC'; repeatable."),
          as_json: bool = JsonOpt):
    """One row per model: latest version, versions, staging and production, aliases."""
    reg = open_registry(ctx)
    state = reg.state()
    if filter_ is None and not order_by:
        return render.models(state, state.models(), as_json)
    from registry import search

    render.models(state, search.search_models(state, filter_, order_by), as_json, filtered=True)


@app.command()
def show(ctx: typer.Context, ref: str = typer.Argument(..., help="churn, churn/7, churn/production, churn@champion"),
         deleted: bool = typer.Option(False, "--deleted", help="Include deleted versions."),
         at: Optional[str] = typer.Option(None, "--at", help="As it was at this time (2026-11-01T12:00, UTC)."),
         rev: Optional[str] = typer.Option(None, "--rev", help="As it was at this git revision."),
         filter_: Optional[str] = typer.Option(None, "--filter", metavar="FILTER",
                                               help="MLflow filter over the versions: \"tags.validation = 'passed' "
                                                    "and metrics.roc_auc > 0.9\"."),
         order_by: List[str] = typer.Option([], "--order-by", metavar="KEY",
                                            help="e.g. 'metrics.roc_auc DESC'; repeatable."),
         as_json: bool = JsonOpt):
    """A model's versions (`reg show churn`) or one version whole (`reg show churn/7`)."""
    reg = open_registry(ctx)
    past = at is not None or rev is not None  # an empty --at is an error, not "now"
    state = reg.state_at(at, rev) if past else reg.state()
    bare = ref.removeprefix("models:/")
    if "/" not in bare and "@" not in bare:
        m = _then(state.model, bare, state, at or rev) if past else state.model(bare)
        if filter_ is not None or order_by:
            from registry import search

            found = search.search_versions(state, filter_, order_by or ["version_number DESC"], model=m.name,
                                           include_deleted=deleted)
            return render.versions(state, m, deleted, as_json, items=found)
        render.versions(state, m, deleted, as_json)
    elif past:
        history.show_at(reg, state, ref, _then(state.resolve, ref, state, at or rev), as_json)
    else:
        if filter_ is not None or order_by:
            from registry.errors import UsageError

            raise UsageError("--filter and --order-by apply to a model's versions: `reg show churn --filter ...`")
        render.version(state.resolve(ref), as_json)


def _then(lookup, ref, state, when):
    """A lookup in the registry of the past: "no version of churn is in production" means then, not now."""
    from registry.errors import NotFound

    try:
        return lookup(ref)
    except NotFound as exc:
        raise NotFound(f"{exc} (as of commit {state.rev[:8]}, {when})") from None


@app.command()
def promote(ctx: typer.Context, name: str, version: str, stage: str,
            reason: Optional[str] = typer.Option(None, help="Why: goes into the commit and the tag."),
            keep_existing: bool = typer.Option(False, "--keep-existing",
                                               help="Do not archive the version now in an exclusive stage."),
            force: bool = typer.Option(False, "--force", help="Override failed gates (needs --reason; recorded)."),
            alias: Optional[str] = typer.Option(None, "--alias", help="Also point this alias at the version, "
                                                                      "in the same commit."),
            push: Optional[bool] = PushOpt, as_json: bool = JsonOpt, propose: bool = ProposeOpt):
    """Move a version to a stage (none, staging, production, archived), and with --alias point an alias at it."""
    reg = open_registry(ctx).proposing() if propose else open_registry(ctx)
    applied = reg.promote(name, version, stage, reason=reason, keep_existing=keep_existing, push=push, force=force,
                          alias=alias)
    if propose and not applied.unchanged:
        return review.proposal(applied, as_json)
    v = applied.result
    t = applied.change.trailers
    archived = t.get("Reg-Archived")
    note = f"; archived {', '.join('v' + a for a in archived.split(','))}" if archived else ""
    if t.get("Reg-Action") == "alias":  # already in the stage: only the alias moved
        headline = f"{name}@{alias} now names v{v.version} (already in {v.stage})"
    else:
        headline = f"Promoted {name} v{v.version} to {v.stage}{note}" + (f"; @{alias} -> v{v.version}" if alias else "")
    render.applied(applied, as_json, headline)


@app.command()
def archive(ctx: typer.Context, name: str, version: str,
            reason: Optional[str] = typer.Option(None, help="Why."),
            push: Optional[bool] = PushOpt, as_json: bool = JsonOpt):
    """Move a version to the archive stage."""
    applied = open_registry(ctx).archive(name, version, reason=reason, push=push)
    render.applied(applied, as_json, f"Archived {name} v{applied.result.version}")


@app.command()
def alias(ctx: typer.Context, name: str, version: Optional[str] = typer.Argument(None),
          alias_name: Optional[str] = typer.Argument(None, metavar="ALIAS"),
          delete: Optional[str] = typer.Option(None, "--delete", help="Remove this alias."),
          push: Optional[bool] = PushOpt, as_json: bool = JsonOpt, propose: bool = ProposeOpt):
    """Point an alias at a version (`reg alias churn 7 champion`) or remove it (`--delete champion`)."""
    reg = open_registry(ctx).proposing() if propose else open_registry(ctx)
    if delete:
        if version or alias_name:
            raise typer.BadParameter("give either VERSION ALIAS or --delete ALIAS, not both")
        applied = reg.remove_alias(name, delete, push=push)
        if propose:
            return review.proposal(applied, as_json)
        render.applied(applied, as_json, f"Removed alias {name}@{delete}")
        return
    if not version or not alias_name:
        raise typer.BadParameter("usage: reg alias NAME VERSION ALIAS, or reg alias NAME --delete ALIAS")
    applied = reg.alias(name, version, alias_name, push=push)
    if propose and not applied.unchanged:
        return review.proposal(applied, as_json)
    render.applied(applied, as_json, f"{name}@{alias_name} now names v{applied.result.version}")


@app.command()
def create(ctx: typer.Context, name: str,
           description: str = typer.Option("", help="What the model is for."),
           tag: List[str] = typer.Option([], "--tag", help="key=value, repeatable."),
           push: Optional[bool] = PushOpt, as_json: bool = JsonOpt):
    """Create a model (its card, models/NAME/model.yaml) before its first version."""
    from registry import refs

    applied = open_registry(ctx).create_model(name, description=description, tags=refs.parse_tag_pairs(tag), push=push)
    render.applied(applied, as_json, f"Created model {name}")


@app.command()
def annotate(ctx: typer.Context, ref: str = typer.Argument(..., help="churn (the model) or churn/7 (a version)"),
             description: Optional[str] = typer.Option(None, help="New description."),
             tag: List[str] = typer.Option([], "--tag", help="key=value to set, repeatable."),
             untag: List[str] = typer.Option([], "--untag", help="key to remove, repeatable."),
             push: Optional[bool] = PushOpt, as_json: bool = JsonOpt):
    """Set the description or tags of a model or of one version."""
    from registry import refs

    applied = open_registry(ctx).annotate(ref, description=description, tags=refs.parse_tag_pairs(tag), untag=untag,
                                 push=push)
    render.applied(applied, as_json, f"Annotated {ref}")


@app.command()
def delete(ctx: typer.Context, name: str, version: str,
           reason: str = typer.Option("", help="Why (required)."),
           force: bool = typer.Option(False, "--force", help="Delete even a version in production."),
           push: Optional[bool] = PushOpt, as_json: bool = JsonOpt, propose: bool = ProposeOpt):
    """Delete a version: its manifest stays as a tombstone, its number is never reused."""
    applied = (open_registry(ctx).proposing() if propose else open_registry(ctx)).delete(name, version, reason=reason, force=force,
                                                                         push=push)
    if propose:
        return review.proposal(applied, as_json)
    render.applied(applied, as_json, f"Deleted {name} v{applied.result.version} (tombstone kept)")


# Each area's commands register on `app` when imported; after the core ones, so `reg --help` lists those first.
from . import history, imports, lifecycle, repair, review, serving, site  # noqa: E402


def main() -> None:
    app(prog_name="reg")


if __name__ == "__main__":
    main()
