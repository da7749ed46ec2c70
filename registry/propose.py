"""`--propose`: make a change on a new branch for review instead of on the current one.

The change is built and committed by the same `changes.apply`, but in a temporary `git worktree` checked
out (detached) at the user's HEAD, so the user's branch, working tree and index are never touched. The
commit gets a branch `reg/<model>-v<N>-<stage>` that is pushed to the registry's git remote; the caller
prints what to open as a pull request. No registry tags are made for a proposal: a tag is never moved or
reused, and a proposal may be changed, squashed or closed; the commit's Reg-* trailers carry the event.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from . import changes, git, settings as settings_mod
from .changes import ChangeSet
from .errors import GitError, StateError


@dataclass
class Proposal:
    branch: str
    base_branch: str
    commit: str
    remote: str
    remote_url: str
    url: str | None
    change: ChangeSet
    warnings: list[str] = field(default_factory=list)
    detached: bool = False  # the user was on no branch; base_branch is then the remote's default branch
    unchanged: bool = False  # a proposal always changes something (an unchanged build returns its Applied)

    @property
    def result(self):
        return self.change.result

    @property
    def title(self) -> str:
        return self.change.subject

    @property
    def body(self) -> str:
        return self.change.message().split("\n", 1)[1].strip()


def branch_name(cs: ChangeSet) -> str:
    t = cs.trailers
    action = t.get("Reg-Action", "change")
    if action == "rollback":
        what = f"rollback-{t.get('Reg-Stage') or t.get('Reg-To') or ''}".rstrip("-")
    elif action in ("promote", "archive", "demote"):
        what = t.get("Reg-To") or action
    elif action == "alias":
        what = t.get("Reg-Alias") or action
    elif action == "unalias":
        what = f"unalias-{t.get('Reg-Alias', '')}".rstrip("-")
    else:
        what = action
    version = f"-v{t['Reg-Version']}" if t.get("Reg-Version") else ""
    return re.sub(r"[^A-Za-z0-9._/-]", "-", f"reg/{t.get('Reg-Model', 'registry')}{version}-{what}")


def compare_url(remote_url: str, base: str, branch: str) -> str | None:
    """A link that opens a pull (merge) request on GitHub or GitLab, or None for other remotes."""
    m = (re.match(r"^ssh://(?:[^@/]+@)?([^:/]+)(?::\d+)?/(.+?)(?:\.git)?/?$", remote_url)
         or re.match(r"^(?:[^@/]+@)?([^:/]+):(?!//)(.+?)(?:\.git)?/?$", remote_url)  # scp-like host:path
         or re.match(r"^https?://(?:[^@/]+@)?([^/]+)/(.+?)(?:\.git)?/?$", remote_url))
    if not m:
        return None
    host, path = m.group(1), m.group(2)
    q = lambda s: urllib.parse.quote(s, safe="/")  # noqa: E731
    if "github" in host:
        return f"https://{host}/{path}/compare/{q(base)}...{q(branch)}?expand=1"
    if "gitlab" in host:
        return (f"https://{host}/{path}/-/merge_requests/new?merge_request%5Bsource_branch%5D={q(branch)}"
                f"&merge_request%5Btarget_branch%5D={q(base)}")
    return None


def without_credentials(url: str) -> str:
    """A remote URL fit to print: https://user:token@host/... loses its user and token."""
    return re.sub(r"^(\w[\w+.-]*://)[^@/]+@", r"\1", url) if "://" in url else url


def _untagged(cs: ChangeSet) -> ChangeSet:
    cs.tags = []
    return cs


def _share_dvc(root: Path, wt: Path) -> None:
    """The temporary worktree uses the user's DVC credentials and cache (both untracked in .dvc/)."""
    local = root / ".dvc" / "config.local"
    text = local.read_text() if local.is_file() else ""
    committed = (root / ".dvc" / "config").read_text() if (root / ".dvc" / "config").is_file() else ""
    if "[cache]" not in text and "[cache]" not in committed:
        text += f"\n[cache]\n    dir = {root / '.dvc' / 'cache'}\n"
    if (wt / ".dvc").is_dir():
        (wt / ".dvc" / "config.local").write_text(text)


def _refuse_remote_branch(root: Path, remote: str, branch: str) -> None:
    """A branch of that name on the remote is someone's open proposal: never overwrite it."""
    try:
        exists = git.remote_branch_exists(root, remote, branch)
    except GitError as exc:
        raise GitError(f"cannot reach the git remote {remote} ({exc}); nothing was "
                       "proposed: check the remote and retry") from None
    if exists:
        raise StateError(f"branch {branch} already exists on {remote} (an open proposal?); merge or close it, "
                         f"delete it with `git push {remote} --delete {branch}`, and retry")


def propose(root: Path, build) -> Proposal:
    root = Path(root)
    remote = settings_mod.read(root).git_remote
    remote_url = git.config(root, f"remote.{remote}.url")
    if not remote_url:
        raise StateError(f"--propose pushes a branch to the git remote {remote!r}, which is not configured; "
                         f"add it with `git remote add {remote} URL`")
    head = git.head(root)
    if head is None:
        raise StateError("the repository has no commits yet; commit once before proposing a change")
    base_branch = git.current_branch(root)
    detached = base_branch is None
    if detached:
        base_branch = git.remote_default_branch(root, remote) or "main"
    tmp = Path(tempfile.mkdtemp(prefix="reg-propose-"))
    wt = tmp / "worktree"
    git.run(["worktree", "add", "-q", "--detach", str(wt), head], root)
    try:
        _share_dvc(root, wt)
        applied = changes.apply(wt, lambda state: _untagged(build(state)), push=False)
        if applied.unchanged:  # nothing to review: say so as a direct change would (no branch, no push)
            return applied
        branch = branch_name(applied.change)
        if git.ok(["rev-parse", "-q", "--verify", f"refs/heads/{branch}"], root):
            raise StateError(f"branch {branch} already exists (an earlier proposal?); delete it with "
                             f"`git branch -D {branch}` and retry")
        _refuse_remote_branch(root, remote, branch)
        git.run(["branch", branch, applied.commit], root)
        pushed = git.push(root, remote, [f"refs/heads/{branch}:refs/heads/{branch}"], atomic=False)
        if pushed.status == "declined":  # the server's `reg hook install` judged it: it can never be pushed
            git.run(["branch", "-D", branch], root, check=False)
            said = [ln for ln in pushed.remote_lines if ln and not ln.startswith("Fix these")]
            raise GitError(f"the server refused the proposal, so nothing was pushed: "
                           f"{' '.join(said) or 'pre-receive hook declined'}")
        if not pushed.ok:
            raise GitError(f"push of {branch} to {remote} failed ({pushed.detail}); the "
                           f"proposal is committed on the local branch {branch}: push it with "
                           f"`git push {remote} {branch}`")
        return Proposal(branch, base_branch, applied.commit, remote, without_credentials(remote_url),
                        compare_url(remote_url, base_branch, branch), applied.change, detached=detached)
    finally:
        git.run(["worktree", "remove", "--force", str(wt)], root, check=False)
        shutil.rmtree(tmp, ignore_errors=True)
        git.run(["worktree", "prune"], root, check=False)
