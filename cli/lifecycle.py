"""`reg validate` and `reg compare`; they register themselves on the app in cli/main.py."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import render
from .app import JsonOpt, PushOpt, app, open_registry

EXIT_NOT_PROMOTED = 3


@app.command()
def validate(ctx: typer.Context, name: str, version: str,
             data: Optional[Path] = typer.Option(None, "--data", help="Holdout CSV (default: model.yaml's "
                                                                     "validation.data)."),
             target: Optional[str] = typer.Option(None, "--target", help="Label column (default: model.yaml's "
                                                                         "validation.target)."),
             task: Optional[str] = typer.Option(None, "--task", help="classification or regression (default: "
                                                                     "model.yaml's validation.task, else "
                                                                     "classification)."),
             push: Optional[bool] = PushOpt, as_json: bool = JsonOpt):
    """Re-score a version on holdout data, record the result, and promote it to staging if the staging
    gate passes, in one commit. Exit 0: promoted (or already past staging and passing); exit 3: recorded
    but not promoted (a gate failed, or there is no staging gate to pass)."""
    applied = open_registry(ctx).validate(name, version, data=data, target=target, task=task, push=push)
    result = applied.result
    v, scored = result.version, result.scored
    if as_json:
        render.applied(applied, True, None, {
            "model": v.model, "version": v.version, "task": scored.task, "data": scored.data, "rows": scored.rows,
            "metrics": scored.metrics, "passed": result.passed, "promoted": result.promoted,
            "stage": result.stage, "why_not": result.why_not or None, "gate": result.gate,
            "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in result.checks]})
    else:
        render.applied(applied, False, None)  # its warnings (a failed webhook) on stderr
        typer.echo(f"Validated {v.model} v{v.version} on {scored.data} ({scored.rows} rows): "
                   + ", ".join(f"{k} {x}" for k, x in scored.metrics.items()))
        if result.checks:
            typer.echo("staging gate:")
            for c in result.checks:
                typer.echo(f"  {'ok  ' if c.passed else 'FAIL'} {c.name}: {c.detail}")
        extra = f", tag {', '.join(applied.tags)}" if applied.tags else ""
        if result.promoted:
            typer.echo(f"Promoted {v.model} v{v.version} to {result.stage} (commit {applied.commit[:8]}{extra})")
        elif result.passed:
            typer.echo(f"Passed; not moved: {result.why_not} (validation recorded, commit {applied.commit[:8]})")
        else:
            typer.echo(f"Not promoted: {result.why_not} (validation recorded, commit {applied.commit[:8]})")
    if not result.passed:
        raise typer.Exit(EXIT_NOT_PROMOTED)


@app.command()
def compare(ctx: typer.Context, name: str,
            first: str = typer.Argument(..., help="A version (7), stage (production) or alias (@champion)."),
            second: str = typer.Argument(..., help="The other one."),
            as_json: bool = JsonOpt):
    """Two versions side by side: metrics and their difference, changed params and data, git commits."""
    c = open_registry(ctx).compare(name, first, second)
    if as_json:
        render.emit_json(c.to_dict())
        return
    a, b = f"v{c.a.version}", f"v{c.b.version}"
    render.table(f"{name} {a} ({_stage(c.a)}) vs {b} ({_stage(c.b)})", ["metric", a, b, "diff"],
                  [[n, render.number(x), render.number(y), _signed(d)] for n, x, y, d in c.metrics])
    typer.echo("")
    if c.params:
        render.table(None, ["param", a, b], [[n, _plain(x), _plain(y)] for n, x, y in c.params])
    else:
        typer.echo("params: no change")
    typer.echo("")
    if c.data:
        render.table(None, ["data", a, b], [[n, _short(x), _short(y)] for n, x, y in c.data])
    else:
        typer.echo("data: no change")
    typer.echo("")
    typer.echo(f"git: {a} {_short(c.git.get('a'))}{' (dirty)' if c.a.lineage.get('git_dirty') else ''}, "
               f"{b} {_short(c.git.get('b'))}{' (dirty)' if c.b.lineage.get('git_dirty') else ''}")


def _stage(v) -> str:
    return "deleted" if v.deleted else v.stage


def _signed(d) -> str:
    if d is None:
        return "-"
    return "0" if d == 0 else f"{d:+.4g}"


def _plain(x) -> str:
    return "-" if x is None else str(x)


def _short(x) -> str:
    return "-" if not x else str(x)[:12]
