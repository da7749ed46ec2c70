"""Lineage from the training workspace: git SHA and dirty flag, dvc.lock data hashes, params, metrics,
and installed package versions. Nothing here imports DVC or the ML libraries."""
from __future__ import annotations

import json
import os
import platform
import re
from pathlib import Path

from . import git, yamlio
from .errors import UsageError

PACKAGES = ("lightgbm", "scikit-learn", "skops", "numpy", "pandas", "dvc")
CODE_SUFFIXES = (".py", ".ipynb", ".sh", ".r", ".sql")


def workspace_of(path: Path, fallback: Path) -> Path:
    """The git work tree the artifact was produced in (the registry itself when it is not in one)."""
    return git.toplevel_of(path if path.is_dir() else path.parent) or fallback


def git_info(workspace: Path, ignore: list[str] | None = None) -> dict:
    excludes = [f":(exclude){p}" for p in (ignore or [])]
    return {"git_sha": git.head(workspace),
            "git_dirty": git.is_modified(workspace, [".", *excludes], untracked=False)}


def read_data_file(path: Path, what: str) -> dict:
    """A metrics or params file: JSON or YAML, a mapping."""
    if not path.is_file():
        raise UsageError(f"{what} file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yamlio.parse_workspace(text, str(path))
    except ValueError:
        raise UsageError(f"{what} file {path} is not valid JSON") from None
    except Exception:
        raise UsageError(f"{what} file {path} is neither JSON nor YAML") from None
    if not isinstance(data, dict):
        raise UsageError(f"{what} file {path} must hold a mapping of name: value")
    return data


def flat_metrics(data: dict, prefix: str = "") -> dict:
    """Numeric metrics, nested keys joined with '.', as DVC shows them."""
    out = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_metrics(value, name + "."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, (int, float)):
            out[name] = value
    return out


def dvc_lock_data(workspace: Path, stage: str | None = None) -> dict:
    """Content hashes of the data the pipeline stages depended on, from dvc.lock (code files left out)."""
    lock = workspace / "dvc.lock"
    if not lock.is_file():
        return {}
    data = yamlio.read_workspace(lock, "dvc.lock")
    stages = data.get("stages") or {}
    if stage is not None and stage not in stages:
        raise UsageError(f"dvc.lock has no stage {stage!r}; run `dvc repro {stage}` first")
    out = {}
    for name, body in stages.items():
        if stage is not None and name != stage:
            continue
        for dep in (body or {}).get("deps") or []:
            path = str(dep.get("path", ""))
            digest = dep.get("md5") or dep.get("etag") or dep.get("checksum")
            if path and digest and not path.lower().endswith(CODE_SUFFIXES):
                out[path] = digest
    return out


def environment() -> dict:
    from importlib import metadata  # 25 ms to import: only registration pays for it

    env = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            env[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return env


def collect(workspace: Path, *, params_file: Path | None = None, ignore: list[str] | None = None,
            dvc_stage: str | None = None) -> dict:
    lineage = git_info(workspace, ignore)
    data = dvc_lock_data(workspace, dvc_stage)
    if data:
        lineage["data"] = data
    if params_file is None and (workspace / "params.yaml").is_file():
        params_file = workspace / "params.yaml"
    if params_file is not None:
        lineage["params"] = read_data_file(params_file, "params")
    lineage["environment"] = environment()
    return lineage


SOURCE_ENV = {"source_sha": "REG_SOURCE_SHA", "source_repo": "REG_SOURCE_REPO", "run_id": "REG_RUN_ID"}
_SHA_RE = re.compile(r"[0-9a-fA-F]{7,64}")


def source(sha: str | None = None, repo: str | None = None, run_id: str | None = None, env=None) -> dict:
    """Where the training code ran when it was not this workspace (a CI job, another repository):
    `source_sha`, `source_repo` and `run_id` for `lineage`, from the arguments or else the REG_SOURCE_SHA,
    REG_SOURCE_REPO and REG_RUN_ID environment variables. A repository URL loses any user and token."""
    env = os.environ if env is None else env
    given = {"source_sha": sha, "source_repo": repo, "run_id": run_id}
    out = {}
    for key, value in given.items():
        if value is None:
            value = env.get(SOURCE_ENV[key])
        value = " ".join(str(value).split()) if value is not None else ""
        if not value:
            continue
        if len(value) > 500:
            raise UsageError(f"--{key.replace('_', '-')} is {len(value)} characters long; give at most 500")
        out[key] = value
    if "source_sha" in out and not _SHA_RE.fullmatch(out["source_sha"]):
        raise UsageError(f"--source-sha {out['source_sha']!r} is not a git commit id; give the hexadecimal SHA "
                         "of the commit that trained the model (git rev-parse HEAD)")
    if "source_sha" in out:
        out["source_sha"] = out["source_sha"].lower()
    if "source_repo" in out:
        out["source_repo"] = re.sub(r"^(\w[\w+.-]*://)[^@/]+@", r"\1", out["source_repo"])
    return out
