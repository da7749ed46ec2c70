"""Review commands: `reg check`, `reg codeowners`, `reg hook install`, and how a `--propose` is shown."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from .app import PushOpt, app, open_registry

hook_app = typer.Typer(help="The server-side guard: a pre-receive hook judging every ref a push updates.",
                       no_args_is_help=True)
app.add_typer(hook_app, name="hook")


@app.command()
def check(ctx: typer.Context,
          base: Optional[str] = typer.Option(None, "--base", metavar="REV", help="Also judge every change since this revision "
                                                                  "(e.g. origin/main in a pull request)."),
          fmt: str = typer.Option("text", "--format", metavar="FORMAT", help="text, markdown (a pull-request comment) or json.")):
    """Prove the registry is consistent at HEAD and that every change since BASE is allowed."""
    from registry import check as check_mod

    fmt = fmt.lower()
    if fmt not in ("text", "markdown", "json"):
        raise typer.BadParameter(f"unknown format {fmt!r}: use text, markdown or json", param_hint="--format")
    report = check_mod.check(open_registry(ctx).root, "HEAD", base)
    if fmt == "json":
        typer.echo(json.dumps(check_mod.to_json(report), indent=2))
    elif fmt == "markdown":
        typer.echo(check_mod.format_markdown(report), nl=False)
    else:
        typer.echo(check_mod.format_text(report), nl=False)
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def codeowners(ctx: typer.Context,
               path: Optional[str] = typer.Option(None, "--path", metavar="FILE", help="Where (default: an existing CODEOWNERS, "
                                                                      "else .github/CODEOWNERS)."),
               push: Optional[bool] = PushOpt):
    """Write CODEOWNERS from each model's owners, so the forge requires their review of models/<name>/."""
    from registry import codeowners as co

    root = open_registry(ctx).root
    applied = co.write(root, path, push=push)
    if applied is None:
        typer.echo(f"{path or co.default_path(root)} is up to date (no commit)")
        return
    typer.echo(f"Wrote {applied.result} (commit {applied.commit[:8]}{', pushed' if applied.pushed else ''})")


@hook_app.command("install")
def hook_install(bare_repo: Path = typer.Argument(..., help="The server's bare repository."),
                 force: bool = typer.Option(False, "--force", help="Replace a pre-receive hook reg did not write.")):
    """Install a pre-receive hook that rejects pushes breaking the registry's rules."""
    from registry import hook

    target = hook.install(bare_repo, force=force)
    typer.echo(f"Installed {target}: every push is now judged: `reg check` on each pushed branch, and the ref "
               "rules (protected branches, registry tags, other refs), and signatures where models/registry.yaml "
               "requires them")


def proposal(p, as_json: bool = False) -> None:
    """Show a `--propose` result: the pushed branch and what to open as a pull request."""
    if as_json:
        typer.echo(json.dumps({"branch": p.branch, "base": p.base_branch, "commit": p.commit, "remote": p.remote,
                               "url": p.url, "title": p.title, "body": p.body}, indent=2))
        return
    typer.echo(f"Proposed on branch {p.branch} (commit {p.commit[:8]}), pushed to {p.remote}; "
               + ("your detached HEAD is unchanged." if getattr(p, "detached", False)
                  else f"your branch {p.base_branch} is unchanged."))
    typer.echo(f"Open a pull request from {p.branch} into {p.base_branch}"
               + (f":\n  {p.url}" if p.url else f" on {p.remote_url}."))
    typer.echo(f"Title: {p.title}")
    if p.body:
        typer.echo("Body:\n" + "\n".join("  " + line for line in p.body.splitlines()))
