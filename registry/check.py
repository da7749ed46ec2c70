"""`reg check`: the registry's invariants at a revision, and the rules every change since a base must keep.

The CLI, the CI template and the server's pre-receive hook all call `check`, so a rule holds however a
change was made: by `reg`, by a hand edit in a pull request, or by a push from an old client.

At a revision: every manifest parses and matches the schema; version folders match their numbers and
none is missing; each exclusive stage holds at most one version; each alias names one version; every
pointer file tracks exactly its version's artifact hash; tombstones keep their numbers and drop their
pointer. Since a base, commit by commit: immutable fields never change; no version is removed,
renumbered or revived; each stage change passes the target stage's gates as they stood at the base,
was made by a commit author the permissions allow, and has a reason where one is required. A commit
that says `Reg-Forced:` (written by `reg promote --force --reason`) may pass failed gates, never a
permission; it is reported as a warning.
"""
from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import git, governance, history, policy, refs, settings as settings_mod, signers
from .errors import CorruptState, RegistryError
from .manifest import IMMUTABLE_FIELDS, SCHEMA, ModelVersion, version_from_dict
from .state import ModelState, ParseCache, RegistryState

VERSION_FILES = {"manifest.yaml", "model.dvc", ".gitignore"}


@dataclass
class Problem:
    where: str
    message: str
    commit: str | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Move:
    model: str
    version: int
    from_stage: str
    to_stage: str
    commit: str
    author: str
    reason: str | None
    checks: list[policy.Check] = field(default_factory=list)
    forced: bool = False


@dataclass
class Report:
    head: str
    base: str | None = None
    commits: int = 0
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    moves: list[Move] = field(default_factory=list)
    new_versions: list[tuple[str, int]] = field(default_factory=list)
    # model -> {"candidates": [ModelVersion at head], "current": ModelVersion at base or None, "stage": str}
    comparisons: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- reading a revision ----------------------------------------------------------------------------

def _state(root: Path, rev: str, cache=None) -> RegistryState:
    """A registry at `rev`; all states of one check share `cache`, so a blob is parsed once."""
    try:
        st = RegistryState(root, rev)
        if cache is not None:
            st.cache = cache
        return st
    except CorruptState:
        # models/registry.yaml itself is broken: read with defaults so the rest can still be judged
        s = RegistryState.__new__(RegistryState)
        s.root, s._root_str, s.rev = Path(root), str(root), rev
        from .state import ParseCache, _ls_tree

        s.cache, s._models, s._tree = cache or ParseCache(Path(root)), {}, _ls_tree(Path(root), rev)
        s.settings = settings_mod.Settings()
        return s


def _read(state: RegistryState, rel: str, problems: list[Problem]) -> dict | None:
    try:
        return state._read(rel)
    except CorruptState as exc:
        problems.append(Problem(rel, str(exc).removeprefix(rel).lstrip(": ") or str(exc)))
        return None


def _pointer_md5(data: dict | None) -> str | None:
    try:
        return str(data["outs"][0]["md5"])
    except (KeyError, IndexError, TypeError):
        return None


def _versions_at(state: RegistryState, name: str, problems: list[Problem]) -> dict[int, ModelVersion]:
    """Parse a model's manifests at the state's revision, collecting problems instead of stopping at one."""
    out = {}
    for number in state._version_dirs(name):
        rel = f"models/{name}/{number}/manifest.yaml"
        data = _read(state, rel, problems)
        if data is None:
            continue
        try:
            mv = version_from_dict(data, rel)
        except CorruptState as exc:
            problems.append(Problem(rel, str(exc).removeprefix(rel + " ").removeprefix(rel + ": ")))
            continue
        if (mv.model, mv.version) != (name, number):
            problems.append(Problem(rel, f"says it is {mv.model} v{mv.version}; a manifest must match its folder "
                                         f"(models/{name}/{number}/)"))
            continue
        out[number] = (mv, data)
    return out


# -- invariants at one revision --------------------------------------------------------------------

