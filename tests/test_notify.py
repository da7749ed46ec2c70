"""Webhooks (issue 5 item 6): received by a real HTTP server on 127.0.0.1; a dead one never blocks."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import git


@pytest.fixture
def receiver():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], json.loads(body)))
            self.send_response(500 if self.path == "/broken" else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


def _webhooks(root, text):
    settings = root / "models/registry.yaml"
    settings.write_text(settings.read_text() + text)
    git(root, "commit", "-qam", "webhooks")


def test_webhook_receives_promotions_it_asked_for(registry, reg, artifact, receiver, monkeypatch):
    url, received = receiver
    monkeypatch.setenv("REG_WEBHOOK_TEAM", url + "/team")
    _webhooks(registry, "webhooks:\n  - name: team\n    url_env: REG_WEBHOOK_TEAM\n    events: [promote, delete]\n")
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0  # not an event it wants
    assert received == []
    result = reg(registry, "promote", "churn", "1", "production", "--reason", "launch")
    assert result.exit_code == 0 and result.stderr == "", result.output
    [(path, ctype, payload)] = received
    assert path == "/team" and ctype == "application/json"
    assert payload["text"] == "*reg: promote churn v1 to production*\nReason: launch"
    assert payload["blocks"][0]["text"] == {"type": "mrkdwn", "text": payload["text"]}
    assert payload["reg"] == {"event": "promote", "action": "promote", "model": "churn", "version": 1,
                              "from": "none", "to": "production", "reason": "launch", "alias": None,
                              "commit": git(registry, "rev-parse", "HEAD").strip()}
    assert reg(registry, "alias", "churn", "1", "champion").exit_code == 0
    assert len(received) == 1
    # the URL lives only in the environment
    assert url not in git(registry, "log", "-p")


def test_dead_webhook_does_not_block_a_promotion(registry, reg, artifact, receiver, monkeypatch):
    url, received = receiver
    monkeypatch.setenv("REG_WEBHOOK_DEAD", _dead_url())
    monkeypatch.setenv("REG_WEBHOOK_BROKEN", url + "/broken")
    monkeypatch.setenv("REG_WEBHOOK_OK", url + "/ok")
    _webhooks(registry, "webhooks:\n  - {name: dead, url_env: REG_WEBHOOK_DEAD}\n"
                        "  - {name: broken, url_env: REG_WEBHOOK_BROKEN}\n"
                        "  - {name: unset, url_env: REG_WEBHOOK_UNSET}\n"
                        "  - {name: ok, url_env: REG_WEBHOOK_OK}\n")
    assert reg(registry, "register", "churn", str(artifact)).exit_code == 0
    before = git(registry, "rev-parse", "HEAD")
    result = reg(registry, "promote", "churn", "1", "production")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Promoted churn v1 to production")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("warning: webhook dead failed (") and lines[0].endswith(
        "); the change is made, only the notification is missing")
    assert lines[1].startswith("warning: webhook broken failed (")
    assert lines[2] == "warning: webhook unset: $REG_WEBHOOK_UNSET is not set; no notification sent"
    assert git(registry, "rev-parse", "HEAD^") == before  # committed, not undone
    assert git(registry, "status", "--porcelain") == ""
    assert [p for p, _, _ in received].count("/ok") == 2  # register and promote both reached the live one


def test_a_stored_url_is_refused_by_check(registry, reg):
    _webhooks(registry, "webhooks:\n  - {name: team, url: 'https://hooks.slack.com/x', url_env: X}\n")
    result = reg(registry, "check")
    assert result.exit_code == 1
    assert ("problem: models/registry.yaml: webhooks[0] stores a url; keep it in an environment variable and name "
            "that with url_env") in result.stdout


def test_a_stored_url_without_url_env_is_named_as_such(registry, reg):
    _webhooks(registry, "webhooks:\n  - {name: team, url: 'https://hooks.slack.com/x'}\n")
    result = reg(registry, "check")
    assert result.exit_code == 1
    assert "webhooks[0] stores a url; keep it in an environment variable" in result.stdout


def test_json_output_carries_the_webhook_warnings(registry, reg, artifact, monkeypatch):
    _webhooks(registry, "webhooks:\n  - {name: unset, url_env: REG_WEBHOOK_UNSET}\n")
    result = reg(registry, "register", "churn", str(artifact), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["warnings"] == [
        "webhook unset: $REG_WEBHOOK_UNSET is not set; no notification sent"]
