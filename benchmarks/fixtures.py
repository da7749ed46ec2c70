"""Built fixtures, cached under benchmarks/.cache so reruns are fast, and throwaway copies for commands
that change a repository (promote, register, gto assign, MLflow transitions)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Callable

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = HERE / ".cache"


def source_key(*modules: Path) -> str:
    """A short hash of the files that build a fixture: editing the builder rebuilds its fixtures."""
    h = hashlib.sha1()
    for m in modules:
        h.update(m.read_bytes())
    return h.hexdigest()[:8]


def cached(cache: Path, name: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """`cache/name`, built by `build(path)` unless a previous run finished building it.
    Returns (path, built_now). A `.ok` marker beside it is written only once the build succeeded."""
    path = cache / name
    done = cache / f"{name}.ok"
    if done.exists() and path.exists():
        return path, False
    if path.exists():
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    build(path)
    done.write_text("ok\n")
    return path, True


def copy_repo(src: Path, dst: Path) -> Path:
    """A copy of a git working tree, with git's stat cache refreshed (a copy has new inode numbers, which
    would make the first git command in it re-read every tracked file: not what a user's repo does)."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    subprocess.run(["git", "update-index", "-q", "--refresh"], cwd=dst, capture_output=True)
    return dst
