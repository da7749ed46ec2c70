"""Fixtures: real git repositories in temporary folders, real DVC, a local DVC remote.

Every test runs with its own git identity, XDG data home and no DVC analytics, so nothing reaches the
developer's own configuration or the network.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


GITCONFIG = ("[user]\n\tname = Ada Lovelace\n\temail = ada@example.com\n"
             "[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
# Set by a developer's shell or CI; a test's identity is its own git config.
UNSET = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "REG_DEBUG")


def environ_for(home: Path) -> dict[str, str]:
    """The variables a test runs with (leave out those in UNSET): Ada's git identity, data folders under
    `home`, no DVC analytics. Fixtures that outlive one test (module scope) build their own with this."""
    home.mkdir(parents=True, exist_ok=True)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(GITCONFIG)
    return {"HOME": str(home), "GIT_CONFIG_GLOBAL": str(gitconfig), "GIT_CONFIG_NOSYSTEM": "1",
            "XDG_DATA_HOME": str(home / "xdg-data"), "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(home / "dvc-site-cache")}


def isolate(monkeypatch, home: Path) -> None:
    for key, value in environ_for(home).items():
        monkeypatch.setenv(key, value)
    for var in UNSET:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    isolate(monkeypatch, home)
    yield home


def new_project(root: Path) -> Path:
    """A git repository at `root` with one commit, the user's project."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("# project\n")
    git(root, "add", "README.md")
    git(root, "commit", "-qm", "initial")
    return root


def init_registry(reg, root: Path, remote: Path | str, *options: str) -> Path:
    """`root` after `reg init --remote REMOTE OPTIONS` (a local folder, or S3 with its options)."""
    result = reg(root, "init", "--remote", str(remote), *options)
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def repo(tmp_path) -> Path:
    """A git repository with one commit, the user's project."""
    return new_project(tmp_path / "project")


@pytest.fixture
def workspace(template, tmp_path, reg, monkeypatch) -> Path:
    """A copy of the module's trained pipeline `template` (tests/pipelines.py), made a registry; the shell is
    at its root, beside dvc.yaml."""
    root = tmp_path / "project"
    shutil.copytree(template, root, symlinks=True)
    init_registry(reg, root, tmp_path / "storage")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def storage(tmp_path) -> Path:
    return tmp_path / "dvc-storage"


@pytest.fixture
def registry(repo, storage, reg) -> Path:
    """`repo` after `reg init --remote <local folder>`."""
    return init_registry(reg, repo, storage)


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_reg(root: Path, *args: str, input: str | None = None) -> Result:
    """The `reg` CLI run in-process against a repository: run_reg(repo, "promote", "churn", "1", "production")."""
    res = CliRunner().invoke(app, ["-C", str(root), *args], input=input, catch_exceptions=False)
    return Result(res.exit_code, res.stdout, res.stderr)


@pytest.fixture
def reg():
    """`run_reg`, for a test."""
    return run_reg


@pytest.fixture
def artifact(tmp_path) -> Path:
    """A small model folder outside the registry, as a training run would leave it."""
    folder = tmp_path / "train-out" / "model"
    folder.mkdir(parents=True)
    (folder / "model.txt").write_text("tree\nversion=v4\nnum_class=1\n")
    (folder / "preprocess.skops").write_bytes(b"PK\x03\x04 not really a zip, just bytes")
    return folder


@pytest.fixture
def metrics_file(tmp_path) -> Path:
    path = tmp_path / "train-out" / "metrics.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"roc_auc": 0.91, "f1": 0.84, "log_loss": 0.31}')
    return path


def snapshot(root: Path) -> tuple[str, str, str, str]:
    """What a failed command must leave unchanged: status, log, tags and the index."""
    return (git(root, "status", "--porcelain", "--untracked-files=all"), git(root, "log", "--format=%H %s"),
            git(root, "tag", "-l"), git(root, "ls-files", "-s"))


# S3 (SeaweedFS) fixtures live in their own module.
from .s3fixtures import s3_registry, s3_server, s3_url  # noqa: E402,F401
# Headless Chromium for the site tests.
from .browser import chromium  # noqa: E402,F401
