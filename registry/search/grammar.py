"""The filter and order-by grammar: tokens, comparisons (`tags.team = 'growth'`), the identifiers and
operators each kind of key allows, and `KEY [ASC|DESC]` order clauses. Errors say where in the text."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import UsageError

# Identifiers MLflow knows for versions and models, and what reg adds.
VERSION_ATTRIBUTES = {"name", "version_number", "run_id", "source_path", "current_stage", "stage",
                      "description", "created_by", "user_id", "creation_timestamp",
                      "last_updated_timestamp", "aliases", "format"}
MODEL_ATTRIBUTES = {"name", "description", "owners", "creation_timestamp", "last_updated_timestamp"}
STAGE_ATTRIBUTES = {"current_stage", "stage"}
PREFIXES = ("tags", "tag", "metrics", "metric", "params", "param")
STRING_OPS = {"=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"}
NUMBER_OPS = {"=", "!=", "<", "<=", ">", ">="}
ORDER_KEYS_VERSIONS = {"name", "version_number", "creation_timestamp", "last_updated_timestamp"}
ORDER_KEYS_MODELS = {"name", "last_updated_timestamp", "creation_timestamp"}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<lp>\()|(?P<rp>\))|(?P<comma>,)
  | (?P<ident>(?:[A-Za-z_][\w]*|`[^`]*`)(?:\.(?:[A-Za-z_][\w.\-]*|`[^`]*`|"[^"]*"))?)
""", re.VERBOSE)


class FilterError(UsageError):
    pass


@dataclass
class Token:
    kind: str
    text: str
    pos: int


@dataclass
class Comparison:
    kind: str  # attribute, tags, metrics, params
    key: str
    op: str
    value: Any  # a str, a number, a tuple for IN, None for IS [NOT] NULL


def _tokens(text: str) -> list[Token]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FilterError(f"bad filter at {text[pos:pos + 12]!r} (character {pos + 1}): expected a name such "
                              "as tags.team, an operator, or a quoted value")
        if m.lastgroup != "ws":
            out.append(Token(m.lastgroup, m.group(), pos))
        pos = m.end()
    return out


def _unquote(s: str) -> str:
    if s[:1] == "`" or (s[:1] == '"' and s[-1:] == '"'):
        return s[1:-1]
    if s[:1] == "'":
        return s[1:-1].replace("''", "'").replace("\\'", "'")
    return s


def _where(tok: Token | None, text: str) -> str:
    return f"at {tok.text!r} (character {tok.pos + 1})" if tok else f"at the end of {text!r}"


def parse_filter(text: str | None, attributes: set[str] = VERSION_ATTRIBUTES) -> list[Comparison]:
    """The comparisons of an MLflow filter string; a malformed filter raises one line naming the bad token."""
    if text is None or not text.strip():
        return []
    toks = _tokens(text)
    out: list[Comparison] = []
    i = 0

    def peek(k=0):
        return toks[i + k] if i + k < len(toks) else None

    while True:
        tok = peek()
        if tok is None or tok.kind != "ident":
            raise FilterError(f"bad filter {_where(tok, text)}: expected a name such as name, tags.team or "
                              "metrics.roc_auc")
        kind, key = _identifier(tok, text, attributes)
        i += 1
        op_tok = peek()
        if op_tok is None:
            raise FilterError(f"bad filter {_where(None, text)}: expected an operator after {tok.text!r}")
        word = op_tok.text.upper() if op_tok.kind == "ident" else op_tok.text
        if op_tok.kind == "op":
            op = "!=" if word == "<>" else word
            i += 1
        elif word in ("LIKE", "ILIKE", "IN"):
            op = word
            i += 1
        elif word == "NOT" and peek(1) and peek(1).text.upper() == "IN":
            op = "NOT IN"
            i += 2
        elif word == "IS":
            neg = peek(1) is not None and peek(1).text.upper() == "NOT"
            null = peek(2 if neg else 1)
            if null is None or null.text.upper() != "NULL":
                raise FilterError(f"bad filter {_where(null, text)}: expected IS NULL or IS NOT NULL")
            out.append(Comparison(kind, key, "IS NOT NULL" if neg else "IS NULL", None))
            i += 3 if neg else 2
            if not _and(peek(), text):
                break
            i += 1
            continue
        else:
            raise FilterError(f"bad filter {_where(op_tok, text)}: expected an operator "
                              "(=, !=, <, <=, >, >=, LIKE, ILIKE, IN)")
        if op in ("IN", "NOT IN"):
            if peek() is None or peek().kind != "lp":
                raise FilterError(f"bad filter {_where(peek(), text)}: IN takes a list such as ('a', 'b')")
            i += 1
            values = []
            while True:
                v = peek()
                if v is None or v.kind not in ("str", "num"):
                    raise FilterError(f"bad filter {_where(v, text)}: expected a quoted value in the IN list")
                values.append(_unquote(v.text) if v.kind == "str" else v.text)
                i += 1
                sep = peek()
                if sep is not None and sep.kind == "comma":
                    i += 1
                    continue
                if sep is not None and sep.kind == "rp":
                    i += 1
                    break
                raise FilterError(f"bad filter {_where(sep, text)}: expected , or ) in the IN list")
            value: Any = tuple(values)
        else:
            v = peek()
            if v is None or v.kind not in ("str", "num"):
                raise FilterError(f"bad filter {_where(v, text)}: expected a value, a number or a quoted string "
                                  "such as 'growth'")
            value = _unquote(v.text) if v.kind == "str" else float(v.text)
            i += 1
        _check_op(kind, key, op, value, op_tok, text)
        out.append(Comparison(kind, key, op, _stage_case(kind, key, value)))
        if not _and(peek(), text):
            break
        i += 1
    return out


