"""`reg register NAME --from-dvc STAGE`: what a DVC stage produced, read from dvc.yaml and dvc.lock.

The stage's model output is the artifact. Metrics come from the stage's own metrics files and from the
metrics of stages that consumed that output (an `evaluate` stage), params and data hashes from dvc.lock
for the stage, every stage upstream of it and those metric stages (their threshold, their holdout). Before anything is registered, the output and the
metrics files must still be what dvc.lock recorded, so the lineage describes the artifact registered.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import artifacts, git, lineage as lineage_mod, yamlio
from .errors import StateError, UsageError

CODE_SUFFIXES = lineage_mod.CODE_SUFFIXES


@dataclass
class StageRun:
    dvc_file: Path  # dvc.yaml
    stage: str
    artifact: Path  # the stage's model output
    metrics: dict = field(default_factory=dict)
    metric_files: list[str] = field(default_factory=list)
    signature: dict | None = None
    lineage: dict = field(default_factory=dict)  # data, params, dvc: merged over the collected lineage


def parse_target(spec: str) -> tuple[str | None, str]:
    """`train`, or DVC's own addressing `path/to/dvc.yaml:train` (or `path/to/folder:train`)."""
    spec = spec.strip()
    if not spec:
        raise UsageError("--from-dvc needs a stage name, e.g. --from-dvc churn-train or "
                         "--from-dvc dvc.yaml:churn-train")
    if ":" in spec:
        where, _, stage = spec.rpartition(":")
        if not stage.strip():
            raise UsageError(f"--from-dvc {spec} names no stage after ':'; write e.g. {where or 'dvc.yaml'}:train")
        return where or None, stage.strip()
    return None, spec


def _entries(items) -> dict[str, dict]:
    """dvc.yaml's outs/metrics/plots/deps lists (`- path` or `- path: {opts}`) as {path: opts}."""
    out = {}
    for item in items or []:
        if isinstance(item, str):
            out[_norm(item)] = {}
        elif isinstance(item, dict):
            for key, opts in item.items():
                out[_norm(str(key))] = opts if isinstance(opts, dict) else {}
    return out


def _norm(path: str) -> str:
    return os.path.normpath(path).replace(os.sep, "/")


def _locate(spec: str, cwd: Path, root: Path) -> tuple[Path, str]:
    where, stage = parse_target(spec)
    if where is not None:  # relative to where the command runs, else to the registry's root
        p = Path(where)
        candidates = [q if q.name in ("dvc.yaml", "dvc.yml") else q / "dvc.yaml"
                      for q in ([p] if p.is_absolute() else [cwd / p, root / p])]
    else:
        candidates = [cwd / "dvc.yaml", root / "dvc.yaml"]
    seen = []
    for c in candidates:
        c = c.resolve()
        if c in seen or not c.is_file():
            continue
        seen.append(c)
        stages = (yamlio.read_workspace(c, str(c)).get("stages") or {})
        if stage in stages:
            return c, stage
    if not seen:
        looked = list(dict.fromkeys(str(c.resolve()) for c in candidates))
        found = _files_with_stage(root, stage)
        hint = (f"; {stage!r} is in {', '.join(found)}: give --from-dvc {found[0]}:{stage}" if found else
                "; run this in the pipeline's folder or give --from-dvc path/to/dvc.yaml:STAGE")
        raise UsageError(f"no dvc.yaml found at {' or '.join(looked)}{hint}")
    known = sorted((yamlio.read_workspace(seen[0], str(seen[0])).get("stages") or {}))
    raise UsageError(f"{seen[0]} has no stage {stage!r}" + (f"; its stages: {', '.join(known)}" if known else ""))


def _files_with_stage(root: Path, stage: str) -> list[str]:
    """The repository's dvc.yaml files (committed or not) that define `stage`, relative to its root."""
    found = []
    for rel in git.listed_files(root, ["dvc.yaml", "*/dvc.yaml"])[:50]:
        try:
            if stage in (yamlio.read_workspace(root / rel, rel).get("stages") or {}):
                found.append(rel)
        except Exception:  # a dvc.yaml that does not parse is no hint
            continue
    return found


