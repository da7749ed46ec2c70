"""Each registry mutation as a function from the current state to a `ChangeSet`.

Stage and alias pointer files are never edited one by one: after an operation decides the new stage
and aliases of the versions it touches, `finish` recomputes every pointer of the model from that result
(`rules.pointer_targets`, the rule `reg check` judges them by), so pointers cannot drift from manifests.
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import replace
from pathlib import Path

from . import artifacts, git, policy, refs, rules, yamlio
from .changes import ChangeSet, Tag, stage_tag_number
from .errors import AlreadyExists, NotFound, StateError, UsageError
from .manifest import MUTABLE_FIELDS, ModelVersion, card_path, new_card_text
from .state import ModelState, RegistryState


def now() -> str:
    """The time a change records: GIT_AUTHOR_DATE when it is set as `@EPOCH` (so a manifest agrees with its
    commit's author date, as when `reg import mlflow` replays MLflow's past), else the clock."""
    stamp = os.environ.get("GIT_AUTHOR_DATE", "")
    seconds = stamp[1:].split(" ")[0] if stamp.startswith("@") else ""
    if refs.is_number(seconds):
        return dt.datetime.fromtimestamp(int(seconds), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def actor(root: Path) -> str:
    name, email = git.identity(root)
    return f"{name} <{email}>"


# -- shared pieces ---------------------------------------------------------------------------------

def _manifest_text(state: RegistryState, old: ModelVersion | None, new: ModelVersion) -> str:
    if old is None:
        return yamlio.dump(new.to_dict())
    current = (state.root / new.path).read_text(encoding="utf-8")
    new_dict, old_dict = new.to_dict(), old.to_dict()
    changes = {k: new_dict[k] for k in MUTABLE_FIELDS if k in new_dict and new_dict.get(k) != old_dict.get(k)}
    removed = tuple(k for k in MUTABLE_FIELDS if k in old_dict and k not in new_dict)
    return yamlio.update(current, changes, removed)


def _pointers(state: RegistryState, model: ModelState, updated: dict[int, ModelVersion]) -> tuple[dict, list]:
    """Pointer files (`<stage>.dvc`, `<alias>.dvc`) and the model folder's .gitignore, for the model's
    versions with `updated` applied. Only the manifests of the versions the pointers name are read."""
    base = state.root / "models" / model.name
    wanted = rules.pointer_targets({**model.brief, **updated}, state.settings)
    writes, deletes = {}, []
    for name, brief in wanted.items():
        v = updated.get(brief.version) or model.versions[brief.version]
        rel = rules.pointer_path(model.name, name)
        text = artifacts.pointer_text(v.md5 or "", int(v.artifact.get("size", 0)), int(v.artifact.get("files", 0)),
                                      name, model=model.name, version=v.version)
        if not (base / f"{name}.dvc").is_file() or (base / f"{name}.dvc").read_text() != text:
            writes[rel] = text
    try:  # scandir, not glob: a model folder holds a folder per version
        existing = {e.name[:-4] for e in os.scandir(base) if e.name.endswith(".dvc")}
    except FileNotFoundError:
        existing = set()
    for name in sorted(existing - set(wanted)):
        deletes.append(f"models/{model.name}/{name}.dvc")
    ignore = "".join(f"/{name}\n" for name in sorted(wanted))
    ignore_path = base / ".gitignore"
    current = ignore_path.read_text() if ignore_path.is_file() else ""
    if ignore != current:
        if ignore:
            writes[f"models/{model.name}/.gitignore"] = ignore
        elif ignore_path.is_file():
            deletes.append(f"models/{model.name}/.gitignore")
    return writes, deletes


def finish(cs: ChangeSet, state: RegistryState, model: ModelState, updated: dict[int, ModelVersion]) -> ChangeSet:
    """Write the manifests of `updated` versions and every pointer file that follows from them."""
    for number, new in updated.items():
        old = model.versions.get(number)
        if old != new:
            cs.writes[new.path] = _manifest_text(state, old, new)
    writes, deletes = _pointers(state, model, updated)
    cs.writes.update(writes)
    cs.deletes.extend(deletes)
    return cs


def trailers(action: str, model: str, version: int | None, **extra) -> dict[str, str]:
    t = {"Reg-Action": action, "Reg-Model": model}
    if version is not None:
        t["Reg-Version"] = str(version)
    for key, value in extra.items():
        if value is not None:
            t["Reg-" + key.replace("_", "-").title()] = str(value)
    return t


def check_not_ignored(root: Path, rel: str) -> None:
    """The registry's files must not be git-ignored (many ML repositories ignore models/): DVC refuses to
    track under an ignored path, and an ignored manifest would be left out of clones."""
    out = git.run(["check-ignore", "-v", "--no-index", "--", rel], root, check=False).strip()
    if out:
        source, _, _ = out.partition("\t")
        raise StateError(f"{rel} is ignored by git ({source}); the registry lives under models/: "
                         "remove that rule or add `!/models/` after it, then retry")


def _check_number_is_free(root: Path, name: str, number: int, version_dir: str) -> None:
    """A number whose manifest is gone but whose tag or files remain (a `git revert` of a registration)
    is still taken: say so before copying and pushing anything, instead of failing on the tag after."""
    if git.ok(["rev-parse", "-q", "--verify", f"refs/tags/{name}@v{number}"], root):
        gone = git.run(["log", "-1", "--format=%h", "--diff-filter=D", "--", f"{version_dir}/manifest.yaml"],
                       root, check=False).strip()
        how = (f"bring it back with `git revert {gone}`, then `reg delete {name} {number} --reason ...`"
               if gone else f"delete the stray tag {name}@v{number} if you made it by hand")
        raise StateError(f"{name} v{number} was registered before (tag {name}@v{number}) but its manifest is gone, "
                         f"and version numbers are never reused: {how}; then register again")
    if (root / version_dir).exists() and any((root / version_dir).iterdir()):
        what = ("a manifest that was never committed" if (root / version_dir / "manifest.yaml").exists() else
                f"files left from an earlier version {number} whose manifest is gone")
        raise StateError(f"{version_dir}/ holds {what}; remove them (rm -r {version_dir}) and register again")


def one_line(reason: str | None) -> str | None:
    """A reason goes into the commit body and a trailer: a line of it that reads `Reg-Forced: ...` or
    `Reg-Action: ...` would be taken for one by whatever reads the commit, so it is kept to one line."""
    return " ".join(reason.split()) if reason else reason


def live_version(state: RegistryState, name: str, number: int, doing: str) -> ModelVersion:
    v = state.version(name, number)
    if v.deleted:
        raise UsageError(f"{name} v{number} was deleted ({v.deleted_reason}); it cannot be {doing}")
    return v


# -- register --------------------------------------------------------------------------------------

def register(state: RegistryState, name: str, staged, *, metrics: dict | None = None, description: str = "",
             tags: dict | None = None, alias: str | None = None) -> ChangeSet:
    """A new version of `name` from an artifact already copied, hashed and pushed (`incoming.stage`): only
    the number is assigned here and small files written, so a replay after a rejected push is cheap."""
    refs.check_name(name)
    refs.check_metrics(metrics)
    refs.check_tags(tags)
    root = state.root
    if alias:
        refs.check_alias(alias, state.settings.stages)
    who = actor(root)
    model = state.model(name) if state.has_model(name) else ModelState(name, None, {})
    number = model.next_version()
    version_dir = f"models/{name}/{number}"
    _check_number_is_free(root, name, number, version_dir)
    check_not_ignored(root, f"{version_dir}/model.dvc")
    info, signature, lin = dict(staged.info), staged.signature, dict(staged.lineage)
    created = [version_dir] + ([] if (root / "models" / name).exists() else [f"models/{name}"])
    cs = ChangeSet(subject=f"reg: register {name} v{number}", created_dirs=created,
                   moves={f"{version_dir}/model": str(staged.folder)})
    cs.writes[f"{version_dir}/model.dvc"] = artifacts.pointer_text(info["md5"], info["size"], info["files"], "model")
    mv = ModelVersion(model=name, version=number, stage=state.settings.initial_stage,
                      aliases=[], description=description, tags=dict(tags or {}),
                      metrics=dict(metrics or {}), created_at=now(), created_by=who, artifact=info,
                      lineage=lin, signature=signature)
    updated = {number: mv}
    if alias:
        holder = model.alias_holder(alias)
        if holder is not None:
            updated[holder.version] = replace(holder, aliases=[a for a in holder.aliases if a != alias])
        mv.aliases = [alias]
    cs.writes[f"{version_dir}/.gitignore"] = "/model\n"
    if model.card is None:
        cs.writes[card_path(name)] = new_card_text(name, "", git.identity(root)[1])
    cs.tags.append(Tag(f"{name}@v{number}", f"Register {name} v{number}" + (f": {description}" if description else "")))
    cs.trailers = trailers("register", name, number, to=mv.stage, alias=alias)
    if description:
        cs.body = description
    cs.result = mv
    return finish(cs, state, model, updated)


# -- stages ----------------------------------------------------------------------------------------

def unchanged(result, why: str) -> ChangeSet:
    """The change set of a mutation the registry already reflects: `apply` makes no commit."""
    return ChangeSet(subject=why, result=result, unchanged=True)


def promote(state: RegistryState, name: str, number: int, stage: str, *, reason: str | None = None,
            keep_existing: bool = False, action: str = "promote", force: bool = False,
            alias: str | list[str] | None = None, archive_existing: bool = False) -> ChangeSet:
    """Move version `number` to `stage` (archiving the holder of an exclusive stage, or with
    `archive_existing` every other version in that stage, as MLflow's archive_existing_versions) and,
    with `alias` (one name, or several), point it at the version in the same commit."""
    s = state.settings
    reason = one_line(reason)
    stage = refs.normalize_stage(stage, s.stages)
    names = [alias] if isinstance(alias, str) else sorted(alias or [])
    for a in names:
        refs.check_alias(a, s.stages)
    alias = ",".join(names) or None
    model = state.model(name)
    v = live_version(state, name, number, f"moved to {stage}")
    if v.stage == stage:  # as MLflow's transition to the stage a version is in: nothing to do, no error
        if len(names) == 1 and names[0] not in v.aliases:
            return set_alias(state, name, number, names[0])
        if any(a not in v.aliases for a in names):
            raise UsageError(f"{name} v{number} is already in {stage}; give its aliases one at a time with reg alias")
        return unchanged(v, f"{name} v{number} is already in {stage}" + (f" as @{alias}" if alias else ""))
    exclusive = stage in s.exclusive_stages
    who = actor(state.root)
    if action == "rollback":
        checks = policy.check_rollback(state, model, v, stage, actor=who)
    else:
        checks = policy.check_promotion(state, model, v, stage, reason=reason, force=force, actor=who)
    failed = [c for c in checks if not c.passed]
    if not reason and exclusive:
        reason = rules.NO_REASON
    updated = {number: replace(v, stage=stage)}
    holders = []
    for a in (a for a in names if a not in v.aliases):
        holder = model.alias_holder(a)
        if holder is not None:
            held = updated.get(holder.version, holder)
            updated[holder.version] = replace(held, aliases=[x for x in held.aliases if x != a])
            holders.append(f"v{holder.version}")
        updated[number].aliases = sorted(updated[number].aliases + [a])
    alias_from = ",".join(sorted(set(holders))) or None
    if failed:  # --force past failed gates: recorded in the manifest and the commit
        updated[number].overrides = list(v.overrides) + [
            {"stage": stage, "by": who, "at": now(), "reason": reason,
             "failed": [f"{c.name}: {c.detail}" for c in failed]}]
    archived = []
    if archive_existing and stage not in (s.archive_stage, s.initial_stage):  # MLflow's archive_existing_versions
        others = [o for o in model.in_stage(stage) if o.version != number]
    else:
        others = [] if keep_existing else [model.versions[b.version]
                                           for b in rules.displaced(model.brief, number, stage, s)]
    for other in others:
        updated[other.version] = replace(updated.get(other.version, other), stage=s.archive_stage)
        archived.append(other.version)
    verb = "archive" if stage == s.archive_stage and action == "promote" else action
    subject = (f"reg: archive {name} v{number}" if verb == "archive" else f"reg: {verb} {name} v{number} to {stage}")
    lines = [f"Reason: {reason}"] if reason else []
    if archived:
        lines.append(f"Archived: {', '.join('v%d' % a for a in archived)} (was {stage})")
    if names:
        lines.append(f"Alias: {', '.join('@' + a for a in names)} -> v{number}"
                     + (f" (was {alias_from})" if alias_from else ""))
    if failed:
        lines.append("Forced past failed gates:\n" + "\n".join(f"  {c.name}: {c.detail}" for c in failed))
    n = stage_tag_number(state.root, name)
    cs = ChangeSet(subject=subject, body="\n".join(lines),
                   trailers=trailers(verb, name, number, **{"from": v.stage}, to=stage,
                                      archived=",".join(map(str, archived)) or None, reason=reason,
                                      forced=policy.forced_summary(checks) or None, alias=alias or None,
                                      alias_from=alias_from))
    cs.tags.append(Tag(f"{name}#{stage}#{n}", f"{subject[5:]}" + (f"\n\n{reason}" if reason else "")))
    cs.result = updated[number]
    return finish(cs, state, model, updated)


def archive(state: RegistryState, name: str, number: int, *, reason: str | None = None) -> ChangeSet:
    return promote(state, name, number, state.settings.archive_stage, reason=reason)


# -- aliases ---------------------------------------------------------------------------------------

def set_alias(state: RegistryState, name: str, number: int, alias: str) -> ChangeSet:
    refs.check_alias(alias, state.settings.stages)
    model = state.model(name)
    v = live_version(state, name, number, f"given alias {alias!r}")
    if alias in v.aliases:  # as MLflow's set_registered_model_alias: idempotent
        return unchanged(v, f"{name}@{alias} already names v{number}")
    updated = {number: replace(v, aliases=sorted(v.aliases + [alias]))}
    holder = model.alias_holder(alias)
    if holder is not None:
        updated[holder.version] = replace(holder, aliases=[a for a in holder.aliases if a != alias])
    cs = ChangeSet(subject=f"reg: alias {name} v{number} as {alias}",
                   trailers=trailers("alias", name, number, alias=alias,
                                      **{"from": f"v{holder.version}" if holder else None}, to=f"v{number}"))
    cs.result = updated[number]
    return finish(cs, state, model, updated)


def remove_alias(state: RegistryState, name: str, alias: str) -> ChangeSet:
    model = state.model(name)
    holder = model.alias_holder(alias)
    if holder is None:
        known = model.aliases()
        hint = f"; its aliases: {', '.join(sorted(known))}" if known else ""
        raise NotFound(f"{name} has no alias {alias!r}{hint}")
    updated = {holder.version: replace(holder, aliases=[a for a in holder.aliases if a != alias])}
    cs = ChangeSet(subject=f"reg: remove alias {alias} from {name} v{holder.version}",
                   trailers=trailers("unalias", name, holder.version, alias=alias,
                                      **{"from": f"v{holder.version}"}))
    cs.result = updated[holder.version]
    return finish(cs, state, model, updated)


# -- annotate --------------------------------------------------------------------------------------

def annotate(state: RegistryState, ref: str, *, description: str | None = None, tags: dict | None = None,
             untag: list[str] | None = None) -> ChangeSet:
    if description is None and not tags and not untag:
        raise UsageError("nothing to annotate: give --description, --tag key=value or --untag key")
    refs.check_tags(tags)
    parsed = refs.parse_ref(ref, state.settings.stages)
    model = state.model(parsed.model)
    if parsed.kind == "latest" and "/" not in ref.removeprefix(refs.MLFLOW_PREFIX):
        return _annotate_model(state, model, description, tags or {}, untag or [])
    v = state.resolve(parsed)
    if v.deleted:
        raise UsageError(f"{v.model} v{v.version} was deleted; it cannot be annotated")
    new_tags = dict(v.tags)
    for key in untag or []:
        if key not in new_tags:
            raise NotFound(f"{v.model} v{v.version} has no tag {key!r}")
        del new_tags[key]
    new_tags.update(tags or {})
    new = replace(v, tags=new_tags, description=v.description if description is None else description)
    if new == v:
        return unchanged(v, f"{v.model} v{v.version} already has that description and those tags")
    cs = ChangeSet(subject=f"reg: annotate {v.model} v{v.version}", trailers=trailers("annotate", v.model, v.version))
    cs.result = new
    return finish(cs, state, model, {v.version: new})


def _annotate_model(state, model: ModelState, description, tags, untag) -> ChangeSet:
    rel = card_path(model.name)
    path = state.root / rel
    text = path.read_text(encoding="utf-8") if path.is_file() else new_card_text(model.name, "", "")
    doc = yamlio.load_roundtrip(text)
    current_tags = doc.get("tags") or {}
    for key in untag:
        if key not in current_tags:
            raise NotFound(f"model {model.name} has no tag {key!r}")
        del current_tags[key]
    for key, value in tags.items():
        current_tags[key] = value
    doc["tags"] = current_tags
    if description is not None:
        doc["description"] = description
    new_text = yamlio.dump(doc)
    from .manifest import card_from_dict

    card = card_from_dict(model.name, yamlio.parse(new_text, rel), rel)  # the card as it now is
    if path.is_file() and new_text == text:
        return unchanged(card, f"model {model.name} already has that description and those tags")
    cs = ChangeSet(subject=f"reg: annotate {model.name}", trailers=trailers("annotate", model.name, None))
    cs.writes[rel] = new_text
    cs.result = card
    return cs


# -- create ----------------------------------------------------------------------------------------

def create_model(state: RegistryState, name: str, *, description: str = "", tags: dict | None = None) -> ChangeSet:
    """A model card before any version (MLflow's create_registered_model): `models/<name>/model.yaml`."""
    refs.check_name(name)
    refs.check_tags(tags)
    if not artifacts.is_dvc_repo(state.root):
        raise StateError(f"{state.root} is not a registry yet; run `reg init` first")
    if state.has_model(name):
        raise AlreadyExists(f"model {name} already exists; change its description or tags with "
                            f"`reg annotate {name} --description TEXT --tag k=v`")
    rel = card_path(name)
    check_not_ignored(state.root, rel)
    text = new_card_text(name, description, git.identity(state.root)[1], tags=tags)
    cs = ChangeSet(subject=f"reg: create model {name}", body=description,
                   trailers=trailers("create", name, None), writes={rel: text})
    from .manifest import card_from_dict

    cs.result = card_from_dict(name, yamlio.parse(text, rel), rel)
    return cs


# -- delete ----------------------------------------------------------------------------------------

def delete(state: RegistryState, name: str, number: int, *, reason: str, force: bool = False) -> ChangeSet:
    reason = one_line(rules.require_deletion_reason(reason))
    model = state.model(name)
    v = state.version(name, number)
    if v.deleted:
        raise UsageError(f"{name} v{number} is already deleted")
    if v.stage in state.settings.exclusive_stages and not force:
        raise UsageError(f"{name} v{number} is in {v.stage}; promote another version first, "
                         "or pass --force to delete it anyway")
    new = replace(v, aliases=[], deleted=True, deleted_at=now(), deleted_by=actor(state.root),
                  deleted_reason=reason.strip())
    vdir = f"models/{name}/{number}"
    cs = ChangeSet(subject=f"reg: delete {name} v{number}", body=f"Reason: {reason.strip()}",
                   trailers=trailers("delete", name, number, **{"from": v.stage}, reason=reason.strip()),
                   deletes=[f"{vdir}/model.dvc", f"{vdir}/.gitignore"], stale_dirs=[f"{vdir}/model"])
    cs.deletes = [p for p in cs.deletes if (state.root / p).exists()]
    cs.result = new
    return finish(cs, state, model, {number: new})
