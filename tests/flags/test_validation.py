"""Validation: every problem is caught when a document is read, with the path to fix."""

from __future__ import annotations

from typing import Any

import pytest

from vexil.flags import Problem, Rollout, Ruleset, ValidationError, VariationType, parse_document

BOOL = {"on": True, "off": False}


def flag(**fields: Any) -> dict[str, Any]:
    """A boolean flag document, with ``fields`` added or replacing the defaults."""
    return {"variations": dict(BOOL), **fields}


def rule(*clauses: dict[str, Any], serve: Any = "on", **fields: Any) -> dict[str, Any]:
    return {"clauses": list(clauses), "serve": serve, **fields}


def clause(attribute: str, op: str, values: Any, **fields: Any) -> dict[str, Any]:
    return {"attribute": attribute, "op": op, "values": values, **fields}


def rollout(*slices: tuple[str | None, Any], **fields: Any) -> dict[str, Any]:
    return {"rollout": [{"variation": v, "weight": w} for v, w in slices], **fields}


def problems(data: Any) -> list[str]:
    """The problems reported for ``data``, as ``path: message`` strings."""
    with pytest.raises(ValidationError) as caught:
        parse_document(data)
    return [str(p) for p in caught.value.problems]


def only_problem(data: Any) -> Problem:
    with pytest.raises(ValidationError) as caught:
        parse_document(data)
    assert len(caught.value.problems) == 1, caught.value
    return caught.value.problems[0]


def one_flag(**fields: Any) -> dict[str, Any]:
    return {"flags": {"f": flag(**fields)}}


# ------------------------------------------------------------------ accepted


def test_a_minimal_document_is_accepted_with_the_documented_defaults() -> None:
    doc = parse_document({"version": 1, "flags": {"f": flag()}})
    f = doc.flags["f"]
    assert doc.version == 1
    assert doc.segments == {}
    assert f.type is VariationType.BOOLEAN
    assert f.on is True
    assert f.temporary is True
    assert f.client_side is False
    assert f.name == "f"
    assert (f.off_variation, f.default, f.rules, f.prerequisites) == (None, None, (), ())


def test_an_empty_document_is_accepted() -> None:
    assert parse_document({}).flags == {}


@pytest.mark.parametrize(
    ("variations", "expected"),
    [
        ({"a": True, "b": False}, VariationType.BOOLEAN),
        ({"a": "x", "b": "y"}, VariationType.STRING),
        ({"a": 1, "b": 2.5}, VariationType.NUMBER),
        ({"a": {"k": [1, None]}, "b": [1, "x"]}, VariationType.JSON),
    ],
)
def test_the_type_is_inferred_from_the_first_variation(
    variations: dict[str, Any], expected: VariationType
) -> None:
    doc = parse_document({"flags": {"f": {"variations": variations}}})
    assert doc.flags["f"].type is expected


def test_rule_ids_default_to_their_one_based_position() -> None:
    doc = parse_document(
        one_flag(rules=[rule(id="first"), rule(), rule(clause("plan", "in", "pro"))])
    )
    assert [r.id for r in doc.flags["f"].rules] == ["first", "rule-2", "rule-3"]


def test_weights_with_three_decimals_are_accepted() -> None:
    doc = parse_document(one_flag(default=rollout(("on", 99.999), ("off", 0.001))))
    default = doc.flags["f"].default
    assert isinstance(default, Rollout)
    assert [s.weight for s in default.slices] == [99_999, 1]


def test_a_problem_has_a_path_and_a_message_and_the_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="1 problem in the flag document") as caught:
        parse_document(one_flag(on="yes"))
    assert isinstance(caught.value, ValidationError)
    assert caught.value.problems == (Problem("flags.f.on", "must be true or false, not a string"),)


# --------------------------------------------------------------- operators


def test_an_unknown_operator_is_reported_at_its_path_with_a_suggestion() -> None:
    rules = [
        rule(clause("plan", "in", ["pro"])),
        rule(clause("country", "in", ["CA"])),
        rule(clause("email", "startswith", ["admin"])),
    ]
    data = {"flags": {"new-checkout": flag(rules=rules)}}
    assert problems(data) == [
        "flags.new-checkout.rules[2].clauses[0].op:"
        " unknown operator 'startswith' (did you mean 'starts_with'?)"
    ]


