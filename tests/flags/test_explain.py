"""Explaining evaluations: the steps taken, and never a disagreement with ``evaluate``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vexil.flags import ErrorKind, EvaluationDetail, Explanation, Reason, Ruleset, Step, bucket

BOOL = {"on": True, "off": False}

RULESET = Ruleset.from_data(
    {
        "segments": {
            "staff": {
                "rules": [
                    {"clauses": [{"attribute": "email", "op": "ends_with", "values": "@vexil.dev"}]}
                ]
            }
        },
        "flags": {
            "checkout": {
                "variations": dict(BOOL),
                "off_variation": "off",
                "targets": {"off": ["u-666"]},
                "rules": [
                    {
                        "id": "pros-in-canada",
                        "clauses": [
                            {"attribute": "plan", "op": "in", "values": ["pro"]},
                            {"attribute": "address.country", "op": "in", "values": ["CA"]},
                        ],
                        "serve": "on",
                    },
                    {
                        "id": "staff",
                        "clauses": [{"op": "segment", "values": ["staff"]}],
                        "serve": "on",
                    },
                ],
                "default": {
                    "rollout": [
                        {"variation": "on", "weight": 25},
                        {"variation": "off", "weight": 75},
                    ],
                    "seed": "checkout-seed",
                },
            },
            "killed": {
                "variations": dict(BOOL),
                "on": False,
                "off_variation": "off",
                "default": "on",
            },
            "gated": {
                "variations": dict(BOOL),
                "off_variation": "off",
                "prerequisites": [{"flag": "killed", "variation": "on"}],
                "default": "on",
            },
            "banner": {
                "variations": {"none": {}, "sale": {"title": "Sale", "tiers": [1, 2]}},
                "off_variation": "none",
                "targets": {"sale": ["u-1"]},
                "default": "sale",
            },
        },
    }
)


def kinds(explanation: Explanation) -> list[tuple[str, bool | None]]:
    return [(s.kind, s.matched) for s in explanation.steps]


class RaisingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("broken")

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("broken")

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


# --------------------------------------------------------------- the steps


def test_a_rule_that_fails_lists_its_clauses_up_to_the_first_miss() -> None:
    context = {"key": "u-1", "plan": "pro", "address": {"country": "US"}, "email": "a@vexil.dev"}
    explanation = RULESET.explain("checkout", context)
    assert kinds(explanation) == [
        ("flag", None),
        ("target", False),
        ("clause", True),
        ("clause", False),
        ("rule", False),
        ("clause", True),
        ("rule", True),
    ]
    assert explanation.steps[3] == Step(
        "clause",
        "rule 'pros-in-canada': address.country in 'CA' (address.country is 'US')",
        False,
    )
    assert explanation.steps[5].message == "rule 'staff': context in segment 'staff'"
    assert explanation.steps[6].message == "rule 'staff' matches"
    assert explanation.detail == EvaluationDetail(
        True, "on", Reason.TARGETING_MATCH, rule_id="staff"
    )
    assert explanation.bucket is None


def test_a_missing_attribute_is_shown_as_missing() -> None:
    explanation = RULESET.explain("checkout", {"key": "u-1"})
    assert explanation.steps[2].message == "rule 'pros-in-canada': plan in 'pro' (plan is missing)"


def test_an_individual_target_is_the_last_step() -> None:
    explanation = RULESET.explain("checkout", {"key": "u-666", "plan": "pro"})
    assert kinds(explanation) == [("flag", None), ("target", True)]
    assert explanation.steps[1].message == "context key 'u-666' is individually targeted to 'off'"
    assert explanation.detail.reason is Reason.TARGETING_MATCH


def test_a_rollout_reports_the_bucket() -> None:
    explanation = RULESET.explain("checkout", {"key": "u-2", "email": "b@example.com"})
    assert kinds(explanation)[-2:] == [("default", None), ("rollout", True)]
    assert explanation.bucket == bucket("checkout-seed", "u-2")
    expected = "on" if explanation.bucket < 25_000 else "off"
    assert explanation.detail.variant == expected
    message = explanation.steps[-1].message
    assert message.startswith("rollout (on 25%, off 75%) by 'key': bucket ")
    assert message.endswith(f"% -> {expected!r}")
    assert f"{explanation.bucket / 1000:.3f}%" in message


def test_an_integer_key_is_bucketed_as_its_decimal_string() -> None:
    assert RULESET.explain("checkout", {"key": 12345}).bucket == bucket("checkout-seed", "12345")


def test_a_rollout_without_a_key_says_so() -> None:
    explanation = RULESET.explain("checkout", {"email": "b@example.com"})
    assert explanation.steps[-1] == Step(
        "rollout", "the rollout buckets by 'key', which the context lacks", False
    )
    assert explanation.bucket is None
    assert explanation.detail.error is ErrorKind.TARGETING_KEY_MISSING


def test_an_off_flag_explains_itself_in_one_step() -> None:
    explanation = RULESET.explain("killed", {"key": "u-1"})
    assert explanation.steps == (Step("flag", "the flag is off: serves its off variation 'off'"),)
    assert explanation.detail.reason is Reason.DISABLED


def test_a_failed_prerequisite_is_a_step() -> None:
    explanation = RULESET.explain("gated", {"key": "u-1"})
    assert kinds(explanation) == [("flag", None), ("prerequisite", False)]
    assert explanation.steps[1].message == (
        "prerequisite 'killed' served 'off' (DISABLED); requires 'on'"
    )
    assert explanation.detail.prerequisite == "killed"


@pytest.mark.parametrize(
    ("key", "context", "error"),
    [
        ("nope", {"key": "u-1"}, ErrorKind.FLAG_NOT_FOUND),
        ("checkout", None, ErrorKind.INVALID_CONTEXT),
        ("checkout", ["key"], ErrorKind.INVALID_CONTEXT),
        ("checkout", RaisingMapping(), ErrorKind.GENERAL),
    ],
)
def test_an_explanation_of_a_failed_evaluation_carries_the_error(
    key: str, context: Any, error: ErrorKind
) -> None:
    explanation = RULESET.explain(key, context)
    assert explanation.detail.error is error
    assert explanation.detail == RULESET.evaluate(key, context)
    assert explanation.steps == ()


def test_an_explanation_reads_as_text_and_as_data() -> None:
    explanation = RULESET.explain("checkout", {"key": "u-2", "plan": "free"})
    text = str(explanation)
    assert text.splitlines()[0].startswith("checkout -> ")
    assert "[ ] rule 'pros-in-canada': plan in 'pro' (plan is 'free')" in text
    data = explanation.to_dict()
    assert data["flag"] == "checkout"
    assert data["detail"] == explanation.detail.to_dict()
    assert data["bucket"] == explanation.bucket
    assert data["steps"][1] == {
        "kind": "target",
        "message": "context key 'u-2' is not individually targeted",
        "matched": False,
    }


def test_changing_an_explained_json_value_does_not_change_the_flag() -> None:
    for context in ({"key": "u-1"}, {"key": "u-2"}):
        RULESET.explain("banner", context).detail.value["title"] = "changed"
        RULESET.explain("banner", context).detail.value["tiers"] = "changed"
    assert RULESET.evaluate("banner", {"key": "u-2"}).value == {"title": "Sale", "tiers": [1, 2]}
    assert RULESET.explain("banner", {"key": "u-1"}).detail.value == {
        "title": "Sale",
        "tiers": [1, 2],
    }


class Key(str):
    """A str subclass, as some frameworks hand out."""


def test_an_explanation_agrees_with_evaluation_on_a_str_subclass_key() -> None:
    context = {"key": Key("u-666")}
    assert RULESET.explain("checkout", context).detail == RULESET.evaluate("checkout", context)


# ------------------------------------------------------------- agreement


MISSING = object()
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
    st.lists(st.integers(), max_size=2),
)


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of the strategies, each picked in proportion to its weight."""
    pool = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(pool).flatmap(lambda strategy: strategy)


