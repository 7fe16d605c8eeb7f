"""A str subclass (such as a StrEnum) in a context behaves exactly like its string value."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any

import pytest

from vexil.flags import Reason, Ruleset


class Plan(StrEnum):
    PRO = "pro"
    FREE = "free"


class Version(StrEnum):
    NEW = "4.2.0"


class Region(IntEnum):
    EU = 7


def flag(op: str, values: Any, attribute: str = "plan") -> dict[str, Any]:
    rule = {
        "id": "r",
        "clauses": [{"attribute": attribute, "op": op, "values": values}],
        "serve": "on",
    }
    return {"variations": {"on": True, "off": False}, "rules": [rule], "default": "off"}


@pytest.mark.parametrize(
    ("op", "values", "value"),
    [
        ("in", ["pro"], Plan.PRO),
        ("in", ["pro", 3], Plan.PRO),  # the mixed-type path
        ("starts_with", ["pr"], Plan.PRO),
        ("ends_with", ["ro"], Plan.PRO),
        ("contains", ["r"], Plan.PRO),
        ("matches", ["^p.o$"], Plan.PRO),
        ("in", ["pro"], [Plan.FREE, Plan.PRO]),
        ("ends_with", ["ro"], [Plan.FREE, Plan.PRO]),
        ("semver_gte", ["4.0.0"], Version.NEW),
    ],
)
def test_a_str_subclass_matches_like_its_value(op: str, values: Any, value: Any) -> None:
    ruleset = Ruleset.from_data({"flags": {"f": flag(op, values)}})
    detail = ruleset.evaluate("f", {"key": "u", "plan": value})
    assert (detail.value, detail.reason) == (True, Reason.TARGETING_MATCH)
    assert ruleset.explain("f", {"key": "u", "plan": value}).detail == detail


@pytest.mark.parametrize(("op", "values"), [("in", ["free"]), ("starts_with", ["fr"])])
def test_a_str_subclass_that_differs_does_not_match(op: str, values: Any) -> None:
    ruleset = Ruleset.from_data({"flags": {"f": flag(op, values)}})
    assert ruleset.evaluate("f", {"key": "u", "plan": Plan.PRO}).value is False


def test_a_str_subclass_key_is_targeted_and_in_segments() -> None:
    doc = {
        "segments": {"s": {"included": ["pro"]}},
        "flags": {
            "t": {"variations": {"on": True, "off": False}, "targets": {"on": ["pro"]},
                  "default": "off"},
            "g": flag("segment", ["s"]),
        },
    }  # fmt: skip
    ruleset = Ruleset.from_data(doc)
    assert ruleset.evaluate("t", {"key": Plan.PRO}).reason is Reason.TARGETING_MATCH
    assert ruleset.evaluate("g", {"key": Plan.PRO}).value is True
    assert ruleset.explain("t", {"key": Plan.PRO}).detail.reason is Reason.TARGETING_MATCH


def test_enum_keys_bucket_like_their_values() -> None:
    rollout = {"rollout": [{"variation": "a", "weight": 50}, {"variation": "b", "weight": 50}]}
    doc = {"flags": {"f": {"variations": {"a": "a", "b": "b"}, "default": rollout}}}
    ruleset = Ruleset.from_data(doc)
    assert ruleset.evaluate("f", {"key": Plan.PRO}) == ruleset.evaluate("f", {"key": "pro"})
    assert ruleset.evaluate("f", {"key": Region.EU}) == ruleset.evaluate("f", {"key": 7})
    assert ruleset.evaluate("f", {"key": True}).reason is Reason.ERROR
