"""Clause operators, as seen through evaluation: what matches, and what never does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from vexil.flags import Reason, Ruleset

MISSING = object()


def ruleset_with(*clauses: dict[str, Any], segments: dict[str, Any] | None = None) -> Ruleset:
    """One string flag serving "hit" when all ``clauses`` match, else "miss"."""
    return Ruleset.from_data(
        {
            "flags": {
                "f": {
                    "variations": {"hit": "hit", "miss": "miss"},
                    "rules": [{"id": "r", "clauses": list(clauses), "serve": "hit"}],
                    "default": "miss",
                }
            },
            "segments": segments or {},
        }
    )


def hit(ruleset: Ruleset, context: dict[str, Any]) -> bool:
    detail = ruleset.evaluate("f", context)
    assert detail.error is None, detail
    assert detail.reason in (Reason.TARGETING_MATCH, Reason.DEFAULT)
    return detail.variant == "hit"


def matches(
    op: str, values: Any, actual: Any, *, negate: bool = False, attribute: str = "attr"
) -> bool:
    """Whether a context whose ``attribute`` is ``actual`` matches the one clause."""
    c: dict[str, Any] = {"attribute": attribute, "op": op, "negate": negate}
    if op != "exists":
        c["values"] = values
    context: dict[str, Any] = {"key": "k"}
    if actual is not MISSING:
        *parents, name = attribute.split(".")
        inner = context
        for part in parents:
            inner = inner.setdefault(part, {})
        inner[name] = actual
    return hit(ruleset_with(c), context)


# ------------------------------------------------------------------- in


@pytest.mark.parametrize(
    ("values", "actual", "expected"),
    [
        (["pro", "enterprise"], "pro", True),
        (["pro", "enterprise"], "free", False),
        (["pro"], "Pro", False),
        (["pro"], "pro ", False),
        ([1, 2], 2, True),
        ([1, 2], 2.0, True),
        ([1.5], 1.5, True),
        ([1], "1", False),
        (["1"], 1, False),
        ([True], True, True),
        ([True], 1, False),
        ([1], True, False),
        ([False], 0, False),
        ([0], False, False),
        ([False], False, True),
        ([True], "true", False),
        (["pro", 1, True], True, True),
        (["pro", 1, True], 1, True),
    ],
)
def test_in(values: list[Any], actual: Any, expected: bool) -> None:
    assert matches("in", values, actual) is expected


def test_in_true_never_matches_the_number_one_in_a_list_either() -> None:
    assert matches("in", [True], [1, 1.0, "True"]) is False
    assert matches("in", [1], [True, False]) is False


def test_a_scalar_values_field_is_one_value() -> None:
    assert matches("in", "pro", "pro") is True
    assert matches("in", "pro", "p") is False
    assert matches("gt", 3, 4) is True


# --------------------------------------------------------------- strings


@pytest.mark.parametrize(
    ("op", "values", "actual", "expected"),
    [
        ("contains", ["@vexil"], "ana@vexil.dev", True),
        ("contains", ["x", "@vexil"], "ana@vexil.dev", True),
        ("contains", ["@VEXIL"], "ana@vexil.dev", False),
        ("contains", ["1"], 123, False),
        ("starts_with", ["admin"], "admin@vexil.dev", True),
        ("starts_with", ["x", "ad"], "admin", True),
        ("starts_with", ["admin"], "the admin", False),
        ("starts_with", ["1"], 12, False),
        ("ends_with", ["@vexil.dev"], "ana@vexil.dev", True),
        ("ends_with", [".com", ".dev"], "ana@vexil.dev", True),
        ("ends_with", ["@vexil.dev"], "ana@vexil.dev.evil.com", False),
        ("ends_with", ["1"], 21, False),
        ("matches", [r"^a.a@"], "ana@vexil.dev", True),
        ("matches", [r"vexil\.dev"], "ana@vexil.dev", True),
        ("matches", [r"^vexil"], "ana@vexil.dev", False),
        ("matches", [r"^x", r"dev$"], "ana@vexil.dev", True),
        ("matches", [r"^ANA"], "ana@vexil.dev", False),
        ("matches", [r"(?i)^ANA"], "ana@vexil.dev", True),
        ("matches", [r"\d+"], 123, False),
    ],
)
def test_string_operators(op: str, values: list[str], actual: Any, expected: bool) -> None:
    assert matches(op, values, actual) is expected


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("op", "values", "actual", "expected"),
    [
        ("lt", [18], 17, True),
        ("lt", [18], 18, False),
        ("lt", [18], 17.9, True),
        ("lte", [18], 18, True),
        ("lte", [18], 18.01, False),
        ("gt", [18], 19, True),
        ("gt", [18], 18, False),
        ("gte", [18], 18, True),
        ("gte", [18.5], 18, False),
        ("gt", [5, 10], 7, True),
        ("lt", [5, 10], 7, True),
        ("gt", [5, 10], 4, False),
        ("gt", [0], True, False),
        ("lt", [2], False, False),
        ("gt", [18], "19", False),
        ("gt", [0], float("nan"), False),
        ("lt", [0], float("nan"), False),
        ("gt", [10**20], 10**21, True),
    ],
)
def test_number_operators(op: str, values: list[Any], actual: Any, expected: bool) -> None:
    assert matches(op, values, actual) is expected


# ---------------------------------------------------------------- semver


# SemVer 2.0 section 11: each version has lower precedence than the next.
PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "2.0.0",
    "2.1.0",
    "2.1.1",
    "10.0.0",
]


@pytest.mark.parametrize("i", range(len(PRECEDENCE) - 1))
def test_semver_precedence_follows_the_specification(i: int) -> None:
    lower, higher = PRECEDENCE[i], PRECEDENCE[i + 1]
    assert matches("semver_lt", [higher], lower) is True
    assert matches("semver_gt", [lower], higher) is True
    assert matches("semver_lt", [lower], higher) is False
    assert matches("semver_gte", [higher], lower) is False
    assert matches("semver_eq", [lower], higher) is False


@pytest.mark.parametrize(
    ("op", "values", "actual", "expected"),
    [
        ("semver_eq", ["1.2.3"], "1.2.3", True),
        ("semver_eq", ["1.2.3"], "v1.2.3", True),
        ("semver_eq", ["v1.2.3"], "1.2.3", True),
        ("semver_eq", ["1.2"], "1.2.0", True),
        ("semver_eq", ["1"], "1.0.0", True),
        ("semver_eq", ["1.2.3"], "1.2.3+build.7", True),
        ("semver_eq", ["1.2.3"], "1.2.3-rc.1", False),
        ("semver_eq", ["1.0.0", "2.0.0"], "2.0", True),
        ("semver_lte", ["4.2.0"], "4.2.0", True),
        ("semver_lte", ["4.2.0"], "4.2.1", False),
        ("semver_gte", ["4.2.0"], "4.2.0", True),
        ("semver_gte", ["4.2.0"], "4.2.0-beta.1", False),
        ("semver_gte", ["4.2.0"], "4.10.0", True),
        ("semver_gt", ["4.2.0", "9.0.0"], "5.0.0", True),
        ("semver_lt", ["4.2.0", "9.0.0"], "5.0.0", True),
        ("semver_gte", ["1.0.0"], "banana", False),
        ("semver_gte", ["1.0.0"], "", False),
        ("semver_gte", ["1.0.0"], "1.2.3.4", False),
        ("semver_gte", ["1.0.0"], 2, False),
        ("semver_eq", ["1.0.0"], 1.0, False),
    ],
)
def test_semver_operators(op: str, values: list[str], actual: Any, expected: bool) -> None:
    assert matches(op, values, actual) is expected


# ----------------------------------------------------------------- dates

NEW_YEAR = "2024-01-01T00:00:00Z"
NEW_YEAR_SECONDS = 1_704_067_200


@pytest.mark.parametrize(
    ("op", "values", "actual", "expected"),
    [
        ("after", [NEW_YEAR], "2024-01-01T00:00:01Z", True),
        ("after", [NEW_YEAR], "2023-12-31T23:59:59Z", False),
        ("after", [NEW_YEAR], NEW_YEAR, False),
        ("before", [NEW_YEAR], "2023-12-31T23:59:59Z", True),
        ("before", [NEW_YEAR], NEW_YEAR, False),
        # A naive datetime is UTC, in the context and in the literal.
        ("after", [NEW_YEAR], "2024-01-01T00:00:01", True),
        ("before", ["2024-01-01T00:00:00"], "2023-12-31T23:59:59+00:00", True),
        ("after", ["2024-01-01"], "2024-01-01T00:00:01Z", True),
        # Offsets are honoured: 00:30 in Paris is 23:30 UTC the day before.
        ("before", [NEW_YEAR], "2024-01-01T00:30:00+01:00", True),
        ("after", [NEW_YEAR], "2023-12-31T23:30:00-01:00", True),
        # Unix seconds, in the literal or in the context.
        ("after", [NEW_YEAR_SECONDS], "2024-01-01T00:00:01Z", True),
        ("after", [NEW_YEAR], NEW_YEAR_SECONDS + 1, True),
        ("after", [NEW_YEAR], NEW_YEAR_SECONDS + 0.5, True),
        ("before", [NEW_YEAR], NEW_YEAR_SECONDS - 1, True),
        ("before", [NEW_YEAR], NEW_YEAR_SECONDS, False),
        # Several literals: after any of them / before any of them.
        ("after", ["2030-01-01", NEW_YEAR], "2025-06-01", True),
        ("before", ["2020-01-01", NEW_YEAR], "2023-06-01", True),
        # Not a point in time.
        ("after", [0], True, False),
        ("after", [0], "soon", False),
        ("after", [0], "", False),
        ("after", [0], 10**400, False),
        ("before", [0], -(10**400), False),
        ("after", [0], float("nan"), False),
        ("after", [0], {"at": NEW_YEAR}, False),
    ],
)
def test_date_operators(op: str, values: list[Any], actual: Any, expected: bool) -> None:
    assert matches(op, values, actual) is expected


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        (datetime(2024, 1, 1, 0, 0, 1), True),
        (datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), True),
        (datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), False),
    ],
)
def test_datetime_objects_in_the_context_compare_as_points_in_time(
    actual: datetime, expected: bool
) -> None:
    assert matches("after", [NEW_YEAR], actual) is expected


# ---------------------------------------------------------------- exists


@pytest.mark.parametrize(
    ("actual", "expected"),
    [("x", True), ("", True), (0, True), (False, True), ([], True), ({}, True), (None, False)],
)
def test_exists(actual: Any, expected: bool) -> None:
    assert matches("exists", None, actual) is expected
    assert matches("exists", None, actual, negate=True) is not expected


def test_exists_and_negated_exists_on_a_missing_attribute() -> None:
    assert matches("exists", None, MISSING) is False
    assert matches("exists", None, MISSING, negate=True) is True


# ---------------------------------------------------------------- negate


@pytest.mark.parametrize(
    ("op", "values", "actual"),
    [
        ("in", ["US"], "CA"),
        ("contains", ["x"], "abc"),
        ("starts_with", ["x"], "abc"),
        ("ends_with", ["x"], "abc"),
        ("matches", ["x"], "abc"),
        ("lt", [1], 5),
        ("gte", [10], 5),
        ("semver_gte", ["2.0.0"], "1.0.0"),
        ("after", [NEW_YEAR], "2020-01-01"),
    ],
)
def test_negate_inverts_a_clause_on_a_present_attribute(op: str, values: Any, actual: Any) -> None:
    assert matches(op, values, actual) is False
    assert matches(op, values, actual, negate=True) is True


def test_negate_with_a_value_of_the_wrong_type_matches() -> None:
    # The value is there and is not one of the values: "not in" holds.
    assert matches("in", ["US"], 1, negate=True) is True


# ---------------------------------------------------- missing attributes

VALUE_OPERATORS = [
    ("in", ["x"]),
    ("contains", ["x"]),
    ("starts_with", ["x"]),
    ("ends_with", ["x"]),
    ("matches", ["x"]),
    ("lt", [1]),
    ("lte", [1]),
    ("gt", [1]),
    ("gte", [1]),
    ("semver_eq", ["1.0.0"]),
    ("semver_lt", ["1.0.0"]),
    ("semver_lte", ["1.0.0"]),
    ("semver_gt", ["1.0.0"]),
    ("semver_gte", ["1.0.0"]),
    ("before", [NEW_YEAR]),
    ("after", [NEW_YEAR]),
]


@pytest.mark.parametrize(("op", "values"), VALUE_OPERATORS)
@pytest.mark.parametrize("negate", [False, True])
@pytest.mark.parametrize("attribute", ["attr", "a.b.c"])
@pytest.mark.parametrize("actual", [MISSING, None])
def test_a_missing_attribute_never_matches_even_negated(
    op: str, values: list[Any], negate: bool, attribute: str, actual: Any
) -> None:
    assert matches(op, values, actual, negate=negate, attribute=attribute) is False


# ------------------------------------------------------- wrong types

WRONG_TYPES = [
    {"a": 1},
    [{"a": 1}],
    [[1, 2]],
    (1, 2),
    b"bytes",
    object(),
    float("nan"),
    datetime(2024, 1, 1).date(),
    {1, 2},
]


@pytest.mark.parametrize(("op", "values"), VALUE_OPERATORS)
@pytest.mark.parametrize("actual", WRONG_TYPES, ids=lambda v: type(v).__name__)
def test_a_value_of_the_wrong_type_does_not_match_and_does_not_raise(
    op: str, values: list[Any], actual: Any
) -> None:
    assert matches(op, values, actual) is False


# ------------------------------------------------------- list attributes


@pytest.mark.parametrize(
    ("op", "values", "actual", "expected"),
    [
        ("in", ["admin"], ["user", "admin"], True),
        ("in", ["admin"], ["user", "guest"], False),
        ("in", ["admin"], [], False),
        ("contains", ["@vexil"], ["a@b.c", "d@vexil.dev"], True),
        ("starts_with", ["ad"], ["user", "admin"], True),
        ("ends_with", [".dev"], ["a.com", "b.org"], False),
        ("matches", [r"^\d+$"], ["abc", "123"], True),
        ("gt", [10], [1, 2, 11], True),
        ("lte", [0], [1, 2], False),
        ("semver_gte", ["2.0.0"], ["1.0.0", "banana", "2.1.0"], True),
        ("after", [NEW_YEAR], ["2020-01-01", "2025-01-01"], True),
        ("in", [1], ["1", None, {"x": 1}, 1], True),
        ("gt", [10], [None, "11", [11]], False),
    ],
)
def test_a_list_attribute_matches_when_any_element_matches(
    op: str, values: list[Any], actual: list[Any], expected: bool
) -> None:
    assert matches(op, values, actual) is expected
    assert matches(op, values, actual, attribute="nested.roles") is expected


def test_a_negated_clause_on_a_list_attribute_means_no_element_matches() -> None:
    assert matches("in", ["admin"], ["user", "admin"], negate=True) is False
    assert matches("in", ["admin"], ["user", "guest"], negate=True) is True


# ------------------------------------------------------ dotted attributes


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"address": {"country": "CA"}}, True),
        ({"address": {"country": "US"}}, False),
        ({"address": {}}, False),
        ({"address": "CA"}, False),
        ({"address": ["CA"]}, False),
        ({"address": None}, False),
        ({"address.country": "CA"}, False),
        ({}, False),
    ],
)
def test_a_dotted_attribute_reads_nested_mappings(context: dict[str, Any], expected: bool) -> None:
    ruleset = ruleset_with({"attribute": "address.country", "op": "in", "values": ["CA"]})
    assert hit(ruleset, context) is expected


def test_a_negated_dotted_attribute_never_matches_when_a_part_is_missing() -> None:
    ruleset = ruleset_with(
        {"attribute": "address.country", "op": "in", "values": ["CA"], "negate": True}
    )
    assert hit(ruleset, {"address": {"country": "US"}}) is True
    assert hit(ruleset, {"address": "somewhere"}) is False
    assert hit(ruleset, {"address": {}}) is False
    assert hit(ruleset, {}) is False


def test_deeply_nested_attributes() -> None:
    ruleset = ruleset_with({"attribute": "a.b.c.d", "op": "gte", "values": [3]})
    assert hit(ruleset, {"a": {"b": {"c": {"d": 3}}}}) is True
    assert hit(ruleset, {"a": {"b": {"c": {"d": 2}}}}) is False
    assert hit(ruleset, {"a": {"b": {"c": 3}}}) is False


# --------------------------------------------------------- several clauses


def test_every_clause_of_a_rule_must_match() -> None:
    ruleset = ruleset_with(
        {"attribute": "plan", "op": "in", "values": ["pro"]},
        {"attribute": "country", "op": "in", "values": ["CA"]},
        {"attribute": "age", "op": "gte", "values": [18]},
    )
    assert hit(ruleset, {"plan": "pro", "country": "CA", "age": 30}) is True
    assert hit(ruleset, {"plan": "pro", "country": "CA", "age": 17}) is False
    assert hit(ruleset, {"plan": "pro", "country": "US", "age": 30}) is False
    assert hit(ruleset, {"plan": "free", "country": "CA", "age": 30}) is False
    assert hit(ruleset, {"country": "CA", "age": 30}) is False


def test_a_rule_without_clauses_matches_everyone() -> None:
    assert hit(ruleset_with(), {}) is True


# ---------------------------------------------------------------- segments

SEGMENTS = {
    "staff": {
        "included": ["u-contractor"],
        "excluded": ["u-former"],
        "rules": [{"clauses": [{"attribute": "email", "op": "ends_with", "values": "@vexil.dev"}]}],
    },
    "beta": {"included": ["u-beta"]},
    "staff-or-beta": {"rules": [{"clauses": [{"op": "segment", "values": ["staff", "beta"]}]}]},
}


def in_segment(context: dict[str, Any], *names: str, negate: bool = False) -> bool:
    ruleset = ruleset_with(
        {"op": "segment", "values": list(names), "negate": negate}, segments=SEGMENTS
    )
    return hit(ruleset, context)


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        # Included keys are in, whatever the rules say.
        ({"key": "u-contractor", "email": "c@example.com"}, True),
        ({"key": "u-contractor"}, True),
        # Excluded keys are out, whatever the rules say.
        ({"key": "u-former", "email": "f@vexil.dev"}, False),
        # Everyone else is in when a rule matches.
        ({"key": "u-1", "email": "ana@vexil.dev"}, True),
        ({"key": "u-1", "email": "ana@example.com"}, False),
        ({"email": "ana@vexil.dev"}, True),
        ({"key": 7, "email": "ana@vexil.dev"}, True),
        ({}, False),
    ],
)
def test_segment_membership_checks_included_then_excluded_then_rules(
    context: dict[str, Any], expected: bool
) -> None:
    assert in_segment(context, "staff") is expected


def test_a_segment_clause_with_several_segments_matches_any_of_them() -> None:
    assert in_segment({"key": "u-beta"}, "staff", "beta") is True
    assert in_segment({"key": "u-contractor"}, "staff", "beta") is True
    assert in_segment({"key": "u-other"}, "staff", "beta") is False


def test_a_segment_can_use_another_segment() -> None:
    assert in_segment({"key": "u-beta"}, "staff-or-beta") is True
    assert in_segment({"key": "x", "email": "a@vexil.dev"}, "staff-or-beta") is True
    assert in_segment({"key": "u-former", "email": "a@vexil.dev"}, "staff-or-beta") is False


def test_a_negated_segment_clause_matches_those_outside() -> None:
    assert in_segment({"key": "u-beta"}, "beta", negate=True) is False
    assert in_segment({"key": "u-other"}, "beta", negate=True) is True
    assert in_segment({"key": "u-other"}, "staff", "beta", negate=True) is True
    assert in_segment({"key": "u-beta"}, "staff", "beta", negate=True) is False
