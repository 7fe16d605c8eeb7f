"""What counts as a number, answered once (``_values``) and pinned here."""

from __future__ import annotations

import math
from decimal import Decimal
from enum import IntEnum
from typing import Any

import pytest

from vexil.flags import Reason, Ruleset, ValidationError, VariationType
from vexil.flags._compile import _TYPE_CHECKS
from vexil.flags._values import is_js_number, is_number


class Size(IntEnum):
    LARGE = 3


class Ratio(float):
    pass


# value, a JSON number (documents, times), a JavaScript number (rule arithmetic)
ANSWERS: list[tuple[Any, bool, bool]] = [
    (0, True, True),
    (-7, True, True),
    (10**400, True, True),
    (1.5, True, True),
    (math.inf, False, True),
    (-math.inf, False, True),
    (math.nan, False, True),
    (True, False, False),
    (False, False, False),
    (Size.LARGE, False, False),
    (Ratio(0.5), False, False),
    (Decimal("1.5"), False, False),
    ("1", False, False),
    (None, False, False),
]


@pytest.mark.parametrize(("value", "json", "js"), ANSWERS)
def test_what_a_number_is(value: Any, json: bool, js: bool) -> None:
    assert is_number(value) is json
    assert is_js_number(value) is js


@pytest.mark.parametrize(
    ("default", "accepted"),
    [(1, True), (1.5, True), (math.inf, True), (Size.LARGE, True), (True, False), ("1", False)],
)
def test_a_callers_default_is_checked_by_its_python_type(default: Any, accepted: bool) -> None:
    assert _TYPE_CHECKS[VariationType.NUMBER](default) is accepted


def _ruleset(op: str, values: list[Any]) -> Ruleset:
    rule = {"id": "r", "clauses": [{"attribute": "n", "op": op, "values": values}], "serve": "on"}
    flag = {"variations": {"on": True, "off": False}, "rules": [rule], "default": "off"}
    return Ruleset.from_data({"flags": {"f": flag}})


@pytest.mark.parametrize("literal", [math.inf, math.nan, True, Size.LARGE])
def test_a_comparison_needs_a_json_number(literal: Any) -> None:
    with pytest.raises(ValidationError, match="'gt' needs numbers"):
        _ruleset("gt", [literal])


@pytest.mark.parametrize(("value", "matched"), [(5, True), (5.0, True), (math.inf, True),
                                                 (Size.LARGE, False), (True, False)])  # fmt: skip
def test_a_comparison_matches_exact_ints_and_floats(value: Any, matched: bool) -> None:
    detail = _ruleset("gt", [1]).evaluate("f", {"key": "k", "n": value})
    assert (detail.value, detail.reason) == (
        matched,
        Reason.TARGETING_MATCH if matched else Reason.DEFAULT,
    )
