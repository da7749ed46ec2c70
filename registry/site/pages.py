"""The four kinds of page, each a function from the gathered data to one HTML string.

Paths inside the site: `index.html` (the registry), `models/<name>/index.html` (a model),
`models/<name>/v<N>.html` (a version), `models/<name>/compare.html` (any two versions of a model). Links
name `index.html` explicitly, since a folder link does not open its index from file://.
"""
from __future__ import annotations

import urllib.parse

from ..compare import compare as compare_versions
from ..compare import flatten
from ..errors import RegistryError
from ..history import Event
from ..manifest import ModelVersion
from . import chart
from .collect import ModelData, Site, finite
from .html import (alias_list, esc, ext_link, is_number, json_script, kv_table, link, num, page, plain, short,
                   signed, stage_badge, table, value)

VERSIONS_PAGE = 50
EVENTS_PAGE = 25
# A manifest may hold any number of metrics: the table and the charts show the first ones, every version
# page shows them all.
MAX_COLUMNS = 10
MAX_CHARTS = 24


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


def stage_marks(site: Site, m: ModelData) -> list[chart.Mark]:
    """Versions that entered a stage other than the initial and archive ones, oldest first. Without any
    such event (a shallow clone) the current holders are marked, so the chart still says where they are."""
    s = site.settings
    skip = {s.initial_stage, s.archive_stage}
    marks = [chart.Mark(ev.version, ev.to_stage, f"v{ev.version} to {ev.to_stage}, {ev.time}, by "
                                                  f"{actor_name(ev.actor)}: {ev.reason or '-'}")
             for ev in reversed(m.events)
             if ev.action in ("promote", "rollback", "register") and ev.to_stage and ev.to_stage not in skip
             and ev.version is not None]
    if not marks:
        marks = [chart.Mark(v.version, v.stage, f"v{v.version} is in {v.stage}") for v in m.state.live()
                 if v.stage not in skip]
    return marks


# -- the registry page -----------------------------------------------------------------------------

def registry_page(site: Site) -> str:
    stages = site.settings.pointer_stages()
    rows = []
    for m in site.models:
        prefix = model_dir(m.name) + "/"
        latest = m.state.latest()
        last = m.last_event()
        change = "-"
        if last is not None:
            ver = f" v{last.version}" if last.version is not None else ""
            to = f" to {last.to_stage}" if last.to_stage and last.action != "register" else ""
            change = (f'<span class="mono">{esc(last.time)}</span><br>{esc(actor_name(last.actor))}: '
                      f"{esc(last.action)}{esc(ver)}{esc(to)}")
        card_ = m.state.card
        aliases = " ".join(link(prefix + version_file(n), f"@{a}=v{n}", cls="alias")
                           for a, n in sorted(m.state.aliases().items()))
        rows.append(
            f'<tr data-model="{esc(m.name)}"><td>{link(prefix + "index.html", m.name)}</td>'
            f'<td class="desc" title="{esc(card_.description if card_ else "")}">'
            f'{esc(card_.description if card_ else "")}</td>'
            f"<td>{link(prefix + version_file(latest.version), f'v{latest.version}') if latest else '-'}</td>"
            f'<td class="n">{len(m.state.live())}</td>'
            + "".join(f"<td>{holders(m, s, prefix)}</td>" for s in stages)
            + f"<td>{aliases or '-'}</td>"
            f"<td>{esc(', '.join(card_.owners)) if card_ and card_.owners else '-'}</td>"
            f"<td>{change}</td></tr>")
    total = sum(len(m.state.live()) for m in site.models)
    if site.models:
        body = table(["model", "description", "latest", "versions", *stages, "aliases", "owners", "last change"],
                     rows, attrs=' id="models" data-page-size="100" data-label="models"')
    else:
        body = '<p>No models registered yet: <code>reg register NAME PATH</code> adds the first.</p>'
    lead = f"{len(site.models)} model{'s' if len(site.models) != 1 else ''}, {total} version{'s' if total != 1 else ''}"
    return page("Model registry", f"<h1>Model registry</h1><p class=\"lead\">{lead}</p>{body}",
                crumbs=[(None, "Model registry")], footer=footer(site, ""))


# -- a model's page --------------------------------------------------------------------------------

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