def check_tree(root: Path, rev: str = "HEAD", cache=None) -> list[Problem]:
    root = Path(root)
    problems: list[Problem] = []
    try:
        state = RegistryState(root, rev)
        if cache is not None:
            state.cache = cache
    except CorruptState as exc:
        problems.append(Problem(settings_mod.SETTINGS_PATH,
                                str(exc).removeprefix(settings_mod.SETTINGS_PATH).lstrip(": ") or str(exc)))
        state = _state(root, rev, cache)
    s = state.settings
    tree = state._tree or {}
    _prefetch(state, [p for p in tree if p.endswith((".yaml", ".dvc"))])
    problems += _check_webhooks(s)
    problems += _check_pointers(state, [p for p in tree if p.endswith(".dvc")])
    problems += _check_links(root, state.rev)
    by_model: dict[str, list[str]] = {}
    for path in tree:
        parts = path.split("/")
        if len(parts) >= 3:
            by_model.setdefault(parts[1], []).append(path)
    for name, paths in sorted(by_model.items()):
        if not refs.NAME_RE.fullmatch(name):
            problems.append(Problem(f"models/{name}/", "not a valid model name (lower-case letters, digits, '.', '_', '-')"))
            continue
        problems += _check_model(state, name, paths)
    state.cache.save()
    return problems


def _prefetch(state: RegistryState, rels: list[str]) -> None:
    """Parse every blob the cache lacks through one `git cat-file --batch`, not one git process per file
    (ten thousand versions are twenty thousand small files)."""
    blobs = state.cache._table("blobs")
    want = {}
    for rel in rels:
        sha = state._tree.get(rel)
        if sha and sha not in blobs:
            want.setdefault(sha, rel)
    if not want:
        return
    proc = subprocess.run(["git", "cat-file", "--batch"], cwd=str(state.root), capture_output=True,
                          input=("\n".join(want) + "\n").encode())
    data, pos = proc.stdout, 0
    while pos < len(data):
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        pos = end + 1
        if len(header) < 3 or header[1] != b"blob":
            continue
        size = int(header[2])
        sha, body = header[0].decode(), data[pos:pos + size].decode("utf-8", errors="replace")
        pos += size + 1
        try:
            state.cache.blob(sha, want.get(sha, sha), lambda: body)
        except CorruptState:
            pass  # read again (and reported) where it is needed


def _check_pointers(state: RegistryState, rels: list[str]) -> list[Problem]:
    """Every DVC pointer under models/ tracks the folder beside it, named like it: `dvc pull` writes where a
    pointer says, on every clone and serving host."""
    from .paths import pointer_problem

    problems: list[Problem] = []
    for rel in rels:
        # one that does not parse is reported where its model is checked (or here, outside any model)
        data = _read(state, rel, problems if rel.count("/") < 2 else [])
        problem = pointer_problem(data, rel) if data is not None else None
        if problem:
            problems.append(Problem(rel, problem))
    return problems


def _check_links(root: Path, rev: str) -> list[Problem]:
    """No symlink or submodule under models/: a clone checks a link out as one, and a reader or `dvc pull`
    would follow it outside the repository."""
    out = git.run(["ls-tree", "-r", "-z", "--full-tree", rev, "--", "models"], root, check=False)
    problems = []
    for entry in out.split("\0"):
        meta, _, path = entry.partition("\t")
        mode = meta.split(" ", 1)[0]
        if mode in ("120000", "160000"):
            what = "a symbolic link" if mode == "120000" else "a submodule"
            problems.append(Problem(path, f"is {what}; everything under models/ is a regular file: remove it"))
    return problems


def _check_webhooks(s) -> list[Problem]:
    from . import notify

    try:
        notify.parse_webhooks(s.webhooks)
    except CorruptState as exc:
        return [Problem(settings_mod.SETTINGS_PATH, str(exc).removeprefix(settings_mod.SETTINGS_PATH + ": "))]
    return []


