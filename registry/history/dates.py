"""Dates: parsing a user's date, and finding the commit that was current at a time (`--at`)."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from .. import git
from ..errors import UsageError


def parse_time(text: str, what: str = "time") -> dt.datetime:
    """A date or date-time as people write it (ISO 8601; no zone means UTC) -> aware UTC datetime."""
    raw = str(text).strip()
    value = raw.replace(" ", "T", 1) if re.match(r"\d{4}-\d\d-\d\d \d", raw) else raw
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"cannot read {what} {raw!r}: write it as 2026-11-01, 2026-11-01T12:00 or "
                         "2026-11-01T12:00:00+02:00 (no zone means UTC)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc)


def commit_at(root: Path, when: dt.datetime, rev: str = "HEAD") -> str | None:
    """The last commit of `rev`'s first-parent history made at or before `when` (what was checked out then)."""
    seconds = int(when.timestamp())
    if seconds < 100_000_000:  # git reads a number of fewer than nine digits as no date at all (so "now")
        return None  # and no commit is older than 1973: `--at 1900-01-01` is before any registry
    return git.commit_before(root, seconds, rev)