def charts(site: Site, m: ModelData) -> str:
    metrics = m.metric_names()
    live = m.state.live()
    if not metrics:
        return '<p class="muted">No numeric metrics recorded, so there is nothing to chart.</p>'
    marks = stage_marks(site, m)
    boxes, figures = [], []
    for i, name in enumerate(metrics[:MAX_CHARTS]):
        cid = f"chart-{i}"
        points = [(v.version, float(v.metrics[name]), v.stage) for v in live if finite(v.metrics.get(name))]
        svg = chart.trend(name, points, marks, chart_id=f"svg-{i}", stages=site.settings.stages)
        boxes.append(f'<label><input type="checkbox" data-chart="{cid}"{" checked" if i == 0 else ""}> '
                     f"{esc(name)}</label>")
        figures.append(f'<figure class="chart" id="{cid}">{svg}<figcaption>{esc(name)} by version; rings and '
                       "dashed lines mark the versions that entered a stage (hover for who, when and why)."
                       "</figcaption></figure>")
    more = (f'<p class="muted">{len(metrics) - MAX_CHARTS} more metrics are on the version pages.</p>'
            if len(metrics) > MAX_CHARTS else "")
    return (f'<fieldset class="metric-choice" hidden><legend>Metrics to chart</legend>{"".join(boxes)}</fieldset>'
            + "".join(figures) + more)


def model_page(site: Site, m: ModelData) -> str:
    s = site.settings
    st = m.state
    live = st.live()
    latest = st.latest()
    metrics = m.metric_names()[:MAX_COLUMNS]
    cards = [card("latest", link(version_file(latest.version), f"v{latest.version}") if latest else "-"),
             card("versions", f"{len(live)}" + (f' <span class="muted">(+{len(st.versions) - len(live)} deleted)</span>'
                                               if len(st.versions) > len(live) else ""))]
    cards += [card(stage, holders(m, stage, "")) for stage in s.pointer_stages()]
    aliases = sorted(st.aliases().items())
    cards.append(card("aliases", " ".join(link(version_file(n), f"@{a}=v{n}", cls="alias") for a, n in aliases)
                      or "-"))
    if st.card and st.card.owners:
        cards.append(card("owners", esc(", ".join(st.card.owners))))
    rows = []
    for n in sorted(st.versions, reverse=True):
        v = st.versions[n]
        cls = ' class="deleted"' if v.deleted else ""
        rows.append(
            f'<tr{cls} data-version="{n}" data-stage="{esc("deleted" if v.deleted else v.stage)}">'
            f"<td>{link(version_file(n), f'v{n}')}</td><td>{stage_badge(v.stage, v.deleted)}</td>"
            f"<td>{alias_list(v.aliases)}</td>"
            + "".join(f'<td class="n">{esc(num(v.metrics.get(k)))}</td>' for k in metrics)
            + f'<td class="mono">{esc(v.created_at)}</td>'
            f'<td title="{esc(v.created_by)}">{esc(actor_name(v.created_by))}</td>'
            f'<td class="desc" title="{esc(v.description)}">{esc(v.description)}</td></tr>')
    versions = table(["version", "stage", "aliases", *metrics, "created at", "created by", "description"], rows,
                     attrs=f' id="versions" data-page-size="{VERSIONS_PAGE}" data-label="versions"') if rows else \
        '<p class="muted">No versions registered.</p>'
    pair = default_pair(site, m)
    body = [f"<h1>{esc(m.name)}</h1>"]
    if st.card and st.card.description:
        body.append(f'<p class="lead">{esc(st.card.description)}</p>')
    body.append(f'<div class="cards">{"".join(cards)}</div>')
    if st.card and st.card.tags:
        body.append(kv_table([(k, value(x)) for k, x in st.card.tags.items()]))
    body += ['<h2 id="metrics">Metric trends</h2>', charts(site, m)]
    if pair is not None:
        body += ['<h2 id="compare">Compare two versions</h2>', compare_form(m, pair, on_compare_page=False)]
    body += ['<h2 id="versions-heading">Versions</h2>', versions,
             '<h2 id="timeline">Timeline</h2>',
             '<p class="lead">Who moved which version where, and why, newest first (<code>reg history '
             f"{esc(m.name)}</code>).</p>",
             event_table(site, m.events, with_version=True, table_id="events", versions_here=set(st.versions))]
    return page(f"{m.name} · model registry", "\n".join(body),
                crumbs=[("../../index.html", "Model registry"), (None, m.name)], footer=footer(site, "../../"))