def attribute(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a good value; else missing, a list of values, or a value of the wrong type."""
    return weighted(
        (5, good),
        (1, st.just(MISSING)),
        (1, st.lists(st.one_of(good, WRONG), max_size=3)),
        (1, WRONG),
    )


def present(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if v is not MISSING}


countries = st.sampled_from(["US", "CA", "DE", "FR", "NL", "fr"])
contexts = st.fixed_dictionaries(
    {
        "key": weighted(
            (3, st.sampled_from(["u-1", "u-2", "u-3", "u-666", "u-contractor", "u-former", ""])),
            (6, st.from_regex(r"u-[0-9]{1,3}", fullmatch=True)),
            (2, st.integers(-(10**6), 10**6)),
            (1, st.builds(Key, st.sampled_from(["u-1", "u-666"]))),
            (1, st.just(MISSING)),
            (1, WRONG),
        ),
        "country": attribute(countries),
        "address": weighted(
            (3, st.fixed_dictionaries({"country": attribute(countries)}).map(present)),
            (1, attribute(countries)),
        ),
        "plan": attribute(st.sampled_from(["free", "pro", "enterprise"])),
        "email": attribute(
            st.one_of(
                st.sampled_from(["ana@vexil.dev", "bob@example.com", "vip@vexil.dev", "boss@x"]),
                st.text(alphabet="abvip@.dex", max_size=12),
            )
        ),
        "app_version": attribute(
            st.sampled_from(
                ["4.2.0", "4.2", "4.1.9", "v5", "4.2.0-beta.1", "0.9.0", "banana", "1.0.0-rc.2"]
            )
        ),
        "beta": attribute(st.booleans()),
        "age": attribute(st.one_of(st.integers(0, 130), st.floats(0, 130))),
        "now": attribute(
            st.one_of(
                st.sampled_from(["2026-12-24T12:00:00Z", "2027-01-10", "2026-11-30T23:59:59"]),
                st.integers(1_790_000_000, 1_800_000_000),
                st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2027, 2, 1)),
            )
        ),
        "org": weighted(
            (
                3,
                st.fixed_dictionaries({"id": attribute(st.text(min_size=1, max_size=4))}).map(
                    present
                ),
            ),
            (1, attribute(st.text(max_size=3))),
        ),
    }
).map(present)


@settings(max_examples=300, deadline=None)
@given(context=contexts, as_proxy=st.booleans())
def test_an_explanation_never_disagrees_with_evaluation(
    rich_ruleset: Ruleset, context: dict[str, Any], as_proxy: bool
) -> None:
    ctx: Mapping[str, Any] = MappingProxyType(context) if as_proxy else context
    for key in rich_ruleset:
        detail = rich_ruleset.evaluate(key, ctx)
        explanation = rich_ruleset.explain(key, ctx)
        assert explanation.detail == detail, (key, str(explanation))
        assert detail.error in (None, ErrorKind.TARGETING_KEY_MISSING)
        assert (explanation.bucket is not None) == (detail.reason is Reason.SPLIT)
        matched_rules = [s for s in explanation.steps if s.kind == "rule" and s.matched]
        if detail.rule_id is not None:
            assert [s.message for s in matched_rules] == [f"rule {detail.rule_id!r} matches"]
        elif detail.error is None:
            assert matched_rules == []