def _check_model(state: RegistryState, name: str, paths: list[str]) -> list[Problem]:
    s = state.settings
    problems: list[Problem] = []
    base = f"models/{name}"
    card_data = _read(state, f"{base}/model.yaml", problems)
    from .manifest import card_from_dict

    card = None
    if card_data is not None:
        try:
            card = card_from_dict(name, card_data, f"{base}/model.yaml")
            policy.parse_gates(name, card.gates, s.stages)
            policy.parse_permissions(name, card)
        except CorruptState as exc:
            problems.append(Problem(f"{base}/model.yaml", str(exc).removeprefix(f"{base}/model.yaml: ")))
    folders: dict[str, set[str]] = {}
    for path in paths:
        parts = path.split("/")
        if len(parts) >= 4:
            folders.setdefault(parts[2], set()).add("/".join(parts[3:]))
    for folder, files in sorted(folders.items()):
        if not folder.isdigit() or folder.startswith("0"):
            problems.append(Problem(f"{base}/{folder}/", f"a version folder is named by its number, e.g. {base}/7/"))
            continue
        if "manifest.yaml" not in files:
            problems.append(Problem(f"{base}/{folder}/", "has no manifest.yaml; restore it from git history"))
        stray = sorted(f for f in files if f not in VERSION_FILES)
        if stray:
            problems.append(Problem(f"{base}/{folder}/{stray[0]}", "is committed to git; a version folder holds only "
                                    "manifest.yaml, model.dvc and .gitignore (the artifact lives in DVC)"))
    parsed = _versions_at(state, name, problems)
    versions = {n: mv for n, (mv, _) in parsed.items()}
    for number, (mv, data) in sorted(parsed.items()):
        rel = mv.path
        if data.get("schema") != SCHEMA:
            problems.append(Problem(rel, f"schema is {data.get('schema')!r}; this registry reads schema {SCHEMA}"))
        missing = [k for k in ("created_at", "created_by", "artifact") if not data.get(k)]
        if not mv.md5 and "artifact" not in missing:
            missing.append("artifact.md5")
        if missing:
            problems.append(Problem(rel, f"lacks {', '.join(missing)}"))
        if mv.stage not in s.stages:
            problems.append(Problem(rel, f"stage {mv.stage!r} is not one of {', '.join(s.stages)}"))
        if not isinstance(data.get("metrics") or {}, dict) or any(
                isinstance(v, bool) or not isinstance(v, (int, float)) for v in (data.get("metrics") or {}).values()):
            problems.append(Problem(rel, "metrics must map names to numbers"))
        pointer = f"models/{name}/{number}/model.dvc"
        if mv.deleted:
            if pointer in state._tree:
                problems.append(Problem(pointer, f"{name} v{number} is deleted; its pointer must be removed"))
            if not mv.deleted_reason:
                problems.append(Problem(rel, "a tombstone needs deleted_reason"))
            if mv.aliases:
                problems.append(Problem(rel, "a deleted version cannot hold aliases"))
            continue
        if pointer not in state._tree:
            problems.append(Problem(pointer, f"is missing; {name} v{number} is not deleted, so its artifact must be "
                                             "tracked (restore it from git history)"))
        else:
            md5 = _pointer_md5(_read(state, pointer, problems))
            if md5 != mv.md5:
                problems.append(Problem(pointer, f"tracks {md5}, but the manifest's artifact is {mv.md5}"))
    if versions:
        top = max(versions)
        present = set(state._version_dirs(name)) | {int(f) for f in folders if f.isdigit()}
        gaps = [n for n in range(1, top + 1) if n not in present]
        for n in gaps:
            problems.append(Problem(f"{base}/{n}/", f"is missing: {name} has versions up to {top}, and a version is "
                                                    "never removed (a deleted one keeps its manifest as a tombstone)"))
    model = ModelState(name, card, versions)
    for stage in s.exclusive_stages:
        held = model.in_stage(stage)
        if len(held) > 1:
            problems.append(Problem(f"{base}/", f"{len(held)} versions are in {stage} "
                                                f"({', '.join('v%d' % v.version for v in held)}); it holds one at most"))
    holders: dict[str, list[int]] = {}
    for v in model.live():
        for a in v.aliases:
            holders.setdefault(a, []).append(v.version)
    for alias, nums in sorted(holders.items()):
        if len(nums) > 1:
            problems.append(Problem(f"{base}/", f"alias {alias} names {len(nums)} versions "
                                                f"({', '.join('v%d' % n for n in nums)}); it names one"))
    wanted: dict[str, ModelVersion] = {}
    for stage in s.pointer_stages():
        held = model.in_stage(stage)
        if held:
            wanted[stage] = held[-1]
    for alias, nums in holders.items():
        wanted[alias] = versions[nums[-1]]
    existing = {p.split("/")[2][:-4] for p in paths if p.count("/") == 2 and p.endswith(".dvc")}
    for pname, v in sorted(wanted.items()):
        rel = f"{base}/{pname}.dvc"
        if pname not in existing:
            problems.append(Problem(rel, f"is missing; v{v.version} is in {pname}" if pname in s.stages
                                    else f"is missing; v{v.version} holds alias {pname}"))
            continue
        md5 = _pointer_md5(_read(state, rel, problems))
        if md5 != v.md5:
            problems.append(Problem(rel, f"tracks {md5}, but it should track v{v.version}'s artifact {v.md5}"))
    unread = set(state._version_dirs(name)) - set(parsed)  # their stage and aliases are unknown
    for pname in sorted(existing - set(wanted) if not unread else ()):
        problems.append(Problem(f"{base}/{pname}.dvc", f"points at nothing: no version of {name} is in "
                                                       f"{pname} or holds that alias; remove it"))
    return problems


