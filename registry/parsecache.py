"""The parsed-manifest cache: parsed YAML of registry files by file identity, so a read of ten thousand
manifests costs a JSON load and a `stat` each, not ten thousand YAML parses.

`.git/reg/cache.json` holds working-tree files keyed by (size, mtime), `.git/reg/blobs.json` files read at
a revision keyed by blob id. Derived, never committed, refreshed per file on a miss, written atomically,
and safe to delete at any time.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import git, yamlio
from .errors import CorruptState

CACHE_VERSION = 4  # 3: duplicate keys are refused on read; 4: anchors, aliases and oversized files too
MAX_BLOBS = 50_000
RACY_SECONDS = 2.0  # files touched this recently are parsed but not cached (same-size edits within a tick)


class ParseCache:
    """Parsed YAML by file identity. Loaded on first use, so a read that needs one or two files never
    pays for parsing the cache of ten thousand."""

    def __init__(self, root: Path):
        self.root = Path(root)
        base = git.git_dir(root) / "reg"
        self._paths = {"files": base / "cache.json", "blobs": base / "blobs.json"}
        self._data: dict = {}
        self._misses: dict = {"files": 0, "blobs": 0}

    def table(self, kind: str) -> dict:
        """The entries of one kind ("files" or "blobs"), for a caller that fills many at once (then
        `note_misses`)."""
        if kind not in self._data:
            table = {}
            try:
                data = json.loads(self._paths[kind].read_text())
                if data.get("v") == CACHE_VERSION:
                    table = data.get("entries", {})
            except (OSError, ValueError, AttributeError):
                pass
            self._data[kind] = table
        return self._data[kind]

    def file(self, rel: str, path: str, st: os.stat_result) -> dict:
        files = self.table("files")
        hit = files.get(rel)
        if hit is not None and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            return hit[2]
        data = yamlio.read(path, rel)  # a refused file raises here, so it never enters the cache
        if time.time() - st.st_mtime > RACY_SECONDS:
            files[rel] = [st.st_size, st.st_mtime_ns, data]
            self._misses["files"] += 1
        return data

    def blob(self, sha: str, rel: str, read_text) -> dict:
        blobs = self.table("blobs")
        hit = blobs.get(sha)
        if hit is not None:
            return hit
        data = yamlio.parse(read_text(), rel)
        blobs[sha] = data
        self._misses["blobs"] += 1
        return data

    def prefetch(self, wanted: dict[str, str]) -> dict[str, dict]:
        """Parse every blob of `wanted` (blob id -> path, for messages) that the cache lacks, read in one
        batch rather than a git call per file (ten thousand versions are twenty thousand small files).
        Returns the parsed YAML of those that parse; one that does not is left for `blob` to raise."""
        blobs = self.table("blobs")
        missing = [sha for sha in wanted if sha not in blobs]
        if missing:
            for sha, body in git.blobs(self.root).read_many(missing).items():
                try:
                    self.blob(sha, wanted[sha], lambda: body.decode("utf-8", "replace"))
                except CorruptState:
                    pass
        return {sha: blobs[sha] for sha in wanted if sha in blobs}

    def note_misses(self, kind: str, count: int) -> None:
        """For entries a caller put into `table(kind)` itself."""
        self._misses[kind] += count

    def save(self) -> None:
        for kind, misses in self._misses.items():
            # Rewriting 5 MB for the two manifests a promotion changed costs more than parsing them
            # again next time: save once misses add up (or the cache was empty or small).
            if not misses or misses < min(64, max(1, len(self._data[kind]) // 10)):
                continue
            entries = self._data[kind]
            if kind == "blobs" and len(entries) > MAX_BLOBS:
                entries = {}
            path = self._paths[kind]
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps({"v": CACHE_VERSION, "entries": entries}, separators=(",", ":")))
                os.replace(tmp, path)
            except OSError:
                pass  # a cache we cannot write only costs speed
            self._misses[kind] = 0
