"""`reg pull`, `reg sync` and `reg predict`: what a serving host or a batch job runs (commands on cli/app.py's app)."""
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


@app.command()
def sync(ctx: typer.Context, ref: str = typer.Argument(..., help="churn/production, churn@champion"),
         to: Path = typer.Option(..., "--to", help="Serving folder: versions/, the `current` link, status.json."),
         watch: bool = typer.Option(False, "--watch", help="Keep following (until SIGTERM)."),
         interval: float = typer.Option(30.0, "--interval", min=0.2, help="Seconds between checks (jittered)."),
         listen: Optional[str] = typer.Option(None, "--listen", metavar="HOST:PORT",
                                              help="With --watch: a POST here checks at once (webhooks)."),
         secret_env: Optional[str] = typer.Option(None, "--secret-env", metavar="NAME",
                                                  help="With --listen: the environment variable holding the "
                                                       "webhook secret; POSTs without it are refused (401)."),
         exec_cmd: Optional[str] = typer.Option(None, "--exec", metavar="CMD",
                                                help="Run after each swap (REG_VERSION, REG_PATH, ... set); "
                                                     "if it fails, swap back."),
         exec_timeout: float = typer.Option(60.0, "--exec-timeout", min=0.1, help="Seconds --exec may take."),
         keep: int = typer.Option(3, "--keep", min=2, help="Version folders kept on disk for instant rollback."),
         as_json: bool = typer.Option(False, "--json", help="Print status.json after a one-off sync.")):
    """Keep a folder at the version REF names at the registry remote's head: pull, verify, swap atomically."""
    import logging

    from registry import serving, watching
    from registry.api import registry_root
    from registry.errors import UsageError
    from registry.serving_dir import ServingDir

    if listen and not watch:
        raise UsageError("--listen only makes sense with --watch")
    if secret_env and not listen:
        raise UsageError("--secret-env only makes sense with --listen")
    address = watching.parse_listen(listen) if listen else None
    secret = watching.listen_secret(secret_env) if secret_env else None
    root = registry_root(ctx.obj["repo"])  # -C, else $REG_REPO, else here: as every command finds it
    sdir = ServingDir.open(to, serving.check_ref(root, ref), registry_root=root)
    after = watching.exec_hook(exec_cmd, timeout=exec_timeout, ref=ref, directory=sdir.path) if exec_cmd else None
    if watch:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_utc_formatter("%(asctime)s reg sync: %(message)s"))
        logger = logging.getLogger("registry.serving")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    with sdir.locked():
        syncer = serving.Syncer(root, ref, sdir, keep=keep, interval=interval, after_swap=after)
        if watch:
            watching.Watch(syncer, listen=address, secret=secret).run()
            return
        outcome = syncer.sync(forced=True)
    if as_json:
        import json

        typer.echo(json.dumps(sdir.status(), indent=2, sort_keys=True))
        return
    m = outcome.manifest
    stage = f" ({m.stage})" if m.stage not in ("none", "") else ""
    verb = "Now serving" if outcome.changed else "Already serving"
    typer.echo(f"{verb} {m.model} v{m.version}{stage}, verified {m.md5}, at {sdir.path / 'current'} -> "
               f"versions/{outcome.name}")


def _utc_formatter(fmt: str):
    """ISO-8601 UTC timestamps: a host's log is read beside the registry's history, which is in UTC."""
    import logging
    import time

    formatter = logging.Formatter(fmt, datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    return formatter
