"""Serving hosts that follow the registry: `reg sync` (once and `--watch`), `registry.serving.Follower`, and
the example service. A bare git server, a training clone that promotes and pushes, a host clone that only
follows; `reg sync --watch` and the service run as real processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from registry.loading import digest

from . import churnmodel
from .conftest import git
from .servers import bare_remote, make_clone

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    base = tmp_path_factory.mktemp("trained")
    return churnmodel.build(base / "a" / "model", seed=0), churnmodel.build(base / "b" / "model", seed=1, rounds=5)


class Fleet:
    """A registry on a bare git server: `training` registers and promotes (and pushes), `host` follows."""

    def __init__(self, tmp_path: Path, training: Path, storage: Path, reg):
        self.tmp, self.training, self.storage, self.reg = tmp_path, training, storage, reg
        self.bare = bare_remote(training, tmp_path / "origin.git", upstream=True)
        self.host = tmp_path / "host"

    def ok(self, *args: str) -> str:
        result = self.reg(self.training, *args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def clone_host(self) -> Path:
        return make_clone(self.bare, self.host)

    def rollback(self) -> None:
        """A rollback as the guide says: revert the promotion commit and push."""
        git(self.training, "revert", "--no-edit", "HEAD")
        git(self.training, "push", "-q", "origin", "main")


@pytest.fixture
def fleet(tmp_path, registry, storage, reg, models) -> Fleet:
    a, b = models
    f = Fleet(tmp_path, registry, storage, reg)
    f.ok("register", "churn", str(a), "--push")
    f.ok("register", "churn", str(b), "--push")
    f.ok("promote", "churn", "1", "production", "--push")
    f.clone_host()
    return f


def served(folder: Path) -> int:
    return yaml.safe_load((folder / "current" / "manifest.yaml").read_text())["version"]


def status(folder: Path) -> dict:
    return json.loads((folder / "status.json").read_text())


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")


def reg_process(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "cli", *args], cwd=str(cwd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


class Reader(threading.Thread):
    """A service's view: read DIR/current's manifest and model files over and over; each read must be one
    whole version whose bytes hash to the manifest's md5 (never missing, never mixed)."""

    def __init__(self, folder: Path):
        super().__init__(daemon=True)
        self.folder, self.halt = folder, threading.Event()
        self.reads, self.errors, self.seen = 0, [], []

    def run(self):
        while not self.halt.is_set():
            try:
                version = os.path.realpath(self.folder / "current")
                manifest = yaml.safe_load(Path(version, "manifest.yaml").read_text())
                md5 = digest(Path(version, "model"))[0]
                if md5 != manifest["artifact"]["md5"]:
                    self.errors.append(f"mixed read of {version}: {md5}")
                if not self.seen or self.seen[-1] != manifest["version"]:
                    self.seen.append(manifest["version"])
                self.reads += 1
            except Exception as exc:  # noqa: BLE001 - any failure is what the test counts
                self.errors.append(f"{type(exc).__name__}: {exc}")


# -- once ------------------------------------------------------------------------------------------