@pytest.mark.parametrize(
    ("op", "suggestion"),
    [
        ("regex", "matches"),
        ("==", "in"),
        ("not_in", "in (with negate: true)"),
        (">=", "gte"),
        ("in_segment", "segment"),
        ("containz", "contains"),
        ("semver_greater", "semver_gte"),
        ("befor", "before"),
    ],
)
def test_unknown_operators_suggest_the_vexil_name(op: str, suggestion: str) -> None:
    p = only_problem(one_flag(rules=[rule(clause("a", op, ["x"]))]))
    assert p.path == "flags.f.rules[0].clauses[0].op"
    assert p.message == f"unknown operator {op!r} (did you mean '{suggestion}'?)"


def test_an_unknown_operator_without_a_close_name_gets_no_suggestion() -> None:
    p = only_problem(one_flag(rules=[rule(clause("a", "frobnicate", ["x"]))]))
    assert p.message == "unknown operator 'frobnicate'"


# ------------------------------------------------------------------ fields


@pytest.mark.parametrize(
    ("data", "path", "suggestion"),
    [
        ({"flag": {}}, "flag", "flags"),
        ({"flags": {}, "segmens": {}}, "segmens", "segments"),
        ({"flags": {"f": flag(off_varation="off")}}, "flags.f.off_varation", "off_variation"),
        ({"flags": {"f": flag(prerequisite=[])}}, "flags.f.prerequisite", "prerequisites"),
        (
            {"flags": {"f": flag(rules=[{"clause": [], "serve": "on"}])}},
            "flags.f.rules[0].clause",
            "clauses",
        ),
        (
            {"flags": {"f": flag(rules=[rule({"atribute": "a", "op": "exists"})])}},
            "flags.f.rules[0].clauses[0].atribute",
            "attribute",
        ),
        (
            {"flags": {"f": flag(rules=[rule(clause("a", "in", "x", negated=True))])}},
            "flags.f.rules[0].clauses[0].negated",
            "negate",
        ),
        (
            {"flags": {"f": flag(default=rollout(("on", 100), bucketby="org"))}},
            "flags.f.default.bucketby",
            "bucket_by",
        ),
        (
            {"flags": {"f": flag(default={"rollout": [{"variation": "on", "wieght": 100}]})}},
            "flags.f.default.rollout[0].wieght",
            "weight",
        ),
        (
            {"flags": {"f": flag(prerequisites=[{"flag": "g", "variaton": "on"}])}},
            "flags.f.prerequisites[0].variaton",
            "variation",
        ),
        ({"segments": {"s": {"include": ["u"]}}}, "segments.s.include", "included"),
        (
            {"segments": {"s": {"rules": [{"clauses": [], "descripton": ""}]}}},
            "segments.s.rules[0].descripton",
            "description",
        ),
    ],
)
def test_unknown_fields_are_reported_with_a_suggestion(
    data: dict[str, Any], path: str, suggestion: str
) -> None:
    assert f"{path}: unknown field (did you mean '{suggestion}'?)" in problems(data)


def test_an_unknown_field_without_a_close_name_gets_no_suggestion() -> None:
    assert problems(one_flag(colour="red")) == ["flags.f.colour: unknown field"]


def test_missing_variations_are_required() -> None:
    assert problems({"flags": {"f": {"on": True}}}) == ["flags.f.variations: is required"]


def test_empty_variations_are_rejected() -> None:
    p = only_problem({"flags": {"f": {"variations": {}}}})
    assert p.path == "flags.f.variations"


