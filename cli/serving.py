"""`reg pull` and `reg predict`: what a serving host or a batch job runs. They register on the app in main.py."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Optional

import typer

from .app import app, open_registry


@contextlib.contextmanager
def show_progress(quiet: bool):
    """Progress bars for pushes and pulls only for a person at a terminal (and never with --quiet)."""
    from registry import transfer

    token = transfer.SHOW_PROGRESS.set(not quiet and sys.stdout.isatty())
    try:
        yield
    finally:
        transfer.SHOW_PROGRESS.reset(token)


def register_signature(path: Optional[Path], data: Optional[Path], target: Optional[str]) -> Optional[dict]:
    from registry import signature
    from registry.errors import UsageError

    if path and data:
        raise UsageError("give either --signature FILE or --signature-data CSV, not both")
    if target and not data:
        raise UsageError("--signature-target names the label column of --signature-data CSV; give that too")
    if path:
        return signature.from_file(path)
    if data:
        return signature.infer_from_csv(data, target)
    return None


@app.command()
def pull(ctx: typer.Context, ref: str = typer.Argument(..., help="churn/production, churn@champion, churn/7"),
         to: Optional[Path] = typer.Option(None, "--to", help="Also place the artifact and its manifest.yaml here."),
         quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no output."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Fetch one version's artifact (only that one), verify it against its manifest, say which version it is."""
    from registry import pulling

    reg = open_registry(ctx)
    manifest = reg.resolve(ref)
    with show_progress(quiet or as_json):
        where = pulling.pull(reg.root, manifest, to=to, progress=not quiet and not as_json and sys.stdout.isatty())
    shown = where if to is not None else where.relative_to(reg.root)
    if as_json:
        import json

        typer.echo(json.dumps({"model": manifest.model, "version": manifest.version, "stage": manifest.stage,
                               "aliases": manifest.aliases, "md5": manifest.md5, "path": str(where)}))
    elif not quiet:
        stage = f" ({manifest.stage})" if manifest.stage not in ("none", "") else ""
        typer.echo(f"Pulled {manifest.model} v{manifest.version}{stage}, verified {manifest.md5}, at {shown}")


@app.command()
def predict(ctx: typer.Context, ref: str = typer.Argument(..., help="churn/production, churn@champion, churn/7"),
            input: Path = typer.Option(..., "--input", "-i", help="CSV with the signature's input columns."),
            output: Path = typer.Option(..., "--output", "-o", help="CSV to write: the input plus predictions, "
                                                                    "model and model_version."),
            trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow a pickle artifact (runs its code)."),
            trust: list[str] = typer.Option([], "--trust", metavar="TYPE",
                                            help="Trust this skops type or function (repeatable); only for an "
                                                 "artifact whose author you trust."),
            quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars and no output.")):
    """Batch prediction with a registered model, checked against its signature."""
    from registry import batch

    with show_progress(quiet):
        result = batch.predict_csv(open_registry(ctx).root, ref, input, output, trust_pickle=trust_pickle,
                                   progress=not quiet and sys.stdout.isatty(), trusted_types=trust or None)
    if not quiet:
        typer.echo(f"Wrote {result.rows} predictions ({result.column}) from {result.manifest.model} "
                   f"v{result.manifest.version} to {result.output}")
