"""`reg import mlflow`: bring an existing MLflow registry over, with its history (needs `reg[mlflow]`)."""
from __future__ import annotations

import contextlib
import os
import sys
from typing import List, Optional

import typer

from . import render
from .app import JsonOpt, PushOpt, app, open_registry

@contextlib.contextmanager
def _quiet_downloads():
    """MLflow draws a download bar per artifact even into a log or CI output; only a terminal gets them."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    if key in os.environ or sys.stderr.isatty():
        yield
        return
    os.environ[key] = "false"
    try:
        yield
    finally:
        os.environ.pop(key, None)


import_app = typer.Typer(help="Bring another registry's models and history into this one.", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("mlflow")
def import_mlflow(ctx: typer.Context,
                  tracking_uri: str = typer.Option(..., "--tracking-uri", metavar="URI",
                                                   help="MLflow's tracking store: sqlite:///mlflow.db, a folder, "
                                                        "or http://host:port."),
                  registry_uri: Optional[str] = typer.Option(None, "--registry-uri", metavar="URI",
                                                             help="MLflow's registry, if not the tracking store."),
                  model: List[str] = typer.Option([], "--model", metavar="NAME",
                                                  help="Only this model (repeatable; default: all)."),
                  push: Optional[bool] = PushOpt, as_json: bool = JsonOpt):
    """Replay MLflow's registrations, stages and aliases as reg commits (MLflow's users and times).
    Running it again adds only what is new."""
    from registry.errors import UsageError

    try:
        from registry.mlflow.importer import import_mlflow as run
    except ImportError:
        raise UsageError("reg import mlflow needs MLflow: pip install 'reg[mlflow]'") from None
    with _quiet_downloads():
        result = run(open_registry(ctx), tracking_uri, model or None, registry_uri=registry_uri, push=push)
    for w in result.warnings:
        typer.echo(f"warning: {w}", err=True)
    if as_json:
        return render.emit_json({"done": result.done, "skipped": result.skipped, "warnings": result.warnings})
    for line in result.done:
        typer.echo(line)
    typer.echo(f"Imported from MLflow: {len(result.done)} change(s), {len(result.skipped)} already here")