@pytest.mark.parametrize("version", [2, True, "1", 1.5])
def test_an_unsupported_version_is_rejected(version: Any) -> None:
    p = only_problem({"version": version, "flags": {}})
    assert p.path == "version"
    assert f"unsupported format version {version!r}" in p.message


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"on": 1}, "flags.f.on"),
        ({"temporary": "no"}, "flags.f.temporary"),
        ({"client_side": None}, "flags.f.client_side"),
        ({"name": 3}, "flags.f.name"),
        ({"tags": "web"}, "flags.f.tags"),
        ({"tags": ["web", 3]}, "flags.f.tags[1]"),
        ({"metadata": {"owner": ["a"]}}, "flags.f.metadata.owner"),
        ({"metadata": "owner"}, "flags.f.metadata"),
        ({"rules": {"id": "x"}}, "flags.f.rules"),
        ({"targets": ["u-1"]}, "flags.f.targets"),
        ({"targets": {"on": ["u-1"], "off": ["u-1"]}}, "flags.f.targets.off"),
        ({"rules": [rule(id="r"), rule(id="r")]}, "flags.f.rules[1].id"),
        ({"rules": [rule(id="")]}, "flags.f.rules[0].id"),
        ({"rules": [rule(clause("", "in", "x"))]}, "flags.f.rules[0].clauses[0].attribute"),
        ({"rules": [rule(clause("a..b", "in", "x"))]}, "flags.f.rules[0].clauses[0].attribute"),
        ({"rules": [rule({"op": "in", "values": ["x"]})]}, "flags.f.rules[0].clauses[0].attribute"),
        ({"rules": [rule(clause("a", "in", "x"), serve=None)]}, "flags.f.rules[0].serve"),
        ({"rules": [{"clauses": []}]}, "flags.f.rules[0].serve"),
        ({"default": {"variation": "on", "rollout": []}}, "flags.f.default"),
        ({"default": rollout(("on", 100), seed=True)}, "flags.f.default.seed"),
        ({"default": rollout(("on", 100), bucket_by="")}, "flags.f.default.bucket_by"),
        ({"default": rollout(("on", 100), experiment="yes")}, "flags.f.default.experiment"),
        ({"default": rollout(("on", 50), ("on", 50))}, "flags.f.default.rollout[1].variation"),
        ({"default": {"rollout": []}}, "flags.f.default.rollout"),
        ({"prerequisites": [{"flag": "g"}]}, "flags.f.prerequisites[0].variation"),
        ({"prerequisites": [{"flag": 1, "variation": "on"}]}, "flags.f.prerequisites[0]"),
    ],
)
def test_malformed_flag_fields_are_reported_at_their_path(
    fields: dict[str, Any], path: str
) -> None:
    assert path in [p.split(": ", 1)[0] for p in problems(one_flag(**fields))]


@pytest.mark.parametrize(
    ("op", "values", "message"),
    [
        ("exists", ["x"], "'exists' takes no values"),
        ("in", [], "'in' needs at least one value"),
        ("in", [{"a": 1}], "'in' compares with strings, numbers and booleans, not a mapping"),
        ("in", [None], "'in' compares with strings, numbers and booleans, not null"),
        ("starts_with", [1], "'starts_with' needs strings, not a number"),
        ("lt", ["5"], "'lt' needs numbers, not a string"),
        ("gte", [True], "'gte' needs numbers, not a boolean"),
        ("segment", [3], "'segment' needs strings, not a number"),
    ],
)
def test_clause_values_of_the_wrong_kind_are_rejected(op: str, values: Any, message: str) -> None:
    p = only_problem(one_flag(rules=[rule(clause("a", op, values))]))
    assert p.path.startswith("flags.f.rules[0].clauses[0].values")
    assert p.message == message


# -------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"off_variation": "of"}, "flags.f.off_variation"),
        ({"default": "maybe"}, "flags.f.default"),
        ({"default": {"variation": "maybe"}}, "flags.f.default.variation"),
        ({"default": rollout(("on", 50), ("maybe", 50))}, "flags.f.default.rollout[1].variation"),
        ({"rules": [rule(serve="maybe")]}, "flags.f.rules[0].serve"),
        (
            {"rules": [rule(serve=rollout(("maybe", 100)))]},
            "flags.f.rules[0].serve.rollout[0].variation",
        ),
        ({"targets": {"maybe": ["u-1"]}}, "flags.f.targets.maybe"),
        ({"default": {"variation": None}}, "flags.f.default.variation"),
        ({"default": rollout(("on", 50), (None, 50))}, "flags.f.default.rollout[1].variation"),
    ],
)
def test_references_to_unknown_variations_are_rejected(fields: dict[str, Any], path: str) -> None:
    p = only_problem(one_flag(**fields))
    assert p.path == path
    assert p.message.startswith("unknown variation")


def test_an_unknown_variation_suggests_the_closest_name_or_lists_them() -> None:
    assert only_problem(one_flag(off_variation="of")).message == (
        "unknown variation 'of' (did you mean 'off'?)"
    )
    assert only_problem(one_flag(off_variation="zzz")).message == (
        "unknown variation 'zzz' (variations: on, off)"
    )


