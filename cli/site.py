"""`reg site OUT [--rev REV]`: the registry as static pages. registry.site is imported only when the command
runs, so the read path (`reg list/show/history`) never pays for it."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import render
from .app import JsonOpt, app, open_registry


@app.command()
def site(ctx: typer.Context,
         out: Path = typer.Argument(..., metavar="OUT", help="Folder for the site: new, empty, or one `reg site` "
                                                             "wrote before (it is replaced whole)."),
         rev: Optional[str] = typer.Option(None, "--rev", metavar="REV",
                                           help="The registry as it was at this git revision (default: the working "
                                                "tree)."),
         as_json: bool = JsonOpt):
    """Write the registry as static pages: models, versions, metric trends, timelines, comparisons.
    No server and nothing from the network: open OUT/index.html, or publish OUT on any static host."""
    from registry import git
    from registry.site import build

    reg = open_registry(ctx)
    state = reg.state_at(rev=rev) if rev is not None else reg.state()
    if git.is_shallow(reg.root):
        typer.echo(f"warning: {git.SHALLOW_HINT.replace(' and retry', '')}; the timelines may be incomplete",
                   err=True)
    built = build(state, out)
    if as_json:
        render.emit_json({"out": str(built.out), "pages": built.pages, "models": built.models,
                      "versions": built.versions, "commit": built.commit})
        return
    commit = f" from commit {built.commit[:8]}" if built.commit else ""
    typer.echo(f"Wrote {built.pages} pages for {built.models} model{'s' if built.models != 1 else ''} "
               f"({built.versions} version{'s' if built.versions != 1 else ''}){commit} to {out}; "
               f"open {out / 'index.html'}")
