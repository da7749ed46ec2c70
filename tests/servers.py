"""Git servers for the tests: a real bare repository as a registry's `origin` (with reg's own pre-receive
hook installed, for the guard tests), clones of it, and pushes to it judged by what the server did."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import git


def bare_remote(root: Path, bare: Path, *, push: tuple[str, ...] = ("main",), upstream: bool = False) -> Path:
    """A new bare repository at `bare`, added as `root`'s `origin`; `root` pushes `push` to it (nothing when
    empty; `upstream`: with -u)."""
    git(bare.parent, "init", "-q", "--bare", "-b", "main", str(bare))
    git(root, "remote", "add", "origin", str(bare))
    if push:
        git(root, "push", "-q", *(["-u"] if upstream else []), "origin", *push)
    return bare


def install_hook(reg, bare: Path, cwd: Path):
    """`reg hook install` run in `cwd` for `bare`; its result (it succeeded)."""
    result = reg(cwd, "hook", "install", str(bare))
    assert result.exit_code == 0, result.output
    return result


def hooked_remote(root: Path, bare: Path, reg, *, push: tuple[str, ...] = ("main", "--tags")) -> Path:
    """`bare_remote` holding what `root` pushed (its tags too), guarded from then on by reg's hook."""
    bare_remote(root, bare, push=push)
    install_hook(reg, bare, root)
    return bare


def make_clone(source: Path, dest: Path) -> Path:
    git(dest.parent, "clone", "-q", str(source), str(dest))
    return dest


def act_as(clone: Path, who: str) -> None:
    """The identity a clone commits as: `who`@example.com."""
    git(clone, "config", "user.email", f"{who}@example.com")
    git(clone, "config", "user.name", who.title())


def refs(bare: Path) -> str:
    return git(bare, "for-each-ref", "--format=%(refname) %(objectname)")


def push(clone: Path, *args: str) -> subprocess.CompletedProcess:
    """`git push origin ARGS` from `clone`, whatever the server answers."""
    return subprocess.run(["git", "push", "origin", *args], cwd=str(clone), capture_output=True, text=True)


def accepted(clone: Path, *args: str) -> None:
    proc = push(clone, *args)
    assert proc.returncode == 0, proc.stderr


def refused(bare: Path, clone: Path, *args: str, says: str) -> str:
    """Push `args`; the server's hook refuses it with one line holding `says`, and no ref on it changes."""
    before = refs(bare)
    proc = push(clone, *args)
    assert proc.returncode != 0, proc.stderr
    assert "pre-receive hook declined" in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if says in line]
    assert lines, proc.stderr
    assert lines[0].startswith("remote: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert refs(bare) == before
    return proc.stderr
