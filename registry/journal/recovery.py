"""Undoing or finishing an interrupted change: take back what the record says was written when its
commit did not land, else finish it (tags, index, push); also a journaled fast-forward to the remote."""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from .. import git
from ..errors import GitError, StateError
from ..refs import is_number
from .locking import try_lock
from .record import INCOMING, Entry, clear, crash_point, load, pending, reg_dir, save


def branch_head(root: Path, entry: Entry) -> str | None:
    ref = entry.branch or "HEAD"
    out = git.run(["rev-parse", "-q", "--verify", f"{ref}^{{commit}}"], root, check=False).strip()
    return out or None


def restore_paths(root: Path, paths: list[str]) -> None:
    """Index and working tree of `paths` as HEAD has them (gone where HEAD has none)."""
    if not paths:
        return
    head = git.head(root)
    existing = set(git.run(["ls-tree", "-r", "-z", "--name-only", head, "--", *paths], root).split("\0")) - {""} \
        if head else set()
    gone = [p for p in paths if p not in existing]
    if gone:
        for rel in gone:
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                (root / rel).unlink()
        git.run(["update-index", "--force-remove", "-z", "--stdin"], root, input="\0".join(gone) + "\0", check=False)
    if existing:
        git.run(["checkout", "-q", "HEAD", "--", *sorted(existing)], root)


def remove_temp_files(root: Path, paths: list[str]) -> None:
    for folder in {(root / p).parent for p in paths}:
        with contextlib.suppress(OSError):
            for tmp in folder.glob(".*.reg-*.tmp"):
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink()


def take_back(root: Path, entry: Entry, *, keep_artifacts: bool = False) -> None:
    """Undo the change whatever point it reached: tags, the commit (if the branch is on it), files, folders.
    `keep_artifacts` moves staged artifacts back where they came from, for a replay under a new number."""
    for tag in entry.tags:
        if entry.commit and git.run(["rev-parse", "-q", "--verify", f"refs/tags/{tag['name']}^{{commit}}"], root,
                                    check=False).strip() == entry.commit:
            git.run(["tag", "-d", tag["name"]], root, check=False)
    if entry.commit and branch_head(root, entry) == entry.commit:
        ref = entry.branch or "HEAD"
        if entry.parent:
            git.run(["update-ref", "-m", f"reg: take back {entry.subject}", ref, entry.parent, entry.commit], root)
        else:
            git.run(["update-ref", "-d", ref, entry.commit], root)
    # Folders and temporary files first: on a full disk that frees the space restoring files needs.
    for dest, src in entry.moves.items():
        target = root / dest
        if keep_artifacts and target.exists() and not Path(src).exists():
            Path(src).parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, src)
        else:
            shutil.rmtree(target, ignore_errors=True)
    for rel in entry.created_dirs:
        shutil.rmtree(root / rel, ignore_errors=True)
    remove_temp_files(root, entry.paths)
    restore_paths(root, entry.paths)


def finish_local(root: Path, entry: Entry) -> list[str]:
    """The commit is on the branch: make the tags that are missing and bring the index up to date.
    Returns the tags made."""
    made = []
    for tag in entry.tags:
        if not git.ok(["rev-parse", "-q", "--verify", f"refs/tags/{tag['name']}"], root):
            signed = "\ngpgsig " in git.run(["cat-file", "commit", entry.commit], root)  # sign as the commit was
            if not (signed and git.ok(["tag", "-s", tag["name"], "-m", tag["message"], entry.commit], root)):
                git.run(["tag", "-a", tag["name"], "-m", tag["message"], entry.commit], root)
            made.append(tag["name"])
    if entry.paths and git.head(root) == entry.commit:
        # After a power cut the working files may be older than the commit: make them the commit's.
        git.run(["reset", "-q", entry.commit, "--", *entry.paths], root, check=False)
        kept = set(git.run(["ls-tree", "-r", "-z", "--name-only", entry.commit, "--", *entry.paths], root)
                   .split("\0")) - {""}
        if kept:
            git.run(["checkout", "-q", entry.commit, "--", *sorted(kept)], root)
        for rel in set(entry.paths) - kept:
            with contextlib.suppress(OSError):
                (root / rel).unlink()
    remove_temp_files(root, entry.paths)
    for rel in entry.stale_dirs:
        shutil.rmtree(root / rel, ignore_errors=True)
    return made


def _stale_locks(root: Path, entry: Entry) -> None:
    """Lock files git leaves when killed mid-write: ours if made after the change started (we hold the reg
    lock, so no other reg command made them)."""
    gdir = git.git_dir(root)
    candidates = [gdir / "index.lock", gdir / "HEAD.lock"]
    if entry.branch:
        candidates.append(gdir / f"{entry.branch}.lock")
    candidates += [gdir / "refs" / "tags" / f"{t['name']}.lock" for t in entry.tags]
    for path in candidates:
        with contextlib.suppress(OSError):
            if path.stat().st_mtime >= entry.started - 1:
                path.unlink()