# -- rules between two revisions -------------------------------------------------------------------

@dataclass
class _Commit:
    sha: str
    parents: list[str]
    email: str
    name: str
    message: str
    signer: str | None = None  # the verified signer's principal, where the registry has signers (signers.py)


def _commits(root: Path, head: str, base: str | None, exclude_all: bool) -> list[_Commit]:
    spec = [head, "--not", "--all"] if exclude_all else [f"{base}..{head}"]
    out = git.run(["log", "--reverse", "--topo-order", "--format=%H%x00%P%x00%ae%x00%an%x00%B%x1e", *spec], root)
    commits = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        sha, parents, email, name, message = record.split("\x00", 4)
        commits.append(_Commit(sha, parents.split(), email, name, message))
    return commits


def _trailer(message: str, key: str) -> str | None:
    if key.startswith("Reg-"):
        return history.trailers(message).get(key) or None
    m = re.search(rf"^{re.escape(key)}:[ \t]*(.+)$", message, re.M)  # "Reason:" is a body line
    return m.group(1).strip() if m else None


def _reason(message: str) -> str | None:
    reason = _trailer(message, "Reg-Reason") or _trailer(message, "Reason")
    return None if not reason or reason == policy.NO_REASON else reason


def _changed(root: Path, c: _Commit) -> list[tuple[str, str | None, str | None]]:
    """(path, old blob, new blob) of each file under models/ that the commit changed."""
    args = ["diff-tree", "-r", "--no-renames", "-z", "--raw", "--no-commit-id"]
    args += [c.parents[0], c.sha] if c.parents else ["--root", c.sha]
    out = git.run([*args, "--", "models"], root)
    items = out.split("\0")
    changes = []
    for i in range(0, len(items) - 1, 2):
        meta, path = items[i], items[i + 1]
        parts = meta.lstrip(":").split()
        if len(parts) < 5:
            continue
        old, new = parts[2], parts[3]
        changes.append((path, None if set(old) == {"0"} else old, None if set(new) == {"0"} else new))
    return changes


def _blob(root: Path, state: RegistryState, sha: str, rel: str) -> dict:
    return state.cache.blob(sha, rel, lambda: git.run(["cat-file", "blob", sha], root))


def _short(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_change(name: str, old, new) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new), key=str)
        parts = [f"{k}: {_short(old.get(k))} -> {_short(new.get(k))}" for k in keys if old.get(k) != new.get(k)]
        return f"{name} ({'; '.join(parts[:3])}{'; ...' if len(parts) > 3 else ''})"
    return f"{name} ({_short(old)} -> {_short(new)})"


class _Range:
    def __init__(self, root: Path, base: str | None, cache):
        self.root = root
        self.cache = cache
        self._states: dict[str, RegistryState] = {}
        self.base_state = self.state(base) if base else None

    def state(self, rev: str) -> RegistryState:
        if rev not in self._states:
            st = _state(self.root, rev, self.cache)
            _prefetch(st, [p for p in st._tree if p.endswith(("/manifest.yaml", "/model.yaml"))])
            self._states[rev] = st
        return self._states[rev]

    def model_at(self, rev: str | None, name: str) -> ModelState | None:
        if rev is None:
            return None
        try:
            st = self.state(rev)
            return st.model(name) if st.has_model(name) else None
        except RegistryError:
            return None

    def gate_card(self, name: str, parent: str | None):
        """The card whose gates and permissions judge a change: as it stood at the base (else the parent)."""
        if self.base_state is not None:
            try:
                if self.base_state.has_model(name):
                    return self.base_state.model(name).card
            except RegistryError:
                pass
        m = self.model_at(parent, name)
        return m.card if m else None


