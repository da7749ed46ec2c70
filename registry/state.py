"""Reading a registry: at the working tree or at a git revision.

Reads go through the parsed-manifest cache (`parsecache.py`); a change reads through the model index
(`modelindex.py`) and only the manifests it touches.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import git, modelindex, refs, rules, settings as settings_mod, yamlio
from .errors import CorruptState, NotFound, RegistryError, UsageError
from .manifest import ModelCard, ModelVersion, card_from_dict, card_path, version_from_dict
from .parsecache import ParseCache
from .refs import Ref
from .settings import Settings


@dataclass
class ModelState:
    """A model's card and versions. `brief` answers which version holds each stage and alias; by default it
    is `versions` itself, and for a change it is the model index, with `versions` reading each manifest
    only when asked for it (`LazyVersions`), so a change pays for what it touches."""
    name: str
    card: ModelCard | None
    versions: Mapping[int, ModelVersion] = field(default_factory=dict)
    brief: Mapping = None  # number -> ModelVersion or modelindex.Brief, ascending

    def __post_init__(self):
        if self.brief is None:
            self.brief = self.versions

    def _live(self) -> list:
        return [b for _, b in sorted(self.brief.items()) if not b.deleted]

    def live(self) -> list[ModelVersion]:
        return [self.versions[b.version] for b in self._live()]

    def latest(self) -> ModelVersion | None:
        live = self._live()
        return self.versions[live[-1].version] if live else None

    def next_version(self) -> int:
        return max(self.brief, default=0) + 1

    def in_stage(self, stage: str) -> list[ModelVersion]:
        return [self.versions[b.version] for b in self._live() if b.stage == stage]

    def stage_holder(self, stage: str) -> ModelVersion | None:
        """The version a stage ref names: the highest-numbered version in that stage."""
        held = [b for b in self._live() if b.stage == stage]
        return self.versions[held[-1].version] if held else None

    def alias_holder(self, alias: str) -> ModelVersion | None:
        for b in self._live():
            if alias in b.aliases:
                return self.versions[b.version]
        return None

    def aliases(self) -> dict[str, int]:
        return {a: b.version for b in self._live() for a in b.aliases}


class LazyVersions(Mapping):
    """A model's versions by number (the numbers the index knows), each manifest read on first use."""

    def __init__(self, state: "RegistryState", name: str, numbers: Mapping):
        self._state, self._name, self._numbers = state, name, numbers
        self._loaded: dict[int, ModelVersion] = {}

    def __getitem__(self, number: int) -> ModelVersion:
        if number not in self._loaded:
            if number not in self._numbers:
                raise KeyError(number)
            v = self._state.one_version(self._name, number)
            if v is None:
                rel = f"models/{self._name}/{number}/manifest.yaml"
                raise CorruptState(f"{rel} is committed but missing or altered in the working tree: restore it "
                                   f"(git checkout -- {rel})")
            self._loaded[number] = v
        return self._loaded[number]

    def __iter__(self):
        return iter(self._numbers)

    def __len__(self) -> int:
        return len(self._numbers)

    def __contains__(self, number) -> bool:
        return number in self._numbers


