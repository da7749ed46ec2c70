"""`reg history` and `reg rollback`, and the "who put it there" answer of `reg show --at/--rev`."""
from __future__ import annotations

from typing import Optional

import typer

from . import render
from .app import JsonOpt, PushOpt, app, open_registry


@app.command()
def history(ctx: typer.Context, model: Optional[str] = typer.Argument(None, help="Only this model."),
            stage: Optional[str] = typer.Option(None, "--stage", help="Only events into or out of this stage."),
            since: Optional[str] = typer.Option(None, "--since", help="Only events at or after this date "
                                                                      "(2026-11-01 or 2026-11-01T12:00, UTC)."),
            as_json: bool = JsonOpt):
    """Every registry event, newest first: when, who, what, which version, stages, reason, commit, tag."""
    reg = open_registry(ctx)
    events = reg.history(model, stage=stage, since=since)
    from registry import git

    if git.is_shallow(reg.root):
        typer.echo(f"warning: {git.SHALLOW_HINT.replace(' and retry', '')}; the events below may be incomplete",
                   err=True)
    if as_json:
        render.emit_json([e.to_dict() for e in events])
        return
    if not events:
        typer.echo("No registry events" + (f" for {model}" if model else "") + ".")
        return
    from registry import signing

    signed = any(e.signed is not None for e in events)  # only where the registry has allowed signers
    rows = []
    for e in events:
        what = e.detail if e.action in ("alias", "annotate") and e.detail else ""
        rows.append([e.time, e.actor, e.action, *([] if model else [e.model]), render.vnum(e.version),
                     e.from_stage or "-", e.to_stage or what or "-", e.reason or "-", e.commit[:8], e.tag or "-",
                     *([signing.summary(e.signed)] if signed else [])])
    render.table(None, ["time", "actor", "action", *([] if model else ["model"]), "version", "from", "to",
                         "reason", "commit", "tag", *(["signed by"] if signed else [])], rows)


@app.command()
def rollback(ctx: typer.Context, name: str,
             stage: str = typer.Option("production", "--stage", help="The stage to roll back."),
             reason: Optional[str] = typer.Option(None, "--reason", help="Why: goes into the commit and the tag."),
             to: Optional[str] = typer.Option(None, "--to", help="Put this version back instead of the previous one."),
             push: Optional[bool] = PushOpt, as_json: bool = JsonOpt,
             propose: bool = typer.Option(False, "--propose", help="Make the rollback on a new branch, push it, and "
                                                                   "print the pull request to open.")):
    """Undo the last change of a model's stage (a computed `git revert` plus a new stage tag)."""
    if propose:
        from . import review

        return review.proposal(open_registry(ctx).proposing().rollback(name, stage, reason=reason, to=to), as_json)
    applied = open_registry(ctx).rollback(name, stage, reason=reason, to=to, push=push)
    r = applied.result
    followed = f"; {', '.join('@' + a for a in r.aliases)} followed" if r.aliases else ""
    render.applied(applied, as_json, applied.change.subject + followed)


def show_at(reg, state, ref: str, v, as_json: bool) -> None:
    """One version as it was at `state.rev`, with the event that put it there."""
    from registry import refs

    r = refs.parse_ref(ref, state.settings.stages)
    ev = reg.placed_by(v, stage=r.value if r.kind == "stage" else None,
                       alias=r.value if r.kind == "alias" else None, rev=state.rev)
    if as_json:
        render.emit_json({**v.to_dict(), "at_commit": state.rev, "placed_by": ev.to_dict() if ev else None})
        return
    render.version(v, False)
    where = f"in {r.value}" if r.kind == "stage" else (f"as @{r.value}" if r.kind == "alias" else "registered")
    if ev is None:
        typer.echo(f"# at commit {state.rev[:8]}; no registry event found that put v{v.version} {where}")
        return
    from registry import signing

    signed = f"; signed by: {signing.summary(ev.signed)}" if ev.signed is not None else ""
    typer.echo(f"# at commit {state.rev[:8]}: v{v.version} {where} since {ev.time}, by {ev.actor} "
               f"({ev.action}, commit {ev.commit[:8]}{', tag ' + ev.tag if ev.tag else ''}); reason: {ev.reason}"
               f"{signed}")
