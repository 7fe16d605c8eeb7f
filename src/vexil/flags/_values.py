"""Conversions of attribute values shared by validation and evaluation.

Semantic versions and datetimes are parsed here, once per distinct literal when a
flag is compiled, and through a bounded cache for the values found in contexts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import semver

#: A semantic version as a tuple that sorts by SemVer 2.0 precedence.
SemverKey = tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]


# What a number is, answered once: an exact int or float, never a bool nor any other
# subclass. A bool is no number in JSON, and the compiled tests compare exact int and
# float values only (an IntEnum member is neither), so these answer as they do. The two
# differ on NaN and the infinities only: numbers to JavaScript, which rule arithmetic
# produces, but not to JSON, which cannot write them.


def is_number(value: Any) -> bool:
    """A JSON number: an int or a finite float (what a document or a time can hold)."""
    cls = value.__class__
    return cls is int or (cls is float and math.isfinite(value))


def is_js_number(value: Any) -> bool:
    """A JavaScript number: an int or any float, NaN and the infinities included."""
    cls = value.__class__
    return cls is int or cls is float


@lru_cache(maxsize=4096)
def semver_key(text: str) -> SemverKey | None:
    """The precedence key of a version such as ``3.2.0``, ``v3.2`` or ``4.0.0-beta.1``.

    A leading ``v`` and a missing minor or patch number are accepted, since app
    versions are written that way in the wild. Build metadata does not count for
    precedence. Unparseable text gives ``None``. Cached: contexts repeat a few
    versions many times, and parsing costs far more than a cache hit.
    """
    if text[:1] in ("v", "V"):
        text = text[1:]
    try:
        v = semver.Version.parse(text, optional_minor_and_patch=True)
    except (ValueError, TypeError):
        return None
    if v.prerelease is None:
        # A release sorts after all of its pre-releases.
        return (v.major, v.minor, v.patch, 1, ())
    ids = tuple((0, int(p)) if p.isdigit() else (1, p) for p in v.prerelease.split("."))
    return (v.major, v.minor, v.patch, 0, ids)


def to_timestamp(value: Any) -> float | None:
    """Unix seconds from an ISO-8601 string, a number of seconds or a ``datetime``.

    A datetime without a time zone is taken as UTC. Anything else gives ``None``.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        stamp: float = value.timestamp()
        return stamp
    if is_number(value):
        try:
            return float(value)
        except OverflowError:  # an int too large for a float is no point in time
            return None
    return None


def is_json_value(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is made only of JSON types (the shape a document can hold)."""
    if depth > 64:
        return False
    if value is None or isinstance(value, str | bool) or is_number(value):
        return True
    if isinstance(value, list):
        return all(is_json_value(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v, depth + 1) for k, v in value.items())
    return False


def type_name(value: Any, mapping: str = "a mapping") -> str:
    """What ``value`` is, in words for an error (``mapping``: what to call a mapping)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return mapping
    return type(value).__name__
