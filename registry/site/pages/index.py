"""The registry page (the site's index.html): every model, its latest version, stage holders and last change."""
from __future__ import annotations

from ..collect import Site
from ..html import esc, link, page, table
from .common import actor_name, footer, holders, model_dir, version_file


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
