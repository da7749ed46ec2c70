"""The write side: blobs, a commit's tree built from the changed folders only, push and fetch."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GitError
from .core import git_dir, ok, run

DURABLE = ["-c", "core.fsync=committed,index", "-c", "core.fsyncMethod=batch"]


def write_blobs(root: Path, rels: list[str]) -> dict[str, str]:
    """Store these working-tree files as blobs; path -> blob id (one process for all)."""
    if not rels:
        return {}
    out = run([*DURABLE, "hash-object", "-w", "--no-filters", "--stdin-paths"], root,
              input="".join(f"{rel}\n" for rel in rels))
    return dict(zip(rels, out.split()))


def _tree_entries(data: bytes) -> dict[str, tuple[str, str]]:
    """A raw tree object as name -> (mode, hex id)."""
    entries, i = {}, 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        mode, name = data[i:space].decode(), data[space + 1:nul].decode("utf-8", "surrogateescape")
        entries[name] = (mode, data[nul + 1:nul + 21].hex())
        i = nul + 21
    return entries


def _tree_bytes(entries: dict[str, tuple[str, str]]) -> bytes:
    # git orders a folder's entries by name, a sub-folder's name compared as if it ended in "/".
    order = sorted(entries, key=lambda n: n.encode("utf-8", "surrogateescape") + (b"/" if entries[n][0] == "40000" else b""))
    return b"".join(entries[n][0].encode() + b" " + n.encode("utf-8", "surrogateescape") + b"\0"
                    + bytes.fromhex(entries[n][1]) for n in order)


def tree_with(root: Path, base: str | None, changes: dict[str, tuple[str, str] | None]) -> str:
    """The id of `base` (a commit or tree, None for empty) with files replaced: path -> (mode, blob id),
    or None to remove. Only the folders on the changed paths are read and written, so the cost grows with
    the change, not with the repository (a temporary index of every file costs 0.2 s at 30,000 files)."""
    import hashlib
    import tempfile

    reader = subprocess.Popen(["git", "cat-file", "--batch"], cwd=str(root), stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)

    def read_tree(spec: str | None) -> dict[str, tuple[str, str]]:
        if spec is None:
            return {}
        reader.stdin.write(spec.encode() + b"\n")
        reader.stdin.flush()
        header = reader.stdout.readline().split()
        if len(header) < 3 or header[1] != b"tree":
            raise GitError(f"git cat-file: {spec} is not a tree")
        data = reader.stdout.read(int(header[2]))
        reader.stdout.read(1)
        return _tree_entries(data)

    nested: dict = {}
    for path, entry in changes.items():
        node = nested
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise GitError(f"{path} runs through a file")
        node[parts[-1]] = ("file", entry)
    written: dict[str, bytes] = {}

    def build(node: dict, tree: str | None) -> str | None:
        entries = read_tree(tree)
        for name, child in node.items():
            if isinstance(child, tuple):
                if child[1] is None:
                    entries.pop(name, None)
                else:
                    entries[name] = child[1]
                continue
            old = entries.get(name)
            sub = build(child, old[1] if old and old[0] == "40000" else None)
            if sub is None:
                entries.pop(name, None)
            else:
                entries[name] = ("40000", sub)
        if not entries:
            return None
        data = _tree_bytes(entries)
        sha = hashlib.sha1(b"tree %d\0" % len(data) + data).hexdigest()
        written[sha] = data
        return sha

    try:
        top = build(nested, f"{base}^{{tree}}" if base else None)
    finally:
        reader.stdin.close()
        reader.wait()
        reader.stdout.close()
    if top is None:
        top = hashlib.sha1(b"tree 0\0").hexdigest()
        written[top] = b""
    (git_dir(root) / "reg").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=git_dir(root) / "reg") as tmp:
        names = []
        for i, (sha, data) in enumerate(written.items()):
            p = Path(tmp) / str(i)
            p.write_bytes(data)
            names.append(str(p))
        got = run([*DURABLE, "hash-object", "-w", "-t", "tree", "--stdin-paths"], root,
                  input="".join(n + "\n" for n in names)).split()
    if got != list(written):
        raise GitError("git hash-object wrote trees other than the ones reg computed")
    return top


@dataclass
class PushResult:
    """How a push ended. `status`: "ok"; "rejected" (the remote moved on: fetch and replay);
    "declined" (a server hook refused it: `remote_lines` is what the server said); "error" (anything
    else: unreachable, no permission; `detail` is git's line)."""
    status: str
    detail: str = ""
    remote_lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def push(root: Path, remote: str, refspecs: list[str], *, atomic: bool = True, timeout: float | None = 300) -> PushResult:
    """`git push --porcelain`, its outcome read from git's own per-ref lines, never a guess from prose.
    --atomic: tags land only with the branch, so a rejected branch leaves no orphan tags behind."""
    args = ["git", "push", "--porcelain", *(["--atomic"] if atomic else []), remote, *refspecs]
    try:
        proc = subprocess.run(args, cwd=str(root), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except subprocess.TimeoutExpired:
        return PushResult("error", f"no answer from {remote} in {timeout:.0f} s")
    output = proc.stderr + "\n" + proc.stdout
    said = [ln[len("remote:"):].strip() for ln in output.splitlines() if ln.startswith("remote:")]
    if proc.returncode == 0:
        return PushResult("ok", remote_lines=said)
    refused = [ln.split("\t") for ln in proc.stdout.splitlines() if ln.startswith("!")]
    reasons = [parts[-1] for parts in refused if len(parts) >= 3]
    if any("hook declined" in r for r in reasons) or (not reasons and "hook declined" in output):
        return PushResult("declined", next((r for r in reasons if "hook declined" in r), "hook declined"),
                          [ln for ln in said if ln])
    # --atomic marks the other refs "atomic push failed"; the ref that failed says why. Another push
    # landing at the same instant shows as the server failing to lock or move the ref: a race, retried.
    raced = ("fetch first", "non-fast-forward", "already exists", "atomic", "cannot lock ref", "failed to lock",
             "failed to update ref", "incorrect old value", "but expected")
    if reasons and all(any(word in r for word in raced) for r in reasons):
        return PushResult("rejected", next((r for r in reasons if "atomic" not in r), reasons[0]))
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and ln.strip() != "Done"]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return PushResult("error", (reasons or fatal or lines or [f"exit {proc.returncode}"])[0])


def fetch_branch(root: Path, remote: str, branch: str) -> str:
    """Fetch the remote's branch and its tags; the commit it is at."""
    run(["fetch", "-q", "--tags", remote, f"+refs/heads/{branch}:refs/remotes/{remote}/{branch}"], root)
    return run(["rev-parse", f"refs/remotes/{remote}/{branch}^{{commit}}"], root).strip()


def is_ancestor(root: Path, older: str, newer: str) -> bool:
    return ok(["merge-base", "--is-ancestor", older, newer], root)


def remote_branch_exists(root: Path, remote: str, branch: str) -> bool:
    """Whether the remote has this branch (`git ls-remote`); GitError when the remote cannot be reached."""
    proc = subprocess.run(["git", "ls-remote", "--heads", remote, f"refs/heads/{branch}"], cwd=str(root),
                          capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
        raise GitError((fatal or lines or [f"exit {proc.returncode}"])[0])
    return bool(proc.stdout.strip())


def remote_default_branch(root: Path, remote: str) -> str | None:
    """The remote's default branch as this clone recorded it (refs/remotes/<remote>/HEAD)."""
    out = run(["symbolic-ref", "-q", "--short", f"refs/remotes/{remote}/HEAD"], root, check=False).strip()
    return out.removeprefix(f"{remote}/") or None
