"""Clause operators, compiled: each turns its literal values into a test of one value.

Literals are converted once here (regexes compiled by RE2, versions and dates parsed,
several values folded into one set, tuple or threshold), so that a test costs a
type check and one comparison. A test never raises: a value of the wrong type
simply does not match. Lists in the context are handled by the caller.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from ._model import Operator
from ._regex import search_test
from ._values import is_number, semver_key, to_timestamp

Test = Callable[[Any], bool]


def compile_test(op: Operator, values: tuple[Any, ...]) -> Test:
    """The test for one clause operator over its literal values (any one may match)."""
    factory = _FACTORIES.get(op)
    if factory is None:
        raise ValueError(f"operator {op!r} is not a value test")
    return factory(values)


def lookup(values: Iterable[Any]) -> tuple[Any, ...] | frozenset[Any]:
    """A container for membership tests: a set when large, a tuple (far smaller) when not."""
    items = tuple(dict.fromkeys(values))
    return frozenset(items) if len(items) > 4 else items


def _in(values: tuple[Any, ...]) -> Test:
    # bool is a subclass of int and True == 1 in Python: keep the three kinds apart
    # so that `in [true]` never matches the number 1.
    strings = lookup(v for v in values if v.__class__ is str)
    if all(v.__class__ is str for v in values):  # the usual case
        return lambda v: isinstance(v, str) and v in strings
    numbers = lookup(v for v in values if is_number(v))
    bools = lookup(v for v in values if v.__class__ is bool)

    def test(v: Any) -> bool:
        cls = v.__class__
        if cls is str:
            return v in strings
        if cls is bool:
            return v in bools
        if cls is int or cls is float:
            return v in numbers
        return isinstance(v, str) and v in strings  # a str subclass, such as a StrEnum

    return test


def _contains(values: tuple[Any, ...]) -> Test:
    parts = tuple(values)
    return lambda v: isinstance(v, str) and any(p in v for p in parts)


def _starts_with(values: tuple[Any, ...]) -> Test:
    prefixes = tuple(values)
    return lambda v: isinstance(v, str) and v.startswith(prefixes)


def _ends_with(values: tuple[Any, ...]) -> Test:
    suffixes = tuple(values)
    return lambda v: isinstance(v, str) and v.endswith(suffixes)


def _number(
    compare: Callable[[Any, Any], bool], pick: Callable[..., Any]
) -> Callable[[tuple[Any, ...]], Test]:
    # "v > any of (a, b)" is "v > min(a, b)": one comparison whatever the count.
    def factory(values: tuple[Any, ...]) -> Test:
        bound = pick(values)
        return lambda v: (v.__class__ is int or v.__class__ is float) and compare(v, bound)

    return factory


def _semver(
    compare: Callable[[Any, Any], bool], pick: Callable[..., Any] | None
) -> Callable[[tuple[Any, ...]], Test]:
    def factory(values: tuple[Any, ...]) -> Test:
        keys = [semver_key(v) for v in values]
        if pick is None:  # equality with any
            wanted = frozenset(keys)
            return lambda v: isinstance(v, str) and semver_key(v) in wanted
        bound = pick(keys)

        def test(v: Any) -> bool:
            if not isinstance(v, str):
                return False
            key = semver_key(v)
            return key is not None and compare(key, bound)

        return test

    return factory


def _date(
    compare: Callable[[float, float], bool], pick: Callable[..., Any]
) -> Callable[[tuple[Any, ...]], Test]:
    def factory(values: tuple[Any, ...]) -> Test:
        bound = pick(t for t in map(to_timestamp, values) if t is not None)

        def test(v: Any) -> bool:
            if v.__class__ is bool:
                return False
            t = to_timestamp(v)
            return t is not None and compare(t, bound)

        return test

    return factory


_lt, _lte, _gt, _gte = operator.lt, operator.le, operator.gt, operator.ge


_FACTORIES: dict[Operator, Callable[[tuple[Any, ...]], Test]] = {
    Operator.IN: _in,
    Operator.CONTAINS: _contains,
    Operator.STARTS_WITH: _starts_with,
    Operator.ENDS_WITH: _ends_with,
    Operator.MATCHES: search_test,
    Operator.LT: _number(_lt, max),
    Operator.LTE: _number(_lte, max),
    Operator.GT: _number(_gt, min),
    Operator.GTE: _number(_gte, min),
    Operator.SEMVER_EQ: _semver(_gte, None),
    Operator.SEMVER_LT: _semver(_lt, max),
    Operator.SEMVER_LTE: _semver(_lte, max),
    Operator.SEMVER_GT: _semver(_gt, min),
    Operator.SEMVER_GTE: _semver(_gte, min),
    Operator.BEFORE: _date(_lt, max),
    Operator.AFTER: _date(_gt, min),
}
