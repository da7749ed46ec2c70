"""Who signed each registry change, judged against the signing policy and models/allowed_signers as they
stood at the base (registry/signing.py holds the policy and how reg signs).

`reg check --base` (CLI, CI) reaches this through `check.check_range`; the server hook also through
`judge_tag_updates` for the registry tags a push creates. Where signing is required:

- every commit that changes the registry (anything under models/) needs a good signature when it is
  required everywhere; per stage, a commit that moves a version into or out of such a stage, or changes
  its pointer; and, whenever any signing is required, a commit that changes policy (registry.yaml,
  allowed_signers, a model.yaml), so the rules cannot be loosened by a forged author;
- a merge is judged by the commits it brings, which are in the range and judged one by one; only a merge
  that itself changes the registry (a change no parent had) must be signed, so a forge's merge button works;
- every registry tag (`NAME@vN`, `NAME#STAGE#N`) it covers needs a good signature too.

"Good" means: signed by a key models/allowed_signers lists, valid now (a push is judged when it arrives,
so a back-dated commit cannot revive an expired key), whose principal is the email of the author (commit)
or tagger (tag) the change claims. That principal is the identity whose permissions are then judged.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from dataclasses import dataclass
from pathlib import Path

from . import git, signing
from .errors import CorruptState

SIGNERS_PATH = signing.ALLOWED_SIGNERS
MAX_SIGNERS_BYTES = 256 * 1024
_KEY_RE = re.compile(r"(?:^|\s)(?:ssh-|ecdsa-|sk-)\S+\s+AAAA")
_VALID_RE = re.compile(r'valid-(before|after)="?([0-9]{8,14})(Z?)"?', re.I)


@dataclass
class Trust:
    """The base's signing policy and allowed signers: what a change is judged by."""
    policy: signing.SigningPolicy
    signers: str  # models/allowed_signers at the base ("" when it has none)
    base: str | None

    def required_for_commit(self, files: list[str], stages: set[str]) -> bool:
        return signing.required_for_change(self.policy, files, stages)


def signers_text(root: Path, rev: str | None) -> str | None:
    """models/allowed_signers at `rev`, or None when there is none; refused over a size cap (hostile input)."""
    if not rev:
        return None
    blob = git.run(["rev-parse", "-q", "--verify", f"{rev}:{SIGNERS_PATH}"], root, check=False).strip()
    if not blob:
        return None
    size = int(git.run(["cat-file", "-s", blob], root).strip() or 0)
    if size > MAX_SIGNERS_BYTES:
        raise CorruptState(f"{SIGNERS_PATH} is {size} bytes, over the {MAX_SIGNERS_BYTES}-byte cap; keep one line "
                           "per signing key")
    return git.blob_text(root, blob)


def trust_at(root: Path, state) -> Trust | None:
    """The trust a change is judged by, from the registry state at its base; None when nothing is required."""
    if state is None:
        return None
    pol = signing.policy(state.settings.raw)
    if not pol.active:
        return None
    return Trust(pol, signers_text(root, state.rev) or "", state.rev)


def valid_now(text: str, now: float | None = None) -> str:
    """The allowed-signers lines whose key is valid at `now` (valid-after/valid-before, as ssh-keygen reads
    them: local time, or UTC with a trailing Z); the others are dropped."""
    now = time.time() if now is None else now
    kept = []
    for line in text.splitlines():
        key = _KEY_RE.search(line)
        options = line[:key.start()] if key else line
        ok = True
        for which, stamp, utc in _VALID_RE.findall(options):
            when = _timestamp(stamp, bool(utc))
            if when is None or (which.lower() == "before" and now >= when) or (which.lower() == "after" and now < when):
                ok = False
        if ok:
            kept.append(line)
    return "\n".join(kept) + ("\n" if kept else "")


def _without_validity(text: str) -> str:
    """The same keys with no valid-after/valid-before: to tell a listed key outside its validity from a stranger."""
    out = []
    for line in text.splitlines():
        key = _KEY_RE.search(line)
        if key:
            options = re.sub(r',?valid-(?:before|after)="?[0-9]{8,14}Z?"?', "", line[:key.start()], flags=re.I)
            line = options.replace(" ,", " ").rstrip(",") + line[key.start():]
        out.append(line)
    return "\n".join(out) + "\n"


def _timestamp(stamp: str, utc: bool) -> float | None:
    fmt = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}.get(len(stamp))
    if fmt is None:
        return None
    try:
        parsed = dt.datetime.strptime(stamp, fmt)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.timezone.utc).timestamp() if utc else time.mktime(parsed.timetuple())


def verify_commits(root: Path, trust: Trust, shas: list[str]) -> dict[str, git.SignatureInfo]:
    """Each commit's signature against the keys valid now; a key listed but not valid now is `expired`."""
    with signing.allowed_signers_file(valid_now(trust.signers)) as now_file:
        found = git.commit_signatures(root, shas, now_file)
    again = [sha for sha, sig in found.items() if sig.status == "unknown"]
    if again and trust.signers.strip():
        with signing.allowed_signers_file(_without_validity(trust.signers)) as all_file:
            for sha, sig in git.commit_signatures(root, again, all_file).items():
                if sig.status == "good":
                    found[sha] = git.SignatureInfo("expired", sig.principal, sig.key, sig.email)
    return found


