"""The results table: one row per (tool, operation, size), rendered as markdown."""
from __future__ import annotations

from dataclasses import dataclass

from .measure import Sample


@dataclass
class Row:
    tool: str  # reg, GTO, MLflow
    operation: str  # what was run, as the user would type it
    versions: int | None
    how: str  # "process" or "in-process"
    sample: Sample | None = None  # None: skipped or failed, see note
    target: float | None = None  # seconds, from DESIGN.md "Performance targets" (reg rows only)
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.target is None or self.sample is None:
            return ""
        return "ok" if self.sample.median <= self.target else "OVER"


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "-"
    if s < 0.001:
        return f"{s * 1e6:.0f} µs"
    if s < 1:
        return f"{s * 1e3:.1f} ms" if s < 0.1 else f"{s * 1e3:.0f} ms"
    return f"{s:.2f} s"


def fmt_rss(kb: int | None) -> str:
    return "-" if kb is None else f"{kb / 1024:.0f} MB"


HEADER = ("tool", "operation", "versions", "how", "median", "runs", "peak RSS", "target", "", "note")


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in rows:
        cells = (r.tool, f"`{r.operation}`", f"{r.versions:,}" if r.versions is not None else "-", r.how,
                 fmt_seconds(r.sample.median) if r.sample else "skipped",
                 str(len(r.sample.seconds)) if r.sample else "-",
                 fmt_rss(r.sample.peak_rss_kb) if r.sample else "-",
                 f"< {fmt_seconds(r.target)}" if r.target is not None else "",
                 r.verdict, r.note.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
