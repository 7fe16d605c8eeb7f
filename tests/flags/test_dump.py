"""Writing a ruleset back out: ``to_data`` is read back by ``from_data`` as the same document."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from vexil.flags import Ruleset

# ---------------------------------------------------------------- examples


def test_the_rich_document_survives_a_round_trip(rich_ruleset: Ruleset) -> None:
    data = rich_ruleset.to_data()
    again = Ruleset.from_data(data)
    assert again.document == rich_ruleset.document
    assert again.to_data() == data


def test_the_rich_document_survives_a_round_trip_through_json_and_yaml_text(
    rich_ruleset: Ruleset,
) -> None:
    data = rich_ruleset.to_data()
    assert Ruleset.from_text(json.dumps(data)).document == rich_ruleset.document
    assert Ruleset.from_text(yaml.safe_dump(data)).document == rich_ruleset.document


def test_a_round_trip_evaluates_the_same(rich_ruleset: Ruleset) -> None:
    again = Ruleset.from_data(rich_ruleset.to_data())
    contexts: list[dict[str, Any]] = [
        {},
        {"key": "u-1"},
        {"key": "u-42", "email": "ana@vexil.dev", "plan": "pro", "country": "DE"},
        {"key": 7, "address": {"country": "CA"}, "plan": "pro", "org": {"id": "acme"}},
        {"key": "u-9", "app_version": "4.3.0", "country": "FR", "age": 70, "now": 1797000000},
    ]
    for context in contexts:
        assert again.evaluate_all(context) == rich_ruleset.evaluate_all(context)


def test_the_document_form_matches_what_was_written(rich_data: dict[str, Any]) -> None:
    data = Ruleset.from_data(rich_data).to_data()
    flag = data["flags"]["checkout-color"]
    # As written, with its type and on, which are always written.
    assert flag == {"type": "string", "on": True, **rich_data["flags"]["checkout-color"]}
    assert flag["default"]["rollout"][1] == {"variation": "green", "weight": 79.998}
    # As written, but for the one value of a clause, which is written as a list.
    staff = copy.deepcopy(rich_data["segments"]["staff"])
    assert staff["rules"][0]["clauses"][0]["values"] == "@vexil.dev"
    staff["rules"][0]["clauses"][0]["values"] = ["@vexil.dev"]
    assert data["segments"]["staff"] == staff


def test_fields_left_at_their_defaults_are_not_written() -> None:
    data = Ruleset.from_data({"flags": {"f": {"variations": {"a": 1}}}, "segments": {"s": {}}})
    assert data.to_data() == {
        "version": 1,
        "flags": {"f": {"type": "number", "variations": {"a": 1}, "on": True}},
        "segments": {"s": {}},
    }


def test_fields_that_differ_from_their_defaults_are_written() -> None:
    flag = {
        "name": "Nice name",
        "description": "d",
        "tags": ["t"],
        "temporary": False,
        "client_side": True,
        "metadata": {"owner": "me"},
        "variations": {"a": "A"},
        "on": False,
    }
    out = Ruleset.from_data({"flags": {"f": flag}}).to_data()["flags"]["f"]
    assert out == {**flag, "type": "string"}


def test_default_rule_ids_and_scalar_values_are_written_in_full() -> None:
    ruleset = Ruleset.from_data(
        {
            "flags": {
                "f": {
                    "variations": {"a": True},
                    "rules": [
                        {
                            "clauses": [{"attribute": "plan", "op": "in", "values": "pro"}],
                            "serve": {"variation": "a"},
                        }
                    ],
                }
            }
        }
    )
    assert ruleset.to_data()["flags"]["f"]["rules"] == [
        {
            "id": "rule-1",
            "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}],
            "serve": "a",
        }
    ]


@pytest.mark.parametrize(
    ("weight", "written"), [(50, 50), (50.0, 50), (12.5, 12.5), (0.001, 0.001), (33.333, 33.333)]
)
def test_weights_are_written_as_percentages(weight: float, written: float) -> None:
    rollout = [{"variation": "a", "weight": weight}, {"variation": "b", "weight": 100 - weight}]
    ruleset = Ruleset.from_data(
        {"flags": {"f": {"variations": {"a": 1, "b": 2}, "default": {"rollout": rollout}}}}
    )
    out = ruleset.to_data()["flags"]["f"]["default"]["rollout"][0]["weight"]
    assert out == written
    assert type(out) is type(written)


def test_an_integer_seed_is_written_as_a_string() -> None:
    rollout = {"rollout": [{"variation": "a", "weight": 100}], "seed": 42}
    ruleset = Ruleset.from_data({"flags": {"f": {"variations": {"a": 1}, "default": rollout}}})
    assert ruleset.to_data()["flags"]["f"]["default"]["seed"] == "42"


def test_an_empty_ruleset_is_an_empty_document() -> None:
    assert Ruleset().to_data() == {"version": 1, "flags": {}, "segments": {}}


def test_changing_the_written_data_does_not_change_the_ruleset(rich_ruleset: Ruleset) -> None:
    before = rich_ruleset.evaluate("pricing-banner", {"email": "bob@vip"})
    data = rich_ruleset.to_data()
    data["flags"]["pricing-banner"]["variations"]["vip"][0]["title"] = "changed"
    data["flags"]["pricing-banner"]["variations"]["none"]["x"] = 1
    data["flags"]["new-checkout"]["tags"].append("x")
    assert rich_ruleset.evaluate("pricing-banner", {"email": "bob@vip"}) == before
    assert rich_ruleset.to_data() != data
    assert rich_ruleset.flags["new-checkout"].tags == ("checkout", "web")


# -------------------------------------------------------------- generated

names = st.sampled_from(["on", "off", "a", "b", "control", "v-1", "yes"])
keys = st.from_regex(r"[a-z][a-z0-9._-]{0,8}", fullmatch=True)
texts = st.text(max_size=8)


@st.composite
def variations(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    kind = draw(st.sampled_from(["boolean", "string", "number", "json"]))
    value = {
        "boolean": st.booleans(),
        "string": texts,
        "number": st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False)),
        "json": st.one_of(
            st.dictionaries(
                st.text(max_size=3), st.one_of(st.none(), st.integers(), texts), max_size=3
            ),
            st.lists(st.integers(), max_size=3),
        ),
    }[kind]
    return {name: draw(value) for name in chosen}


@st.composite
def rollouts(draw: st.DrawFn, choices: list[str]) -> dict[str, Any]:
    chosen = draw(st.permutations(choices).map(lambda p: p[: max(1, len(p) - 1)]))
    cuts = sorted(
        draw(st.lists(st.integers(0, 100_000), min_size=len(chosen) - 1, max_size=len(chosen) - 1))
    )
    bounds = [0, *cuts, 100_000]
    slices = [
        {"variation": v, "weight": (hi - lo) // 1000 if (hi - lo) % 1000 == 0 else (hi - lo) / 1000}
        for v, lo, hi in zip(chosen, bounds, bounds[1:], strict=False)
    ]
    out: dict[str, Any] = {"rollout": slices}
    if draw(st.booleans()):
        out["bucket_by"] = draw(st.sampled_from(["key", "org.id", "device"]))
    if draw(st.booleans()):
        out["seed"] = draw(st.one_of(texts, st.integers(0, 1000)))
    if draw(st.booleans()):
        out["experiment"] = draw(st.booleans())
    return out


def serves(choices: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(choices),
        st.sampled_from(choices).map(lambda v: {"variation": v}),
        rollouts(choices),
    )


def clauses(segments: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    attribute = st.sampled_from(["key", "plan", "address.country", "a.b.c"])
    by_op: list[st.SearchStrategy[dict[str, Any]]] = [
        st.fixed_dictionaries(
            {
                "attribute": attribute,
                "op": st.just("in"),
                "values": st.lists(
                    st.one_of(texts, st.integers(), st.booleans()), min_size=1, max_size=3
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "attribute": attribute,
                "op": st.sampled_from(["contains", "starts_with", "ends_with", "matches"]),
                "values": st.lists(
                    st.from_regex(r"[a-z.^$]{0,4}", fullmatch=True), min_size=1, max_size=2
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "attribute": attribute,
                "op": st.sampled_from(["lt", "lte", "gt", "gte"]),
                "values": st.lists(st.integers(-100, 100), min_size=1, max_size=2),
            }
        ),
        st.fixed_dictionaries(
            {
                "attribute": attribute,
                "op": st.sampled_from(["semver_eq", "semver_lt", "semver_gte"]),
                "values": st.lists(
                    st.sampled_from(["1.0.0", "v2", "3.1.0-rc.1"]), min_size=1, max_size=2
                ),
            }
        ),
        st.fixed_dictionaries(
            {
                "attribute": attribute,
                "op": st.sampled_from(["before", "after"]),
                "values": st.lists(
                    st.sampled_from(["2024-01-01", "2024-06-01T10:00:00+02:00", 1_700_000_000]),
                    min_size=1,
                    max_size=2,
                ),
            }
        ),
        st.fixed_dictionaries({"attribute": attribute, "op": st.just("exists")}),
    ]
    if segments:
        by_op.append(
            st.fixed_dictionaries(
                {
                    "op": st.just("segment"),
                    "values": st.lists(st.sampled_from(segments), min_size=1, max_size=2),
                }
            )
        )
    return st.one_of(by_op).flatmap(
        lambda c: st.booleans().map(lambda negate: {**c, "negate": True} if negate else c)
    )


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    segments: dict[str, Any] = {}
    for key in draw(st.lists(keys, max_size=3, unique=True)):
        people = draw(
            st.lists(st.from_regex(r"u-[0-9]{1,2}", fullmatch=True), max_size=4, unique=True)
        )
        split = draw(st.integers(0, len(people)))
        segment: dict[str, Any] = {"included": people[:split], "excluded": people[split:]}
        segment["rules"] = [
            {"clauses": draw(st.lists(clauses(list(segments)), max_size=2))}
            for _ in range(draw(st.integers(0, 2)))
        ]
        if draw(st.booleans()):
            segment["name"] = draw(texts)
        segments[key] = segment
    flags: dict[str, Any] = {}
    for key in draw(st.lists(keys, min_size=1, max_size=4, unique=True)):
        vs = draw(variations())
        choices = list(vs)
        flag: dict[str, Any] = {"variations": vs, "on": draw(st.booleans())}
        if draw(st.booleans()):
            flag["off_variation"] = draw(st.sampled_from(choices))
        if draw(st.booleans()):
            flag["default"] = draw(serves(choices))
        if draw(st.booleans()):
            people = draw(
                st.lists(st.from_regex(r"u-[0-9]{1,2}", fullmatch=True), max_size=4, unique=True)
            )
            flag["targets"] = {p: [] for p in choices}
            for person in people:
                flag["targets"][draw(st.sampled_from(choices))].append(person)
        flag["rules"] = [
            {
                "clauses": draw(st.lists(clauses(list(segments)), max_size=3)),
                "serve": draw(serves(choices)),
                **({"description": draw(texts)} if draw(st.booleans()) else {}),
            }
            for _ in range(draw(st.integers(0, 3)))
        ]
        earlier = list(flags)
        if len(earlier) > 0 and draw(st.booleans()):
            other = draw(st.sampled_from(earlier))
            flag["prerequisites"] = [
                {
                    "flag": other,
                    "variation": draw(st.sampled_from(list(flags[other]["variations"]))),
                }
            ]
        flag["tags"] = draw(st.lists(texts, max_size=2))
        flag["metadata"] = draw(
            st.dictionaries(
                st.text(max_size=3), st.one_of(texts, st.integers(), st.booleans()), max_size=2
            )
        )
        flag["temporary"] = draw(st.booleans())
        flag["client_side"] = draw(st.booleans())
        flags[key] = flag
    return {"version": 1, "flags": flags, "segments": segments}


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(documents())
def test_any_valid_document_survives_a_round_trip(data: dict[str, Any]) -> None:
    ruleset = Ruleset.from_data(data)
    written = ruleset.to_data()
    again = Ruleset.from_data(written)
    assert again.document == ruleset.document
    assert again.to_data() == written
    assert Ruleset.from_text(json.dumps(written)).document == ruleset.document