def test_sync_once_writes_a_version_folder_and_swaps_current(fleet, reg, models):
    a, b = models
    out = fleet.tmp / "srv"
    result = reg(fleet.host, "sync", "churn/production", "--to", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Now serving churn v1 (production), verified ")
    name = os.readlink(out / "current")
    assert name.startswith("versions/1-") and served(out) == 1
    assert digest(out / "current/model")[0] == digest(a)[0]
    st = status(out)
    assert (st["ref"], st["version"], st["stage"], st["last_error"]) == ("churn/production", 1, "production", None)
    assert st["since"] and st["checked_at"] and st["path"] == name
    assert not (fleet.host / "models/churn/2/model").exists()  # only that version's bytes were pulled

    again = reg(fleet.host, "sync", "churn/production", "--to", str(out), "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["version"] == 1

    # A promotion pushed from the training clone: the host's clone fetches, resolves at the remote's head.
    fleet.ok("promote", "churn", "2", "production", "--push")
    moved = reg(fleet.host, "sync", "churn/production", "--to", str(out))
    assert moved.exit_code == 0 and moved.stdout.startswith("Now serving churn v2"), moved.output
    assert reg(fleet.host, "sync", "churn/production", "--to", str(out)).stdout.startswith("Already serving churn v2")
    assert served(out) == 2 and digest(out / "current/model")[0] == digest(b)[0]
    assert git(fleet.host, "status", "--porcelain") == ""
    assert sorted(p.name.split("-")[0] for p in (out / "versions").iterdir()) == ["1", "2"]


def test_sync_without_dash_c_uses_the_registry_it_runs_in(fleet, models):
    """`reg sync` typed in the host's clone, as the README shows it: no -C (it used to fail with a TypeError)."""
    out = fleet.tmp / "srv-here"
    proc = subprocess.run([sys.executable, "-m", "cli", "sync", "churn/production", "--to", str(out)], cwd=fleet.host,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Now serving churn v1 (production), verified ") and served(out) == 1


def test_sync_keeps_the_last_k_versions(fleet, reg, models):
    a, _ = models
    out = fleet.tmp / "srv"
    fleet.ok("register", "churn", str(a), "--push")  # v3, same bytes as v1
    seen = []
    for version in (None, 2, 3, 1):
        if version:
            fleet.ok("promote", "churn", str(version), "production", "--push")
        assert reg(fleet.host, "sync", "churn/production", "--to", str(out), "--keep", "2").exit_code == 0
        seen.append(served(out))
        assert len(list((out / "versions").iterdir())) <= 2
    assert seen == [1, 2, 3, 1]
    assert sorted(p.name.split("-")[0] for p in (out / "versions").iterdir()) == ["1", "3"]


def test_sync_refuses_a_folder_it_did_not_make(fleet, reg):
    mine = fleet.tmp / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = reg(fleet.host, "sync", "churn/production", "--to", str(mine))
    assert result.exit_code == 1 and "was not made by `reg sync`" in result.stderr
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]

    inside = reg(fleet.host, "sync", "churn/production", "--to", str(fleet.host / "models" / "srv"))
    assert inside.exit_code == 1 and "inside the registry clone" in inside.stderr
    assert not (fleet.host / "models/srv").exists()

    out = fleet.tmp / "srv"
    typo = reg(fleet.host, "sync", "churn/prodution", "--to", str(out))
    assert typo.exit_code == 1 and "invalid reference 'churn/prodution'" in typo.stderr and not out.exists()
    assert reg(fleet.host, "sync", "churn/production", "--to", str(out)).exit_code == 0
    other = reg(fleet.host, "sync", "churn@champion", "--to", str(out))
    assert other.exit_code == 1 and "follows 'churn/production'" in other.stderr
    assert served(out) == 1


def test_a_failing_exec_swaps_back_and_says_why(fleet, reg):
    out = fleet.tmp / "srv"
    log = fleet.tmp / "exec.log"
    record = f'echo "$REG_MODEL $REG_VERSION $REG_STAGE $(basename $REG_PATH)" >> {log}'
    assert reg(fleet.host, "sync", "churn/production", "--to", str(out), "--exec", record).exit_code == 0
    fleet.ok("promote", "churn", "2", "production", "--push")
    failing = f'{record}; test "$REG_VERSION" != 2 || {{ echo "v2 does not warm up" >&2; exit 3; }}'
    result = reg(fleet.host, "sync", "churn/production", "--to", str(out), "--exec", failing)
    assert result.exit_code == 1
    assert "churn v2 was swapped back to 1-" in result.stderr and "exited with 3" in result.stderr
    assert "v2 does not warm up" in result.stderr
    assert served(out) == 1
    st = status(out)
    assert st["version"] == 1 and st["last_error"]["version"] == 2
    assert "does not warm up" in st["last_error"]["message"]
    lines = [line.split()[:3] for line in log.read_text().splitlines()]
    assert lines == [["churn", "1", "production"], ["churn", "2", "production"], ["churn", "1", "production"]]


# -- --watch, as a real process ---------------------------------------------------------------------

def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str) -> int:
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, data=b"{}", method="POST"), timeout=10) as resp:
        return resp.status


