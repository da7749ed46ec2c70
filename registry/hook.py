"""The server-side guard: a `pre-receive` hook that runs `reg check` on every pushed branch.

`install` writes the hook into a bare repository with the absolute path of this Python and a PYTHONPATH
holding this package, so the server needs no `reg` on its PATH. `pre_receive` is what the hook runs.
"""
from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from . import check as check_mod, git
from .errors import RegistryError, StateError, UsageError

MARKER = "installed by `reg hook install`"
ZERO = "0" * 40


def script(python: str, pythonpath: str) -> str:
    return (
        "#!/bin/sh\n"
        f"# pre-receive hook {MARKER}: rejects a push that breaks the registry's rules\n"
        "# (the same `reg check` as the CLI and CI). Reinstall with `reg hook install --force`.\n"
        f"PYTHONPATH={_sh(pythonpath)}\"${{PYTHONPATH:+:$PYTHONPATH}}\"\n"
        "export PYTHONPATH\n"
        f"exec {_sh(python)} -m cli.prereceive\n"
    )


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def install(bare: Path, *, force: bool = False) -> Path:
    bare = Path(bare).resolve()
    if not bare.is_dir() or not (bare / "objects").is_dir() or not (bare / "refs").is_dir():
        raise UsageError(f"{bare} is not a bare git repository; give the server-side repository "
                         "(e.g. /srv/git/models.git), not a clone")
    target = _hooks_dir(bare) / "pre-receive"
    if target.exists() and MARKER not in target.read_text(errors="replace") and not force:
        raise StateError(f"{target} already exists and was not written by reg; merge it by hand, or pass --force "
                         "to replace it")
    package_dir = Path(__file__).resolve().parent.parent
    target.parent.mkdir(exist_ok=True)
    tmp = target.with_name(".pre-receive.reg-tmp")
    tmp.write_text(script(sys.executable, str(package_dir)))
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, target)
    return target


def _hooks_dir(bare: Path) -> Path:
    """Where git looks for this repository's hooks: `core.hooksPath` (its own or the server user's) wins
    over hooks/, and a hook written anywhere else would never run."""
    return git.git_path(bare, "hooks")


def pre_receive(root: Path, updates: str) -> tuple[bool, str]:
    """Judge the `old new ref` lines git gives a pre-receive hook; (accepted, message for the pusher)."""
    out, ok = [], True
    for line in updates.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue
        old, new, ref = parts
        if not ref.startswith("refs/heads/") or new == ZERO:
            continue  # tags and branch deletions carry no registry change of their own
        try:
            report = check_mod.check(root, new, None if old == ZERO else old, exclude_all=old == ZERO,
                                     strict_base=True)
        except RegistryError as exc:
            ok = False
            out.append(f"reg check could not judge {ref}: {exc}")
            continue
        if report.ok:
            continue
        ok = False
        out.append(f"reg check rejected {ref} ({len(report.problems)} problem(s)):")
        out += [f"  {p}" for p in report.problems]
    if not ok:
        out.append("Fix these and push again; see `reg check --base <remote branch>` locally.")
    return ok, "".join(line + "\n" for line in out)
