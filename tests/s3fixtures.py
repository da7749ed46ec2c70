"""Fixtures for the S3 tests: one SeaweedFS server per test session (per xdist worker), a bucket per
test prefix, and a registry initialised against it. Imported by conftest.py."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from . import s3server
from .conftest import init_registry

BUCKET = "models"
_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A running SeaweedFS S3 server on 127.0.0.1 with the bucket `models`. On a developer's machine where
    weed cannot run the S3 tests skip; in CI (`CI` set) they fail, so a green run always includes them."""
    try:
        server = s3server.start(tmp_path_factory.mktemp("seaweedfs"))
    except s3server.Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"SeaweedFS S3 server could not start in CI: {exc}", pytrace=False)
        pytest.skip(f"SeaweedFS S3 server unavailable: {exc}")
    try:
        server.make_bucket(BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_url(s3_server) -> str:
    """A fresh prefix in the bucket for one test, so tests sharing the server never see each other's data."""
    return f"s3://{BUCKET}/registry-{next(_prefixes)}"


@pytest.fixture
def s3_registry(repo, reg, s3_server, s3_url) -> Path:
    """`repo` after `reg init --remote s3://models/registry-N --endpoint-url ...` with credentials in
    .dvc/config.local."""
    return init_registry(reg, repo, s3_url, "--endpoint-url", s3_server.endpoint,
                         "--access-key-id", s3_server.access_key, "--secret-access-key", s3_server.secret_key)


def dvc(cwd: Path, *args: str, env: dict | None = None, check: bool = True):
    """Run the `dvc` command of this environment as a separate process, as a serving host would."""
    import os
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "dvc"
    full_env = {**os.environ, "DVC_NO_ANALYTICS": "1", **(env or {})}
    proc = subprocess.run([str(exe), *args], cwd=str(cwd), capture_output=True, text=True, env=full_env,
                          timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc
