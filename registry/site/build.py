"""Write the site: every page into a fresh folder beside OUT, then swap it into place, so a reader (or a
static host syncing OUT) never sees half a site, and pages of a model that is gone do not linger.

OUT is replaced whole, so it must be new, empty, or a folder `reg site` wrote before (it leaves a marker
file): an existing folder with anything else in it (a typo such as `reg site .`) is refused, untouched.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..history import Event
from ..settings import SETTINGS_PATH
from ..state import RegistryState
from . import pages
from .collect import Site, gather

MARKER = ".reg-site"


@dataclass
class Built:
    out: Path
    pages: int
    models: int
    versions: int
    commit: str | None


def check_out(out: Path, root: Path) -> Path:
    out = Path(out).absolute()
    real = out.resolve()
    models = (Path(root) / "models").resolve()
    if real == models or models in real.parents:
        raise UsageError(f"{out} is inside the registry's models/ folder; write the site somewhere else "
                         "(e.g. reg site _site)")
    if out.exists() or out.is_symlink():
        if not real.is_dir():
            raise UsageError(f"{out} exists and is not a folder; give a new or empty folder for the site")
        if any(real.iterdir()) and not (real / MARKER).is_file():
            raise UsageError(f"{out} is not empty and was not written by `reg site`; give a new or empty folder "
                             "(the site replaces its folder whole)")
    return real


def write(site: Site, out: Path) -> Built:
    """All pages of `site` into `out` (checked with `check_out` first)."""
    out = check_out(out, site.state.root)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.reg-site-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    count = 0

    def put(rel: str, text: str) -> None:
        nonlocal count
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        count += 1

    try:
        tmp.mkdir()
        put("index.html", pages.registry_page(site))
        for m in site.models:
            base = pages.model_dir(m.name)
            put(f"{base}/index.html", pages.model_page(site, m))
            for n, v in sorted(m.state.versions.items()):
                put(f"{base}/{pages.version_file(n)}", pages.version_page(site, m, v))
            if m.state.versions:
                put(f"{base}/compare.html", pages.compare_page(site, m))
        (tmp / ".nojekyll").write_text("")  # GitHub Pages: serve the files as they are
        (tmp / MARKER).write_text(json.dumps({"generator": "reg site", "commit": site.commit}) + "\n")
        _swap(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    versions = sum(len(m.state.versions) for m in site.models)
    return Built(out, count, len(site.models), versions, site.commit)


def _swap(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.parent / f".{out.name}.reg-site-old-{os.getpid()}"
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build(state: RegistryState, out: Path, events: list[Event] | None = None) -> Built:
    """The site of the registry `state` describes (at the working tree, or at `state.rev`) into `out`.
    `events`: its history newest first, when the caller has read it already."""
    check_out(out, state.root)  # refuse before the work of reading the history
    if state.rev is None and not (state.root / SETTINGS_PATH).is_file() and not state.model_names():
        raise UsageError(f"{state.root} is not a registry yet: run `reg init`, then `reg register NAME PATH`")
    return write(gather(state, events), out)