def check_range(root: Path, head: str, base: str | None, report: Report, *, exclude_all: bool = False,
                cache=None) -> _Range:
    root = Path(root)
    rng = _Range(root, base, cache or ParseCache(root))
    commits = _commits(root, head, base, exclude_all)
    report.commits = len(commits)
    # Signatures first: a verified signer is the identity every rule below judges (registry/signers.py).
    start = base or (commits[0].parents[0] if commits and commits[0].parents else None)
    trust = signers.trust_at(root, rng.state(start)) if start else None
    sigs = signers.verify_commits(root, trust, [c.sha for c in commits]) if trust else {}
    for c in commits:
        c.signer = signers.verified_signer(sigs.get(c.sha))
    for c in commits:
        if len(c.parents) > 1:
            _check_merge(rng, c, report)  # its parents' commits are judged one by one
            continue
        _check_commit(rng, c, report)
    # Who may change the rules themselves, and stages as the base knows them (registry/governance.py).
    report.problems += [Problem(*found) for found in governance.judge(root, base, commits, rng.state, rng.cache)]
    unsigned, required = signers.judge_commits(root, trust, commits, sigs, report.moves)
    report.problems += [Problem(*found) for found in unsigned]
    if trust is not None and not exclude_all:  # the hook judges the tags a push brings as ref updates
        report.problems += [Problem(f"refs/tags/{name}", why) for name, why in
                            signers.judge_tags(root, trust, signers.tags_on(root, {c.sha for c in commits}), required)]
    return rng


def _check_merge(rng: _Range, c: _Commit, report: Report) -> None:
    """A merge brings changes already judged in its parents; only a stage that no parent had is the merge's
    own move (made while resolving it), judged like any other. Immutable fields: see `_compare_ends`."""
    root = rng.root
    out = git.run(["diff-tree", "-r", "-c", "--no-commit-id", "--name-only", c.sha, "--", "models"], root)
    if not any(MANIFEST_RE.match(rel) for rel in out.splitlines()):
        return  # the usual merge: nothing of its own
    head_state = rng.state(c.sha)
    s = head_state.settings
    moves = []
    for rel in out.splitlines():
        m = MANIFEST_RE.match(rel)
        if not m or rel not in (head_state._tree or {}):
            continue
        try:
            new = _blob(root, head_state, head_state._tree[rel], rel)
            olds = []
            for p in c.parents:
                st = rng.state(p)
                olds.append(_blob(root, st, st._tree[rel], rel) if rel in (st._tree or {}) else None)
        except CorruptState:
            continue
        if not isinstance(new, dict) or new.get("deleted"):
            continue
        stage_of = lambda d: str((d or {}).get("stage") or s.initial_stage).lower()  # noqa: E731
        new_stage = stage_of(new)
        if any(old is not None and stage_of(old) == new_stage for old in olds):
            continue
        old = olds[0]
        if old is None or stage_of(old) == new_stage:
            continue
        moves.append((m.group(1), int(m.group(2)), old, new, stage_of(old), new_stage))
    entered = {(name, new_stage) for name, _, _, _, _, new_stage in moves}
    for name, number, old, new, old_stage, new_stage in moves:
        if new_stage == s.archive_stage and old_stage in s.exclusive_stages and (name, old_stage) in entered:
            continue  # displaced by the version this merge moved in, which is judged
        _judge_move(rng, c, report, name, number, old, new, old_stage, new_stage)


def _check_commit(rng: _Range, c: _Commit, report: Report) -> None:
    root = rng.root
    short = c.sha[:8]
    by = f"in {short} by {c.email}"
    parent = c.parents[0] if c.parents else None
    head_state = rng.state(c.sha)
    s = head_state.settings
    touched: dict[tuple[str, int], tuple[dict | None, dict | None]] = {}
    for path, old, new in _changed(root, c):
        parts = path.split("/")
        if len(parts) == 4 and parts[3] == "manifest.yaml" and parts[2].isdigit():
            key = (parts[1], int(parts[2]))
            try:
                touched[key] = (_blob(root, head_state, old, path) if old else None,
                                _blob(root, head_state, new, path) if new else None)
            except CorruptState:
                continue  # the tree check names an unparseable manifest
    entered: dict[str, set[str]] = {}
    moves = []
    for (name, number), (old, new) in sorted(touched.items()):
        rel = f"models/{name}/{number}/manifest.yaml"
        if old is not None and new is None:
            report.problems.append(Problem(rel, f"was removed {by}: versions are never removed or renumbered "
                                                "(`reg delete` keeps the manifest as a tombstone)", c.sha))
            continue
        if new is None:
            continue
        if old is not None:
            for f in IMMUTABLE_FIELDS:
                if old.get(f) != new.get(f):
                    report.problems.append(Problem(rel, f"immutable field {_field_change(f, old.get(f), new.get(f))} "
                                                        f"changed {by}; register a new version instead", c.sha))
            if old.get("deleted") and not new.get("deleted"):
                report.problems.append(Problem(rel, f"{name} v{number} was deleted and is revived {by}; a "
                                                    "tombstone stays deleted (register the artifact again)", c.sha))
                continue
        else:
            before = rng.model_at(parent, name)
            top = max(before.versions, default=0) if before else 0
            if number <= top:
                report.problems.append(Problem(rel, f"{name} v{number} is added {by}, but v{top} already existed "
                                                    "there; numbers are never reused", c.sha))
            report.new_versions.append((name, number))
        old_stage = str((old or {}).get("stage") or s.initial_stage).lower()
        new_stage = str(new.get("stage") or s.initial_stage).lower()
        if old_stage != new_stage and not new.get("deleted"):
            moves.append((name, number, old, new, old_stage, new_stage))
            entered.setdefault(name, set()).add(new_stage)
    for name, number, old, new, old_stage, new_stage in moves:
        # Archiving the version an exclusive stage's newcomer displaced is part of that promotion.
        if new_stage == s.archive_stage and old_stage in s.exclusive_stages and old_stage in entered.get(name, ()):
            continue
        _judge_move(rng, c, report, name, number, old, new, old_stage, new_stage)