def test_a_prerequisite_on_an_unknown_flag_is_rejected_with_a_suggestion() -> None:
    data = {
        "flags": {
            "checkout": flag(),
            "f": flag(prerequisites=[{"flag": "chekout", "variation": "on"}]),
        }
    }
    assert problems(data) == [
        "flags.f.prerequisites[0].flag: unknown flag 'chekout' (did you mean 'checkout'?)"
    ]


def test_a_prerequisite_on_an_unknown_variation_of_another_flag_is_rejected() -> None:
    data = {"flags": {"g": flag(), "f": flag(prerequisites=[{"flag": "g", "variation": "onn"}])}}
    assert problems(data) == [
        "flags.f.prerequisites[0].variation: flag 'g' has no variation 'onn' (did you mean 'on'?)"
    ]


def test_a_repeated_prerequisite_is_rejected() -> None:
    pre = {"flag": "g", "variation": "on"}
    data = {"flags": {"g": flag(), "f": flag(prerequisites=[pre, pre])}}
    assert problems(data) == ["flags.f.prerequisites[1].flag: 'g' is already a prerequisite"]


def test_references_to_unknown_segments_are_rejected_in_flags_and_segments() -> None:
    data = {
        "segments": {
            "staff": {},
            "s": {"rules": [{"clauses": [{"op": "segment", "values": ["nobody"]}]}]},
        },
        "flags": {"f": flag(rules=[rule({"op": "segment", "values": ["staff", "stafff"]})])},
    }
    assert sorted(problems(data)) == [
        "flags.f.rules[0].clauses[0].values[1]: unknown segment 'stafff' (did you mean 'staff'?)",
        "segments.s.rules[0].clauses[0].values[0]: unknown segment 'nobody'",
    ]


# ---------------------------------------------------------------- weights


@pytest.mark.parametrize(
    ("weights", "total"),
    [([50, 40], "90"), ([60, 50], "110"), ([0, 0], "0"), ([33.333, 33.333], "66.666")],
)
def test_weights_must_sum_to_one_hundred_percent(weights: list[float], total: str) -> None:
    p = only_problem(one_flag(default=rollout(("on", weights[0]), ("off", weights[1]))))
    assert str(p) == f"flags.f.default.rollout: weights sum to {total}%, not 100%"


def test_rule_rollout_weights_are_checked_too() -> None:
    p = only_problem(one_flag(rules=[rule(serve=rollout(("on", 10), ("off", 10)))]))
    assert p.path == "flags.f.rules[0].serve.rollout"


@pytest.mark.parametrize("weight", [33.3335, 0.0001, 12.34567])
def test_weights_finer_than_a_thousandth_of_a_percent_are_rejected(weight: float) -> None:
    reported = problems(one_flag(default=rollout(("on", weight), ("off", 100 - weight))))
    assert reported[0] == (
        f"flags.f.default.rollout[0].weight: {weight!r} is finer than the 0.001% resolution"
        " of rollouts"
    )


@pytest.mark.parametrize("weight", [-1, 100.5, "50", None, True, float("nan")])
def test_weights_outside_zero_to_one_hundred_are_rejected(weight: Any) -> None:
    p = only_problem(one_flag(default=rollout(("on", weight))))
    assert p.path == "flags.f.default.rollout[0].weight"
    assert p.message.startswith("must be a percentage from 0 to 100")


# ----------------------------------------------------------------- cycles


def test_a_flag_cannot_be_its_own_prerequisite() -> None:
    data = {"flags": {"a": flag(prerequisites=[{"flag": "a", "variation": "on"}])}}
    assert problems(data) == [
        "flags.a.prerequisites[0].flag: a flag cannot be its own prerequisite"
    ]


def test_a_two_flag_prerequisite_cycle_is_rejected() -> None:
    data = {
        "flags": {
            "a": flag(prerequisites=[{"flag": "b", "variation": "on"}]),
            "b": flag(prerequisites=[{"flag": "a", "variation": "on"}]),
        }
    }
    assert problems(data) == [
        "flags.a.prerequisites: prerequisite cycle: a -> b -> a",
        "flags.b.prerequisites: prerequisite cycle: b -> a -> b",
    ]


