"""Pieces every page shares: paths inside the site, the footer, commit and tag cells, the event table."""
from __future__ import annotations

import urllib.parse

from ...history import Event
from ..collect import ModelData, Site
from ..html import esc, ext_link, is_number, link, plain, table

EVENTS_PAGE = 25


def model_dir(name: str) -> str:
    return f"models/{urllib.parse.quote(name)}"


def version_file(n: int) -> str:
    return f"v{n}.html"


# -- shared pieces ---------------------------------------------------------------------------------

def footer(site: Site, up: str) -> str:
    if site.commit is None:
        where = "a repository with no commit yet"
    else:
        where = f"commit {commit_cell(site, site.commit)} ({esc(site.commit_time or '')})"
        if site.dirty:
            where += " plus uncommitted registry changes"
    return (f'Built by <code>reg site</code> from {where}. {link(up + "index.html", "All models")}. '
            "Static pages: no server, nothing loaded from the network.")


def actor_name(actor: str) -> str:
    return actor.split(" <", 1)[0] if " <" in actor else actor


def commit_cell(site: Site, sha: str | None) -> str:
    if not sha:
        return "-"
    if site.forge:
        return ext_link(site.forge.commit(sha), sha[:8], sha)
    return f'<span class="mono" title="{esc(sha)}">{esc(sha[:8])}</span>'


def tag_cell(site: Site, tag: str | None) -> str:
    if not tag:
        return "-"
    return ext_link(site.forge.tag(tag), tag) if site.forge else f'<span class="mono">{esc(tag)}</span>'


def what(ev: Event) -> str:
    if ev.action == "delete":
        return f"deleted (was {esc(ev.from_stage)})" if ev.from_stage else "deleted"
    if ev.from_stage or ev.to_stage:
        if ev.action == "register":
            return f"registered in {esc(ev.to_stage)}" + (f"; {esc(ev.detail)}" if ev.detail else "")
        return f"{esc(ev.from_stage or '-')} &rarr; {esc(ev.to_stage or '-')}" + (
            f" <span class=\"muted\">({esc(ev.detail)})</span>" if ev.detail else "")
    return esc(ev.detail) if ev.detail else "-"


def event_rows(site: Site, events: list[Event], *, with_version: bool,
               versions_here: set[int] | None = None) -> list[str]:
    rows = []
    for ev in events:
        cells = [f'<td class="mono">{esc(ev.time)}</td>',
                 f'<td title="{esc(ev.actor)}">{esc(actor_name(ev.actor))}</td>', f"<td>{esc(ev.action)}</td>"]
        if with_version:
            if ev.version is None:
                cells.append("<td>model</td>")
            elif versions_here is None or ev.version in versions_here:
                cells.append(f"<td>{link(version_file(ev.version), f'v{ev.version}')}</td>")
            else:
                cells.append(f"<td>v{ev.version}</td>")
        cells += [f"<td>{what(ev)}</td>", f"<td>{esc(ev.reason or '-')}</td>",
                  f"<td>{commit_cell(site, ev.commit)}</td>", f"<td>{tag_cell(site, ev.tag)}</td>"]
        rows.append(f'<tr data-action="{esc(ev.action)}">{"".join(cells)}</tr>')
    return rows


def event_table(site: Site, events: list[Event], *, with_version: bool, table_id: str,
                versions_here: set[int] | None = None) -> str:
    if not events:
        return '<p class="muted">No registry events found in the git history (a shallow clone has none: fetch ' \
               "the whole history).</p>"
    cols = ["time", "who", "action", *(["version"] if with_version else []), "what", "reason", "commit", "tag"]
    return table(cols, event_rows(site, events, with_version=with_version, versions_here=versions_here),
                 attrs=f' id="{table_id}" data-page-size="{EVENTS_PAGE}" data-label="events"')


def human_size(n) -> str:
    if not is_number(n):
        return plain(n)
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return str(n)


def card(k: str, v: str) -> str:
    return f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{v}</div></div>'


def holders(m: ModelData, stage: str, prefix: str) -> str:
    held = list(reversed(m.state.in_stage(stage)))
    return ", ".join(link(f"{prefix}{version_file(v.version)}", f"v{v.version}") for v in held) or "-"
