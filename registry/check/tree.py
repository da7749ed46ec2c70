"""The registry's invariants at one revision.

Every manifest parses and matches the schema; version folders match their numbers and none is missing;
each exclusive stage holds at most one version; each alias names one version; every pointer file tracks
exactly the version `rules.pointer_targets` says; tombstones keep their numbers and drop their pointer.
"""
from __future__ import annotations

from pathlib import Path

from .. import git, policy, refs, rules, settings as settings_mod
from ..errors import CorruptState
from ..manifest import SCHEMA, ModelVersion, card_from_dict, version_from_dict
from ..parsecache import ParseCache
from ..state import ModelState, RegistryState
from .report import Problem, problem


def read_state(root: Path, rev: str, cache: ParseCache | None = None) -> RegistryState:
    """A registry at `rev` for judging: a models/registry.yaml that does not parse reads as the defaults
    (its error in `settings_error`), so the rest can still be judged. States of one check share `cache`."""
    return RegistryState(root, rev, cache=cache, lenient=True)


def prefetch(state: RegistryState, suffixes: tuple[str, ...]) -> None:
    """Parse, in one batch read, every file of the state's tree ending in `suffixes` that the cache lacks."""
    state.cache.prefetch({sha: rel for rel, sha in (state.tree or {}).items() if rel.endswith(suffixes)})


def read(state: RegistryState, rel: str, problems: list[Problem]) -> dict | None:
    try:
        return state.read(rel)
    except CorruptState as exc:
        problems.append(problem(rel, exc))
        return None


def pointer_md5(data: dict | None) -> str | None:
    try:
        return str(data["outs"][0]["md5"])
    except (KeyError, IndexError, TypeError):
        return None


def versions_at(state: RegistryState, name: str, problems: list[Problem]) -> dict[int, tuple[ModelVersion, dict]]:
    """Parse a model's manifests at the state's revision, collecting problems instead of stopping at one."""
    out = {}
    for number in state.version_numbers(name):
        rel = f"models/{name}/{number}/manifest.yaml"
        data = read(state, rel, problems)
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


def check_tree(root: Path, rev: str = "HEAD", cache: ParseCache | None = None) -> list[Problem]:
    root = Path(root)
    problems: list[Problem] = []
    state = read_state(root, rev, cache)
    if state.settings_error is not None:
        problems.append(problem(settings_mod.SETTINGS_PATH, state.settings_error))
    tree = state.tree or {}
    prefetch(state, (".yaml", ".dvc"))
    problems += _check_webhooks(state.settings)
    problems += _check_pointer_files(state, [p for p in tree if p.endswith(".dvc")])
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


def _check_pointer_files(state: RegistryState, rels: list[str]) -> list[Problem]:
    """Every DVC pointer under models/ tracks the folder beside it, named like it: `dvc pull` writes where a
    pointer says, on every clone and serving host."""
    from ..paths import pointer_problem

    problems: list[Problem] = []
    for rel in rels:
        # one that does not parse is reported where its model is checked (or here, outside any model)
        data = read(state, rel, problems if rel.count("/") < 2 else [])
        found = pointer_problem(data, rel) if data is not None else None
        if found:
            problems.append(Problem(rel, found))
    return problems


def _check_links(root: Path, rev: str) -> list[Problem]:
    """No symlink or submodule under models/: a clone checks a link out as one, and a reader or `dvc pull`
    would follow it outside the repository."""
    problems = []
    for path, mode in git.special_entries(root, rev, "models").items():
        what = "a symbolic link" if mode == "120000" else "a submodule"
        problems.append(Problem(path, f"is {what}; everything under models/ is a regular file: remove it"))
    return problems


def _check_webhooks(s) -> list[Problem]:
    from .. import notify

    try:
        notify.parse_webhooks(s.webhooks)
    except CorruptState as exc:
        return [Problem(settings_mod.SETTINGS_PATH, str(exc).removeprefix(settings_mod.SETTINGS_PATH + ": "))]
    return []


def _check_card(state: RegistryState, name: str, problems: list[Problem]):
    rel = f"models/{name}/model.yaml"
    data = read(state, rel, problems)
    if data is None:
        return None
    try:
        card = card_from_dict(name, data, rel)
        policy.parse_gates(name, card.gates, state.settings.stages)
        policy.parse_permissions(name, card)
        return card
    except CorruptState as exc:
        problems.append(Problem(rel, str(exc).removeprefix(f"{rel}: ")))
        return None