class RegistryState:
    """The registry as files say it is, at the working tree (rev=None) or at a git revision."""

    def __init__(self, root: Path, rev: str | None = None, *, cache: ParseCache | None = None,
                 lenient: bool = False, indexed: bool = False):
        """`cache`: share one parse cache between states (a check reads many revisions). `lenient`: a
        models/registry.yaml that does not parse reads as the defaults, its error kept in `settings_error`
        (so the rest can still be judged), instead of raising. `indexed`: models come from the model index
        and read their manifests lazily; only for a change, which refuses a registry whose committed
        files differ from HEAD (so HEAD's index is the working tree's)."""
        self.root = Path(root)
        self._root_str = str(self.root)
        self.rev = rev
        self.indexed = indexed and rev is None
        self.cache = cache if cache is not None else ParseCache(self.root)
        self._models: dict[str, ModelState] = {}
        self.tree: dict[str, str] | None = None  # path -> blob id under models/, at a revision
        if rev is not None:
            self.tree = git.ls_tree(self.root, rev)
            if self.tree is None:
                raise UsageError(f"unknown revision {rev!r}: give a commit, branch or tag that exists")
        self.settings_error: CorruptState | None = None
        try:
            self.settings: Settings = self._read_settings()
        except CorruptState as exc:
            if not lenient:
                raise
            self.settings, self.settings_error = Settings(), exc

    # -- files -------------------------------------------------------------------------------------
    def _read_settings(self) -> Settings:
        data = self.read(settings_mod.SETTINGS_PATH, cached=False)
        return settings_mod.from_dict(data) if data is not None else Settings()

    def read(self, rel: str, cached: bool = True) -> dict | None:
        """A registry file's parsed YAML (None when absent); CorruptState when it does not parse."""
        if self.tree is not None:
            sha = self.tree.get(rel)
            if sha is None:
                return None
            return self.cache.blob(sha, rel, lambda: git.blobs(self.root).read_text(sha))
        path = f"{self._root_str}/{rel}"
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not cached:
            return yamlio.read(path, rel)
        return self.cache.file(rel, path, st)

    def model_names(self) -> list[str]:
        if self.tree is not None:
            names = {p.split("/")[1] for p in self.tree if p.count("/") >= 2}
        else:
            try:
                names = {e.name for e in os.scandir(self.root / "models") if e.is_dir()}
            except FileNotFoundError:
                names = set()
        return sorted(n for n in names if refs.NAME_RE.fullmatch(n))

    def version_numbers(self, name: str) -> list[int]:
        """The numbers of the model's version folders (at a revision: those holding a manifest)."""
        if self.tree is not None:
            prefix = f"models/{name}/"
            found = set()
            for p in self.tree:
                if p.startswith(prefix) and p.endswith("/manifest.yaml"):
                    number = rules.version_number(p[len(prefix):].split("/")[0])
                    if number is not None:
                        found.add(number)
            return sorted(found)
        try:
            numbers = [(rules.version_number(e.name), e) for e in os.scandir(f"{self._root_str}/models/{name}")]
        except FileNotFoundError:
            return []
        return sorted(n for n, e in numbers if n is not None and e.is_dir())

    def _load_model(self, name: str) -> ModelState | None:
        if self.indexed:
            tree = git.tree_id(self.root, "HEAD", f"models/{name}")
            briefs = modelindex.lookup(self.root, name, tree) if tree else None
            if briefs is not None:
                card_data = self.read(card_path(name), cached=False)
                card = card_from_dict(name, card_data, card_path(name)) if card_data is not None else None
                if card is None and not briefs:
                    return None
                return ModelState(name, card, LazyVersions(self, name, briefs), briefs)
            loaded = self._load_all(name)
            if tree and loaded is not None:
                self._keep_committed(loaded, tree)
            return loaded
        return self._load_all(name)

    def _keep_committed(self, model: ModelState, tree: str) -> None:
        """A change sees the versions HEAD has, as it does through the index: a manifest git does not have
        (a version folder copied in by hand, or a manifest put back untracked after its removal was
        committed) is left out, and the register that would take its number says so. The index is saved
        when what was read is HEAD's exactly (no committed file modified)."""
        committed = git.tree_files(self.root, tree)
        for number in [n for n in model.versions if f"{n}/manifest.yaml" not in committed]:
            del model.versions[number]
        if not git.is_modified(self.root, [f"models/{model.name}"], untracked=False):
            modelindex.save(self.root, model.name, tree,
                            {n: modelindex.brief_of(v) for n, v in model.versions.items()})

    def _load_all(self, name: str) -> ModelState | None:
        card_data = self.read(card_path(name))
        card = card_from_dict(name, card_data, card_path(name)) if card_data is not None else None
        versions = {}
        for number in self.version_numbers(name):
            rel = f"models/{name}/{number}/manifest.yaml"
            data = self.read(rel)
            if data is None:
                continue
            mv = version_from_dict(data, rel)
            if mv.model != name or mv.version != number:
                raise CorruptState(f"{rel} says it is {mv.model} v{mv.version}; a manifest must match its "
                                   f"folder: fix or restore it (git checkout -- {rel})")
            versions[number] = mv
        if card is None and not versions:
            return None
        return ModelState(name, card, versions)

    # -- queries -----------------------------------------------------------------------------------
    def has_model(self, name: str) -> bool:
        return self._get(name) is not None

    def _get(self, name: str) -> ModelState | None:
        if name not in self._models:
            loaded = self._load_model(name)
            if loaded is None:
                return None
            self._models[name] = loaded
            self.cache.save()
        return self._models[name]

    def model(self, name: str) -> ModelState:
        refs.check_name(name)
        found = self._get(name)
        if found is None:
            try:  # folders under models/ that hold no model are not named
                known = [m.name for m in self.models()]
            except RegistryError:
                known = self.model_names()
            hint = f"; registered models: {', '.join(known)}" if known else "; register one with `reg register`"
            raise NotFound(f"unknown model {name!r}{hint}")
        return found

    def models(self) -> list[ModelState]:
        out = [m for m in (self._get(n) for n in self.model_names()) if m is not None]
        return out

    def version(self, name: str, number: int) -> ModelVersion:
        m = self.model(name)
        v = m.versions.get(number)
        if v is None:
            latest = m.next_version() - 1
            raise NotFound(f"{name} has no version {number}" + (f" (versions 1-{latest})" if latest else ""))
        return v

    def resolve(self, ref: str | Ref) -> ModelVersion:
        r = ref if isinstance(ref, Ref) else refs.parse_ref(ref, self.settings.stages)
        if r.model not in self._models:
            found = self._resolve_fast(r)
            if found is not None:
                return found
        m = self.model(r.model)
        if r.kind == "latest":
            v = m.latest()
            if v is None:
                raise NotFound(f"{r.model} has no versions (all deleted or none registered)")
            return v
        if r.kind == "version":
            return self.version(r.model, int(r.value))
        if r.kind == "stage":
            v = m.stage_holder(str(r.value))
            if v is None:
                raise NotFound(f"no version of {r.model} is in {r.value}")
            return v
        v = m.alias_holder(str(r.value))
        if v is None:
            known = m.aliases()
            hint = f"; its aliases: {', '.join(sorted(known))}" if known else ""
            if re.fullmatch(r"v\d+", str(r.value)):  # GTO's form; here churn@v7 is only the registration tag
                hint = f"; for version {str(r.value)[1:]} write {r.model}/{str(r.value)[1:]}"
            raise NotFound(f"{r.model} has no alias {r.value!r}{hint}")
        return v

    def one_version(self, name: str, number: int) -> ModelVersion | None:
        """One manifest, read on its own (no parse cache); None when absent or not that version's."""
        rel = f"models/{name}/{number}/manifest.yaml"
        data = self.read(rel, cached=False)
        if data is None:
            return None
        mv = version_from_dict(data, rel)
        return mv if (mv.model, mv.version) == (name, number) else None

    def _resolve_fast(self, r: Ref) -> ModelVersion | None:
        """Answer from one or two small files, independent of how many versions exist. Whatever the fast
        path cannot prove (a pointer that disagrees with its manifest, a missing version) falls back to
        reading the whole model, which also produces the precise error."""
        if r.kind == "version":
            return self.one_version(r.model, int(r.value))
        if r.kind == "latest":
            for number in reversed(self.version_numbers(r.model)):
                v = self.one_version(r.model, number)
                if v is None:
                    return None
                if not v.deleted:
                    return v
            return None
        pointer = self.read(f"models/{r.model}/{r.value}.dvc", cached=False)
        number = ((pointer or {}).get("meta") or {}).get("reg", {}).get("version")
        if not isinstance(number, int):
            return None
        v = self.one_version(r.model, number)
        if v is None or v.deleted:
            return None
        if r.kind == "stage" and v.stage == r.value:
            return v
        if r.kind == "alias" and r.value in v.aliases:
            return v
        return None


def read_state(root: Path, rev: str | None = None) -> RegistryState:
    return RegistryState(Path(root), rev)
