"""YAML in and out. Reads use PyYAML's C loader (fast, plain data); writes use ruamel.yaml round-trip
so comments and key order survive and a pull request shows only the lines that changed."""
from __future__ import annotations

import datetime as _dt
import io
from pathlib import Path

import yaml

from .errors import CorruptState

try:
    _Base = yaml.CSafeLoader
except AttributeError:  # PyYAML built without libyaml
    _Base = yaml.SafeLoader


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


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(_dt.timezone.utc).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, _dt.date):
        return value.isoformat()
    return value


def parse(text: str, where: str) -> dict:
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
    return _plain(data)


def read(path: Path, where: str) -> dict:
    return parse(path.read_text(encoding="utf-8"), where)


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
