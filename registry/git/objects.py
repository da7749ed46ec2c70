"""Reading objects: one long-lived `cat-file --batch` per repository."""
from __future__ import annotations

import atexit
import collections
import contextlib
import subprocess
import threading
from pathlib import Path

from ..errors import GitError
from ..yamlio import MAX_BYTES

# -- reading objects -------------------------------------------------------------------------------

READ_LIMIT = MAX_BYTES + 1  # no registry file is bigger; one byte more is enough for yamlio to refuse it


class BlobReader:
    """Blobs by id from one long-lived `git cat-file --batch` per repository, started on first use:
    a check or a history walk reads thousands of small manifests, and a process per blob would cost
    more than everything else together. Every blob read is a registry file, so at most READ_LIMIT bytes
    of one are kept (the hook reads what anyone with push access sends)."""

    CHUNK = 1000  # requests in flight: 41 bytes each stay well under a pipe buffer, so neither side blocks

    def __init__(self, root: Path):
        self.root = Path(root)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(["git", "cat-file", "--batch"], cwd=str(self.root), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return self._proc

    def _response(self, proc: subprocess.Popen) -> tuple[str, bytes | None]:
        header = proc.stdout.readline()
        if not header:
            raise GitError("git cat-file stopped unexpectedly")
        parts = header.split()
        if len(parts) < 3:  # "<id> missing" or "<id> ambiguous"
            return parts[0].decode() if parts else "", None
        size = int(parts[2])
        body = proc.stdout.read(min(size, READ_LIMIT))
        rest = size - len(body) + 1  # what is left of a blob too big to be a registry file, and the newline
        while rest > 0:  # read past it in pieces: a pushed 2 GB "manifest" never sits in memory
            piece = proc.stdout.read(min(rest, 1 << 20))
            if not piece:
                raise GitError("git cat-file stopped unexpectedly")
            rest -= len(piece)
        return parts[0].decode(), body if parts[1] == b"blob" else None

    def read_many(self, shas: list[str]) -> dict[str, bytes]:
        """Found blobs by id (an id that is missing or not a blob is left out)."""
        out: dict[str, bytes] = {}
        wanted = [s for s in dict.fromkeys(shas) if s]
        with self._lock:
            proc = self._start()
            try:
                for i in range(0, len(wanted), self.CHUNK):
                    chunk = wanted[i:i + self.CHUNK]
                    proc.stdin.write("".join(f"{s}\n" for s in chunk).encode())
                    proc.stdin.flush()
                    for sha in chunk:
                        _, body = self._response(proc)
                        if body is not None:
                            out[sha] = body
            except (OSError, ValueError, GitError):
                self.close()
                raise GitError(f"git cat-file could not read objects in {self.root}") from None
        return out

    def read(self, sha: str) -> bytes | None:
        return self.read_many([sha]).get(sha)

    def read_text(self, sha: str) -> str:
        body = self.read(sha)
        if body is None:
            raise GitError(f"git object {sha} is missing from {self.root}")
        return body.decode("utf-8", "replace")

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(OSError, ValueError):
                proc.stdout.close()


_READERS: "collections.OrderedDict[str, BlobReader]" = collections.OrderedDict()
MAX_READERS = 4
_READERS_LOCK = threading.Lock()


def blobs(root: Path) -> BlobReader:
    """The repository's shared BlobReader (a few are kept; the least recently used is closed)."""
    key = str(Path(root).resolve())
    with _READERS_LOCK:
        reader = _READERS.get(key)
        if reader is None:
            reader = _READERS[key] = BlobReader(Path(key))
            while len(_READERS) > MAX_READERS:
                _READERS.popitem(last=False)[1].close()
        _READERS.move_to_end(key)
        return reader


@atexit.register
def _close_readers() -> None:
    while _READERS:
        _READERS.popitem()[1].close()


# == write side: objects, trees, refs and pushes (used by changes.py and propose.py) ================
# Reg's own writes ask git to fsync what they create (one batched flush for many loose objects), so a
# power cut never leaves a ref naming an object that is not on disk.
