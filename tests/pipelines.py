"""The DVC pipelines of this checkout, run for real: a template workspace trained once per module (the
checkout's files copied into a fresh git repository, `dvc init`, `dvc repro`), and `workspace`, the
test's own copy of it made a registry (conftest.py). A module defines its `template` fixture with
`trained_template`."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

from .conftest import UNSET, environ_for

CHECKOUT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def pipeline_env(home: Path | None = None) -> dict:
    """The environment `dvc` runs in: this venv's tools first on PATH. With `home`, a test environment of
    its own there (for a template built before any test's environment exists)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    if home is not None:
        env.update(environ_for(home))
        for var in UNSET:
            env.pop(var, None)
    return env


def tracked(*paths: str) -> list[str]:
    """The checkout's committed (or added) files under `paths`: what a clone of it holds."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *paths], cwd=CHECKOUT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [rel for rel in out if (CHECKOUT / rel).is_file()]


def copy_checkout(dest: Path, *paths: str) -> None:
    for rel in tracked(*paths):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(CHECKOUT / rel, dest / rel)


def dvc(cwd: Path, *args: str, env: dict | None = None) -> str:
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=str(cwd), env=env or pipeline_env(), capture_output=True,
                          text=True)
    assert proc.returncode == 0, f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def trained_template(tmp_path_factory, name: str, paths: tuple[str, ...], stage: str,
                     edit: Callable[[Path], None] | None = None) -> Path:
    """A workspace with the checkout's `paths` (then `edit`ed) committed, after `dvc repro STAGE`,
    everything committed."""
    env = pipeline_env(tmp_path_factory.mktemp(f"{name}-home"))
    root = tmp_path_factory.mktemp(name) / "project"
    copy_checkout(root, *paths)
    if edit:
        edit(root)
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", f"{name} pipeline"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    dvc(root, "init", "-q", env=env)
    dvc(root, "repro", stage, env=env)
    for args in (["add", "-A"], ["commit", "-qm", f"train {name}"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)
    return root