def verify_tag(root: Path, trust: Trust, tag_sha: str) -> git.SignatureInfo:
    with signing.allowed_signers_file(valid_now(trust.signers)) as now_file:
        sig = git.tag_signature(root, tag_sha, now_file)
    if sig.status == "unknown" and trust.signers.strip():
        with signing.allowed_signers_file(_without_validity(trust.signers)) as all_file:
            full = git.tag_signature(root, tag_sha, all_file)
        if full.status == "good":
            return git.SignatureInfo("expired", full.principal, full.key, full.email)
    return sig


def verified_signer(sig: git.SignatureInfo | None) -> str | None:
    """The principal to judge permissions by: set only when the signature is good and names its author."""
    if sig is None or signing.problem(sig, "") is not None:
        return None
    return sig.principal


def judge_commits(root: Path, trust: Trust | None, commits: list, sigs: dict[str, git.SignatureInfo],
                  moves: list) -> tuple[list[tuple[str, str, str]], set[str]]:
    """(where, message, commit) for each registry commit in `commits` the trust requires signed and whose
    signature is not good enough, and the commits it requires signed. `moves`: their stage moves (check.Move)."""
    if trust is None or not commits:
        return [], set()
    stages: dict[str, set[str]] = {}
    moved: dict[str, str] = {}
    for m in moves:
        stages.setdefault(m.commit, set()).update({m.from_stage, m.to_stage})
        moved.setdefault(m.commit, f"models/{m.model}/{m.version}/manifest.yaml")
    changed = git.raw_changes(root, [c.sha for c in commits])  # a merge: only what it changed itself
    found, required = [], set()
    for c in commits:
        files = [path for path, _, _ in changed.get(c.sha, [])]
        if not trust.required_for_commit(files, stages.get(c.sha, set())):
            continue
        required.add(c.sha)
        sig = sigs.get(c.sha) or git.SignatureInfo("none", email=c.email)
        why = signing.problem(sig, f"commit {c.sha[:8]}" + (" (a merge that changes the registry itself)"
                                                            if len(c.parents) > 1 else ""))
        if why:
            where = moved.get(c.sha) or next((f for f in files if f.endswith("/manifest.yaml")), None) or files[0]
            found.append((where, why, c.sha))
    return found, required


def tag_required(trust: Trust, root: Path, tag: str, commit: str, required_commits: set[str]) -> bool:
    if trust.policy.everywhere or commit in required_commits:
        return True
    stage = tag.split("#")[1].lower() if tag.count("#") == 2 else None
    return bool(stage) and trust.policy.required_for({stage} | commit_stages(root, commit))


def commit_stages(root: Path, commit: str) -> set[str]:
    """The stages a commit moved versions out of or into (its manifests against its first parent)."""
    from .parsecache import ParseCache

    cache, out = ParseCache(root), set()
    for rel, old, new in git.diff_tree(root, commit, "models"):
        if not rel.endswith("/manifest.yaml"):
            continue
        try:
            sides = [cache.blob(b, rel, lambda b=b: git.blob_text(root, b)) if b else {} for b in (old, new)]
        except CorruptState:
            continue
        got = [str(s.get("stage") or "").lower() if isinstance(s, dict) else "" for s in sides]
        if got[0] != got[1]:
            out.update(g for g in got if g)
    return out


def judge_tags(root: Path, trust: Trust | None, tags: list[tuple[str, str, str]],
               required_commits: set[str] = frozenset()) -> list[tuple[str, str]]:
    """(tag, message) for each registry tag (name, tag object, commit) the trust requires signed whose
    signature is not good enough."""
    if trust is None:
        return []
    found = []
    for name, obj, commit in tags:
        if not tag_required(trust, root, name, commit, set(required_commits)):
            continue
        if git.object_type(root, obj) != "tag":
            found.append((name, f"tag {name} is not an annotated, signed tag; this registry requires signed tags: "
                                f"{signing.SETUP_HINT}"))
            continue
        why = signing.problem(verify_tag(root, trust, obj), f"tag {name}", claims="tagger")
        if why:
            found.append((name, why))
    return found


def tags_on(root: Path, commits: set[str]) -> list[tuple[str, str, str]]:
    """(name, tag object, commit) of the registry tags here that name one of `commits`."""
    from .refupdates import STAGE_TAG_RE, VERSION_TAG_RE

    out = git.run(["for-each-ref", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)%00%(objecttype)",
                   "refs/tags"], root)
    found = []
    for line in out.splitlines():
        name, obj, peeled, kind = (line.split("\0") + ["", "", ""])[:4]
        commit = peeled if kind == "tag" else obj
        if commit in commits and (VERSION_TAG_RE.match(name) or STAGE_TAG_RE.match(name)):
            found.append((name, obj, commit))
    return found


def judge_tag_updates(root: Path, updates: list) -> list[str]:
    """For the hook: one line per registry tag a push creates that the base (the default branch before the
    push) requires signed and whose signature is not good enough."""
    from .refupdates import STAGE_TAG_RE, VERSION_TAG_RE
    from .state import RegistryState

    created = [u for u in updates if u.ref.startswith("refs/tags/") and u.created and not u.deleted
               and (VERSION_TAG_RE.match(u.ref[10:]) or STAGE_TAG_RE.match(u.ref[10:]))]
    if not created:
        return []
    head = git.symbolic_head(root)
    tip = git.rev_commit(root, head) if head else None
    if tip is None:
        return []
    try:
        trust = trust_at(root, RegistryState(root, tip))
    except CorruptState as exc:
        return [f"{u.ref}: the signing policy at the base could not be read ({exc}); refused" for u in created]
    if trust is None:
        return []
    tags = [(u.ref[10:], u.new, git.rev_commit(root, u.new) or "") for u in created]
    return [f"refs/tags/{name}: {why}" for name, why in judge_tags(root, trust, tags)]
