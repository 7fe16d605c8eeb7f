"""Clause operators: the one table (``SPECS``) of what each is, and their compiled tests.

An operator's spec holds everything any part of Vexil knows about it: the kind of
values it takes and how one is checked (the document reader reports its problem),
its compiled test, its flagd form (or why flagd has none), and the editors' words.
Adding an operator is one entry here, plus its tests.

Literals are converted once here (regexes compiled by RE2, versions and dates parsed,
several values folded into one set, tuple or threshold), so that a test costs a
type check and one comparison. A test never raises: a value of the wrong type
simply does not match. Lists in the context are handled by the caller. The spec is
read when a clause is compiled, never while evaluating.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ._model import Operator
from ._regex import problem as regex_problem
from ._regex import search_test
from ._values import is_js_number, is_number, semver_key, to_timestamp, type_name

Test = Callable[[Any], bool]


def compile_test(op: Operator, values: tuple[Any, ...]) -> Test:
    """The test for one clause operator over its literal values (any one may match)."""
    spec = SPECS.get(op)
    if spec is None or spec.test is None:
        raise ValueError(f"operator {op!r} is not a value test")
    return spec.test(values)


def lookup(values: Iterable[Any]) -> tuple[Any, ...] | frozenset[Any]:
    """A container for membership tests: a set when large, a tuple (far smaller) when not."""
    items = tuple(dict.fromkeys(values))
    return frozenset(items) if len(items) > 4 else items


def member_test(values: Iterable[Any], *, null: bool = False) -> Test:
    """Membership in literal values, one lookup per kind of value.

    bool is a subclass of int and True == 1 in Python: the kinds are kept apart so
    that ``true`` never matches the number 1 (as in JSON and JavaScript's ``===``).
    NaN is no member, although ``x in (nan,)`` finds the same object. ``null``:
    whether None is a member.
    """
    items = tuple(values)
    strings = lookup(v for v in items if v.__class__ is str)
    numbers = lookup(v for v in items if is_js_number(v) and v == v)
    bools = lookup(v for v in items if v.__class__ is bool)

    def test(v: Any) -> bool:
        cls = v.__class__
        if cls is str:
            return v in strings
        if cls is bool:
            return v in bools
        if cls is int or cls is float:
            return v in numbers
        if v is None:
            return null
        return isinstance(v, str) and str.__str__(v) in strings  # a str subclass (StrEnum)

    return test


def _in(values: tuple[Any, ...]) -> Test:
    if all(v.__class__ is str for v in values):  # the usual case
        strings = lookup(values)
        return lambda v: isinstance(v, str) and v in strings
    return member_test(values)


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


# ------------------------------------------------------------------ values


class ValueKind(StrEnum):
    """What an operator's literal values are (in the words of the reader's messages)."""

    SCALARS = "strings, numbers and booleans"
    STRINGS = "strings"
    REGEX = "regular expressions"
    NUMBERS = "numbers"
    VERSIONS = "semantic versions"
    MOMENTS = "datetimes"
    SEGMENTS = "segment keys"
    NONE = "no values"


#: The problem with one literal value of a clause, or None when it is fine.
ValueCheck = Callable[[Any], "str | None"]


def _value_check(op: Operator, kind: ValueKind) -> ValueCheck | None:
    def scalars(value: Any) -> str | None:
        if value.__class__ is str or isinstance(value, str | bool) or is_number(value):
            return None
        return f"'{op}' compares with strings, numbers and booleans, not {type_name(value)}"

    def strings(value: Any) -> str | None:
        return None if isinstance(value, str) else f"'{op}' needs strings, not {type_name(value)}"

    def regex(value: Any) -> str | None:
        return strings(value) or regex_problem(value)

    def numbers(value: Any) -> str | None:
        return None if is_number(value) else f"'{op}' needs numbers, not {type_name(value)}"

    def versions(value: Any) -> str | None:
        if isinstance(value, str) and semver_key(value) is not None:
            return None
        return f"{value!r} is not a semantic version such as '1.4.0' or '2.0.0-rc.1'"

    def moments(value: Any) -> str | None:
        if not isinstance(value, bool) and to_timestamp(value) is not None:
            return None
        return f"{value!r} is neither an ISO-8601 datetime nor Unix seconds"

    checks: dict[ValueKind, ValueCheck | None] = {
        ValueKind.SCALARS: scalars,
        ValueKind.STRINGS: strings,
        ValueKind.REGEX: regex,
        ValueKind.NUMBERS: numbers,
        ValueKind.VERSIONS: versions,
        ValueKind.MOMENTS: moments,
        ValueKind.SEGMENTS: strings,
        ValueKind.NONE: None,
    }
    return checks[kind]


# ------------------------------------------------------------------- flagd

#: The ``$ref`` name of a segment's evaluator in the flagd document being written.
SegmentRef = Callable[[str], str]
#: A clause in flagd's JsonLogic: ``(var, values, negate, segment_ref) -> logic``.
FlagdForm = Callable[[Any, tuple[Any, ...], bool, SegmentRef], Any]
_Build = Callable[[Any, tuple[Any, ...]], tuple[Any, bool]]


def any_of(parts: list[Any]) -> Any:
    """JsonLogic that is true when any of ``parts`` is."""
    return parts[0] if len(parts) == 1 else {"or": parts}


def _guarded(build: _Build) -> FlagdForm:
    # ``build`` gives the test and whether JsonLogic would let it match a missing
    # attribute (read as null), which a Vexil clause never does, negated or not.
    def form(var: Any, values: tuple[Any, ...], negate: bool, ref: SegmentRef) -> Any:
        test, matches_missing = build(var, values)
        if negate:
            test, matches_missing = {"!": test}, not matches_missing
        if matches_missing:
            return {"and": [{"!=": [var, None]}, test]}
        return test

    return form


def _flagd_contains(var: Any, text: str) -> Any:
    if text == "":
        # Vexil's contains "" matches any text; JsonLogic's "in" finds "" in a
        # non-empty text only.
        return {"or": [{"in": ["", var]}, {"===": [var, ""]}]}
    return {"in": [text, var]}


def _flagd_each(name: str) -> FlagdForm:
    return _guarded(lambda var, values: (any_of([{name: [var, v]} for v in values]), False))


def _flagd_number(
    symbol: str, compare: Callable[[Any, Any], bool], pick: Callable[..., Any]
) -> FlagdForm:
    def build(var: Any, values: tuple[Any, ...]) -> tuple[Any, bool]:
        bound = pick(values)
        return {symbol: [var, bound]}, bool(compare(0, bound))  # JsonLogic reads null as 0

    return _guarded(build)


def _flagd_semver(symbol: str, pick: Callable[..., Any] | None) -> FlagdForm:
    def build(var: Any, values: tuple[Any, ...]) -> tuple[Any, bool]:
        if pick is None:
            return any_of([{"sem_ver": [var, symbol, v]} for v in values]), False
        bound = pick(values, key=lambda v: semver_key(v) or ())
        return {"sem_ver": [var, symbol, bound]}, False

    return _guarded(build)


def _flagd_exists(var: Any, values: tuple[Any, ...], negate: bool, ref: SegmentRef) -> Any:
    return {"==" if negate else "!=": [var, None]}


def _flagd_segment(var: Any, values: tuple[Any, ...], negate: bool, ref: SegmentRef) -> Any:
    test = any_of([{"$ref": ref(key)} for key in values])
    return {"!": test} if negate else test


# ------------------------------------------------------------------- table


@dataclass(frozen=True, slots=True)
class OperatorSpec:
    """Everything about one clause operator, read by the engine and the editors."""

    op: Operator
    #: The editors' words, as in "plan is one of pro, team".
    label: str
    #: One short sentence for the editors about what values to type.
    help: str
    #: In a form, an unquoted 42 or true is a number or a boolean (else it is text).
    form_typed: bool
    #: A form line may hold several values split on commas.
    form_splits_commas: bool
    values: ValueKind
    #: The problem with one literal; None when the operator takes no values.
    check: ValueCheck | None
    #: The compiled test of one attribute value; None for the operators that read
    #: the context or the segments as a whole (``exists``, ``segment``).
    test: Callable[[tuple[Any, ...]], Test] | None
    #: The clause in flagd's JsonLogic, or None with the reason in ``no_flagd``.
    flagd: FlagdForm | None
    no_flagd: str = ""
    #: The comparison flagd writes for it (``<``, ``sem_ver``'s ``=``), read back on import.
    flagd_symbol: str = ""


def _spec(
    op: Operator,
    label: str,
    help: str,
    values: ValueKind,
    test: Callable[[tuple[Any, ...]], Test] | None,
    flagd: FlagdForm | str,
    *,
    typed: bool = False,
    symbol: str = "",
) -> OperatorSpec:
    form, reason = (None, flagd) if isinstance(flagd, str) else (flagd, "")
    check = _value_check(op, values)
    splits = values is not ValueKind.REGEX  # a comma is a character of a regex
    return OperatorSpec(op, label, help, typed, splits, values, check, test, form, reason, symbol)


def _number_spec(
    op: Operator, label: str, symbol: str, compare: Callable[[Any, Any], bool], pick: Any
) -> OperatorSpec:
    test, flagd = _number(compare, pick), _flagd_number(symbol, compare, pick)
    kind = ValueKind.NUMBERS
    return _spec(op, label, "Type a number.", kind, test, flagd, typed=True, symbol=symbol)


def _semver_spec(
    op: Operator, label: str, symbol: str, compare: Callable[[Any, Any], bool], pick: Any
) -> OperatorSpec:
    test, flagd = _semver(compare, pick), _flagd_semver(symbol, pick)
    help = "Type versions such as 1.4.0 or 2.0.0-rc.1; a leading v is allowed."
    return _spec(op, label, help, ValueKind.VERSIONS, test, flagd, symbol=symbol)


def _date_spec(
    op: Operator, label: str, compare: Callable[[float, float], bool], pick: Any
) -> OperatorSpec:
    help = "Type ISO-8601 date-times such as 2025-01-31T09:00:00Z, or Unix seconds."
    reason = f"flagd cannot compare dates ('{op}')"
    return _spec(op, label, help, ValueKind.MOMENTS, _date(compare, pick), reason, typed=True)


_O = Operator

#: The operators, in the order the editors list them.
SPECS: Mapping[Operator, OperatorSpec] = MappingProxyType(
    {
        s.op: s
        for s in (
            _spec(
                _O.IN,
                "is one of",
                "Type the values to compare with: text, numbers or true/false.",
                ValueKind.SCALARS,
                _in,
                _guarded(lambda var, values: ({"in": [var, list(values)]}, False)),
                typed=True,
            ),
            _spec(
                _O.CONTAINS,
                "contains",
                "Type the text the value must contain.",
                ValueKind.STRINGS,
                _contains,
                _guarded(lambda var, vs: (any_of([_flagd_contains(var, v) for v in vs]), False)),
            ),
            _spec(
                _O.STARTS_WITH,
                "starts with",
                "Type the text the value must start with.",
                ValueKind.STRINGS,
                _starts_with,
                _flagd_each("starts_with"),
            ),
            _spec(
                _O.ENDS_WITH,
                "ends with",
                "Type the text the value must end with.",
                ValueKind.STRINGS,
                _ends_with,
                _flagd_each("ends_with"),
            ),
            _spec(
                _O.MATCHES,
                "matches the regular expression",
                "Type one regular expression (RE2 syntax); it may match anywhere in the text.",
                ValueKind.REGEX,
                search_test,
                "flagd has no regular expressions ('matches')",
            ),
            _number_spec(_O.LT, "is less than", "<", _lt, max),
            _number_spec(_O.LTE, "is at most", "<=", _lte, max),
            _number_spec(_O.GT, "is greater than", ">", _gt, min),
            _number_spec(_O.GTE, "is at least", ">=", _gte, min),
            _semver_spec(_O.SEMVER_EQ, "is the version", "=", _gte, None),
            _semver_spec(_O.SEMVER_LT, "is a version before", "<", _lt, max),
            _semver_spec(_O.SEMVER_LTE, "is a version at most", "<=", _lte, max),
            _semver_spec(_O.SEMVER_GT, "is a version after", ">", _gt, min),
            _semver_spec(_O.SEMVER_GTE, "is a version at least", ">=", _gte, min),
            _date_spec(_O.BEFORE, "is a moment before", _lt, max),
            _date_spec(_O.AFTER, "is a moment after", _gt, min),
            _spec(
                _O.EXISTS,
                "exists",
                "Type nothing: the clause matches when the attribute is present.",
                ValueKind.NONE,
                None,
                _flagd_exists,
            ),
            _spec(
                _O.SEGMENT,
                "is in the segment",
                "Type the keys of segments; the context may be in any one of them.",
                ValueKind.SEGMENTS,
                None,
                _flagd_segment,
            ),
        )
    }
)