def test_a_longer_prerequisite_cycle_is_rejected_but_a_diamond_is_not() -> None:
    def pre(*keys: str) -> dict[str, Any]:
        return flag(prerequisites=[{"flag": k, "variation": "on"} for k in keys])

    diamond = {"flags": {"a": pre("b", "c"), "b": pre("d"), "c": pre("d"), "d": flag()}}
    assert set(parse_document(diamond).flags) == {"a", "b", "c", "d"}
    cycle = {"flags": {"a": pre("b"), "b": pre("c"), "c": pre("a"), "x": pre("a")}}
    assert "flags.a.prerequisites: prerequisite cycle: a -> b -> c -> a" in problems(cycle)


def segment_using(*keys: str) -> dict[str, Any]:
    return {"rules": [{"clauses": [{"op": "segment", "values": list(keys)}]}]}


def test_a_segment_that_uses_itself_is_rejected() -> None:
    assert problems({"segments": {"s": segment_using("s")}}) == [
        "segments.s.rules: segment cycle: s -> s"
    ]


def test_a_segment_cycle_is_rejected() -> None:
    data = {"segments": {"s1": segment_using("s2"), "s2": segment_using("x", "s1"), "x": {}}}
    assert problems(data) == [
        "segments.s1.rules: segment cycle: s1 -> s2 -> s1",
        "segments.s2.rules: segment cycle: s2 -> s1 -> s2",
    ]


def test_a_segment_included_and_excluded_at_once_is_rejected() -> None:
    p = only_problem({"segments": {"s": {"included": ["a", "b"], "excluded": ["b"]}}})
    assert str(p) == "segments.s.excluded: keys both included and excluded: b"


# ------------------------------------------------------------- variations


@pytest.mark.parametrize(
    ("variations", "path", "message"),
    [
        (
            {"a": True, "b": "no"},
            "flags.f.variations.b",
            "is a string, but the flag's variations are of type boolean",
        ),
        (
            {"a": 1, "b": True},
            "flags.f.variations.b",
            "is a boolean, but the flag's variations are of type number",
        ),
        (
            {"a": "1", "b": 1},
            "flags.f.variations.b",
            "is a number, but the flag's variations are of type string",
        ),
        (
            {"a": {}, "b": "x"},
            "flags.f.variations.b",
            "is a string, but the flag's variations are of type json",
        ),
        (
            {"a": None},
            "flags.f.variations.a",
            "null is not a variation value (boolean, string, number or JSON)",
        ),
        (
            {"a": float("inf")},
            "flags.f.variations.a",
            "float is not a variation value (boolean, string, number or JSON)",
        ),
        (
            {"a": {"k": {1, 2}}},
            "flags.f.variations.a",
            "a mapping is not a variation value (boolean, string, number or JSON)",
        ),
    ],
)
def test_a_variation_of_the_wrong_type_is_rejected(
    variations: dict[str, Any], path: str, message: str
) -> None:
    p = only_problem({"flags": {"f": {"variations": variations}}})
    assert (p.path, p.message) == (path, message)


def test_variations_must_match_a_declared_type() -> None:
    p = only_problem({"flags": {"f": {"type": "number", "variations": {"a": "1"}}}})
    assert (
        str(p) == "flags.f.variations.a: is a string, but the flag's variations are of type number"
    )


def test_an_unknown_declared_type_is_rejected() -> None:
    assert "flags.f.type: unknown type 'bool': use one of boolean, string, number, json" in (
        problems({"flags": {"f": {"type": "bool", "variations": {"a": True}}}})
    )


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_variation_names_must_be_short_non_blank_strings(name: str) -> None:
    p = only_problem({"flags": {"f": {"variations": {name: 1}}}})
    assert p.path == f"flags.f.variations.{name}"


# ---------------------------------------------------------- literal values


@pytest.mark.parametrize(
    "pattern", ["(unclosed", "[a-", "*x", "a{99999999999}", "(" * 1000 + ")" * 1000]
)
def test_an_invalid_regular_expression_is_rejected(pattern: str) -> None:
    p = only_problem(one_flag(rules=[rule(clause("email", "matches", ["ok", pattern]))]))
    assert p.path == "flags.f.rules[0].clauses[0].values[1]"
    assert p.message.startswith("invalid regular expression")


@pytest.mark.parametrize("op", ["semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte"])
@pytest.mark.parametrize("literal", ["1.2.x", "banana", "", "1.2.3.4", "01.2.3", 1, None])
def test_an_invalid_semantic_version_literal_is_rejected(op: str, literal: Any) -> None:
    p = only_problem(one_flag(rules=[rule(clause("app_version", op, [literal]))]))
    assert p.path == "flags.f.rules[0].clauses[0].values[0]"
    assert p.message == f"{literal!r} is not a semantic version such as '1.4.0' or '2.0.0-rc.1'"


