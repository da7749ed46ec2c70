"""A model's page: its stage holders and aliases, metric trend charts, every version, and its timeline."""
from __future__ import annotations

from .. import chart
from ..collect import ModelData, Site, finite
from ..html import alias_list, esc, kv_table, link, num, page, stage_badge, table, value
from .common import actor_name, card, event_table, footer, holders, version_file
from .compare import compare_form, default_pair

VERSIONS_PAGE = 50
# A manifest may hold any number of metrics: the table and the charts show the first ones, every version
# page shows them all.
MAX_COLUMNS = 10
MAX_CHARTS = 24


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
