"""HTML building blocks: escaping, number formats, the page frame with its one style sheet and script.

Every page carries its style and script inline, and a Content-Security-Policy that allows exactly those
two (by hash) and nothing from anywhere else: the site works air-gapped and from file://, and a manifest
that smuggles markup into a description cannot run a script even if an escape were ever missed.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json

from . import assets


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def num(x) -> str:
    """A metric value as `reg show` prints it (4 significant digits for floats)."""
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def signed(d) -> str:
    """A difference as `reg compare` prints it."""
    if d is None:
        return "-"
    return "0" if d == 0 else f"{d:+.4g}"


def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def plain(x) -> str:
    return "-" if x is None else str(x)


def short(x, n: int = 12) -> str:
    return "-" if not x else str(x)[:n]


def link(href: str | None, text: str, title: str | None = None, cls: str | None = None) -> str:
    extra = (f' title="{esc(title)}"' if title else "") + (f' class="{esc(cls)}"' if cls else "")
    if not href:
        return f"<span{extra}>{esc(text)}</span>"
    return f'<a href="{esc(href)}"{extra}>{esc(text)}</a>'


def ext_link(href: str | None, text: str, title: str | None = None) -> str:
    """A link off the site (the forge): marked as such, and it never sends who referred it."""
    if not href:
        return esc(text)
    tip = f' title="{esc(title)}"' if title else ""
    return f'<a class="ext" href="{esc(href)}" rel="noreferrer noopener"{tip}>{esc(text)}</a>'


def stage_badge(stage: str, deleted: bool = False) -> str:
    if deleted:
        return '<span class="badge st-deleted">deleted</span>'
    return f'<span class="badge st-{esc(_css_word(stage))}">{esc(stage)}</span>'


def _css_word(stage: str) -> str:
    known = ("none", "staging", "production", "archived")
    return stage if stage in known else "other"


def alias_list(aliases) -> str:
    return " ".join(f'<span class="alias">@{esc(a)}</span>' for a in aliases)


def kv_table(rows: list[tuple[str, str]], cls: str = "kv") -> str:
    """Two columns, key and value; values are HTML already."""
    if not rows:
        return '<p class="muted">none</p>'
    body = "".join(f"<tr><th scope=\"row\">{esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}"><tbody>{body}</tbody></table>'


def table(columns: list[str], rows: list[str], *, cls: str = "grid", attrs: str = "", caption: str = "") -> str:
    """`rows` are `<tr>...</tr>` strings already."""
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<table class="{cls}"{attrs}>{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def value(x, depth: int = 0) -> str:
    """Any manifest value, readable: mappings as nested tables, lists as lists, the rest as text."""
    if isinstance(x, dict):
        if not x:
            return '<span class="muted">{}</span>'
        if depth >= 4:
            return f"<code>{esc(json.dumps(x, default=str)[:400])}</code>"
        return kv_table([(str(k), value(v, depth + 1)) for k, v in x.items()])
    if isinstance(x, list):
        if not x:
            return '<span class="muted">[]</span>'
        if all(not isinstance(i, (dict, list)) for i in x):
            return esc(", ".join(str(i) for i in x))
        return "<ul>" + "".join(f"<li>{value(i, depth + 1)}</li>" for i in x) + "</ul>"
    if x is None:
        return '<span class="muted">-</span>'
    return esc(x)


def json_script(element_id: str, data) -> str:
    """Data for the page's script, inert (`application/json` is never executed) and unable to close its
    own element: '<', '>' and '&' are written as JSON escapes."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script type="application/json" id="{esc(element_id)}">{text}</script>'


def _hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


CSP = (f"default-src 'none'; img-src data:; style-src '{_hash(assets.CSS)}'; "
       f"script-src '{_hash(assets.JS)}'; base-uri 'none'")


def page(title: str, body: str, *, crumbs: list[tuple[str | None, str]], footer: str) -> str:
    """One self-contained page. `crumbs`: (href or None for the current page, text)."""
    trail = " <span aria-hidden=\"true\">/</span> ".join(
        link(href, text) if href else f'<span aria-current="page">{esc(text)}</span>' for href, text in crumbs)
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="generator" content="reg site">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{assets.CSS}</style></head>\n"
        f'<body><header><nav class="crumbs" aria-label="Breadcrumb">{trail}</nav></header>\n'
        f"<main>\n{body}\n</main>\n"
        f'<footer>{footer}</footer><script>{assets.JS}</script></body></html>\n'
    )
