"""Evaluation: values, variants, reasons and error kinds, and that it never raises."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

import pytest

from vexil.flags import ErrorKind, EvaluationDetail, Reason, Ruleset

BOOL = {"on": True, "off": False}
HALF_AND_HALF = {"rollout": [{"variation": "on", "weight": 50}, {"variation": "off", "weight": 50}]}


def ruleset(flags: dict[str, Any], segments: dict[str, Any] | None = None) -> Ruleset:
    return Ruleset.from_data({"flags": flags, "segments": segments or {}})


def one(**fields: Any) -> Ruleset:
    """A ruleset of one flag ``f``, boolean unless ``fields`` give variations."""
    return ruleset({"f": {"variations": dict(BOOL), **fields}})


class RaisingMapping(Mapping[str, Any]):
    """A context that is a mapping, but fails whenever it is read."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("the context store is down")

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("the context store is down")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("the context store is down")

    def __len__(self) -> int:
        return 1


class PlainMapping(Mapping[str, Any]):
    """A read-only mapping that is not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


# ----------------------------------------------------------------- reasons


def test_a_flag_with_nothing_to_decide_is_static() -> None:
    detail = one(default="on").evaluate("f", {"key": "u-1"})
    assert detail == EvaluationDetail(True, "on", Reason.STATIC)


def test_a_static_flag_needs_no_context_attributes() -> None:
    assert one(default={"variation": "off"}).evaluate("f", {}).reason is Reason.STATIC


@pytest.mark.parametrize(
    "fields",
    [
        {"targets": {"on": ["u-9"]}},
        {
            "rules": [
                {"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}
            ]
        },
        {"default": HALF_AND_HALF},
    ],
)
def test_a_flag_with_targets_rules_or_a_rollout_is_not_static(fields: dict[str, Any]) -> None:
    detail = one(**{"default": "off", **fields}).evaluate("f", {"key": "u-1"})
    assert detail.reason in (Reason.DEFAULT, Reason.SPLIT)


def test_a_flag_with_a_prerequisite_is_not_static() -> None:
    rs = ruleset(
        {
            "g": {"variations": dict(BOOL), "default": "on"},
            "f": {
                "variations": dict(BOOL),
                "prerequisites": [{"flag": "g", "variation": "on"}],
                "default": "off",
            },
        }
    )
    assert rs.evaluate("f", {"key": "u-1"}) == EvaluationDetail(False, "off", Reason.DEFAULT)


def test_when_nothing_matches_the_default_serve_applies() -> None:
    rs = one(
        rules=[{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}],
        default="off",
    )
    assert rs.evaluate("f", {"plan": "free"}) == EvaluationDetail(False, "off", Reason.DEFAULT)


def test_an_individual_target_matches_without_a_rule_id() -> None:
    rs = one(targets={"on": ["u-1", "u-2"]}, default="off")
    assert rs.evaluate("f", {"key": "u-2"}) == EvaluationDetail(True, "on", Reason.TARGETING_MATCH)
    assert rs.evaluate("f", {"key": "u-3"}).reason is Reason.DEFAULT


def test_targets_are_checked_before_rules() -> None:
    rs = one(
        targets={"off": ["u-666"]},
        rules=[{"id": "everyone", "clauses": [], "serve": "on"}],
        default="on",
    )
    assert rs.evaluate("f", {"key": "u-666"}) == EvaluationDetail(
        False, "off", Reason.TARGETING_MATCH
    )
    assert rs.evaluate("f", {"key": "u-1"}) == EvaluationDetail(
        True, "on", Reason.TARGETING_MATCH, rule_id="everyone"
    )


@pytest.mark.parametrize("key", [1, None, ["u-1"], True])
def test_only_a_string_key_is_individually_targeted(key: Any) -> None:
    rs = one(targets={"on": ["u-1", "1", "True"]}, default="off")
    assert rs.evaluate("f", {"key": key}).reason is Reason.DEFAULT


PLAN_RULES = [
    {
        "id": "pros",
        "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
        "serve": "on",
    },
    {"clauses": [{"attribute": "country", "op": "in", "values": ["CA"]}], "serve": "off"},
    {"clauses": [{"attribute": "plan", "op": "exists"}], "serve": "on"},
]


@pytest.mark.parametrize(
    ("context", "variant", "rule_id"),
    [
        ({"plan": "pro", "country": "CA"}, "on", "pros"),
        ({"plan": "free", "country": "CA"}, "off", "rule-2"),
        ({"plan": "free", "country": "US"}, "on", "rule-3"),
        ({"country": "US"}, None, None),
    ],
)
def test_the_first_matching_rule_wins(
    context: dict[str, Any], variant: str | None, rule_id: str | None
) -> None:
    detail = one(rules=PLAN_RULES).evaluate("f", context)
    assert (detail.variant, detail.rule_id) == (variant, rule_id)
    assert detail.reason is (Reason.DEFAULT if variant is None else Reason.TARGETING_MATCH)


def test_a_rollout_default_splits() -> None:
    rs = one(default=HALF_AND_HALF)
    details = [rs.evaluate("f", {"key": f"u-{i}"}) for i in range(200)]
    assert {d.reason for d in details} == {Reason.SPLIT}
    assert {d.variant for d in details} == {"on", "off"}
    assert all(d.value is (d.variant == "on") for d in details)
    assert not any(d.in_experiment for d in details)
    assert all(d.rule_id is None for d in details)


def test_a_rollout_is_stable_for_a_key() -> None:
    rs = one(default=HALF_AND_HALF)
    assert len({rs.evaluate("f", {"key": "u-42"}).variant for _ in range(20)}) == 1


def test_a_rule_rollout_splits_and_names_its_rule() -> None:
    rs = one(rules=[{"id": "all", "clauses": [], "serve": HALF_AND_HALF}], default="off")
    detail = rs.evaluate("f", {"key": "u-1"})
    assert (detail.reason, detail.rule_id) == (Reason.SPLIT, "all")


@pytest.mark.parametrize(("weights", "variant"), [((100, 0), "on"), ((0, 100), "off")])
def test_a_full_slice_gets_everyone(weights: tuple[int, int], variant: str) -> None:
    on, off = weights
    rs = one(
        default={
            "rollout": [{"variation": "on", "weight": on}, {"variation": "off", "weight": off}]
        }
    )
    assert {rs.evaluate("f", {"key": f"u-{i}"}).variant for i in range(300)} == {variant}


def test_an_experiment_rollout_marks_its_details() -> None:
    rs = one(default={**HALF_AND_HALF, "experiment": True})
    detail = rs.evaluate("f", {"key": "u-1"})
    assert detail.reason is Reason.SPLIT
    assert detail.in_experiment is True
    assert detail.to_dict()["in_experiment"] is True


def test_a_rollout_can_bucket_by_another_attribute() -> None:
    rs = one(default={**HALF_AND_HALF, "bucket_by": "org.id"})
    by_org = {rs.evaluate("f", {"key": f"u-{i}", "org": {"id": "acme"}}).variant for i in range(50)}
    assert len(by_org) == 1
    assert {rs.evaluate("f", {"org": {"id": f"o-{i}"}}).variant for i in range(100)} == {
        "on",
        "off",
    }


def test_integer_keys_bucket_as_their_decimal_string() -> None:
    rs = one(default=HALF_AND_HALF)
    for i in [0, 1, 7, 42, 10**12, -5]:
        assert rs.evaluate("f", {"key": i}) == rs.evaluate("f", {"key": str(i)})
    assert {rs.evaluate("f", {"key": i}).variant for i in range(100)} == {"on", "off"}


def test_the_seed_replaces_the_flag_key_in_bucketing() -> None:
    seeded = {**HALF_AND_HALF, "seed": "shared"}
    rs = ruleset(
        {
            "a": {"variations": dict(BOOL), "default": seeded},
            "b": {"variations": dict(BOOL), "default": seeded},
            "c": {"variations": dict(BOOL), "default": HALF_AND_HALF},
        }
    )
    keys = [f"u-{i}" for i in range(100)]
    a = [rs.evaluate("a", {"key": k}).variant for k in keys]
    assert a == [rs.evaluate("b", {"key": k}).variant for k in keys]
    assert a != [rs.evaluate("c", {"key": k}).variant for k in keys]


def test_an_off_flag_serves_its_off_variation() -> None:
    rs = one(on=False, off_variation="off", targets={"on": ["u-1"]}, default="on")
    assert rs.evaluate("f", {"key": "u-1"}) == EvaluationDetail(False, "off", Reason.DISABLED)


def test_an_off_flag_without_an_off_variation_serves_nothing() -> None:
    rs = one(on=False, default="on")
    assert rs.evaluate("f", {}) == EvaluationDetail(None, None, Reason.DISABLED)


# ------------------------------------------------------------ prerequisites


def chain(**b_fields: Any) -> Ruleset:
    """``a`` requires ``b`` to serve ``on``; ``a`` serves ``yes`` when it runs."""
    return ruleset(
        {
            "a": {
                "variations": {"yes": "yes", "no": "no"},
                "off_variation": "no",
                "prerequisites": [{"flag": "b", "variation": "on"}],
                "default": "yes",
            },
            "b": {"variations": dict(BOOL), "off_variation": "off", **b_fields},
        }
    )


def test_a_met_prerequisite_lets_the_flag_evaluate() -> None:
    assert chain(default="on").evaluate("a", {"key": "u-1"}) == EvaluationDetail(
        "yes", "yes", Reason.DEFAULT
    )


def test_a_prerequisite_serving_another_variation_fails() -> None:
    detail = chain(default="off").evaluate("a", {"key": "u-1"})
    assert detail == EvaluationDetail("no", "no", Reason.PREREQUISITE_FAILED, prerequisite="b")
    assert detail.to_dict() == {
        "value": "no",
        "variant": "no",
        "reason": "PREREQUISITE_FAILED",
        "prerequisite": "b",
    }


def test_a_prerequisite_that_is_off_fails_even_serving_the_required_variation() -> None:
    rs = chain(on=False, off_variation="on", default="on")
    assert rs.evaluate("b", {}).variant == "on"
    detail = rs.evaluate("a", {"key": "u-1"})
    assert (detail.reason, detail.prerequisite, detail.variant) == (
        Reason.PREREQUISITE_FAILED,
        "b",
        "no",
    )


def test_a_prerequisite_in_error_fails() -> None:
    rs = chain(default={"rollout": [{"variation": "on", "weight": 100}]})
    assert rs.evaluate("b", {}).error is ErrorKind.TARGETING_KEY_MISSING
    assert rs.evaluate("a", {}).reason is Reason.PREREQUISITE_FAILED
    assert rs.evaluate("a", {"key": "u-1"}).reason is Reason.DEFAULT


def test_a_prerequisite_is_evaluated_with_the_same_context() -> None:
    rs = chain(
        rules=[{"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "on"}],
        default="off",
    )
    assert rs.evaluate("a", {"plan": "pro"}).variant == "yes"
    assert rs.evaluate("a", {"plan": "free"}).reason is Reason.PREREQUISITE_FAILED


def test_a_failed_prerequisite_is_checked_before_targets() -> None:
    rs = ruleset(
        {
            "b": {"variations": dict(BOOL), "default": "off"},
            "a": {
                "variations": dict(BOOL),
                "prerequisites": [{"flag": "b", "variation": "on"}],
                "targets": {"on": ["u-1"]},
                "default": "on",
            },
        }
    )
    assert rs.evaluate("a", {"key": "u-1"}) == EvaluationDetail(
        None, None, Reason.PREREQUISITE_FAILED, prerequisite="b"
    )


def test_a_failure_deeper_in_a_chain_is_reported_as_the_direct_prerequisite() -> None:
    def requires(other: str) -> dict[str, Any]:
        return {
            "variations": dict(BOOL),
            "off_variation": "off",
            "prerequisites": [{"flag": other, "variation": "on"}],
            "default": "on",
        }

    rs = ruleset(
        {
            "a": requires("b"),
            "b": requires("c"),
            "c": {"variations": dict(BOOL), "on": False, "default": "on"},
        }
    )
    assert rs.evaluate("b", {}).prerequisite == "c"
    assert rs.evaluate("a", {}) == EvaluationDetail(
        False, "off", Reason.PREREQUISITE_FAILED, prerequisite="b"
    )


def test_the_first_failing_prerequisite_is_named() -> None:
    rs = ruleset(
        {
            "yes": {"variations": dict(BOOL), "default": "on"},
            "no": {"variations": dict(BOOL), "default": "off"},
            "also-no": {"variations": dict(BOOL), "default": "off"},
            "f": {
                "variations": dict(BOOL),
                "prerequisites": [
                    {"flag": "yes", "variation": "on"},
                    {"flag": "no", "variation": "on"},
                    {"flag": "also-no", "variation": "on"},
                ],
                "default": "on",
            },
        }
    )
    assert rs.evaluate("f", {}).prerequisite == "no"


# ---------------------------------------------------------------- errors


def test_an_unknown_flag_is_flag_not_found() -> None:
    rs = one(default="on")
    detail = rs.evaluate("nope", {})
    assert (detail.value, detail.variant, detail.reason, detail.error) == (
        None,
        None,
        Reason.ERROR,
        ErrorKind.FLAG_NOT_FOUND,
    )
    assert rs.evaluate("nope", {}, default=True).value is True


@pytest.mark.parametrize(
    ("variations", "default"),
    [
        (BOOL, "true"),
        (BOOL, 1),
        (BOOL, 0),
        (BOOL, {}),
        ({"a": 1, "b": 2}, True),
        ({"a": 1, "b": 2}, "1"),
        ({"a": 1, "b": 2}, [1]),
        ({"a": "x", "b": "y"}, 1),
        ({"a": "x", "b": "y"}, False),
        ({"a": {}, "b": []}, "{}"),
        ({"a": {}, "b": []}, 3),
    ],
)
def test_a_default_of_another_type_is_a_type_mismatch(
    variations: dict[str, Any], default: Any
) -> None:
    rs = ruleset({"f": {"variations": variations, "default": "a" if "a" in variations else "on"}})
    detail = rs.evaluate("f", {}, default=default)
    assert (detail.reason, detail.error) == (Reason.ERROR, ErrorKind.TYPE_MISMATCH)
    assert detail.value == default
    assert type(detail.value) is type(default)


@pytest.mark.parametrize(
    ("variations", "default"),
    [
        (BOOL, False),
        ({"a": 1, "b": 2}, 1.5),
        ({"a": 1.5, "b": 2}, 7),
        ({"a": "x", "b": "y"}, ""),
        ({"a": {}, "b": []}, {"k": 1}),
        ({"a": {}, "b": []}, []),
    ],
)
def test_a_default_of_the_flag_type_is_accepted(variations: dict[str, Any], default: Any) -> None:
    rs = ruleset({"f": {"variations": variations, "default": "a" if "a" in variations else "on"}})
    detail = rs.evaluate("f", {}, default=default)
    assert detail.error is None
    assert detail.reason is Reason.STATIC


@pytest.mark.parametrize(
    "context",
    [{}, {"key": ""}, {"key": None}, {"key": 1.5}, {"key": True}, {"key": ["u-1"]}, {"key": {}}],
    ids=["missing", "empty", "none", "float", "bool", "list", "mapping"],
)
def test_a_rollout_without_a_bucket_value_is_targeting_key_missing(context: dict[str, Any]) -> None:
    rs = one(default=HALF_AND_HALF)
    detail = rs.evaluate("f", context)
    assert (detail.value, detail.variant, detail.reason, detail.error) == (
        None,
        None,
        Reason.ERROR,
        ErrorKind.TARGETING_KEY_MISSING,
    )
    assert rs.evaluate("f", context, default=True).value is True


def test_a_rollout_by_a_missing_custom_attribute_is_targeting_key_missing() -> None:
    rs = one(default={**HALF_AND_HALF, "bucket_by": "org.id"})
    assert rs.evaluate("f", {"key": "u-1"}).error is ErrorKind.TARGETING_KEY_MISSING
    assert rs.evaluate("f", {"key": "u-1", "org": "acme"}).error is ErrorKind.TARGETING_KEY_MISSING
    assert "org.id" in (rs.evaluate("f", {}).error_message or "")


@pytest.mark.parametrize("context", [None, ["key", "u-1"], "u-1", 42, ("key", "u-1")])
def test_a_context_that_is_not_a_mapping_is_invalid(context: Any) -> None:
    rs = one(rules=[{"clauses": [], "serve": "on"}])
    detail = rs.evaluate("f", context)
    assert (detail.reason, detail.error) == (Reason.ERROR, ErrorKind.INVALID_CONTEXT)
    assert detail.value is None
    assert rs.evaluate("f", context, default=False).value is False


def test_an_evaluation_that_fails_is_a_general_error_and_does_not_raise() -> None:
    rs = one(rules=[{"clauses": [{"attribute": "plan", "op": "exists"}], "serve": "on"}])
    detail = rs.evaluate("f", RaisingMapping(), default=False)
    assert (detail.value, detail.reason, detail.error) == (False, Reason.ERROR, ErrorKind.GENERAL)
    assert "the context store is down" in (detail.error_message or "")


def test_a_failing_context_fails_through_a_prerequisite_and_a_target_too() -> None:
    rs = chain(targets={"on": ["u-1"]}, default="on")
    for key in ("a", "b"):
        assert rs.evaluate(key, RaisingMapping()).error is ErrorKind.GENERAL


def test_evaluate_all_never_raises_on_a_failing_context(rich_ruleset: Ruleset) -> None:
    details = rich_ruleset.evaluate_all(RaisingMapping())
    assert set(details) == set(rich_ruleset)
    assert details["static-banner"].reason is Reason.STATIC
    assert details["new-checkout"].error is ErrorKind.GENERAL


# -------------------------------------------------------- caller's default


def test_the_callers_default_stands_in_for_nothing_to_serve() -> None:
    rs = one(rules=[{"clauses": [{"attribute": "plan", "op": "exists"}], "serve": "on"}])
    assert rs.evaluate("f", {}) == EvaluationDetail(None, None, Reason.DEFAULT)
    assert rs.evaluate("f", {}, default=True) == EvaluationDetail(True, None, Reason.DEFAULT)
    assert rs.evaluate("f", {"plan": "x"}, default=False).value is True


def test_the_callers_default_stands_in_for_a_missing_off_variation() -> None:
    rs = one(on=False, default="on")
    assert rs.evaluate("f", {}, default=True) == EvaluationDetail(True, None, Reason.DISABLED)


def test_the_callers_default_does_not_replace_a_served_value() -> None:
    rs = one(on=False, off_variation="off")
    assert rs.evaluate("f", {}, default=True).value is False


# --------------------------------------------------------------- JSON


def test_changing_a_returned_json_value_does_not_change_later_evaluations() -> None:
    rs = ruleset(
        {
            "f": {
                "variations": {"a": {"items": [1, 2], "nested": {"x": 1}}, "b": []},
                "off_variation": "a",
                "default": "a",
            }
        }
    )
    first = rs.evaluate("f", {}).value
    first["items"].append(3)
    first["nested"]["x"] = 2
    first["new"] = True
    assert rs.evaluate("f", {}).value == {"items": [1, 2], "nested": {"x": 1}}
    assert rs.evaluate("f", {}).value is not rs.evaluate("f", {}).value
    assert rs.flags["f"].variations["a"] == {"items": [1, 2], "nested": {"x": 1}}


def test_changing_a_json_value_from_evaluate_all_does_not_change_later_evaluations() -> None:
    rs = ruleset({"f": {"variations": {"a": [{"x": 1}]}, "default": "a"}})
    rs.evaluate_all({})["f"].value[0]["x"] = 99
    assert rs.evaluate("f", {}).value == [{"x": 1}]


def test_changing_the_data_a_ruleset_was_read_from_does_not_change_it() -> None:
    data: dict[str, Any] = {"flags": {"f": {"variations": {"a": {"x": [1]}}, "default": "a"}}}
    rs = Ruleset.from_data(data)
    data["flags"]["f"]["variations"]["a"]["x"].append(2)
    assert rs.evaluate("f", {}).value == {"x": [1]}


# ------------------------------------------------------------- contexts


@pytest.mark.parametrize(
    "make", [dict, MappingProxyType, PlainMapping], ids=["dict", "proxy", "mapping"]
)
def test_any_mapping_works_as_a_context(make: Any, rich_ruleset: Ruleset) -> None:
    data = {
        "key": "u-7",
        "email": "ana@vexil.dev",
        "plan": "pro",
        "address": PlainMapping({"country": "CA"}),
        "app_version": "4.2.0",
        "age": 30,
    }
    expected = rich_ruleset.evaluate_all(dict(data))
    assert rich_ruleset.evaluate_all(make(data)) == expected
    assert expected["new-checkout"].rule_id == "staff"


def test_a_nested_mapping_that_is_not_a_dict_is_read_through() -> None:
    rs = one(
        rules=[
            {
                "clauses": [{"attribute": "address.country", "op": "in", "values": "CA"}],
                "serve": "on",
            }
        ],
        default="off",
    )
    assert rs.evaluate("f", {"address": MappingProxyType({"country": "CA"})}).variant == "on"
    assert (
        rs.evaluate("f", PlainMapping({"address": PlainMapping({"country": "CA"})})).value is True
    )


# ------------------------------------------------------------ evaluate_all


def test_evaluate_all_gives_every_flags_detail(rich_ruleset: Ruleset) -> None:
    context = {"key": "u-666", "country": "DE", "plan": "pro", "beta": True, "org": {"id": 1}}
    details = rich_ruleset.evaluate_all(context)
    assert list(details) == list(rich_ruleset.flags)
    assert details == {key: rich_ruleset.evaluate(key, context) for key in rich_ruleset}
    assert details["new-checkout"] == EvaluationDetail(False, "off", Reason.TARGETING_MATCH)
    assert details["kill-switch"].reason is Reason.DISABLED
    assert details["gated"].prerequisite == "kill-switch"


def test_evaluate_all_on_an_empty_ruleset_is_empty() -> None:
    assert Ruleset().evaluate_all({"key": "u-1"}) == {}
    assert len(Ruleset()) == 0


def test_evaluate_all_reports_an_invalid_context_for_every_flag(rich_ruleset: Ruleset) -> None:
    details = rich_ruleset.evaluate_all(None)  # type: ignore[arg-type]
    assert {d.error for d in details.values()} == {ErrorKind.INVALID_CONTEXT}


# -------------------------------------------------------------- details


def test_a_detail_serialises_only_the_fields_that_are_set() -> None:
    assert one(default="on").evaluate("f", {}).to_dict() == {
        "value": True,
        "variant": "on",
        "reason": "STATIC",
    }
    error = one(default="on").evaluate("nope", {}).to_dict()
    assert error == {
        "value": None,
        "reason": "ERROR",
        "error": "FLAG_NOT_FOUND",
        "error_message": "no flag 'nope'",
    }


def test_the_ruleset_is_a_collection_of_flag_keys(rich_ruleset: Ruleset) -> None:
    assert "new-checkout" in rich_ruleset
    assert "staff" not in rich_ruleset
    assert len(rich_ruleset) == len(rich_ruleset.flags) == 10
    assert repr(rich_ruleset) == "<Ruleset 10 flags, 4 segments>"
