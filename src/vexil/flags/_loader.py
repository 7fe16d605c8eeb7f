"""Reading flag documents from YAML and JSON text.

Two traps of the common YAML reader are closed here. YAML 1.1 reads ``on``,
``off``, ``yes`` and ``no`` as booleans, which would turn a flag's ``on:`` field
and an ``off`` variation into ``True`` and ``False``: booleans are resolved as in
YAML 1.2 instead, ``true`` and ``false`` only. And a key repeated in a mapping
silently replaced the first one: it is an error here, in YAML and JSON alike.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from ._errors import Problem, ValidationError

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BOOL = "tag:yaml.org,2002:bool"
#: YAML 1.1 also reads unquoted dates as date objects, which no document field takes:
#: as in YAML 1.2 they stay strings (ISO-8601 text, which ``before``/``after`` read).
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(_Base):  # type: ignore[misc]
    """A safe YAML loader with YAML 1.2 booleans that rejects repeated keys."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE)
    loader.flatten_mapping(node)
    # Pairs merged in with "<<" come first; the mapping's own keys may override them.
    merged = len(node.value) - own
    out: dict[Any, Any] = {}
    seen: set[Any] = set()
    for i, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            repeated = key in seen
        except TypeError:  # a list or mapping as a key
            raise ValidationError([Problem("", f"line {line}: unhashable key {key!r}")]) from None
        if repeated:
            raise ValidationError([Problem("", f"line {line}: duplicate key {key!r}")])
        if i >= merged:
            seen.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):  # rare: only then look for the culprit
        raise ValidationError([Problem("", f"duplicate key {_first_repeated(pairs)!r}")])
    return out


def _first_repeated(pairs: list[tuple[str, Any]]) -> str:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    raise AssertionError("no repeated key")


def read_data(text: str | bytes, *, format: str | None = None) -> Any:
    """Decode YAML or JSON text into plain data. ``format`` is guessed when omitted."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError([Problem("", f"not UTF-8 text: {exc}")]) from exc
    if format is None:
        format = "json" if text.lstrip()[:1] in ("{", "[") else "yaml"
    if format == "json":
        try:
            return json.loads(text, object_pairs_hook=_unique_pairs)
        except json.JSONDecodeError as exc:
            raise ValidationError([Problem("", f"not valid JSON: {exc}")]) from exc
    if format != "yaml":
        raise ValueError(f"unknown format {format!r}: use 'yaml' or 'json'")
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ValidationError([Problem("", f"not valid YAML: {exc}")]) from exc


def load_data(path: str | Path) -> Any:
    """Read a document file; ``.json`` files are JSON, anything else YAML (a JSON superset)."""
    p = Path(path)
    fmt = "json" if p.suffix.lower() == ".json" else None
    return read_data(p.read_bytes(), format=fmt)
