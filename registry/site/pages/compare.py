"""The compare page: any two versions of a model as `reg compare` shows them, the pair picked in a form
(rendered here for the default pair, by the page's script for any other)."""
from __future__ import annotations

from ...compare import compare as compare_versions
from ...compare import flatten
from ...errors import RegistryError
from ...manifest import ModelVersion
from ..collect import ModelData, Site, finite
from ..html import esc, json_script, num, page, plain, short, signed
from .common import footer


def default_pair(site: Site, m: ModelData) -> tuple[int, int] | None:
    numbers = sorted(m.state.versions)
    if not numbers:
        return None
    live = [v.version for v in m.state.live()]
    if not live:
        return (numbers[-2] if len(numbers) > 1 else numbers[-1]), numbers[-1]
    b = live[-1]
    top = m.holder(site.top_stage)
    if top is not None and top.version != b:
        return top.version, b
    return (live[-2] if len(live) > 1 else b), b


def version_options(m: ModelData, selected: int) -> str:
    out = []
    for n in sorted(m.state.versions, reverse=True):
        v = m.state.versions[n]
        sel = " selected" if n == selected else ""
        out.append(f'<option value="{n}"{sel}>v{n} ({"deleted" if v.deleted else esc(v.stage)})</option>')
    return "".join(out)


def compare_form(m: ModelData, pair: tuple[int, int], *, on_compare_page: bool) -> str:
    ids = ('id="cmp-a" ', 'id="cmp-b" ', ' id="cmp-go"') if on_compare_page else ("", "", "")
    return (f'<form class="compare" method="get" action="compare.html" aria-label="Compare two versions">'
            f'<label>A <select {ids[0]}name="a">{version_options(m, pair[0])}</select></label>'
            f'<label>B <select {ids[1]}name="b">{version_options(m, pair[1])}</select></label>'
            f'<button type="submit"{ids[2]}>Compare</button></form>')


def _label(v: ModelVersion) -> str:
    return f"v{v.version} ({'deleted' if v.deleted else v.stage})"


def _commit_html(site: Site, v: ModelVersion) -> str:
    sha = v.lineage.get("git_sha")
    if not sha:
        return "-"
    s = str(sha)
    text = (f'<a class="ext" href="{esc(site.forge.commit(s))}" rel="noreferrer noopener">{esc(s[:12])}</a>'
            if site.forge else f'<span class="mono">{esc(s[:12])}</span>')
    return text + (" (dirty)" if v.lineage.get("git_dirty") else "")


def comparison_html(site: Site, m: ModelData, a: int, b: int) -> str:
    """The comparison as `reg compare` computes it. The page's script renders other pairs the same way."""
    try:
        c = compare_versions(site.state, m.name, str(a), str(b))
    except (RegistryError, AttributeError, TypeError, ValueError) as exc:  # a hand-edited manifest's odd shapes
        return f'<p class="fail">Cannot compare v{a} and v{b}: {esc(exc)}</p>'
    A, B = f"v{c.a.version}", f"v{c.b.version}"
    h = [f"<h2>{esc(_label(c.a))} vs {esc(_label(c.b))}</h2><h3>Metrics</h3>"]
    if c.metrics:
        h.append(f'<table class="grid cmp" id="cmp-metrics"><thead><tr><th scope="col">metric</th>'
                 f'<th scope="col" class="n">{A}</th><th scope="col" class="n">{B}</th>'
                 f'<th scope="col" class="n">difference</th></tr></thead><tbody>')
        for name, x, y, d in c.metrics:
            h.append(f'<tr><td>{esc(name)}</td><td class="n">{esc(num(x))}</td><td class="n">{esc(num(y))}</td>'
                     f'<td class="n">{esc(signed(d))}</td></tr>')
        h.append("</tbody></table>")
    else:
        h.append('<p class="muted">No metrics.</p>')
    for title, kind, tid, changed, none, full in (("Params that changed", "param", "cmp-params", c.params,
                                                   "No param changed.", False),
                                                  ("Data that changed", "data", "cmp-data", c.data,
                                                   "No data changed.", True)):
        h.append(f"<h3>{title}</h3>")
        if not changed:
            h.append(f'<p class="muted">{none}</p>')
            continue
        h.append(f'<table class="grid cmp" id="{tid}"><thead><tr><th scope="col">{kind}</th><th scope="col">{A}</th>'
                 f'<th scope="col">{B}</th></tr></thead><tbody>')
        for key, x, y in changed:
            if full:
                h.append(f'<tr><td>{esc(key)}</td><td title="{esc(x or "")}">{esc(short(x))}</td>'
                         f'<td title="{esc(y or "")}">{esc(short(y))}</td></tr>')
            else:
                h.append(f"<tr><td>{esc(key)}</td><td>{esc(plain(x))}</td><td>{esc(plain(y))}</td></tr>")
        h.append("</tbody></table>")
    same = c.a.md5 and c.a.md5 == c.b.md5
    art = (f"the same bytes ({esc(c.a.md5[:12])})" if same else
           esc(f"{A} {(c.a.md5 or '-')[:12]} \u00b7 {B} {(c.b.md5 or '-')[:12]}"))
    h.append(f'<h3>Code and artifact</h3><table class="kv"><tbody><tr><th scope="row">git commit</th><td>{A}: '
             f'{_commit_html(site, c.a)} \u00b7 {B}: {_commit_html(site, c.b)}</td></tr><tr><th scope="row">artifact'
             f"</th><td>{art}</td></tr></tbody></table>")
    return "".join(h)


def compare_data(site: Site, m: ModelData, pair: tuple[int, int]) -> dict:
    versions = []
    for n in sorted(m.state.versions):
        v = m.state.versions[n]
        params = flatten(v.lineage.get("params") or {}) if isinstance(v.lineage.get("params"), dict) else {}
        data = v.lineage.get("data") if isinstance(v.lineage.get("data"), dict) else {}
        versions.append({
            "v": n, "stage": v.stage, "deleted": bool(v.deleted),
            "metrics": [[k, x if finite(x) else None, num(x)] for k, x in v.metrics.items()],
            "params": {k: plain(x) for k, x in params.items()},
            "data": {k: str(x) for k, x in data.items() if x},
            "git": str(v.lineage.get("git_sha") or "") or None, "dirty": bool(v.lineage.get("git_dirty")),
            "md5": v.md5 or None})
    return {"model": m.name, "default": list(pair), "versions": versions,
            "commit_url": site.forge.commit("") if site.forge else None}


def compare_page(site: Site, m: ModelData) -> str:
    pair = default_pair(site, m)
    assert pair is not None
    body = [f"<h1>Compare {esc(m.name)} versions</h1>",
            '<p class="lead">Metrics with their difference, the params and data that changed, and the code. '
            f'Pick two versions, or link to <code>compare.html#a=3&amp;b=7</code> (<code>reg compare {esc(m.name)} '
            "3 7</code> in a terminal).</p>",
            compare_form(m, pair, on_compare_page=True),
            f'<section id="compare-result" aria-live="polite">{comparison_html(site, m, *pair)}</section>',
            json_script("compare-data", compare_data(site, m, pair))]
    return page(f"{m.name} · compare", "\n".join(body),
                crumbs=[("../../index.html", "Model registry"), ("index.html", m.name), (None, "compare")],
                footer=footer(site, "../../"))
