"""`reg check`'s report as text (the CLI), JSON (`--format json`) and markdown (a pull-request comment)."""
from __future__ import annotations

from .. import policy
from .report import Report


def format_text(report: Report) -> str:
    scope = f"{report.head[:8]}" + (f", {report.commits} commit(s) since {report.base[:8]}" if report.base else "")
    lines = [f"new: {name} v{number}" for name, number in report.new_versions]
    for m in report.moves:
        lines.append(f"move: {m.model} v{m.version} {m.from_stage} -> {m.to_stage} in {m.commit[:8]} by {m.author}"
                     + (f" (reason: {m.reason})" if m.reason else ""))
    for w in report.warnings:
        lines.append(f"warning: {w}")
    for p in report.problems:
        lines.append(f"problem: {p}")
    verdict = (f"reg check: ok ({scope})" if report.ok else
               f"reg check: {len(report.problems)} problem(s) ({scope})")
    return "\n".join(lines + [verdict]) + "\n"


def to_json(report: Report) -> dict:
    def ver(v):
        return None if v is None else {"version": v.version, "stage": v.stage, "metrics": policy.effective_metrics(v)}

    return {
        "ok": report.ok, "head": report.head, "base": report.base, "commits": report.commits,
        "problems": [{"where": p.where, "message": p.message, "commit": p.commit} for p in report.problems],
        "warnings": report.warnings,
        "moves": [{"model": m.model, "version": m.version, "from": m.from_stage, "to": m.to_stage,
                   "commit": m.commit, "author": m.author, "reason": m.reason, "forced": m.forced,
                   "checks": [{"name": c.name, "passed": c.passed, "detail": c.detail} for c in m.checks]}
                  for m in report.moves],
        "new_versions": [{"model": n, "version": v} for n, v in report.new_versions],
        "comparisons": {name: {"stage": c["stage"], "current": ver(c["current"]),
                               "candidates": [ver(v) for v in c["candidates"]]}
                        for name, c in report.comparisons.items()},
    }


def _cell(x) -> str:
    if x is None:
        return "-"
    return policy.format_number(x)


def _md_cell(text: str) -> str:
    """Text a person wrote (a reason) inside a markdown table cell: a | or a line break would end the row."""
    return " ".join(str(text).split()).replace("|", "\\|")


def format_markdown(report: Report) -> str:
    """A pull-request review comment: verdict, one section per model changed, its stage moves, and a metrics
    table of the new version(s) against the version now in production."""
    icon = "✅" if report.ok else "❌"
    out = [f"## {icon} reg check: " + ("registry rules hold" if report.ok else f"{len(report.problems)} problem(s)"),
           "", f"Checked `{report.head[:8]}`" + (f", {report.commits} commit(s) since `{report.base[:8]}`."
                                                  if report.base else ".")]
    if report.problems:
        out += ["", "### Problems", ""]
        out += [f"- `{p.where}`: {p.message}" for p in report.problems]
    if report.warnings:
        out += ["", "### Warnings", ""]
        out += [f"- {w}" for w in report.warnings]
    models = sorted({m.model for m in report.moves} | set(report.comparisons))
    for name in models:
        out += ["", f"### {name}", ""]
        moves = [m for m in report.moves if m.model == name]
        news = [n for mname, n in report.new_versions if mname == name]
        if news:
            out.append("New versions: " + ", ".join(f"v{n}" for n in news))
        if moves:
            out += ["", "| version | from | to | by | reason | checks |", "|---|---|---|---|---|---|"]
            for m in moves:
                checks = "<br>".join(f"{'✅' if c.passed else ('⚠️' if m.forced else '❌')} {_md_cell(c.name)}: "
                                     f"{_md_cell(c.detail)}" for c in m.checks) or "no gates"
                out.append(f"| v{m.version} | {m.from_stage} | {m.to_stage} | {_md_cell(m.author)} | "
                           f"{_md_cell(m.reason or '-')} | {checks} |")
        comp = report.comparisons.get(name)
        if comp and comp["candidates"]:
            current = comp["current"]
            cols = [f"v{v.version} (new)" for v in comp["candidates"]]
            cur_col = f"v{current.version} ({comp['stage']})" if current else f"{comp['stage']}: none"
            metrics: list[str] = []
            for v in comp["candidates"] + ([current] if current else []):
                metrics += [k for k in policy.effective_metrics(v) if k not in metrics]
            diff_col = (f"v{comp['candidates'][-1].version} - v{current.version}" if current else "difference")
            out += ["", f"| metric | {' | '.join(cols)} | {cur_col} | {diff_col} |",
                    "|---|" + "---|" * (len(cols) + 2)]
            for k in metrics:
                cells = [_cell(policy.effective_metrics(v).get(k)) for v in comp["candidates"]]
                theirs = policy.effective_metrics(current).get(k) if current else None
                mine = policy.effective_metrics(comp["candidates"][-1]).get(k)
                diff = (f"{mine - theirs:+.4f}" if isinstance(mine, (int, float)) and isinstance(theirs, (int, float))
                        else "-")
                out.append(f"| {k} | {' | '.join(cells)} | {_cell(theirs)} | {diff} |")
    return "\n".join(out) + "\n"
