"""YAML in and out. Reads use PyYAML's C loader (fast, plain data); writes use ruamel.yaml round-trip
so comments and key order survive and a pull request shows only the lines that changed.

Every registry file is hostile input (anyone with push access writes them, and the server hook reads
them): `parse` refuses anchors and aliases (1 KB of nested aliases expands to gigabytes), files over
MAX_BYTES and nesting deeper than MAX_DEPTH, each in one line naming the file, before any expansion.
The user's own workspace files (dvc.yaml, dvc.lock, metrics) may use anchors: `parse_workspace`
allows them but still bounds what they expand to."""
from __future__ import annotations

import datetime as _dt
import errno
import io
import os
from pathlib import Path

import yaml

from .errors import CorruptState, HostileContent

try:
    _Base = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Base = yaml.SafeLoader


MAX_BYTES = 1 << 20  # a manifest is a few KB; a megabyte is a generous bound that parses in milliseconds
MAX_DEPTH = 64  # deeper than any registry file; deeper still overflows Python's stack in the reader
MAX_VALUES = 1_000_000  # what a workspace file's aliases may expand to


class _Loader(_Base):
    """PyYAML keeps the last of two equal keys silently, while the ruamel writer refuses them: a hand edit
    with `owners:` twice read fine and then crashed the next change. Refuse it on read, with its line."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key_node.value!r}",
                                                            key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


class _NotPlain(Exception):
    pass


def _plain(value, depth=0, budget=None):
    if isinstance(value, (dict, list)):
        if depth >= MAX_DEPTH:
            raise _NotPlain(f"nests deeper than {MAX_DEPTH} levels")
        if budget is not None:
            budget[0] -= len(value)
            if budget[0] < 0:
                raise _NotPlain(f"expands to more than {MAX_VALUES:,} values")
        if isinstance(value, dict):
            return {str(k): _plain(v, depth + 1, budget) for k, v in value.items()}
        return [_plain(v, depth + 1, budget) for v in value]
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (bytes, set)):  # !!binary, !!set: nothing reg writes, and no JSON (the parse cache) for them
        raise _NotPlain(f"holds a {'!!binary' if isinstance(value, bytes) else '!!set'} value, which registry "
                      "files may not (plain text, numbers, lists and mappings only)")
    return value


def _refuse(where: str, what: str) -> HostileContent:
    return HostileContent(f"{where} {what}; refusing to read it: fix or restore it (git checkout -- {where})")


def _anchor(text: str) -> tuple[str, int] | None:
    """The first anchor or alias in `text` as (name, line), from libyaml's event stream (no expansion)."""
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            return event.anchor, event.start_mark.line + 1
    return None


def check_size(size: int, where: str, exact: bool = True) -> None:
    """`exact`: the file's size is known (a file's `stat`); text read from git is cut one byte over the limit
    (`git.BlobReader`), so then it is only known to be over."""
    if size > MAX_BYTES:
        said = f"is {size:,} bytes," if exact else "is"
        raise _refuse(where, f"{said} over the {MAX_BYTES:,}-byte limit for a registry file")


def parse(text: str, where: str) -> dict:
    """A registry file: no anchors or aliases, at most MAX_BYTES (of UTF-8), at most MAX_DEPTH deep."""
    check_size(len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass")), where, exact=False)
    if "&" in text or "*" in text:  # only then can there be an anchor or alias: skip the event pass
        try:
            found = _anchor(text)
        except yaml.YAMLError:
            found = None  # not YAML at all: the load below names the line
        if found is not None:
            name, line = found
            raise _refuse(where, f"uses a YAML anchor or alias ({name!r}, line {line}), which registry files may not")
    return _load(text, where, None)


def parse_workspace(text: str, where: str) -> dict:
    """A file of the user's own workspace (dvc.yaml, dvc.lock, a metrics file): anchors are allowed there,
    but what they expand to is bounded."""
    return _load(text, where, [MAX_VALUES])


def _load(text: str, where: str, budget) -> dict:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        problem = str(getattr(exc, "problem", "") or "")
        if problem.startswith("duplicate key"):
            raise CorruptState(f"{where} has a {problem}{at}: keep one of them") from None
        raise CorruptState(f"{where} is not valid YAML{at}: fix or restore it (git checkout -- {where})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CorruptState(f"{where} does not hold a YAML mapping: fix or restore it (git checkout -- {where})")
    try:
        return _plain(data, 0, budget)
    except _NotPlain as exc:
        raise _refuse(where, str(exc)) from None


def read_text(path, where: str) -> str:
    """A registry file's text; an oversized one, or a link (git checks out a pushed link to ~/.ssh/id_rsa
    as one), is refused before a byte of it is read."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _refuse(where, "is a symbolic link; registry files are regular files") from None
        raise
    with open(fd, encoding="utf-8") as fh:
        check_size(os.fstat(fh.fileno()).st_size, where)
        return fh.read(MAX_BYTES + 1)


def read(path: Path, where: str) -> dict:
    return parse(read_text(path, where), where)


def read_workspace(path: Path, where: str) -> dict:
    return parse_workspace(Path(path).read_text(encoding="utf-8"), where)


def _ruamel():
    from ruamel.yaml import YAML

    y = YAML()  # round-trip
    y.default_flow_style = False
    y.width = 4096
    y.indent(mapping=2, sequence=4, offset=2)
    return y


def load_roundtrip(text: str):
    """A ruamel CommentedMap to edit in place and dump again."""
    data = _ruamel().load(text)
    if data is None:
        from ruamel.yaml.comments import CommentedMap

        return CommentedMap()
    return data


def dump(data) -> str:
    buf = io.StringIO()
    _ruamel().dump(data, buf)
    return buf.getvalue()


def update(text: str | None, changes: dict, remove: tuple[str, ...] = ()) -> str:
    """Apply top-level `changes` to a YAML document, keeping its comments and key order."""
    doc = load_roundtrip(text or "")
    for key, value in changes.items():
        doc[key] = value
    for key in remove:
        if key in doc:
            del doc[key]
    return dump(doc)
