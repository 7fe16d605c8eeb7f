"""Changing a ruleset: new rulesets share all they can, and nothing broken gets in."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from vexil.flags import Problem, Reason, Ruleset, ValidationError

BOOL = {"on": True, "off": False}


def bool_flag(default: str = "on", **fields: Any) -> dict[str, Any]:
    return {"variations": dict(BOOL), "off_variation": "off", "default": default, **fields}


def requires(flag: str, variation: str = "on", **fields: Any) -> dict[str, Any]:
    return bool_flag(prerequisites=[{"flag": flag, "variation": variation}], **fields)


def in_segment(segment: str) -> dict[str, Any]:
    """A flag serving ``on`` to members of ``segment``, ``off`` to everyone else."""
    return bool_flag(
        "off",
        rules=[
            {"id": "members", "clauses": [{"op": "segment", "values": [segment]}], "serve": "on"}
        ],
    )


DOCUMENT: dict[str, Any] = {
    "flags": {
        "base": bool_flag(),
        "dependent": requires("base"),
        "beta-only": in_segment("beta"),
        "independent": {"variations": {"a": "A", "b": "B"}, "default": "a"},
    },
    "segments": {
        "beta": {"included": ["u-1"]},
        "staff": {
            "rules": [
                {"clauses": [{"attribute": "email", "op": "ends_with", "values": "@vexil.dev"}]}
            ]
        },
        "staff-or-beta": {"rules": [{"clauses": [{"op": "segment", "values": ["staff", "beta"]}]}]},
    },
}


@pytest.fixture
def ruleset() -> Ruleset:
    return Ruleset.from_data(copy.deepcopy(DOCUMENT))


def snapshot(ruleset: Ruleset) -> tuple[Any, ...]:
    """What must not change about a ruleset: its document and its compiled objects."""
    return (
        ruleset.to_data(),
        dict(ruleset.compiled_flags),
        dict(ruleset.compiled_segments),
        ruleset.document,
    )


def assert_unchanged(ruleset: Ruleset, before: tuple[Any, ...]) -> None:
    data, flags, segments, document = before
    assert ruleset.to_data() == data
    assert ruleset.document is document
    assert ruleset.compiled_flags.keys() == flags.keys()
    assert all(ruleset.compiled_flags[k] is v for k, v in flags.items())
    assert all(ruleset.compiled_segments[k] is v for k, v in segments.items())


def rejected(ruleset: Ruleset, change: Callable[[Ruleset], object]) -> list[Problem]:
    """The problems ``change`` is rejected with, once checked that ``ruleset`` stays as it was."""
    before = snapshot(ruleset)
    with pytest.raises(ValidationError) as caught:
        change(ruleset)
    assert_unchanged(ruleset, before)
    return list(caught.value.problems)


# ---------------------------------------------------------------- with_flag


def test_with_flag_adds_a_flag_to_a_new_ruleset_only(ruleset: Ruleset) -> None:
    before = snapshot(ruleset)
    new = ruleset.with_flag("fresh", bool_flag("off"))
    assert new is not ruleset
    assert new.evaluate("fresh", {}).value is False
    assert "fresh" in new
    assert "fresh" not in ruleset
    assert ruleset.evaluate("fresh", {}).reason is Reason.ERROR
    assert_unchanged(ruleset, before)


def test_with_flag_replaces_a_flag_in_a_new_ruleset_only(ruleset: Ruleset) -> None:
    before = snapshot(ruleset)
    new = ruleset.with_flag("independent", {"variations": {"a": "A", "b": "B"}, "default": "b"})
    assert new.evaluate("independent", {}).value == "B"
    assert ruleset.evaluate("independent", {}).value == "A"
    assert_unchanged(ruleset, before)


def test_with_flag_compiles_only_the_changed_flag(ruleset: Ruleset) -> None:
    new = ruleset.with_flag("independent", {"variations": {"a": "A", "b": "B"}, "default": "b"})
    assert new.compiled_flags["independent"] is not ruleset.compiled_flags["independent"]
    for key in ("base", "dependent", "beta-only"):
        assert new.compiled_flags[key] is ruleset.compiled_flags[key]
    for key in ruleset.compiled_segments:
        assert new.compiled_segments[key] is ruleset.compiled_segments[key]
    assert new.flags["base"] is ruleset.flags["base"]


def test_adding_a_flag_compiles_only_that_flag(ruleset: Ruleset) -> None:
    new = ruleset.with_flag("fresh", requires("dependent"))
    assert all(new.compiled_flags[k] is c for k, c in ruleset.compiled_flags.items())
    assert new.evaluate("fresh", {}).value is True


def test_a_replaced_prerequisite_takes_effect_for_flags_not_compiled_again(
    ruleset: Ruleset,
) -> None:
    assert ruleset.evaluate("dependent", {}).reason is Reason.DEFAULT
    assert ruleset.evaluate("dependent", {}).value is True
    new = ruleset.with_flag("base", bool_flag("off"))
    assert new.compiled_flags["dependent"] is ruleset.compiled_flags["dependent"]
    detail = new.evaluate("dependent", {})
    assert (detail.reason, detail.prerequisite, detail.value) == (
        Reason.PREREQUISITE_FAILED,
        "base",
        False,
    )
    assert ruleset.evaluate("dependent", {}).value is True


def test_turning_a_prerequisite_off_fails_its_dependents(ruleset: Ruleset) -> None:
    new = ruleset.with_flag("base", bool_flag(on=False))
    assert new.evaluate("dependent", {}).reason is Reason.PREREQUISITE_FAILED


@pytest.mark.parametrize(
    ("key", "data", "path"),
    [
        ("independent", {"variations": {"a": "A"}, "default": "zzz"}, "flags.independent.default"),
        (
            "fresh",
            bool_flag(
                rules=[
                    {
                        "clauses": [{"attribute": "x", "op": "startswith", "values": "a"}],
                        "serve": "on",
                    }
                ]
            ),
            "flags.fresh.rules[0].clauses[0].op",
        ),
        ("fresh", bool_flag(colour="red"), "flags.fresh.colour"),
        ("bad key", bool_flag(), "flags.bad key"),
        ("fresh", requires("nope"), "flags.fresh.prerequisites[0].flag"),
        ("fresh", requires("base", "maybe"), "flags.fresh.prerequisites[0].variation"),
        ("fresh", in_segment("nobody"), "flags.fresh.rules[0].clauses[0].values[0]"),
        ("fresh", requires("fresh"), "flags.fresh.prerequisites[0].flag"),
        ("base", requires("dependent"), "flags.base.prerequisites"),
    ],
    ids=[
        "unknown-variation",
        "unknown-operator",
        "unknown-field",
        "invalid-key",
        "unknown-prerequisite",
        "unknown-prerequisite-variation",
        "unknown-segment",
        "own-prerequisite",
        "prerequisite-cycle",
    ],
)
def test_a_bad_flag_is_rejected_and_the_ruleset_stays_as_it_was(
    ruleset: Ruleset, key: str, data: dict[str, Any], path: str
) -> None:
    assert path in [p.path for p in rejected(ruleset, lambda r: r.with_flag(key, data))]


def test_removing_a_variation_a_dependent_requires_is_rejected(ruleset: Ruleset) -> None:
    base = {"variations": {"enabled": True, "disabled": False}, "default": "enabled"}
    assert [str(p) for p in rejected(ruleset, lambda r: r.with_flag("base", base))] == [
        "flags.dependent.prerequisites[0].variation: flag 'base' has no variation 'on'"
        " (variations: enabled, disabled)"
    ]


def test_changing_variations_a_dependent_does_not_require_is_accepted(ruleset: Ruleset) -> None:
    new = ruleset.with_flag(
        "base", {"variations": {"on": True, "off": False, "maybe": False}, "default": "maybe"}
    )
    assert new.evaluate("dependent", {}).reason is Reason.PREREQUISITE_FAILED
    new = new.with_flag("base", {"variations": {"on": True}, "default": "on"})
    assert new.evaluate("dependent", {}).value is True


def test_changing_a_variation_value_keeps_dependents(ruleset: Ruleset) -> None:
    new = ruleset.with_flag("base", {"variations": {"on": "yes", "off": "no"}, "default": "on"})
    assert new.evaluate("base", {}).value == "yes"
    assert new.evaluate("dependent", {}).value is True


def test_a_flag_can_become_a_prerequisite_of_its_former_dependent_only_after_the_cycle_is_gone(
    ruleset: Ruleset,
) -> None:
    with pytest.raises(ValidationError):
        ruleset.with_flag("base", requires("dependent"))
    new = ruleset.with_flag("dependent", bool_flag()).with_flag("base", requires("dependent"))
    assert new.evaluate("base", {}).value is True


# ------------------------------------------------------------- without_flag


def test_without_flag_removes_a_flag_from_a_new_ruleset_only(ruleset: Ruleset) -> None:
    before = snapshot(ruleset)
    new = ruleset.without_flag("independent")
    assert "independent" not in new
    assert "independent" not in new.flags
    assert new.evaluate("independent", {}).reason is Reason.ERROR
    assert all(new.compiled_flags[k] is ruleset.compiled_flags[k] for k in new.compiled_flags)
    assert_unchanged(ruleset, before)


def test_without_flag_of_a_prerequisite_is_rejected(ruleset: Ruleset) -> None:
    problems = rejected(ruleset, lambda r: r.without_flag("base"))
    assert [str(p) for p in problems] == ["flags.base: is a prerequisite of dependent"]


def test_a_prerequisite_can_be_removed_once_its_dependents_are_gone(ruleset: Ruleset) -> None:
    new = ruleset.without_flag("dependent").without_flag("base")
    assert set(new) == {"beta-only", "independent"}


def test_without_an_unknown_flag_is_the_same_ruleset(ruleset: Ruleset) -> None:
    assert ruleset.without_flag("nope") is ruleset


# -------------------------------------------------------------- segments


def test_with_segment_takes_effect_for_flags_not_compiled_again(ruleset: Ruleset) -> None:
    before = snapshot(ruleset)
    assert ruleset.evaluate("beta-only", {"key": "u-2"}).value is False
    new = ruleset.with_segment("beta", {"included": ["u-1", "u-2"]})
    assert new.compiled_flags["beta-only"] is ruleset.compiled_flags["beta-only"]
    assert new.compiled_segments["staff"] is ruleset.compiled_segments["staff"]
    assert new.compiled_segments["beta"] is not ruleset.compiled_segments["beta"]
    assert new.evaluate("beta-only", {"key": "u-2"}).value is True
    assert ruleset.evaluate("beta-only", {"key": "u-2"}).value is False
    assert_unchanged(ruleset, before)


def test_a_changed_segment_takes_effect_through_segments_that_use_it(ruleset: Ruleset) -> None:
    new = ruleset.with_flag("insiders", in_segment("staff-or-beta"))
    assert new.evaluate("insiders", {"key": "u-9"}).value is False
    newer = new.with_segment("beta", {"included": ["u-9"]})
    assert newer.compiled_segments["staff-or-beta"] is new.compiled_segments["staff-or-beta"]
    assert newer.evaluate("insiders", {"key": "u-9"}).value is True


def test_with_segment_adds_a_segment(ruleset: Ruleset) -> None:
    new = ruleset.with_segment(
        "pros", {"rules": [{"clauses": [{"attribute": "plan", "op": "in", "values": "pro"}]}]}
    )
    new = new.with_flag("pro-only", in_segment("pros"))
    assert new.evaluate("pro-only", {"plan": "pro"}).value is True
    assert "pros" not in ruleset.segments


@pytest.mark.parametrize(
    ("key", "data", "path"),
    [
        ("beta", {"included": "u-1"}, "segments.beta.included"),
        (
            "beta",
            {"rules": [{"clauses": [{"attribute": "a", "op": "is", "values": "x"}]}]},
            "segments.beta.rules[0].clauses[0].op",
        ),
        ("bad key", {}, "segments.bad key"),
        (
            "fresh",
            {"rules": [{"clauses": [{"op": "segment", "values": ["nobody"]}]}]},
            "segments.fresh.rules[0].clauses[0].values[0]",
        ),
        (
            "beta",
            {"rules": [{"clauses": [{"op": "segment", "values": ["staff-or-beta"]}]}]},
            "segments.beta.rules",
        ),
        (
            "beta",
            {"rules": [{"clauses": [{"op": "segment", "values": ["beta"]}]}]},
            "segments.beta.rules",
        ),
    ],
    ids=["malformed", "unknown-operator", "invalid-key", "unknown-segment", "cycle", "self-cycle"],
)
def test_a_bad_segment_is_rejected_and_the_ruleset_stays_as_it_was(
    ruleset: Ruleset, key: str, data: dict[str, Any], path: str
) -> None:
    assert path in [p.path for p in rejected(ruleset, lambda r: r.with_segment(key, data))]


@pytest.mark.parametrize(
    ("segment", "paths"),
    [
        (
            "beta",
            [
                "flags.beta-only.rules[0].clauses[0].values[0]",
                "segments.staff-or-beta.rules[0].clauses[0].values[1]",
            ],
        ),
        ("staff", ["segments.staff-or-beta.rules[0].clauses[0].values[0]"]),
    ],
)
def test_without_segment_of_a_segment_in_use_is_rejected(
    ruleset: Ruleset, segment: str, paths: list[str]
) -> None:
    problems = rejected(ruleset, lambda r: r.without_segment(segment))
    assert [p.path for p in problems] == paths
    assert all(p.message.startswith(f"unknown segment {segment!r}") for p in problems)


def test_without_segment_removes_an_unused_segment(ruleset: Ruleset) -> None:
    before = snapshot(ruleset)
    new = ruleset.without_flag("beta-only").without_segment("staff-or-beta").without_segment("beta")
    assert set(new.segments) == {"staff"}
    assert set(new.compiled_segments) == {"staff"}
    assert new.compiled_segments["staff"] is ruleset.compiled_segments["staff"]
    assert_unchanged(ruleset, before)


def test_without_an_unknown_segment_is_the_same_ruleset(ruleset: Ruleset) -> None:
    assert ruleset.without_segment("nope") is ruleset


def test_a_chain_of_changes_equals_reading_the_final_document(ruleset: Ruleset) -> None:
    changed = (
        ruleset.with_flag("fresh", requires("independent", "a"))
        .with_segment("beta", {"included": ["u-2"]})
        .without_flag("dependent")
        .with_flag("base", bool_flag("off"))
    )
    expected = copy.deepcopy(DOCUMENT)
    expected["flags"]["fresh"] = requires("independent", "a")
    expected["segments"]["beta"] = {"included": ["u-2"]}
    del expected["flags"]["dependent"]
    expected["flags"]["base"] = bool_flag("off")
    assert changed.document == Ruleset.from_data(expected).document
    context = {"key": "u-2", "email": "a@vexil.dev"}
    assert changed.evaluate_all(context) == Ruleset.from_data(expected).evaluate_all(context)
