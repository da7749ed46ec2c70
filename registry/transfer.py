"""How reg talks to a DVC remote: progress bars only when asked, bounded waits on a dead server, and
one clear message per failure (unreachable, refused credentials, missing data, a held DVC lock) that
never contains a secret."""
from __future__ import annotations

import contextlib
import logging
import os
import re

# Applied to an S3 remote that sets none of its own, so a dead or hung server fails in seconds, not minutes.
S3_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 30}
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "REG_SECRET_ACCESS_KEY")

_UNREACHABLE = re.compile(r"could not connect|connection refused|connect timeout|timed out|name or service not known|"
                          r"cannot connect|connection reset|endpoint url|temporary failure in name resolution|"
                          r"server disconnected|no route to host", re.I)
_DENIED = re.compile(r"invalidaccesskeyid|signaturedoesnotmatch|access ?denied|forbidden|\b403\b|"
                     r"unable to locate credentials|no credentials|invalid ?token|expiredtoken", re.I)
_LOCKED = re.compile(r"unable to acquire lock|lock.*(is|being) (held|used)|rwlock|is busy", re.I)


@contextlib.contextmanager
def bounded_retries(attempts: int = 3):
    """botocore retries a refused connection 5 times with growing back-off; 3 is plenty for a live server
    and makes a dead one fail in seconds. The user's own AWS_MAX_ATTEMPTS wins."""
    if os.environ.get("AWS_MAX_ATTEMPTS"):
        yield
        return
    os.environ["AWS_MAX_ATTEMPTS"] = str(attempts)
    try:
        yield
    finally:
        os.environ.pop("AWS_MAX_ATTEMPTS", None)


@contextlib.contextmanager
def progress(enabled: bool):
    """DVC's progress bars (dvc's and dvc_data's Tqdm) draw when stderr is a terminal unless their logger is
    above ERROR: WARNING is not enough, so off means CRITICAL, for both packages' loggers."""
    logs = [logging.getLogger(name) for name in ("dvc", "dvc_data", "dvc_objects")]
    old = [log.level for log in logs]
    for log in logs:
        log.setLevel(logging.INFO if enabled else logging.CRITICAL)
    try:
        yield
    finally:
        for log, level in zip(logs, old):
            log.setLevel(level)


def config_overrides(repo, remote: str | None) -> dict:
    """Timeouts for the S3 remote in use, unless the user configured their own."""
    conf = repo.config
    name = remote or conf.get("core", {}).get("remote")
    section = conf.get("remote", {}).get(name or "", {})
    if not str(section.get("url", "")).startswith("s3://"):
        return {}
    missing = {k: v for k, v in S3_TIMEOUTS.items() if section.get(k) is None}
    return {"remote": {name: missing}} if missing else {}


class Unreachable(Exception):
    """The probe found the S3 server down, hung, refusing the credentials, or without the bucket."""


def probe(repo, remote: str | None, label: str, verb: str, what: str | None = None) -> None:
    """One quick HEAD of the bucket, with short timeouts and no retries, before DVC's transfer: a server
    that is down or hangs would otherwise cost DVC's retries times s3fs's retries times the timeout."""
    conf = repo.config
    name = remote or conf.get("core", {}).get("remote")
    section = dict(conf.get("remote", {}).get(name or "", {}))
    url = str(section.get("url", ""))
    if not url.startswith("s3://"):
        return
    import botocore.exceptions as bexc
    import botocore.session
    from botocore.config import Config

    bucket = url[len("s3://"):].split("/", 1)[0]
    session = botocore.session.Session(profile=section.get("profile"))
    key, secret = section.get("access_key_id"), section.get("secret_access_key")
    client_kwargs = {"endpoint_url": section.get("endpointurl"), "region_name": section.get("region") or None,
                     "config": Config(connect_timeout=3, read_timeout=5, retries={"max_attempts": 1, "mode": "standard"})}
    if key and secret:
        client_kwargs.update(aws_access_key_id=key, aws_secret_access_key=secret,
                             aws_session_token=section.get("session_token"))
    if section.get("ssl_verify") is not None:
        client_kwargs["verify"] = section.get("ssl_verify")
    subject = f" {what}" if what else ""
    try:
        client = session.create_client("s3", **client_kwargs)
        client.head_bucket(Bucket=bucket)
    except (bexc.EndpointConnectionError, bexc.ConnectTimeoutError, bexc.ReadTimeoutError,
            bexc.ConnectionClosedError) as exc:
        kind = "did not answer in time" if isinstance(exc, bexc.ReadTimeoutError) else "is down or unreachable"
        raise Unreachable(f"could not reach remote {label} to {verb}{subject}: the server {kind}; nothing was "
                          "changed: start it or fix the URL, then retry") from None
    except bexc.NoCredentialsError:
        raise Unreachable(f"no credentials for remote {label}: set access_key_id/secret_access_key with "
                          "`dvc remote modify --local`, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY") from None
    except bexc.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status in (401, 403) or _DENIED.search(code):
            raise Unreachable(f"remote {label} refused the credentials while trying to {verb}{subject}: check "
                              "access_key_id/secret_access_key in .dvc/config.local (or AWS_ACCESS_KEY_ID/"
                              "AWS_SECRET_ACCESS_KEY)") from None
        if status == 404:
            raise Unreachable(f"bucket {bucket!r} does not exist on remote {label}; create it or fix the "
                              "remote URL") from None
    except Exception:  # anything else: let DVC try and report
        return