def _judge_move(rng: _Range, c: _Commit, report: Report, name, number, old, new, old_stage, new_stage) -> None:
    parent = c.parents[0] if c.parents else None
    rel = f"models/{name}/{number}/manifest.yaml"
    by = f"in {c.sha[:8]} by {c.email}"
    reason = _reason(c.message)
    forced = _trailer(c.message, "Reg-Forced") is not None
    # `reg rollback` or a plain `git revert` puts back a state that was accepted: judge who, not the gates.
    # Only a real one: the version held that stage before (anyone can type "This reverts commit").
    says_rollback = (_trailer(c.message, "Reg-Action") == "rollback"
                     or re.search(r"^This reverts commit [0-9a-f]{7,40}", c.message, re.M) is not None)
    rollback = says_rollback and parent is not None and history.held_stage(
        rng.root, rel, new_stage, rng.state(parent).cache, rev=parent,
        initial_stage=rng.state(parent).settings.initial_stage)
    before = rng.model_at(parent, name)
    card = rng.gate_card(name, parent)
    candidate = version_from_dict(new, rel)  # with any validation recorded in this same commit
    candidate.stage = old_stage
    model = ModelState(name, card, dict(before.versions) if before else {})
    state = rng.state(parent) if parent else rng.state(c.sha)
    who = c.signer or c.email  # the verified signer where the registry has signers: it names its author
    move = Move(name, number, old_stage, new_stage, c.sha, who, reason, forced=forced)
    report.moves.append(move)
    try:
        if rollback:
            perms = policy.parse_permissions(name, card)
            move.checks = [policy.allowed(name, card, new_stage, who)] if perms is not None else []
        else:
            move.checks = policy.gate_checks(state, model, candidate, new_stage, reason=reason, actor=who)
    except CorruptState as exc:
        report.problems.append(Problem(f"models/{name}/model.yaml", str(exc).removeprefix(f"models/{name}/model.yaml: "),
                                       c.sha))
        return
    what = f"{name} v{number} moved {old_stage} -> {new_stage} {by}"
    for chk in move.checks:
        if chk.passed:
            continue
        if chk.name == "permission":
            report.problems.append(Problem(rel, f"{what}: not allowed: {chk.detail}", c.sha))
        elif forced and reason:
            report.warnings.append(f"{what}: gate {chk.name} forced ({chk.detail}); reason: {reason}")
        else:
            report.problems.append(Problem(rel, f"{what}: gate {chk.name} failed: {chk.detail}", c.sha))


# -- the whole check -------------------------------------------------------------------------------

def check(root: Path, head: str = "HEAD", base: str | None = None, *, exclude_all: bool = False,
          strict_base: bool = False) -> Report:
    """Invariants at `head`, and, with `base` (or `exclude_all`: every commit no ref has yet, as a server
    hook sees a pushed branch), the rules every commit since must keep. `strict_base` (the hook's old tip)
    also refuses a head that dropped versions `base` had, as a force push does; otherwise the ends
    compared are the merge base and head, so a branch behind its base is not blamed for newer versions."""
    root = Path(root)
    head_sha = _rev(root, head)
    base_sha = _rev(root, base) if base is not None else None  # --base '' is an error, not "no base"
    report = Report(head=head_sha, base=base_sha)
    cache = ParseCache(root)
    report.problems += check_tree(root, head_sha, cache)
    if base_sha or exclude_all:
        rng = check_range(root, head_sha, base_sha, report, exclude_all=exclude_all, cache=cache)
        if base_sha:
            before = base_sha if strict_base else _merge_base(root, base_sha, head_sha)
            if before:
                _compare_ends(rng, report, before, head_sha)
        _comparisons(rng, report, head_sha, base_sha)
    cache.save()
    return report