# -- a version's page ------------------------------------------------------------------------------

def _metric_rows(v: ModelVersion) -> list[tuple[str, str]]:
    return [(k, esc(num(x)) if is_number(x) else value(x)) for k, x in v.metrics.items()]


def lineage_section(site: Site, v: ModelVersion) -> str:
    lin = dict(v.lineage or {})
    out = []
    sha = lin.pop("git_sha", None)
    dirty = lin.pop("git_dirty", None)
    code = [("git commit", commit_cell(site, str(sha)) if sha else "-")]
    if dirty is not None:
        code.append(("uncommitted changes", "yes: the artifact may not match that commit" if dirty else "no"))
    out += ['<div class="cols"><section>', "<h3>Code</h3>", kv_table(code)]
    data = lin.pop("data", None)
    out.append("<h3>Data</h3>")
    if isinstance(data, dict) and data:
        out.append(table(["path", "content hash"], [f'<tr><td>{esc(k)}</td><td class="mono">{esc(h)}</td></tr>'
                                                    for k, h in data.items()]))
    else:
        out.append('<p class="muted">No data hashes recorded (register with <code>--from-dvc</code> to record '
                   "them).</p>")
    params = lin.pop("params", None)
    out.append("</section><section><h3>Params</h3>")
    if isinstance(params, dict) and params:
        out.append(kv_table([(k, value(x)) for k, x in flatten(params).items()]))
    else:
        out.append('<p class="muted">none</p>')
    env = lin.pop("environment", None)
    out.append("<h3>Environment</h3>")
    out.append(kv_table([(k, value(x)) for k, x in env.items()]) if isinstance(env, dict) and env else
               '<p class="muted">none</p>')
    out.append("</section></div>")
    if lin:
        out += ["<h3>More</h3>", kv_table([(k, value(x)) for k, x in lin.items()])]
    return "".join(out)


def signature_section(sig) -> str:
    if not sig:
        return '<p class="muted">No signature recorded.</p>'
    if not isinstance(sig, dict):
        return value(sig)
    out = []
    for key, part in sig.items():
        out.append(f"<h3>{esc(key)}</h3>")
        if isinstance(part, list) and part and all(isinstance(p, dict) for p in part):
            cols: list[str] = []
            for p in part:
                cols += [str(c) for c in p if str(c) not in cols]
            out.append(table(cols, ["<tr>" + "".join(f"<td>{value(p.get(c))}</td>" for c in cols) + "</tr>"
                                    for p in part]))
        else:
            out.append(value(part))
    return "".join(out)


def validations_section(v: ModelVersion) -> str:
    if not v.validations:
        return '<p class="muted">Not validated (<code>reg validate</code> records a re-score here).</p>'
    out = []
    for i, rec in enumerate(reversed(v.validations), 1):
        if not isinstance(rec, dict):
            out.append(value(rec))
            continue
        rec = dict(rec)
        gate = rec.pop("gate", None)
        metrics = rec.pop("metrics", None)
        head = f"{rec.get('at', '')} on {rec.get('data', '?')}"
        out.append(f"<h3>{esc(head)}</h3>")
        out.append(kv_table([(k, value(x)) for k, x in rec.items()]))
        if isinstance(metrics, dict) and metrics:
            out.append(table(["metric", "value"], [f'<tr><td>{esc(k)}</td><td class="n">{esc(num(x))}</td></tr>'
                                                   for k, x in metrics.items()]))
        if isinstance(gate, dict):
            passed = gate.get("passed")
            verdict = '<span class="ok">passed</span>' if passed else '<span class="fail">failed</span>'
            out.append(f"<p>{esc(gate.get('stage', ''))} gate: {verdict}</p>")
            checks = gate.get("checks") or []
            if isinstance(checks, list) and checks:
                items = []
                for c in checks:
                    text = str(c)
                    cls = "ok" if text.startswith("ok") else ("fail" if text.startswith("FAIL") else "")
                    items.append(f'<li><span class="{cls}">{esc(text.split(" ", 1)[0])}</span> '
                                 f"{esc(text.split(' ', 1)[1] if ' ' in text else '')}</li>")
                out.append(f"<ul>{''.join(items)}</ul>")
        elif gate is not None:
            out.append(value(gate))
    return "".join(out)