@pytest.mark.slow
def test_watch_serves_a_pushed_promotion_and_rollback_within_seconds(fleet):
    out = fleet.tmp / "srv"
    proc = reg_process("-C", str(fleet.host), "sync", "churn/production", "--to", str(out), "--watch",
                       "--interval", "1", cwd=fleet.tmp)
    reader = Reader(out)
    try:
        wait_for(lambda: (out / "current").exists() and served(out) == 1, 60, "v1 to be served")
        reader.start()
        fleet.ok("promote", "churn", "2", "production", "--push")
        wait_for(lambda: served(out) == 2, 15, "the promotion to be served")  # seconds, not the next deploy
        fleet.rollback()
        wait_for(lambda: served(out) == 1, 15, "the rollback to be served")
        time.sleep(0.5)
    finally:
        reader.halt.set()
        code, _, err = stop(proc)
    assert code == 0, err
    assert reader.errors == [] and reader.reads > 10 and reader.seen == [1, 2, 1], (reader.errors[:3], reader.seen)
    st = status(out)
    assert (st["version"], st["last_error"]) == (1, None)
    events = [line.split(" reg sync: ", 1)[1] for line in err.splitlines()]
    served_lines = [e for e in events if e.startswith("serving churn")]
    assert [line.split()[2] for line in served_lines] == ["v1", "v2", "v1"], err
    assert events[-2:] == ["SIGTERM: stopping after the current step", f"stopped; serving {st['path'][9:]}"]


def damage(storage: Path, artifact_file: Path) -> tuple[Path, bytes]:
    """Change the bytes of one registered file in the DVC remote (a local folder): bit rot, a bad upload."""
    from registry.artifacts import file_md5

    md5 = file_md5(artifact_file)
    stored = storage / "files" / "md5" / md5[:2] / md5[2:]
    original = stored.read_bytes()
    stored.chmod(0o644)
    stored.write_bytes(original.replace(b"tree", b"TREE", 1))
    return stored, original


@pytest.mark.slow
def test_a_damaged_artifact_is_never_swapped_in_and_sighup_or_post_retries_at_once(fleet, tmp_path):
    damaged = churnmodel.build(tmp_path / "c" / "model", seed=2, rounds=3)
    fleet.ok("register", "churn", str(damaged), "--push")  # v3
    stored, original = damage(fleet.storage, damaged / "model.txt")
    out, port = fleet.tmp / "srv", free_port()
    # A long interval: only SIGHUP and the webhook can make it look again within this test.
    proc = reg_process("-C", str(fleet.host), "sync", "churn/production", "--to", str(out), "--watch",
                       "--interval", "600", "--listen", f"127.0.0.1:{port}", cwd=fleet.tmp)
    try:
        wait_for(lambda: (out / "current").exists() and served(out) == 1, 60, "v1 to be served")
        fleet.ok("promote", "churn", "3", "production", "--push")
        wait_for(lambda: post(f"http://127.0.0.1:{port}/hook") == 202, 10, "the listener")
        error = wait_for(lambda: status(out).get("last_error"), 20, "the failure to be recorded")
        assert served(out) == 1 and status(out)["version"] == 1
        assert error["version"] == 3 and "does not match its manifest" in error["message"], error
        assert "the remote's copy is damaged" in error["message"] and "still serving 1-" in error["message"]
        assert not any(p.name.startswith("3-") for p in (out / "versions").iterdir())

        stored.write_bytes(original)  # the remote is repaired
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: served(out) == 3, 20, lambda: f"the repaired version to be served: {status(out)}")
        # status.json is written just after the swap (what is served first, then the report of it)
        wait_for(lambda: status(out).get("version") == 3, 10, lambda: f"the status of v3: {status(out)}")
        assert status(out)["last_error"] is None
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert err.count("does not match its manifest") == 1, err  # one line per event
    assert "POST /hook from 127.0.0.1" in err and "SIGHUP: checking the registry now" in err


# -- in-process: Follower -------------------------------------------------------------------------