def _merge_base(root: Path, a: str, b: str) -> str | None:
    proc = subprocess.run(["git", "merge-base", a, b], cwd=str(root), capture_output=True, text=True)
    return proc.stdout.strip() or None


MANIFEST_RE = re.compile(r"^models/([^/]+)/([1-9][0-9]*)/manifest\.yaml$")


def _compare_ends(rng: _Range, report: Report, before: str, head: str) -> None:
    """The commit-by-commit rules skip merge commits and manifests that do not parse, and a force push
    has no commits to judge; so also compare the two ends directly: every version `before` had is still
    there at `head`, with the same immutable fields, and not revived."""
    old_state, new_state = rng.state(before), rng.state(head)
    old_tree, new_tree = old_state._tree or {}, new_state._tree or {}
    already = {p.where for p in report.problems}
    for rel, sha in sorted(old_tree.items()):
        if not MANIFEST_RE.match(rel) or rel in already or new_tree.get(rel) == sha:
            continue
        try:
            old = _blob(rng.root, old_state, sha, rel)
        except CorruptState:
            continue
        if not isinstance(old, dict):
            continue
        if rel not in new_tree:
            report.problems.append(Problem(rel, f"was there at {before[:8]} and is gone at {head[:8]}: versions are "
                                                "never removed or renumbered (`reg delete` keeps the manifest as a "
                                                "tombstone)"))
            continue
        try:
            new = _blob(rng.root, new_state, new_tree[rel], rel)
        except CorruptState:
            continue  # the tree check names it
        if not isinstance(new, dict):
            continue
        for f in IMMUTABLE_FIELDS:
            if old.get(f) != new.get(f):
                report.problems.append(Problem(rel, f"immutable field {_field_change(f, old.get(f), new.get(f))} "
                                                    f"changed between {before[:8]} and {head[:8]} (in a merge or "
                                                    "through a commit that did not parse); register a new version "
                                                    "instead"))
        if old.get("deleted") and not new.get("deleted"):
            report.problems.append(Problem(rel, f"was deleted at {before[:8]} and is revived at {head[:8]}; a "
                                                "tombstone stays deleted (register the artifact again)"))


