"""A version's page: metrics, tags, lineage, artifact, signature, validations and its history."""
from __future__ import annotations

from ...compare import flatten
from ...manifest import ModelVersion
from ..collect import ModelData, Site
from ..html import alias_list, esc, ext_link, is_number, kv_table, link, num, page, stage_badge, table, value
from .common import actor_name, card, commit_cell, event_table, footer, human_size, tag_cell, version_file


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