def _lock_entries(items) -> dict[str, dict]:
    return {_norm(str(i.get("path"))): i for i in items or [] if isinstance(i, dict) and i.get("path")}


def _md5(info: dict) -> str | None:
    return info.get("md5") or info.get("etag") or info.get("checksum")


def _read_metrics(path: Path) -> dict:
    try:
        return lineage_mod.flat_metrics(lineage_mod.read_data_file(path, "metrics"))
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"metrics file {path} could not be read: {exc}") from None


def read_stage(spec: str, *, cwd: Path, root: Path, path: str | Path | None = None) -> StageRun:
    dvc_file, stage = _locate(spec, Path(cwd).resolve(), Path(root).resolve())
    base = dvc_file.parent
    rel_dvc = _rel(dvc_file, base)
    stages = yamlio.read_workspace(dvc_file, rel_dvc).get("stages") or {}
    body = stages[stage] or {}
    if "foreach" in body or "matrix" in body:
        raise UsageError(f"stage {stage!r} uses foreach/matrix; give one of its generated stages, e.g. {stage}@0")
    lock_file = base / "dvc.lock"
    lock = yamlio.read_workspace(lock_file, "dvc.lock").get("stages", {}) if lock_file.is_file() else {}
    if stage not in lock:
        raise StateError(f"dvc.lock has no record of stage {stage!r}; run `dvc repro {stage}` first")

    metric_paths = list(_entries(body.get("metrics")))
    plot_paths = list(_entries(body.get("plots")))
    outs = [p for p in _entries(body.get("outs")) if p not in metric_paths + plot_paths]
    if path is not None:
        artifact = Path(path).resolve()
        out_rel = _rel(artifact, base)
        if out_rel not in outs:
            raise UsageError(f"{path} is not an output of stage {stage!r} (its outputs: {', '.join(outs) or 'none'})")
    else:
        folders = [o for o in outs if (base / o).is_dir()]
        if len(outs) == 1:
            out_rel = outs[0]
        elif len(folders) == 1:
            out_rel = folders[0]
        elif not outs:
            raise UsageError(f"stage {stage!r} has no outputs to register; name the stage that writes the model")
        else:
            raise UsageError(f"stage {stage!r} has several outputs ({', '.join(outs)}); give the one to register: "
                             f"reg register NAME PATH --from-dvc {spec}")
        artifact = base / out_rel
    if not artifact.exists():
        raise StateError(f"{_rel(artifact, base)} does not exist; run `dvc repro {stage}` (or `dvc pull`) first")

    lock_outs = _lock_entries(lock[stage].get("outs"))
    recorded = _md5(lock_outs.get(out_rel, {}))
    current = artifacts.content_md5(artifact)
    if recorded != current:
        raise StateError(f"{out_rel} is not what dvc.lock recorded for stage {stage!r} (it changed after the run); "
                         f"run `dvc repro {stage}` so the lineage describes this artifact")

    run = StageRun(dvc_file=dvc_file, stage=stage, artifact=artifact)
    # The metrics of stages that consumed this output (an evaluate stage's holdout scores) come first and
    # win a name clash: they are the headline numbers; then the stage's own (training) metrics.
    own = StageRun(dvc_file=dvc_file, stage=stage, artifact=artifact)
    _collect_metrics(own, stage, metric_paths, lock_outs, base)
    consumers = []  # the stages whose metrics were taken: their params and data (the holdout) are lineage too
    for other, other_body in stages.items():
        if other == stage or other not in lock or not isinstance(other_body, dict):
            continue
        if out_rel not in _entries(other_body.get("deps")):
            continue
        used = _md5(_lock_entries(lock[other].get("deps")).get(out_rel, {}))
        other_metrics = list(_entries(other_body.get("metrics")))
        if not other_metrics:
            continue
        if used != current:
            raise StateError(f"stage {other!r} last ran on another {out_rel}, so its metrics "
                             f"({', '.join(other_metrics)}) are stale; run `dvc repro` first")
        _collect_metrics(run, other, other_metrics, _lock_entries(lock[other].get("outs")), base)
        consumers.append(other)

    run.metrics.update({k: x for k, x in own.metrics.items() if k not in run.metrics})
    run.metric_files = own.metric_files + run.metric_files
    sig = artifact / "signature.json" if artifact.is_dir() else None
    if sig is not None and sig.is_file():
        try:
            run.signature = json.loads(sig.read_text(encoding="utf-8"))
        except ValueError:
            raise UsageError(f"{sig} is not valid JSON") from None

    upstream = _upstream(stages, stage)
    workspace = lineage_mod.workspace_of(base, base)
    prefix = _rel(base, workspace)
    prefix = "" if prefix in (".", "") else prefix + "/"
    data, params = {}, {}
    for name in upstream + [c for c in consumers if c not in upstream]:
        entry = lock.get(name) or {}
        for dep in entry.get("deps") or []:
            p = str(dep.get("path", ""))
            if p and _md5(dep) and _norm(p) != out_rel and not p.lower().endswith(CODE_SUFFIXES):
                data[_norm(prefix + p)] = _md5(dep)
        for file, values in (entry.get("params") or {}).items():
            target = params if file == "params.yaml" else params.setdefault(file, {})
            _merge(target, _nest(values or {}))
    run.lineage = {"data": data, "params": params,
                   "dvc": {"file": _rel(dvc_file, workspace), "stage": stage, "cmd": lock[stage].get("cmd"),
                           "out": _rel(artifact, workspace), "md5": current,
                           **({"metrics": run.metric_files} if run.metric_files else {})}}
    # git_dirty ignores untracked files, but a dvc.lock not yet committed means the recorded git SHA does
    # not hold this run: `git checkout SHA && dvc checkout` would not give back this artifact.
    if _uncommitted(lock_file):
        run.lineage["git_dirty"] = True
    return run


