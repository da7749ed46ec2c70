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


DEFAULT_TIME_LIMIT = 60.0  # seconds; `git config reg.hookTimeout N` in the server repository changes it


def time_limit(bare: Path) -> float:
    """How long the hook may judge one push before refusing it (a hostile push must not hold the server)."""
    from . import git

    text = git.config(bare, "reg.hookTimeout")
    try:
        value = float(text) if text else DEFAULT_TIME_LIMIT
    except ValueError:
        return DEFAULT_TIME_LIMIT
    return value if value > 0 else DEFAULT_TIME_LIMIT


def pre_receive(root: Path, updates: str) -> tuple[bool, str]:
    """Judge the `old new ref` lines git gives a pre-receive hook; (accepted, message for the pusher).
    Every ref update keeps the ref rules (registry/refupdates.py); every pushed branch passes `reg check`
    from its base: the old tip, or for a new branch the commit it starts from on the server."""
    from . import git, refupdates, signers

    root = Path(root)
    pushed = refupdates.parse(updates)
    out = [f"reg guard refused {line}" for line in refupdates.judge(root, pushed)]
    out += [f"reg guard refused {line}" for line in signers.judge_tag_updates(root, pushed)]
    checked_badly = False
    for u in pushed:
        if not u.ref.startswith("refs/heads/") or u.deleted:
            continue  # tags and deletions carry no registry change of their own (refupdates judges them)
        base = None if u.created else u.old
        if u.created:
            fresh = git.new_commits(root, [u.new], first_parent=True)
            start = git.parents(root, fresh[-1]) if fresh else []
            base = start[0] if start else None
        try:
            report = check_mod.check(root, u.new, base, exclude_all=u.created, strict_base=True)
        except RegistryError as exc:
            out.append(f"reg check could not judge {u.ref}: {exc}")
            continue
        if report.ok:
            continue
        checked_badly = True
        out.append(f"reg check rejected {u.ref} ({len(report.problems)} problem(s)):")
        out += [f"  {p}" for p in report.problems]
    if out and checked_badly:
        out.append("Fix these and push again; see `reg check --base <remote branch>` locally.")
    return not out, "".join(one_line(line) + "\n" for line in out)


def one_line(text: str) -> str:
    """What the pusher reads is one line per refusal, whatever a message holds (a gate's list, a path)."""
    parts = [part.rstrip() for part in str(text).splitlines() if part.strip()]
    return "; ".join(parts[:1] + [p.strip() for p in parts[1:]])