def _check_folders(base: str, folders: dict[str, set[str]], problems: list[Problem]) -> None:
    for folder, files in sorted(folders.items()):
        if rules.version_number(folder) is None:
            problems.append(Problem(f"{base}/{folder}/", f"a version folder is named by its number, e.g. {base}/7/"))
            continue
        if "manifest.yaml" not in files:
            problems.append(Problem(f"{base}/{folder}/", "has no manifest.yaml; restore it from git history"))
        stray = sorted(f for f in files if f not in rules.VERSION_FILES)
        if stray:
            problems.append(Problem(f"{base}/{folder}/{stray[0]}", "is committed to git; a version folder holds only "
                                    "manifest.yaml, model.dvc and .gitignore (the artifact lives in DVC)"))


def _check_manifest(state: RegistryState, mv: ModelVersion, data: dict, problems: list[Problem]) -> None:
    s = state.settings
    rel, name, number = mv.path, mv.model, mv.version
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
    pointer = rules.version_pointer_path(name, number)
    if mv.deleted:
        if pointer in state.tree:
            problems.append(Problem(pointer, f"{name} v{number} is deleted; its pointer must be removed"))
        if not mv.deleted_reason:
            problems.append(Problem(rel, "a tombstone needs deleted_reason"))
        if mv.aliases:
            problems.append(Problem(rel, "a deleted version cannot hold aliases"))
        return
    if pointer not in state.tree:
        problems.append(Problem(pointer, f"is missing; {name} v{number} is not deleted, so its artifact must be "
                                         "tracked (restore it from git history)"))
    else:
        md5 = pointer_md5(read(state, pointer, problems))
        if md5 != mv.md5:
            problems.append(Problem(pointer, f"tracks {md5}, but the manifest's artifact is {mv.md5}"))


def _check_model(state: RegistryState, name: str, paths: list[str]) -> list[Problem]:
    s = state.settings
    problems: list[Problem] = []
    base = f"models/{name}"
    card = _check_card(state, name, problems)
    folders: dict[str, set[str]] = {}
    for path in paths:
        parts = path.split("/")
        if len(parts) >= 4:
            folders.setdefault(parts[2], set()).add("/".join(parts[3:]))
    _check_folders(base, folders, problems)
    parsed = versions_at(state, name, problems)
    versions = {n: mv for n, (mv, _) in parsed.items()}
    for _, (mv, data) in sorted(parsed.items()):
        _check_manifest(state, mv, data, problems)
    if versions:
        top = max(versions)
        present = set(state.version_numbers(name)) | {rules.version_number(f) for f in folders} - {None}
        for n in (n for n in range(1, top + 1) if n not in present):
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
    problems += _check_pointers(state, model, paths, unread=set(state.version_numbers(name)) - set(parsed))
    return problems


def _check_pointers(state: RegistryState, model: ModelState, paths: list[str], unread: set[int]) -> list[Problem]:
    """Every pointer file `rules.pointer_targets` wants exists and tracks its version; no other one does.
    With manifests that did not parse (`unread`), their stage and aliases are unknown: no "points at nothing"."""
    s, name, problems = state.settings, model.name, []
    wanted = rules.pointer_targets(model.versions, s)
    existing = {p.split("/")[2][:-4] for p in paths if p.count("/") == 2 and p.endswith(".dvc")}
    for pname, v in sorted(wanted.items()):
        rel = rules.pointer_path(name, pname)
        if pname not in existing:
            problems.append(Problem(rel, f"is missing; v{v.version} is in {pname}" if pname in s.stages
                                    else f"is missing; v{v.version} holds alias {pname}"))
            continue
        md5 = pointer_md5(read(state, rel, problems))
        if md5 != v.md5:
            problems.append(Problem(rel, f"tracks {md5}, but it should track v{v.version}'s artifact {v.md5}"))
    for pname in sorted(existing - set(wanted) if not unread else ()):
        problems.append(Problem(rules.pointer_path(name, pname), f"points at nothing: no version of {name} is in "
                                                                  f"{pname} or holds that alias; remove it"))
    return problems


def blob(state: RegistryState, sha: str, rel: str) -> dict:
    """The parsed YAML of blob `sha` (a file at `rel`), through the state's cache; CorruptState if it does
    not parse."""
    return state.cache.blob(sha, rel, lambda: git.blobs(state.root).read_text(sha))
