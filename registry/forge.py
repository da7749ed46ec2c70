"""Web links on the forge (GitHub, GitLab) for a git remote: a commit, a tag, a file at a revision.

A remote URL is configuration a person typed, and may carry a token (https://user:token@host/...): the
links are built from the host and path alone, so a credential never reaches a page.
"""
from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from . import git

_REMOTE_RES = (
    re.compile(r"^ssh://(?:[^@/]+@)?([^:/]+)(?::\d+)?/(.+?)(?:\.git)?/?$"),
    re.compile(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+?)(?:\.git)?/?$"),  # scp-like host:path
    re.compile(r"^https?://(?:[^@/]+@)?([^/:]+)(?::\d+)?/(.+?)(?:\.git)?/?$"),
)
_HOST_RE = re.compile(r"[A-Za-z0-9.-]{1,253}")
_PATH_RE = re.compile(r"[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+){1,9}")


@dataclass(frozen=True)
class Forge:
    kind: str  # "github" or "gitlab"
    base: str  # https://host/owner/repo

    def _q(self, text: str) -> str:
        return urllib.parse.quote(text, safe="")

    def commit(self, sha: str) -> str:
        return f"{self.base}/commit/{self._q(sha)}" if self.kind == "github" else \
            f"{self.base}/-/commit/{self._q(sha)}"

    def tag(self, name: str) -> str:
        # Registry tags hold '#' and '@', which must be escaped or the browser cuts the link at '#'.
        return f"{self.base}/releases/tag/{self._q(name)}" if self.kind == "github" else \
            f"{self.base}/-/tags/{self._q(name)}"

    def file(self, rev: str, path: str) -> str:
        quoted = urllib.parse.quote(path, safe="/")
        return f"{self.base}/blob/{self._q(rev)}/{quoted}" if self.kind == "github" else \
            f"{self.base}/-/blob/{self._q(rev)}/{quoted}"


def parse(remote_url: str | None) -> Forge | None:
    """The forge a remote URL points at, or None when it is not GitHub or GitLab (or not a URL)."""
    if not remote_url:
        return None
    for pattern in _REMOTE_RES:
        m = pattern.match(remote_url.strip())
        if m:
            break
    else:
        return None
    host, path = m.group(1).lower(), m.group(2)
    if not _HOST_RE.fullmatch(host) or not _PATH_RE.fullmatch(path):
        return None
    kind = "github" if "github" in host else ("gitlab" if "gitlab" in host else None)
    return Forge(kind, f"https://{host}/{path}") if kind else None


def of_repo(root: Path, remote: str = "origin") -> Forge | None:
    return parse(git.config(root, f"remote.{remote}.url"))