def secrets(repo=None) -> list[str]:
    found = [os.environ[k] for k in SECRET_ENV if os.environ.get(k)]
    if repo is not None:
        with contextlib.suppress(Exception):
            for section in repo.config.get("remote", {}).values():
                for key in ("secret_access_key", "session_token", "password"):
                    if section.get(key):
                        found.append(str(section[key]))
    return [s for s in found if len(s) >= 4]


def scrub(text: str, hidden: list[str]) -> str:
    for secret in sorted(hidden, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def describe_remote(repo, remote: str | None) -> str:
    with contextlib.suppress(Exception):
        conf = repo.config
        name = remote or conf.get("core", {}).get("remote")
        section = conf.get("remote", {}).get(name or "", {})
        url = section.get("url")
        endpoint = section.get("endpointurl")
        if url:
            return f"{name} ({url}{' at ' + endpoint if endpoint else ''})"
        if name:
            return str(name)
    return remote or "the default DVC remote"


def _chain(exc: BaseException) -> str:
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " | ".join(parts)


def message(verb: str, remote_label: str, exc: BaseException, hidden: list[str], *, what: str | None = None,
            missing_hint: bool = False) -> str:
    """One line for a failed push or pull."""
    detail = scrub(" ".join(str(exc).split()), hidden)[:240]
    everything = _chain(exc)
    subject = f" {what}" if what else ""
    busy = re.search(r"blocked by:\s*\(PID (\d+)\): ([^|]*?)\s*If there are no processes", everything)
    if busy:
        return (f"DVC's .dvc/tmp/rwlock says the artifact is in use by process {busy.group(1)} "
                f"({busy.group(2).strip()[:80]}); wait for it, or if no such process is running remove "
                ".dvc/tmp/rwlock, then retry")
    if "No space left on device" in everything or "[Errno 28]" in everything:
        return (f"the disk is full (No space left on device) while trying to {verb}{subject}; nothing was "
                "changed: free some space and retry")
    if _LOCKED.search(everything):
        return ("DVC's repository lock .dvc/tmp/lock is held: another dvc or reg command is running in this "
                "repository. Wait for it to finish, then retry (a lock left by a killed process frees itself)")
    if _DENIED.search(everything):
        return (f"remote {remote_label} refused the credentials while trying to {verb}{subject}: check "
                "access_key_id/secret_access_key in .dvc/config.local (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if _UNREACHABLE.search(everything):
        return (f"could not reach remote {remote_label} to {verb}{subject}: the server is down or unreachable "
                f"({detail}); nothing was changed: start it or fix the URL, then retry")
    if missing_hint:
        return (f"{what or 'the artifact'} is missing from remote {remote_label}: its data was never pushed "
                f"there or was removed ({detail}); push it from the machine that registered it (dvc push)")
    direction = "to" if verb == "push" else "from"
    return (f"could not {verb}{subject} {direction} remote {remote_label}: {detail}; check the remote URL, "
            "credentials and that it is reachable")


# The CLI turns progress bars on for transfers made deep inside an operation (register's push).
import contextvars  # noqa: E402

SHOW_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("reg_show_progress", default=False)