def version_page(site: Site, m: ModelData, v: ModelVersion) -> str:
    n = v.version
    numbers = m.numbers
    i = m.position[n]
    prev_n = numbers[i - 1] if i > 0 else None
    next_n = numbers[i + 1] if i + 1 < len(numbers) else None
    events = m.by_version.get(n, [])
    reg_tag = next((ev.tag for ev in events if ev.action == "register" and ev.tag), None)
    body = [f"<h1>{esc(m.name)} v{n} {stage_badge(v.stage, v.deleted)} {alias_list(v.aliases)}</h1>"]
    if v.deleted:
        body.append(f'<div class="banner" role="note"><strong>Deleted</strong> {esc(v.deleted_at or "")} by '
                    f"{esc(v.deleted_by or '?')}: {esc(v.deleted_reason or '(no reason)')}. The manifest stays as a "
                    "tombstone and the number is never reused.</div>")
    if v.description:
        body.append(f'<p class="lead">{esc(v.description)}</p>')
    art = v.artifact or {}
    cards = [card("created", f'<span class="mono">{esc(v.created_at)}</span>'),
             card("by", f'<span title="{esc(v.created_by)}">{esc(actor_name(v.created_by))}</span>'),
             card("artifact", f"{esc(art.get('format', '?'))}, {esc(human_size(art.get('size')))}"),
             card("registration tag", tag_cell(site, reg_tag or f"{m.name}@v{n}") if reg_tag or site.forge
                  else f'<span class="mono">{esc(m.name)}@v{n}</span>')]
    body.append(f'<div class="cards">{"".join(cards)}</div>')
    nav = []
    if prev_n is not None:
        nav.append(link(version_file(prev_n), f"\u2190 v{prev_n}"))
        nav.append(link(f"compare.html#a={prev_n}&b={n}", f"compare with v{prev_n}"))
    top = m.holder(site.top_stage)
    if top is not None and top.version != n:
        nav.append(link(f"compare.html#a={top.version}&b={n}", f"compare with {top.stage} (v{top.version})"))
    if next_n is not None:
        nav.append(link(version_file(next_n), f"v{next_n} \u2192"))
    if nav:
        body.append('<p class="nav">' + " \u00b7 ".join(nav) + "</p>")
    body.append('<div class="cols"><section><h2 id="metrics">Metrics</h2>'
                + (kv_table(_metric_rows(v)) if v.metrics else '<p class="muted">none</p>')
                + '</section><section><h2 id="tags">Tags</h2>'
                + (kv_table([(k, value(x)) for k, x in v.tags.items()]) if v.tags else '<p class="muted">none</p>')
                + "</section></div>")
    body += ['<h2 id="lineage">Lineage</h2>', lineage_section(site, v)]
    art_rows = [(k, esc(human_size(x)) if k == "size" else (f'<span class="mono">{esc(x)}</span>' if k == "md5"
                                                              else value(x))) for k, x in art.items()]
    body += ['<h2 id="artifact">Artifact</h2>', kv_table(art_rows),
             f'<p class="muted">Get it with <code>reg pull {esc(m.name)}/{n}</code>.</p>']
    body += ['<h2 id="signature">Signature</h2>', signature_section(v.signature)]
    body += ['<h2 id="validations">Validations</h2>', validations_section(v)]
    if v.overrides:
        body += ['<h2 id="overrides">Gate overrides</h2>', value(v.overrides)]
    body += ['<h2 id="history">History</h2>', event_table(site, events, with_version=False, table_id="events")]
    manifest = f"models/{m.name}/{n}/manifest.yaml"
    src = ext_link(site.forge.file(site.commit, manifest), manifest) if site.forge and site.commit else \
        f"<code>{esc(manifest)}</code>"
    body.append(f'<h2 id="files">Files</h2><p>The manifest: {src}.</p>')
    return page(f"{m.name} v{n} · model registry", "\n".join(body),
                crumbs=[("../../index.html", "Model registry"), ("index.html", m.name), (None, f"v{n}")],
                footer=footer(site, "../../"))


# -- the compare page ------------------------------------------------------------------------------

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
