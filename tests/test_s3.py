"""S3 as the registry's remote, for real: a SeaweedFS server on 127.0.0.1 (tests/s3server.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from . import churnmodel, s3server
from .conftest import git, snapshot
from .s3fixtures import dvc
from .servers import make_clone

pytestmark = pytest.mark.s3


@pytest.fixture(scope="module")
def churn_dir(tmp_path_factory):
    return churnmodel.build(tmp_path_factory.mktemp("churn-s3") / "model")


def _bucket_prefix(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def test_init_keeps_credentials_local_and_register_pushes(s3_registry, s3_server, s3_url, reg, churn_dir):
    committed = git(s3_registry, "show", "HEAD")
    assert s3_url in committed and s3_server.endpoint in committed
    assert s3_server.secret_key not in committed and s3_server.access_key not in committed
    assert s3_server.secret_key in (s3_registry / ".dvc/config.local").read_text()
    assert ".dvc/config.local" not in git(s3_registry, "ls-files")
    assert "config.local" in (s3_registry / ".dvc/.gitignore").read_text()

    result = reg(s3_registry, "register", "churn", str(churn_dir))
    assert result.exit_code == 0, result.output
    assert s3_server.secret_key not in result.output
    manifest = (s3_registry / "models/churn/1/manifest.yaml").read_text()
    md5 = manifest.split("md5: ", 1)[1].split()[0]
    bucket, prefix = _bucket_prefix(s3_url)
    keys = s3_server.keys(bucket, prefix)
    # The folder's .dir listing and its three files (model.txt, preprocess.skops, signature.json).
    assert f"{prefix}/files/md5/{md5[:2]}/{md5[2:]}" in keys
    assert len(keys) == 4
    assert "format: lightgbm" in manifest and "churn_probability" in manifest
    assert git(s3_registry, "status", "--porcelain") == ""


@pytest.fixture
def dead_endpoint():
    port = s3server.pick_ports(1)[0]
    return f"http://127.0.0.1:{port}"


def test_register_with_the_server_down_changes_nothing(s3_registry, reg, churn_dir, dead_endpoint):
    # The server "goes away": point this clone at a port where nothing listens (local config, not committed).
    dvc(s3_registry, "remote", "modify", "--local", "reg", "endpointurl", dead_endpoint)
    before = snapshot(s3_registry)
    start = time.monotonic()
    result = reg(s3_registry, "register", "churn", str(churn_dir))
    elapsed = time.monotonic() - start
    assert result.exit_code == 1
    assert "could not reach remote reg" in result.stderr and dead_endpoint in result.stderr
    assert "server is down or unreachable" in result.stderr
    assert result.stderr.count("\n") == 1
    assert snapshot(s3_registry) == before
    assert not (s3_registry / "models/churn").exists()
    assert elapsed < 120, "a dead server must fail within bounded retries, not hang"


def test_wrong_credentials_are_a_clear_message_without_the_secret(s3_registry, s3_server, reg, churn_dir):
    wrong = "wrong-secret-value-5f3a9c"
    dvc(s3_registry, "remote", "modify", "--local", "reg", "secret_access_key", wrong)
    before = snapshot(s3_registry)
    result = reg(s3_registry, "register", "churn", str(churn_dir))
    assert result.exit_code == 1
    assert "refused the credentials" in result.stderr
    assert wrong not in result.output and s3_server.secret_key not in result.output
    assert snapshot(s3_registry) == before


def _dying_proxy(upstream_port: int, after_bytes: int = 20_000) -> int:
    """A port that forwards to the server until an upload has sent `after_bytes`, then drops every connection
    and stops listening: the server answers reg's probe and DVC's queries and dies mid-upload."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    live: list[socket.socket] = []
    dead = threading.Event()

    def die():
        dead.set()
        for sock in [listener, *live]:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def pump(src, dst, count: bool):
        sent = 0
        try:
            while not dead.is_set() and (data := src.recv(65536)):
                sent += len(data) if count else 0
                if sent > after_bytes:
                    die()
                    return
                dst.sendall(data)
        except OSError:
            pass

    def serve():
        while not dead.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", upstream_port))
            live.extend((client, upstream))
            threading.Thread(target=pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_server_stopped_mid_upload_says_unreachable(s3_registry, s3_server, reg, churn_dir):
    port = _dying_proxy(s3_server.port)
    dvc(s3_registry, "remote", "modify", "--local", "reg", "endpointurl", f"http://127.0.0.1:{port}")
    before = snapshot(s3_registry)
    result = reg(s3_registry, "register", "churn", str(churn_dir))
    assert result.exit_code == 1
    assert "could not reach remote reg" in result.stderr and "down or unreachable" in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    assert snapshot(s3_registry) == before


def test_register_against_a_hung_server_gives_up_quickly(s3_registry, reg, churn_dir):
    """A server that accepts connections and never answers (a stopped process): a bounded wait, no commit."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        dvc(s3_registry, "remote", "modify", "--local", "reg", "endpointurl", endpoint)
        before = snapshot(s3_registry)
        result = reg(s3_registry, "register", "churn", str(churn_dir))
    finally:
        listener.close()
    assert result.exit_code == 1
    assert "could not reach remote reg" in result.stderr and "did not answer in time" in result.stderr
    assert snapshot(s3_registry) == before


def test_pull_of_a_version_missing_from_s3_names_version_and_remote(tmp_path, s3_registry, s3_server, s3_url, reg,
                                                                      churn_dir):
    assert reg(s3_registry, "register", "churn", str(churn_dir)).exit_code == 0
    clone = make_clone(s3_registry, tmp_path / "clone")
    shutil.copy(s3_registry / ".dvc/config.local", clone / ".dvc/config.local")
    bucket, prefix = _bucket_prefix(s3_url)
    assert s3_server.delete_prefix(bucket, prefix) == 4
    before = snapshot(clone)
    result = reg(clone, "pull", "churn/1")
    assert result.exit_code == 1
    assert "churn v1 is missing from remote reg" in result.stderr and s3_url in result.stderr
    assert s3_server.secret_key not in result.output
    assert snapshot(clone) == before


def test_pull_with_wrong_credentials_from_the_environment(tmp_path, s3_registry, s3_server, reg, churn_dir,
                                                          monkeypatch):
    assert reg(s3_registry, "register", "churn", str(churn_dir)).exit_code == 0
    clone = make_clone(s3_registry, tmp_path / "clone")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-that-is-wrong")
    result = reg(clone, "pull", "churn/1")
    assert result.exit_code == 1
    assert "refused the credentials" in result.stderr
    assert "env-secret-that-is-wrong" not in result.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    result = reg(clone, "pull", "churn/1")
    assert result.exit_code == 0, result.output