@pytest.mark.parametrize("literal", ["1.2.3", "v1.2", "V2", "2.0.0-rc.1", "1.0.0+build.5"])
def test_valid_semantic_version_literals_are_accepted(literal: str) -> None:
    doc = parse_document(one_flag(rules=[rule(clause("v", "semver_gte", literal))]))
    assert doc.flags["f"].rules[0].clauses[0].values == (literal,)


@pytest.mark.parametrize("op", ["before", "after"])
@pytest.mark.parametrize(
    "literal", ["2024-13-01", "yesterday", "", True, None, [2024], 10**400, float("nan")]
)
def test_an_invalid_datetime_literal_is_rejected(op: str, literal: Any) -> None:
    p = only_problem(one_flag(rules=[rule(clause("now", op, [literal]))]))
    assert p.path == "flags.f.rules[0].clauses[0].values[0]"
    assert p.message.endswith("is neither an ISO-8601 datetime nor Unix seconds")


@pytest.mark.parametrize(
    "literal",
    [
        "2024-01-01",
        "2024-01-01T10:00:00",
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00+02:00",
        0,
        1.7e9,
    ],
)
def test_valid_datetime_literals_are_accepted(literal: Any) -> None:
    doc = parse_document(one_flag(rules=[rule(clause("now", "after", literal))]))
    assert doc.flags["f"].rules[0].clauses[0].values == (literal,)


# -------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key", ["-leading-dash", ".dot", "_underscore", "has space", "", "a" * 201, "ü", "a/b", "a:b"]
)
@pytest.mark.parametrize("kind", ["flags", "segments"])
def test_invalid_keys_are_rejected(kind: str, key: str) -> None:
    body = flag() if kind == "flags" else {}
    p = only_problem({kind: {key: body}})
    assert p.path == f"{kind}.{key}"
    assert p.message.startswith(f"invalid {kind[:-1]} key {key!r}")


@pytest.mark.parametrize("key", ["a", "0", "A.b_c-1", "x" * 200, "new-checkout.v2"])
def test_valid_keys_are_accepted(key: str) -> None:
    doc = parse_document({"flags": {key: flag()}, "segments": {key: {}}})
    assert list(doc.flags) == [key]
    assert list(doc.segments) == [key]


def test_a_non_string_key_is_rejected() -> None:
    assert str(only_problem({"flags": {1: flag()}})).startswith("flags.1: invalid flag key 1")


# --------------------------------------------------------- all at once


def test_several_problems_are_reported_at_once() -> None:
    data = {
        "flags": {
            "a": flag(rules=[rule(clause("plan", "equals", ["pro"]))]),
            "b": flag(default=rollout(("on", 50), ("off", 40)), off_variation="of"),
            "bad key": flag(),
        },
        "segments": {"s": {"included": ["u", 1]}},
        "extra": True,
    }
    with pytest.raises(ValidationError) as caught:
        parse_document(data)
    paths = [p.path for p in caught.value.problems]
    assert sorted(paths) == sorted(
        [
            "extra",
            "flags.a.rules[0].clauses[0].op",
            "flags.b.default.rollout",
            "flags.b.off_variation",
            "flags.bad key",
            "segments.s.included[1]",
        ]
    )
    assert str(caught.value).startswith("6 problems in the flag document:\n  ")


def test_a_rejected_document_leaves_nothing_behind() -> None:
    good = {"flags": {"f": flag(default="on")}}
    ruleset = Ruleset.from_data(good)
    with pytest.raises(ValidationError):
        Ruleset.from_data({"flags": {"f": flag(default="on"), "g": flag(default="nope")}})
    assert list(ruleset) == ["f"]


@pytest.mark.parametrize("data", [None, [], "flags", 3])
def test_a_document_must_be_a_mapping(data: Any) -> None:
    p = only_problem(data)
    assert p.path == ""
    assert p.message.startswith("must be a mapping")


@pytest.mark.parametrize("part", ["flags", "segments"])
def test_flags_and_segments_must_be_mappings(part: str) -> None:
    assert only_problem({part: [1, 2]}).path == part