@pytest.mark.slow
def test_follower_swaps_the_loaded_model_and_keeps_the_old_one_on_any_error(fleet, models):
    from registry.loading import LoadedModel
    from registry.serving import Follower

    a, b = models
    df, _ = churnmodel.frame(n=10, seed=5)
    follower = Follower("churn/production", repo=fleet.host, interval=0.3)
    try:
        assert isinstance(follower.model, LoadedModel) and follower.version == 1
        assert list(follower.model.predict(df)) == pytest.approx(list(churnmodel.reference_predictions(a, df)))
        fleet.ok("promote", "churn", "2", "production", "--push")
        wait_for(lambda: follower.version == 2, 15, "the follower to load v2")
        model, manifest = follower.current
        assert manifest.version == 2 and model.version == 2
        assert list(model.predict(df)) == pytest.approx(list(churnmodel.reference_predictions(b, df)))
        fleet.rollback()
        wait_for(lambda: follower.version == 1, 15, "the follower to load v1 again")
    finally:
        follower.close()
    assert not follower.dir.path.exists()  # its temporary folder goes with it

    refused = []

    def picky(path):
        manifest = yaml.safe_load((path / "manifest.yaml").read_text())
        if manifest["version"] == 2:
            refused.append(2)
            raise MemoryError("v2 does not fit in memory")  # any exception of a loader, not only reg's
        return f"model v{manifest['version']}"

    out = fleet.tmp / "srv"
    with Follower("churn/production", repo=fleet.host, interval=0.3, loader=picky, to=out) as picky_follower:
        assert picky_follower.model == "model v1"
        fleet.ok("promote", "churn", "2", "production", "--push")
        wait_for(lambda: (status(out).get("last_error") or {}).get("version") == 2, 15, "the refusal")
        assert picky_follower.model == "model v1" and picky_follower.version == 1 and served(out) == 1
        assert "does not fit in memory" in picky_follower.status["last_error"]["message"]
    assert refused and out.is_dir()  # a folder of the caller's stays


# -- the example service ---------------------------------------------------------------------------

