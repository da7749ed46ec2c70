"""`reg sync --watch`: run a Syncer each interval (jittered), at once on SIGHUP or on a POST to the
optional listener (a webhook), run `--exec CMD` after each swap, and stop cleanly between steps on SIGTERM.

A step (fetch, pull, verify, swap, exec) always runs to its end; signals only set flags the loop reads.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import RegistryError, UsageError
from .refs import is_number
from .serving import Outcome, Syncer

log = logging.getLogger("registry.serving")
MAX_BODY = 64 * 1024
MAX_SIGNED_BODY = 25 << 20
TICK = 0.1


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:8470` or `8470` (loopback). Any other host must be written out: a webhook endpoint
    that can trigger pulls should not be on every interface by accident."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not is_number(port) or not 0 < int(port) < 65536:
        raise UsageError(f"--listen {text!r} is not HOST:PORT; give e.g. 127.0.0.1:8470")
    return host, int(port)


def listen_secret(env_name: str) -> bytes:
    """The webhook secret `--secret-env NAME` names: read from the environment, never from the command line
    (where `ps` shows it to every user of the host)."""
    value = os.environ.get(env_name, "")
    if not value.strip():
        raise UsageError(f"--secret-env {env_name}: that environment variable is not set or empty; export the "
                         "webhook's secret there (the one the git host signs its POSTs with)")
    return value.strip().encode()


def authorized(secret: bytes | None, headers, body: bytes) -> bool:
    """Whether a POST proves it knows the secret, the way the common git hosts send it: GitHub's and Gitea's
    HMAC-SHA256 of the body (`X-Hub-Signature-256: sha256=...`, `X-Gitea-Signature`), GitLab's token
    (`X-Gitlab-Token`), or `Authorization: Bearer ...` from anything else. No secret: every POST is."""
    if secret is None:
        return True
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest()
    offered = [(headers.get("X-Hub-Signature-256") or "").removeprefix("sha256="), headers.get("X-Gitea-Signature")]
    if any(o and hmac.compare_digest(o.strip().lower(), digest) for o in offered):
        return True
    tokens = [headers.get("X-Gitlab-Token"), (headers.get("Authorization") or "").removeprefix("Bearer ")]
    return any(t and hmac.compare_digest(t.strip().encode(), secret) for t in tokens)


def exec_hook(command: str, *, timeout: float, ref: str, directory) -> callable:
    """The --exec CMD: run through the shell after each swap, with what was swapped in its environment.
    A non-zero exit (or a timeout) is a RegistryError, which makes the Syncer swap back."""

    def run(outcome: Outcome) -> None:
        m = outcome.manifest
        env = dict(os.environ, REG_REF=ref, REG_MODEL=m.model, REG_VERSION=str(m.version), REG_STAGE=m.stage,
                   REG_ALIASES=",".join(m.aliases), REG_HASH=m.md5 or "", REG_PATH=str(outcome.path),
                   REG_DIR=str(directory), REG_CURRENT=str(directory / "current"), REG_COMMIT=outcome.commit or "",
                   REG_PREVIOUS=outcome.previous or "")
        try:
            proc = subprocess.run(command, shell=True, env=env, capture_output=True, text=True, timeout=timeout,
                                  errors="replace")
        except subprocess.TimeoutExpired:
            raise RegistryError(f"--exec command did not finish within {timeout:g} s") from None
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        if proc.returncode != 0:
            tail = f": {detail[-1][:300]}" if detail else ""
            raise RegistryError(f"--exec command exited with {proc.returncode} for v{m.version}{tail}")
        log.info("--exec command succeeded for %s v%s", m.model, m.version)

    return run


class Watch:
    def __init__(self, syncer: Syncer, *, listen: tuple[str, int] | None = None, secret: bytes | None = None):
        self.syncer = syncer
        self.listen = listen
        self.secret = secret  # POSTs must prove they know it (`authorized`)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.server: ThreadingHTTPServer | None = None
        self.signals: list[int] = []

    def _signal(self, signum, frame) -> None:
        # Only flags here: a handler runs between two bytecodes of the loop, which may hold the very lock
        # an Event.set() would take; the loop's wait looks at these flags every TICK.
        self.signals.append(signum)

    def run(self) -> None:
        previous = {s: signal.signal(s, self._signal) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
        try:
            if self.listen:
                self._serve()
            log.info("following %s into %s every %gs", self.syncer.ref, self.syncer.dir.path, self.syncer.interval)
            forced = True
            while not self.stop.is_set():
                try:
                    self.syncer.sync(forced=forced)
                except RegistryError:
                    pass  # logged and recorded in status.json by the Syncer; keep serving, retry later
                except Exception:  # a bug must not stop a host from serving what it serves
                    log.exception("unexpected error while following %s; still serving %s", self.syncer.ref,
                                  self.syncer.dir.current() or "nothing")
                if self.stop.is_set():
                    break
                forced = self._wait(self.syncer.next_wait())
            log.info("stopped; serving %s", self.syncer.dir.current() or "nothing")
        finally:
            if self.server is not None:
                self.server.shutdown()
                self.server.server_close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _wait(self, seconds: float) -> bool:
        """Sleep until the next check; True when woken early (SIGHUP, a POST) rather than by the interval."""
        deadline = time.monotonic() + seconds
        while True:
            while self.signals:
                signum = self.signals.pop(0)
                if signum == signal.SIGHUP:
                    log.info("SIGHUP: checking the registry now")
                    self.wake.set()
                else:
                    log.info("%s: stopping after the current step", signal.Signals(signum).name)
                    self.stop.set()
            if self.stop.is_set():
                return False
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self.wake.wait(min(TICK, left)):
                self.wake.clear()
                return True

    def _serve(self) -> None:
        watch = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 5  # a client that connects and says nothing does not hold a thread

            def do_POST(self):
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if watch.secret is None:  # only the POST's arrival matters
                    body = self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""
                elif not 0 <= length <= MAX_SIGNED_BODY:
                    self._reply(413, {"error": f"a body of at most {MAX_SIGNED_BODY} bytes, with a Content-Length"})
                    return
                else:  # the host signs the whole body, so it is read whole (GitHub's payloads go up to 25 MB)
                    body = self.rfile.read(length) if length else b""
                if not authorized(watch.secret, self.headers, body):
                    log.info("POST %s from %s refused: it does not carry the webhook secret", self.path[:100],
                             self.client_address[0])
                    self._reply(401, {"error": "this listener needs the webhook secret (a signature or token)"})
                    return
                log.info("POST %s from %s: checking the registry now", self.path[:100], self.client_address[0])
                watch.wake.set()
                self._reply(202, {"status": "checking"})

            def do_GET(self):
                if self.path.rstrip("/") in ("", "/status"):
                    self._reply(200, watch.syncer.dir.status())
                else:
                    self._reply(404, {"error": "GET / or /status; POST anything to check the registry now"})

            def _reply(self, code: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # the POST itself is the event line; no access log
                pass

        host, port = self.listen
        try:
            self.server = ThreadingHTTPServer((host, port), Handler)
        except OSError as exc:
            raise UsageError(f"--listen {host}:{port}: {exc.strerror or exc}; choose another port") from None
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="reg-sync-listen", daemon=True).start()
        log.info("listening on %s:%d (POST to check now%s)", host, self.server.server_address[1],
                 "; signed or with the secret" if self.secret is not None else "")
