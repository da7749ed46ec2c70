"""`reg recover` (finish or undo an interrupted change) and `reg verify` (is the DVC remote whole?)."""
from __future__ import annotations

from typing import Optional

import typer

from . import render
from .app import JsonOpt, app, open_registry


@app.command()
def recover(ctx: typer.Context):
    """Finish or undo a change that was interrupted (kill -9, power cut, full disk). Any reg command does this
    first; this one only does that."""
    from registry import Registry

    done = Registry(ctx.obj["repo"]).recover()  # what it did goes to stdout here: it is this command's output
    typer.echo(done or "nothing to recover: no change was interrupted")


@app.command()
def verify(ctx: typer.Context, model: Optional[str] = typer.Argument(None, help="Only this model's versions."),
           repair: bool = typer.Option(False, "--repair", help="First send again what this machine's DVC "
                                                                 "cache has of each missing or damaged artifact."),
           as_json: bool = JsonOpt):
    """List versions whose artifact is missing or damaged on the DVC remote, with the fix."""
    report = open_registry(ctx).verify(model, repair=repair)
    if as_json:
        render.emit_json({"checked": report.checked, "remote": report.remote, "ok": report.ok,
                          "problems": [f.to_dict() for f in report.findings]})
    else:
        for finding in report.findings:
            typer.echo(finding.line())
        typer.echo(f"{report.checked} version(s) checked on remote {report.remote or '(default)'}: " +
                   ("all artifacts whole" if report.ok else f"{len(report.findings)} missing or damaged"))
    raise typer.Exit(0 if report.ok else 1)