def http(method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.slow
def test_example_service_follows_promotions_with_no_failed_request(fleet, models):
    a, b = models
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REG_REPO": str(fleet.host), "REG_INTERVAL": "0.5"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serve:app", "--app-dir", str(ROOT / "pipelines/churn"),
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    df, _ = churnmodel.frame(n=5, seed=9)
    rows = json.loads(df.to_json(orient="records"))
    expected = {1: churnmodel.reference_predictions(a, df), 2: churnmodel.reference_predictions(b, df)}

    def up():
        try:
            return http("GET", f"{base}/healthz")[0] == 200
        except OSError:
            return proc.poll() is not None  # died: stop waiting and show why below

    try:
        wait_for(up, 90, "the service to start")
        assert proc.poll() is None, proc.communicate()[1]
        code, body = http("GET", f"{base}/version")
        assert code == 200 and (body["model"], body["version"], body["stage"]) == ("churn", 1, "production")
        assert body["hash"] == yaml.safe_load((fleet.host / "models/churn/1/manifest.yaml").read_text())["artifact"]["md5"]
        bad = http("POST", f"{base}/predict", {"rows": [{"tenure": 3}]})
        assert bad[0] == 422 and "lacks columns 'monthly_charges'" in bad[1]["detail"]

        # A bounded load test: 4 clients, at most 400 requests each, while the registry moves 3 times.
        failures, answered, halt = [], [], threading.Event()

        def client():
            for _ in range(400):
                if halt.is_set():
                    return
                try:
                    code, body = http("POST", f"{base}/predict", {"rows": rows})
                    if code != 200:
                        failures.append((code, body))
                    elif body["predictions"] != pytest.approx(list(expected[body["version"]])):
                        failures.append(("predictions of another version", body["version"]))
                    else:
                        answered.append(body["version"])
                except Exception as exc:  # noqa: BLE001 - a refused connection is a failed request too
                    failures.append(repr(exc))

        clients = [threading.Thread(target=client) for _ in range(4)]
        for c in clients:
            c.start()
        for move, version in [(lambda: fleet.ok("promote", "churn", "2", "production", "--push"), 2),
                              (fleet.rollback, 1), (fleet.rollback, 2)]:  # revert the revert: v2 again
            move()
            wait_for(lambda: http("GET", f"{base}/version")[1].get("version") == version, 20,
                     f"/version to say v{version}")
        halt.set()
        for c in clients:
            c.join(timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert failures == [], failures[:5]
    assert 1 in answered and 2 in answered and len(answered) >= 20, len(answered)
    assert "serving churn v2" in err and "serving churn v1" in err


# -- the Kubernetes example: syntax, and the reg commands in it are real ------------------------------

def _reg_commands(container: dict) -> list[list[str]]:
    import shlex

    words = list(container.get("command", [])) + list(container.get("args", []))
    if words[:1] == ["reg"]:
        return [words[1:]]
    script = " ".join(words[2:]) if words[:2] == ["sh", "-ec"] else ""
    return [shlex.split(line)[1:] for line in script.splitlines() if line.strip().startswith("reg ")]


def _check_reg_args(args: list[str]) -> str:
    """The reg subcommand, after proving each option it is given exists (a renamed option would break pods)."""
    import typer.main

    from cli.main import app

    group = typer.main.get_command(app)
    while args[0].startswith("-"):  # global options: -C PATH
        assert args[0] in ("-C", "--repo"), args
        args = args[2:]
    command = group.commands[args[0]]
    known = {opt for p in command.params for opt in getattr(p, "opts", [])}
    given = [a for a in args[1:] if a.startswith("--")]
    assert set(given) <= known, set(given) - known
    return args[0]


def test_kubernetes_templates_parse_and_run_real_reg_commands():
    folder = ROOT / "templates/kubernetes"
    docs = [d for f in sorted(folder.glob("*.yaml")) for d in yaml.safe_load_all(f.read_text())]
    assert {d["kind"] for d in docs} == {"Deployment", "Service", "Pod"}
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    init, = pod["initContainers"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert [_check_reg_args(a) for a in _reg_commands(init)] == ["sync"]
    sidecar, = _reg_commands(containers["registry-sync"])
    assert _check_reg_args(sidecar) == "sync" and "--watch" in sidecar and "--exec" in sidecar
    # It listens on every interface of the pod, so only POSTs with the webhook's secret are acted on.
    secret_env = sidecar[sidecar.index("--secret-env") + 1]
    assert secret_env in {e["name"] for e in containers["registry-sync"]["env"]}
    # The sidecar writes the folder the server reads, through one shared volume.
    mounts = {name: {m["name"]: m for m in c["volumeMounts"]} for name, c in containers.items()}
    to = sidecar[sidecar.index("--to") + 1]
    assert to.startswith(mounts["registry-sync"]["models"]["mountPath"] + "/")
    assert mounts["model-server"]["models"]["readOnly"] is True
    assert containers["model-server"]["env"][0]["value"] == to + "/current"
    static = next(d for d in docs if d["kind"] == "Pod")["spec"]
    pull, = _reg_commands(static["initContainers"][0])
    assert _check_reg_args(pull) == "pull" and pull[pull.index("--to") + 1] == "/mnt/models"


def test_a_hostile_artifact_path_in_a_pushed_manifest_is_refused(fleet, reg):
    out = fleet.tmp / "srv"
    assert reg(fleet.host, "sync", "churn/production", "--to", str(out)).exit_code == 0
    fleet.ok("promote", "churn", "2", "production", "--push")
    manifest = fleet.training / "models/churn/2/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("path: model", "path: ../../../../escape"))
    git(fleet.training, "commit", "-qam", "hostile")
    git(fleet.training, "push", "-q", "origin", "main")
    result = reg(fleet.host, "sync", "churn/production", "--to", str(out))
    # Named, whichever reader refuses it first (resolving the manifest, or the serving folder's own check).
    assert result.exit_code == 1 and "'../../../../escape'" in result.stderr, result.output
    assert result.stderr.count("\n") == 1
    assert served(out) == 1 and "'../../../../escape'" in status(out)["last_error"]["message"]
    assert not list(fleet.tmp.rglob("escape"))


def test_an_unreachable_registry_keeps_what_is_served(fleet, reg):
    from registry.serving import Follower

    out = fleet.tmp / "srv"
    assert reg(fleet.host, "sync", "churn/production", "--to", str(out)).exit_code == 0
    fleet.bare.rename(fleet.tmp / "gone.git")  # the git server is down
    result = reg(fleet.host, "sync", "churn/production", "--to", str(out))
    assert result.exit_code == 1 and "could not fetch the registry from 'origin'" in result.stderr, result.output
    assert "still serving what was served" in result.stderr and result.stderr.count("\n") == 1
    assert served(out) == 1 and "could not fetch" in status(out)["last_error"]["message"]
    # A service restarted while the registry is down serves the version its folder kept.
    with Follower("churn/production", repo=fleet.host, interval=60, to=out) as follower:
        assert follower.version == 1 and follower.model.version == 1


def post_with(url: str, body: bytes = b'{"ref": "refs/heads/main"}', headers: dict | None = None) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_a_listener_with_a_secret_acts_only_on_signed_or_tokened_posts(fleet):
    import hashlib
    import hmac

    secret = "s3cret-webhook-value"
    out, port = fleet.tmp / "srv", free_port()
    env_before = os.environ.get("REG_SYNC_SECRET")
    os.environ["REG_SYNC_SECRET"] = secret
    try:
        proc = reg_process("-C", str(fleet.host), "sync", "churn/production", "--to", str(out), "--watch",
                           "--interval", "600", "--listen", f"127.0.0.1:{port}", "--secret-env", "REG_SYNC_SECRET",
                           cwd=fleet.tmp)
    finally:
        if env_before is None:
            os.environ.pop("REG_SYNC_SECRET")
        else:
            os.environ["REG_SYNC_SECRET"] = env_before
    url = f"http://127.0.0.1:{port}/hook"
    body = b'{"ref": "refs/heads/main"}'
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    try:
        wait_for(lambda: (out / "current").exists() and served(out) == 1, 60, "v1 to be served")
        fleet.ok("promote", "churn", "2", "production", "--push")
        # Anyone who can reach the port, without the secret: refused, and nothing is looked at.
        assert wait_for(lambda: post_with(url) == 401, 10, "the listener") is True
        assert post_with(url, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}) == 401
        assert post_with(url, headers={"X-Gitlab-Token": "guess"}) == 401
        assert post_with(url, body=b"x" * (128 * 1024)) == 401  # a large unsigned body is read, then refused
        time.sleep(1.5)
        assert served(out) == 1
        # GitHub's signature of the body: acted on.
        assert post_with(url, body, {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}) == 202
        wait_for(lambda: served(out) == 2, 20, "the promotion to be served after the signed POST")
        fleet.ok("promote", "churn", "1", "production", "--push")
        assert post_with(url, headers={"X-Gitlab-Token": secret}) == 202  # GitLab's token
        wait_for(lambda: served(out) == 1, 20, "the next promotion to be served after GitLab's token")
    finally:
        code, _, err = stop(proc)
    assert code == 0, err
    assert err.count("refused: it does not carry the webhook secret") == 4, err
    assert secret not in err


def test_secret_env_must_name_a_set_variable_and_go_with_listen(fleet, reg):
    out = fleet.tmp / "srv"
    missing = reg(fleet.host, "sync", "churn/production", "--to", str(out), "--watch", "--listen", "127.0.0.1:9",
                  "--secret-env", "REG_NO_SUCH_SECRET")
    assert missing.exit_code == 1 and "--secret-env REG_NO_SUCH_SECRET: that environment variable is not set" \
        in missing.stderr, missing.output
    alone = reg(fleet.host, "sync", "churn/production", "--to", str(out), "--secret-env", "HOME")
    assert alone.exit_code == 1 and "--secret-env only makes sense with --listen" in alone.stderr, alone.output
    assert not out.exists()


def test_a_listen_port_of_other_digits_is_refused_in_one_line(registry, reg, tmp_path):
    result = reg(registry, "sync", "churn/production", "--to", str(tmp_path / "srv"), "--watch",
                 "--listen", "127.0.0.1:²")  # str.isdigit() says yes, int() raised a ValueError
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == "error: --listen '127.0.0.1:²' is not HOST:PORT; give e.g. 127.0.0.1:8470"