def _stage_case(kind: str, key: str, value):
    """Stages are lower-case on disk and case-insensitive on input: MLflow code says 'Production'."""
    if kind != "attribute" or key not in STAGE_ATTRIBUTES:
        return value
    return tuple(str(v).lower() for v in value) if isinstance(value, tuple) else str(value).lower()


def _and(tok: Token | None, text: str) -> bool:
    if tok is None:
        return False
    if tok.kind == "ident" and tok.text.upper() == "AND":
        return True
    hint = " (MLflow's grammar joins comparisons with AND only)" if tok.text.upper() == "OR" else ""
    raise FilterError(f"bad filter {_where(tok, text)}: expected AND or the end{hint}")


def _identifier(tok: Token, text: str, attributes: set[str]) -> tuple[str, str]:
    head, dot, rest = tok.text.partition(".")
    head_l = _unquote(head).lower()
    if dot and head_l in PREFIXES:
        key = _unquote(rest)
        if not key:
            raise FilterError(f"bad filter {_where(tok, text)}: name the {head_l} key, e.g. {head_l}.team")
        return {"tag": "tags", "metric": "metrics", "param": "params"}.get(head_l, head_l), key
    if dot and head_l in ("attribute", "attributes", "attr"):
        head_l = _unquote(rest).lower()
    elif dot:
        raise FilterError(f"bad filter {_where(tok, text)}: unknown prefix {head!r}: use tags., metrics. or params.")
    if head_l not in attributes:
        raise FilterError(f"bad filter {_where(tok, text)}: unknown attribute {head_l!r}; use one of "
                          f"{', '.join(sorted(attributes))}, or tags.KEY, metrics.KEY, params.KEY")
    return "attribute", head_l


NUMERIC_ATTRIBUTES = {"version_number", "creation_timestamp", "last_updated_timestamp"}


def _check_op(kind: str, key: str, op: str, value, tok: Token, text: str) -> None:
    numeric = kind == "metrics" or (kind == "attribute" and key in NUMERIC_ATTRIBUTES)
    allowed = NUMBER_OPS | ({"IN", "NOT IN"} if key == "version_number" else set()) if numeric else STRING_OPS
    if kind in ("tags", "params"):
        allowed = {"=", "!=", "LIKE", "ILIKE"}
    if op not in allowed:
        raise FilterError(f"bad filter {_where(tok, text)}: {op} does not apply to "
                          f"{key if kind == 'attribute' else kind + '.' + key}; use one of {', '.join(sorted(allowed))}")
    if numeric and op not in ("IN", "NOT IN") and not isinstance(value, float):
        try:
            float(value)
        except ValueError:
            raise FilterError(f"bad filter {_where(tok, text)}: {key} compares with a number, not {value!r}") from None


def parse_order_by(order_by: Iterable[str] | str | None, keys: set[str]) -> list[tuple[str, str, bool]]:
    """[(kind, key, descending)] from MLflow order-by strings such as 'metrics.roc_auc DESC'."""
    if order_by is None:
        return []
    if isinstance(order_by, str):
        order_by = [order_by]
    out = []
    for clause in order_by:
        words = clause.strip().split()
        if not words:
            continue
        direction = "ASC"
        if len(words) > 1 and words[-1].upper() in ("ASC", "DESC"):
            direction = words.pop().upper()
        ident = " ".join(words)
        tok = Token("ident", ident, 0)
        if not _TOKEN.fullmatch(ident) or len(words) != 1:
            raise FilterError(f"bad order-by {clause!r}: use KEY [ASC|DESC], e.g. 'metrics.roc_auc DESC'")
        kind, key = _identifier(tok, clause, keys | {"version_number", "creation_timestamp",
                                                     "last_updated_timestamp"})
        out.append((kind, key, direction == "DESC"))
    return out