def clean_incoming(root: Path) -> None:
    """Staged artifacts of commands that are no longer running."""
    base = reg_dir(root) / INCOMING
    with contextlib.suppress(OSError):
        for d in base.iterdir():
            pid = d.name.split("-", 1)[0]
            if is_number(pid) and not _alive(int(pid)):
                shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(root: Path) -> str | None:
    """Finish or undo an interrupted change. The caller holds the lock. One line saying what was done."""
    entry = load(root)
    if entry is None:
        return None
    _stale_locks(root, entry)
    what = f"`{entry.subject}`"
    if entry.phase == "broken":
        clear(root)
        return "reg recover: removed an unreadable journal (.git/reg/journal.json); run `reg check` to be sure"
    if entry.phase == "sync":
        _finish_sync(root, entry)
        clear(root)
        return f"reg recover: finished bringing this clone to {entry.push and entry.push.get('remote') or 'the remote'}'s head"
    head = branch_head(root, entry)
    landed = bool(entry.commit) and head is not None and (
        head == entry.commit or git.is_ancestor(root, entry.commit, head))
    if not landed:
        take_back(root, entry)
        clear(root)
        return f"reg recover: undid the interrupted change {what}: it was not made; run the command again"
    made = finish_local(root, entry)
    done = f"reg recover: finished the interrupted change {what} ({entry.commit[:12]}" + (
        f", tagged {', '.join(made)}" if made else "") + ")"
    if entry.push:
        done = _finish_push(root, entry, done)
    clear(root)
    return done


def _finish_push(root: Path, entry: Entry, done: str) -> str:
    remote, branch = entry.push["remote"], entry.push["branch"]
    tags = [t["name"] for t in entry.tags]
    result = git.push(root, remote, [f"{entry.commit}:refs/heads/{branch}"] +
                      [f"refs/tags/{t}:refs/tags/{t}" for t in tags], timeout=60)
    if result.ok:
        return done + f" and pushed it to {remote}"
    if result.status in ("rejected", "declined"):
        if branch_head(root, entry) == entry.commit:
            try:
                upstream = git.fetch_branch(root, remote, branch)
            except GitError:
                upstream = None
            if upstream and git.is_ancestor(root, entry.commit, upstream):
                return done + f"; {remote} already has it"
            take_back(root, entry)
            if upstream and entry.parent and git.is_ancestor(root, entry.parent, upstream):
                fast_forward(root, entry, upstream)
            why = "the server refused it" if result.status == "declined" else f"{remote} moved on meanwhile"
            return (f"reg recover: undid the interrupted change {entry.subject!r}: it could not be pushed ({why}), "
                    "so it was not made; run the command again")
    return done + f", but could not push it ({result.detail}): push it with `git push --follow-tags {remote}`"


def fast_forward(root: Path, entry: Entry | None, upstream: str) -> None:
    """Move this clone (branch, index, working tree) to the remote's head; journaled, since a kill in the
    middle of a checkout leaves files of both commits."""
    start = git.head(root)
    if start == upstream:
        return
    if entry is not None:
        entry.phase, entry.sync = "sync", {"from": start, "to": upstream}
        save(root, entry)
        crash_point("sync")
    try:
        git.run(["merge", "-q", "--ff-only", upstream], root)
    except GitError as exc:
        if entry is not None:
            clear(root)  # git refused before touching anything: nothing to finish
        raise StateError(f"this clone could not be brought to the remote's head ({exc}); the change was not "
                         "made: `git pull`, then run the command again") from None
    if entry is not None:
        clear(root)


def _finish_sync(root: Path, entry: Entry) -> None:
    start, target = entry.sync["from"], entry.sync["to"]
    head = git.head(root)
    changed = [p for p in git.run(["diff", "--name-only", "-z", start, target], root).split("\0") if p]
    if head == start:
        # The checkout was cut short: the files it touched are either side's, and were clean before it.
        if changed:
            existing = set(git.run(["ls-tree", "-r", "-z", "--name-only", target, "--", *changed], root)
                           .split("\0")) - {""}
            if existing:
                git.run(["checkout", "-q", target, "--", *sorted(existing)], root)
            gone = [p for p in changed if p not in existing]
            if gone:
                git.run(["update-index", "--force-remove", "-z", "--stdin"], root, input="\0".join(gone) + "\0",
                        check=False)
                for rel in gone:
                    with contextlib.suppress(OSError):
                        (root / rel).unlink()
        git.run(["update-ref", "HEAD", target, start], root)
    elif head == target and changed:
        git.run(["reset", "-q", target, "--", *changed], root, check=False)


def recover_if_idle(root: Path) -> str | None:
    """For every command: if a change was interrupted and nobody is running one now, deal with it."""
    if not pending(root):
        return None
    with try_lock(root) as got:
        if not got:
            return None  # a live reg command is mid-change; its journal is its own
        return recover(root)