def _uncommitted(path: Path) -> bool:
    return git.is_modified(path.parent, [path.name])


def _collect_metrics(run: StageRun, stage: str, paths: list[str], lock_outs: dict, base: Path) -> None:
    for rel in paths:
        file = base / rel
        if not file.is_file():
            raise StateError(f"metrics file {rel} of stage {stage!r} is missing; run `dvc repro {stage}`")
        recorded = _md5(lock_outs.get(rel, {}))
        if recorded and recorded != artifacts.file_md5(file):
            raise StateError(f"metrics file {rel} changed after stage {stage!r} ran; run `dvc repro {stage}`")
        run.metrics.update(_read_metrics(file))
        run.metric_files.append(rel)  # relative to dvc.yaml, as `dvc metrics show` prints them


def _upstream(stages: dict, stage: str) -> list[str]:
    """`stage` and every stage whose outputs it depends on, directly or not, in pipeline order."""
    producers = {}
    for name, body in stages.items():
        if isinstance(body, dict):
            for out in list(_entries(body.get("outs"))) + list(_entries(body.get("metrics"))):
                producers[out] = name
    order, todo = [], [stage]
    while todo:
        name = todo.pop()
        if name in order:
            continue
        order.append(name)
        for dep in _entries((stages.get(name) or {}).get("deps")):
            for out, producer in producers.items():
                if dep == out or dep.startswith(out.rstrip("/") + "/"):
                    todo.append(producer)
    return list(reversed(order))


def _nest(values: dict) -> dict:
    """dvc.lock's `churn.train: {...}` (a stage's `params: [churn.train]`) as `churn: {train: {...}}`, the
    shape params.yaml has, so a manifest's params read like the file they came from."""
    out: dict = {}
    for key, value in values.items():
        for part in reversed(str(key).split(".")):
            value = {part: value}
        _merge(out, value)
    return out


def _merge(target: dict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[str(key)] = value


def _rel(path: Path, base: Path) -> str:
    try:
        return Path(path).resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)
