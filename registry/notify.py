"""Webhooks: after a successful mutation (and push), POST a Slack-compatible message.

```yaml
# models/registry.yaml
webhooks:
  - name: ml-team                # shown in warnings
    url_env: REG_WEBHOOK_ML_TEAM # the URL is read from this environment variable, never stored
    events: [promote, rollback]  # register, promote, rollback, delete (default: these four), alias
```

`alias` is sent whenever an alias moves: `reg alias`, `reg alias --delete`, `register --alias`,
`promote --alias` (a promote with an alias is both events). It is not in the default list, so a channel
set up before it existed gets no new kind of message; a service that follows `@champion` asks for it.

A webhook that fails (unset variable, refused connection, non-2xx) becomes a warning string; it never
undoes or blocks the change, which is already committed.

A webhook URL is a secret (Slack's carries its token in the path), and `models/registry.yaml` is written by
whoever can push: `url_env` may only name a `REG_WEBHOOK_*` variable (otherwise `url_env:
REG_SECRET_ACCESS_KEY` would send, and print, the S3 secret), and a warning shows the URL's scheme and host
at most, never its path, query or a URL without a scheme.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import CorruptState
from .refs import is_number

DEFAULT_EVENTS = ("register", "promote", "rollback", "delete")
EVENTS = DEFAULT_EVENTS + ("alias",)
ACTION_EVENT = {"register": "register", "promote": "promote", "archive": "promote", "rollback": "rollback",
                "delete": "delete", "alias": "alias", "unalias": "alias"}
TIMEOUT = 5.0
WHERE = "models/registry.yaml"
ENV_PREFIX = "REG_WEBHOOK_"


@dataclass
class Webhook:
    name: str
    url_env: str
    events: list[str] = field(default_factory=lambda: list(DEFAULT_EVENTS))


def parse_webhooks(raw) -> list[Webhook]:
    if not raw:
        return []
    if not isinstance(raw, list):
        raise CorruptState(f"{WHERE}: 'webhooks' must be a list of {{name, url_env, events}}")
    hooks = []
    for i, item in enumerate(raw):
        if isinstance(item, dict) and "url" in item:
            raise CorruptState(f"{WHERE}: webhooks[{i}] stores a url; keep it in an environment variable and "
                               "name that with url_env")
        if not isinstance(item, dict) or not isinstance(item.get("url_env"), str) or not item["url_env"]:
            raise CorruptState(f"{WHERE}: webhooks[{i}] needs url_env: the environment variable holding the URL "
                               "(the URL itself is never stored)")
        if not item["url_env"].startswith(ENV_PREFIX) or len(item["url_env"]) == len(ENV_PREFIX):
            raise CorruptState(f"{WHERE}: webhooks[{i}].url_env must name a {ENV_PREFIX}* variable (e.g. "
                               f"{ENV_PREFIX}ML_TEAM), so no other secret of the environment can be sent or shown")
        events = item.get("events", list(DEFAULT_EVENTS))
        events = [events] if isinstance(events, str) else events
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise CorruptState(f"{WHERE}: webhooks[{i}].events must be a list of {', '.join(EVENTS)}")
        hooks.append(Webhook(str(item.get("name") or item["url_env"]), item["url_env"], list(events)))
    return hooks


def message(change) -> tuple[str | None, dict]:
    """(event, Slack-compatible payload) for an applied ChangeSet; event None when no webhook cares."""
    t = change.trailers
    action = t.get("Reg-Action", "")
    event = ACTION_EVENT.get(action)
    if t.get("Reg-Alias") and event is None:
        event = "alias"
    lines = [f"*{change.subject}*"]
    if t.get("Reg-Reason"):
        lines.append(f"Reason: {t['Reg-Reason']}")
    if t.get("Reg-Forced"):
        lines.append(f"Forced past failed gates: {t['Reg-Forced']}")
    text = "\n".join(lines)
    payload = {"text": text,
               "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
               "reg": {"event": event, "action": action, "model": t.get("Reg-Model"),
                       "version": int(t["Reg-Version"]) if is_number(t.get("Reg-Version", "")) else None,
                       "from": t.get("Reg-From"), "to": t.get("Reg-To"), "reason": t.get("Reg-Reason"),
                       "alias": t.get("Reg-Alias")}}
    return event, payload


def shown(url: str) -> str:
    """What of a webhook URL may be printed: its scheme and host, or nothing."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        scheme, host = parts.scheme, parts.hostname
    except ValueError:
        scheme, host = None, None
    if scheme not in ("http", "https") or not host:
        return "a URL without http:// or https:// and a host"
    return f"{scheme}://{host}"


def events_of(change) -> set[str]:
    """Every webhook event a change is: its action's, and `alias` when it also moved an alias."""
    event, _ = message(change)
    t = change.trailers
    return {e for e in (event, "alias" if t.get("Reg-Alias") else None) if e}


def post(url: str, payload: dict, timeout: float = TIMEOUT) -> None:
    import urllib.request  # only when there is something to send: it costs a promote ~30 ms to import
    from urllib.parse import urlsplit

    if urlsplit(url.strip()).scheme not in ("http", "https"):  # never file:, ftp: or the like
        raise ValueError("not an http(s) URL")

    req = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "reg"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # raises on non-2xx
        resp.read()


def send(settings, change, commit: str, env=None) -> list[str]:
    """Notify every webhook that wants this change's event; return warnings for the ones that failed."""
    import os

    env = os.environ if env is None else env
    if not settings.webhooks:
        return []
    try:
        hooks = parse_webhooks(settings.webhooks)
    except CorruptState as exc:
        return [f"no notification sent: {exc}"]
    event, payload = message(change)
    wanted = events_of(change)
    if not wanted:
        return []
    payload["reg"]["commit"] = commit
    warnings = []
    for hook in hooks:
        if not wanted & set(hook.events):
            continue
        url = env.get(hook.url_env)
        if not url:
            warnings.append(f"webhook {hook.name}: ${hook.url_env} is not set; no notification sent")
            continue
        try:
            post(url, payload)
        except (OSError, ValueError) as exc:  # urllib's URLError and HTTPError are OSErrors
            warnings.append(f"webhook {hook.name} failed ({shown(url)}: {_reason(exc)}); the change is made, only "
                            "the notification is missing")
    return warnings


def _reason(exc: Exception) -> str:
    """Why a POST failed, in words that cannot hold the URL (urllib puts it in some messages)."""
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, OSError):
        return reason.strerror or type(reason).__name__
    if isinstance(reason, str) and "/" not in reason and ":" not in reason:
        return reason
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ValueError):
        return "not an http(s) URL"
    return type(reason if isinstance(reason, Exception) else exc).__name__
