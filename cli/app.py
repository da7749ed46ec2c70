"""The `reg` Typer app, its error handling and the options every command shares.

Command modules (cli/main.py and one per area) import `app` from here and register on it; cli/main.py
imports them all, so nothing imports back into main.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
# Typer 0.28 vendors its own Click; its usage errors are these classes, not the `click` package's.
from typer._click.exceptions import NoSuchOption, UsageError
from typer.core import TyperGroup

from registry import Registry
from registry.errors import RegistryError


class RegGroup(TyperGroup):
    """Turns a RegistryError into one line on stderr and exit code 1 (a traceback only with --debug)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except RegistryError as exc:
            if ctx.params.get("debug") or os.environ.get("REG_DEBUG"):
                raise
            typer.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except (KeyboardInterrupt, BrokenPipeError):
            ctx.exit(130)
        except UsageError as exc:
            # A negative number parses as an unknown option; say what it really is.
            name = getattr(exc, "option_name", "") or ""
            if isinstance(exc, NoSuchOption) and name[1:].isdigit():
                typer.echo(f"error: invalid version '{name}': a version is a positive whole number such as 7",
                           err=True)
                ctx.exit(1)
            where = exc.ctx.command_path if exc.ctx else "reg"
            if isinstance(exc, NoSuchOption) and name in ("--debug", "-C", "--repo"):
                # Global options, as in `git -C`: they go before the command.
                typer.echo(f"error: {name} goes before the command: `reg {name}{' PATH' if name != '--debug' else ''} "
                           f"{where.split(' ', 1)[-1]} ...`", err=True)
                ctx.exit(2)
            typer.echo(f"error: {exc.format_message()} (see `{where} --help`)", err=True)
            ctx.exit(2)
        except (typer.Exit, typer.Abort):
            raise  # exit codes (and --help of a sub-group such as `reg hook`) are click's to render
        except Exception as exc:
            if ctx.params.get("debug") or os.environ.get("REG_DEBUG"):
                raise
            typer.echo(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
                       err=True)
            ctx.exit(2)


# Plain Click help: rich markup would import rich.markdown on every `--help` (60-120 ms).
app = typer.Typer(cls=RegGroup, add_completion=False, pretty_exceptions_enable=False, no_args_is_help=True,
                  rich_markup_mode=None,
                  help="reg: a model registry that lives in Git. Every change is a commit; every rollback a revert.")


@app.callback()
def _global(ctx: typer.Context,
            repo: Optional[Path] = typer.Option(None, "--repo", "-C", help="Registry repository (default: "
                                                "$REG_REPO, else here)."),
            debug: bool = typer.Option(False, "--debug", help="Show tracebacks.")):
    ctx.obj = {"repo": repo}


def open_registry(ctx: typer.Context) -> Registry:
    reg = Registry(ctx.obj["repo"])
    if reg.recovered:  # an interrupted change this command found and finished or undid first
        typer.echo(reg.recovered, err=True)
    return reg


PushOpt = typer.Option(None, "--push/--no-push", help="Push the commit and tags (default: registry.yaml's push).")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")
ProposeOpt = typer.Option(False, "--propose", help="Make the change on a new branch, push it, and print the "
                                                     "pull request to open; your branch stays as it is.")
