"""A metric across versions as an inline SVG, drawn at build time: no script, no library, no network.

The chart is an image with a <title> and a <desc> that says in words what it shows (range, best and worst
versions, the stage changes marked); the numbers themselves are in the page's versions table. Stage
changes are drawn as a dashed line at the version that moved and a ring on its point, in the stage's
colour. Beyond MAX_DOTS versions single points are not drawn (the line reads better than a smear of dots),
but marked versions always are.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .html import esc, num

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 28, 38
MAX_DOTS = 150
INSET = 8
LINE = "#0969da"
STAGE_COLORS = {"production": "#1a7f37", "staging": "#9a6700", "archived": "#6e7781", "none": "#8c959f"}
OTHER_COLORS = ("#8250df", "#bf3989", "#0550ae", "#953800")


def stage_color(stage: str, stages: list[str]) -> str:
    if stage in STAGE_COLORS:
        return STAGE_COLORS[stage]
    others = [s for s in stages if s not in STAGE_COLORS]
    return OTHER_COLORS[others.index(stage) % len(OTHER_COLORS)] if stage in others else OTHER_COLORS[0]


@dataclass
class Mark:
    """A version that entered a stage (a promotion or rollback), with what the tooltip says."""
    version: int
    stage: str
    label: str


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    span = hi - lo
    if span <= 0 or not math.isfinite(span):
        return [lo]
    raw = span / count
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if span / (step * m) <= count:
            step *= m
            break
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    t = first
    while t <= hi + step * 1e-9 and len(ticks) < 12:
        ticks.append(round(t, 12))
        t += step
    return ticks


def version_ticks(first: int, last: int, count: int = 8) -> list[int]:
    if last <= first:
        return [first]
    step = max(1, math.ceil((last - first) / count))
    step = next((s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000) if s >= step),
                step)
    ticks = [first] + [v for v in range(math.ceil(first / step) * step, last, step) if v > first]
    if last - ticks[-1] < step / 2 and len(ticks) > 1:
        ticks.pop()
    return ticks + [last]


def describe(metric: str, points: list[tuple[int, float, str]], marks: list[Mark]) -> str:
    first, last = points[0], points[-1]
    hi = max(points, key=lambda p: p[1])
    lo = min(points, key=lambda p: p[1])
    text = (f"{metric} of {len(points)} version{'s' if len(points) != 1 else ''} (v{first[0]} to v{last[0]}): "
            f"{num(first[1])} at v{first[0]}, {num(last[1])} at v{last[0]}; highest {num(hi[1])} at v{hi[0]}, "
            f"lowest {num(lo[1])} at v{lo[0]}.")
    if marks:
        shown = [f"v{m.version} to {m.stage}" for m in marks[-10:]]
        more = f" and {len(marks) - 10} earlier" if len(marks) > 10 else ""
        text += f" Stage changes marked: {', '.join(shown)}{more}."
    return text + " Each value is in the versions table."


def trend(metric: str, points: list[tuple[int, float, str]], marks: list[Mark], *, chart_id: str,
          stages: list[str]) -> str:
    """`points`: (version, value, current stage) sorted by version; `marks`: stage changes, oldest first."""
    if not points:
        return ""
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    values = [p[1] for p in points]
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or max(abs(hi) * 0.05, 0.01)
    y0, y1 = lo - pad, hi + pad
    ticks = nice_ticks(y0, y1)
    v0, v1 = points[0][0], points[-1][0]

    def x(v: int) -> float:  # inset, so the rings of the first and last versions are not cut
        return LEFT + INSET + (w / 2 - INSET if v1 == v0 else (v - v0) / (v1 - v0) * (w - 2 * INSET))

    def y(val: float) -> float:
        return TOP + h - (val - y0) / (y1 - y0) * h

    value_of = {p[0]: p[1] for p in points}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{chart_id}-t {chart_id}-d" data-metric="{esc(metric)}" data-points="{len(points)}">',
             f'<title id="{chart_id}-t">{esc(metric)} by version</title>',
             f'<desc id="{chart_id}-d">{esc(describe(metric, points, marks))}</desc>',
             f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']
    for t in ticks:
        ty = y(t)
        if TOP - 1 <= ty <= TOP + h + 1:
            parts.append(f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eaeef2"/>'
                         f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="11" fill="#59636e">'
                         f'{esc(num(t))}</text>')
    for v in version_ticks(v0, v1):
        tx = x(v)
        parts.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + h}" y2="{TOP + h + 4}" stroke="#8c959f"/>'
                     f'<text x="{tx:.1f}" y="{TOP + h + 16}" text-anchor="middle" font-size="11" fill="#59636e">'
                     f'v{v}</text>')
    parts.append(f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{TOP + h}" y2="{TOP + h}" stroke="#8c959f"/>'
                 f'<text x="{LEFT + w / 2:.0f}" y="{HEIGHT - 4}" text-anchor="middle" font-size="11" '
                 f'fill="#59636e">version</text>'
                 f'<text x="{LEFT}" y="{TOP - 10}" font-size="12" font-weight="600" fill="#1f2328">'
                 f"{esc(metric)}</text>")
    for m in marks:
        if m.version not in value_of:
            continue
        color = stage_color(m.stage, stages)
        mx = x(m.version)
        parts.append(f'<line class="mark" x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" y2="{TOP + h}" stroke="{color}" '
                     f'stroke-dasharray="3 3" stroke-opacity="0.55"/>')
    coords = " ".join(f"{x(v):.1f},{y(val):.1f}" for v, val, _ in points)
    parts.append(f'<polyline points="{coords}" fill="none" stroke="{LINE}" stroke-width="1.6" '
                 f'stroke-linejoin="round"/>')
    if len(points) <= MAX_DOTS:
        for v, val, stage in points:
            parts.append(f'<circle cx="{x(v):.1f}" cy="{y(val):.1f}" r="2.6" fill="{LINE}">'
                         f'<title>v{v}: {esc(num(val))} ({esc(stage)})</title></circle>')
    seen: set[tuple[int, str]] = set()
    for m in marks:
        if m.version not in value_of or (m.version, m.stage) in seen:
            continue
        seen.add((m.version, m.stage))
        color = stage_color(m.stage, stages)
        parts.append(f'<circle class="mark" cx="{x(m.version):.1f}" cy="{y(value_of[m.version]):.1f}" r="5.5" '
                     f'fill="none" stroke="{color}" stroke-width="2"><title>{esc(m.label)}</title></circle>')
    legend = []
    for stage in [s for s in stages if any(m.stage == s for m in marks)]:
        legend.append(stage)
    lx = LEFT + w
    for stage in reversed(legend):
        label = f"to {stage}"
        lx -= 14 + 7 * len(label)
        parts.append(f'<circle cx="{lx + 5}" cy="{TOP - 14}" r="4.5" fill="none" stroke="{stage_color(stage, stages)}" '
                     f'stroke-width="2"/><text x="{lx + 13}" y="{TOP - 10}" font-size="11" fill="#59636e">'
                     f'{esc(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