def _rev(root: Path, rev: str) -> str:
    proc = subprocess.run(["git", "rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], cwd=str(root),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        if rev == "HEAD":
            raise RegistryError("the repository has no commits yet, so there is nothing to check; run "
                                "`reg init` and commit first")
        raise RegistryError(f"unknown revision {rev!r}: give a commit, branch or tag that exists "
                            "(in CI, fetch the base branch first)")
    return proc.stdout.strip()


def _comparisons(rng: _Range, report: Report, head: str, base: str | None) -> None:
    head_state = rng.state(head)
    base_state = rng.state(base) if base else None
    s = head_state.settings
    target = "production" if "production" in s.stages else (s.exclusive_stages or s.stages[-2:-1] or [s.stages[-1]])[0]
    names = sorted({m.model for m in report.moves} | {n for n, _ in report.new_versions})
    for name in names:
        try:
            now = head_state.model(name)
        except RegistryError:
            continue
        numbers = sorted({m.version for m in report.moves if m.model == name and m.to_stage != s.archive_stage}
                         | {n for m, n in report.new_versions if m == name})
        current = None
        if base_state is not None:
            try:
                if base_state.has_model(name):
                    current = base_state.model(name).stage_holder(target)
            except RegistryError:
                current = None
        report.comparisons[name] = {"stage": target, "current": current,
                                    "candidates": [now.versions[n] for n in numbers if n in now.versions]}


# -- formats ---------------------------------------------------------------------------------------

def format_text(report: Report) -> str:
    scope = f"{report.head[:8]}" + (f", {report.commits} commit(s) since {report.base[:8]}" if report.base else "")
    lines = [f"new: {name} v{number}" for name, number in report.new_versions]
    for m in report.moves:
        lines.append(f"move: {m.model} v{m.version} {m.from_stage} -> {m.to_stage} in {m.commit[:8]} by {m.author}"
                     + (f" (reason: {m.reason})" if m.reason else ""))
    for w in report.warnings:
        lines.append(f"warning: {w}")
    for p in report.problems:
        lines.append(f"problem: {p}")
    verdict = (f"reg check: ok ({scope})" if report.ok else
               f"reg check: {len(report.problems)} problem(s) ({scope})")
    return "\n".join(lines + [verdict]) + "\n"


def to_json(report: Report) -> dict:
    def ver(v):
        return None if v is None else {"version": v.version, "stage": v.stage, "metrics": policy.effective_metrics(v)}

    return {
        "ok": report.ok, "head": report.head, "base": report.base, "commits": report.commits,
        "problems": [{"where": p.where, "message": p.message, "commit": p.commit} for p in report.problems],
        "warnings": report.warnings,
        "moves": [{"model": m.model, "version": m.version, "from": m.from_stage, "to": m.to_stage,
                   "commit": m.commit, "author": m.author, "reason": m.reason, "forced": m.forced,
                   "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in m.checks]}
                  for m in report.moves],
        "new_versions": [{"model": n, "version": v} for n, v in report.new_versions],
        "comparisons": {name: {"stage": c["stage"], "current": ver(c["current"]),
                               "candidates": [ver(v) for v in c["candidates"]]}
                        for name, c in report.comparisons.items()},
    }


def _cell(x) -> str:
    if x is None:
        return "-"
    return policy._num(x)


def _md_cell(text: str) -> str:
    """Text a person wrote (a reason) inside a markdown table cell: a | or a line break would end the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def format_markdown(report: Report) -> str:
    """A pull-request review comment: verdict, one section per model changed, its stage moves, and a metrics
    table of the new version(s) against the version now in production."""
    icon = "✅" if report.ok else "❌"
    out = [f"## {icon} reg check: " + ("registry rules hold" if report.ok else f"{len(report.problems)} problem(s)"),
           "", f"Checked `{report.head[:8]}`" + (f", {report.commits} commit(s) since `{report.base[:8]}`."
                                                  if report.base else ".")]
    if report.problems:
        out += ["", "### Problems", ""]
        out += [f"- `{p.where}`: {p.message}" for p in report.problems]
    if report.warnings:
        out += ["", "### Warnings", ""]
        out += [f"- {w}" for w in report.warnings]
    models = sorted({m.model for m in report.moves} | set(report.comparisons))
    for name in models:
        out += ["", f"### {name}", ""]
        moves = [m for m in report.moves if m.model == name]
        news = [n for mname, n in report.new_versions if mname == name]
        if news:
            out.append("New versions: " + ", ".join(f"v{n}" for n in news))
        if moves:
            out += ["", "| version | from | to | by | reason | checks |", "|---|---|---|---|---|---|"]
            for m in moves:
                checks = "<br>".join(f"{'✅' if c.passed else ('⚠️' if m.forced else '❌')} {_md_cell(c.name)}: "
                                     f"{_md_cell(c.detail)}" for c in m.checks) or "no gates"
                out.append(f"| v{m.version} | {m.from_stage} | {m.to_stage} | {_md_cell(m.author)} | "
                           f"{_md_cell(m.reason or '-')} | {checks} |")
        comp = report.comparisons.get(name)
        if comp and comp["candidates"]:
            current = comp["current"]
            cols = [f"v{v.version} (new)" for v in comp["candidates"]]
            cur_col = f"v{current.version} ({comp['stage']})" if current else f"{comp['stage']}: none"
            metrics: list[str] = []
            for v in comp["candidates"] + ([current] if current else []):
                metrics += [k for k in policy.effective_metrics(v) if k not in metrics]
            diff_col = (f"v{comp['candidates'][-1].version} - v{current.version}" if current else "difference")
            out += ["", f"| metric | {' | '.join(cols)} | {cur_col} | {diff_col} |",
                    "|---|" + "---|" * (len(cols) + 2)]
            for k in metrics:
                cells = [_cell(policy.effective_metrics(v).get(k)) for v in comp["candidates"]]
                theirs = policy.effective_metrics(current).get(k) if current else None
                mine = policy.effective_metrics(comp["candidates"][-1]).get(k)
                diff = (f"{mine - theirs:+.4f}" if isinstance(mine, (int, float)) and isinstance(theirs, (int, float))
                        else "-")
                out.append(f"| {k} | {' | '.join(cells)} | {_cell(theirs)} | {diff} |")
    return "\n".join(out) + "\n"
