"""Converting flagd documents to Vexil flags and back (``vexil.flags._flagd_convert``).

The equivalence tests generate documents and contexts with hypothesis and require
both engines to serve the same value: flagd's documents evaluated by the flagd engine
(``Ruleset.from_flagd``), Vexil's by the native one. Rollouts cannot agree context by
context (the two hash differently), so their structure and split are checked instead.
"""

from __future__ import annotations

import copy
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from _services import missing
from vexil.flags import Ruleset, ValidationError
from vexil.flags._flagd_convert import (
    FLAGD_SCHEMA,
    MAX_TERMS,
    Imported,
    flagd_to_vexil,
    vexil_to_flagd,
)

VARIANTS = {"a": "A", "b": "B", "c": "C"}
MISSING: Any = object()  # an attribute left out of a context


def flagd_doc(flags: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"$schema": FLAGD_SCHEMA, "flags": flags, **extra}


def flagd_flag(targeting: Any = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"state": "ENABLED", "variants": dict(VARIANTS), "defaultVariant": "a"}
    if targeting is not None:
        body["targeting"] = targeting
    body.update(fields)
    return body


def converted(targeting: Any = None, **fields: Any) -> dict[str, Any]:
    """The Vexil form of one flagd flag ``f``."""
    return flagd_to_vexil(flagd_doc({"f": flagd_flag(targeting, **fields)})).flags["f"]


def problems_of(call: Any, *args: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        call(*args, **kwargs)
    return [str(p) for p in caught.value.problems]


def var(name: str) -> dict[str, Any]:
    return {"var": name}


def clauses(flag: dict[str, Any]) -> list[list[dict[str, Any]]]:
    return [rule["clauses"] for rule in flag.get("rules", [])]


def same_values(
    flagd: dict[str, Any], vexil: dict[str, Any], contexts: list[dict[str, Any]]
) -> None:
    """Every flag of the flagd document serves the same value as in the Vexil one."""
    theirs = Ruleset.from_flagd(flagd, strict=True)
    ours = Ruleset.from_data(vexil)
    assert set(theirs.flags) == set(ours.flags)
    for context in contexts:
        for key in theirs.flags:
            expected = theirs.evaluate(key, context)
            got = ours.evaluate(key, context)
            assert got.value == expected.value, (
                f"flag {key!r}, context {context!r}: flagd serves {expected.value!r} "
                f"({expected.reason}, {expected.error_message}), Vexil {got.value!r} "
                f"({got.reason}, {got.error_message})\nflagd: {json.dumps(flagd)}\n"
                f"vexil: {json.dumps(vexil)}"
            )
            assert type(got.value) is type(expected.value)


# ================================================================ flagd -> Vexil


def test_state_variants_default_variant_and_metadata() -> None:
    doc = flagd_doc(
        {
            "on-flag": flagd_flag(metadata={"team": "checkout", "tier": 2}),
            "off-flag": flagd_flag(state="DISABLED", defaultVariant="b"),
            "no-default": flagd_flag(defaultVariant=None),
            "numbers": {"variants": {"one": 1, "half": 0.5}, "defaultVariant": "half"},
            "objects": {"variants": {"x": {"k": [1]}, "y": {}}, "defaultVariant": "y"},
            "plain": {"variants": {"on": True, "off": False}, "defaultVariant": "off"},
        },
        metadata={"flagSetId": "shop", "team": "everyone"},
    )
    flags = flagd_to_vexil(doc).flags
    assert flags["on-flag"] == {
        "type": "string",
        "variations": VARIANTS,
        "metadata": {"flagSetId": "shop", "team": "checkout", "tier": 2},
        "on": True,
        "off_variation": "a",
        "default": "a",
    }
    # DISABLED gives the caller's default in flagd: so does an off flag without an
    # off variation in Vexil. The default variant stays the default serve.
    assert flags["off-flag"]["on"] is False
    assert "off_variation" not in flags["off-flag"]
    assert flags["off-flag"]["default"] == "b"
    assert "default" not in flags["no-default"]
    assert "off_variation" not in flags["no-default"]
    assert flags["numbers"]["type"] == "number"
    assert flags["objects"]["type"] == "json"
    assert flags["objects"]["variations"] == {"x": {"k": [1]}, "y": {}}
    assert flags["plain"]["type"] == "boolean"
    assert list(flags) == ["on-flag", "off-flag", "no-default", "numbers", "objects", "plain"]
    same_values(doc, flagd_to_vexil(doc).document(), [{}, {"key": "u-1"}])


def test_an_if_chain_becomes_ordered_rules_and_a_default() -> None:
    flag = converted(
        {
            "if": [
                {"starts_with": [var("email"), "admin@"]},
                "c",
                {"and": [{"===": [var("plan"), "pro"]}, {">=": [var("age"), 18]}]},
                "b",
                {"if": [{"ends_with": [var("email"), ".io"]}, "c", "b"]},
            ]
        }
    )
    assert clauses(flag) == [
        [{"attribute": "email", "op": "starts_with", "values": ["admin@"]}],
        [
            {"attribute": "plan", "op": "in", "values": ["pro"]},
            {"attribute": "age", "op": "gte", "values": [18]},
        ],
        [{"attribute": "email", "op": "ends_with", "values": [".io"]}],
    ]
    assert [r["serve"] for r in flag["rules"]] == ["c", "b", "c"]
    assert flag["default"] == "b"  # the nested if's else, reached by everyone else
    assert [r["description"] for r in flag["rules"]] == [
        "flagd targeting.if[0]",
        "flagd targeting.if[2]",
        "flagd targeting.if[4].if[0]",
    ]


def test_or_of_one_attribute_becomes_one_in_clause() -> None:
    flag = converted(
        {"if": [{"or": [{"===": [var("plan"), "pro"]}, {"===": ["team", var("plan")]}]}, "b"]}
    )
    assert clauses(flag) == [[{"attribute": "plan", "op": "in", "values": ["pro", "team"]}]]


def test_or_of_several_attributes_becomes_several_rules() -> None:
    flag = converted(
        {"if": [{"or": [{"===": [var("plan"), "pro"]}, {"in": ["@x.io", var("email")]}]}, "b"]}
    )
    assert clauses(flag) == [
        [{"attribute": "plan", "op": "in", "values": ["pro"]}],
        [{"attribute": "email", "op": "contains", "values": ["@x.io"]}],
    ]
    assert [r["serve"] for r in flag["rules"]] == ["b", "b"]


def test_negations_keep_flagds_meaning_for_missing_attributes() -> None:
    # flagd: "country != US" is true for a context without a country; Vexil's negated
    # clause is not, so the import adds a rule for the missing attribute.
    flag = converted({"if": [{"!==": [var("country"), "US"]}, "b"]})
    assert clauses(flag) == [
        [{"attribute": "country", "op": "exists", "negate": True}],
        [{"attribute": "country", "op": "in", "values": ["US"], "negate": True}],
    ]
    doc = flagd_doc({"f": flagd_flag({"if": [{"!==": [var("country"), "US"]}, "b"]})})
    contexts: list[dict[str, Any]] = [
        {},
        {"country": None},
        {"country": "US"},
        {"country": "CA"},
        {"country": 3},
    ]
    same_values(doc, flagd_to_vexil(doc).document(), contexts)


def test_loose_equality_with_text_adds_the_numbers_javascript_finds_equal() -> None:
    flag = converted({"if": [{"==": [var("tier"), "1"]}, "b"]})
    assert clauses(flag) == [[{"attribute": "tier", "op": "in", "values": ["1", 1, True]}]]
    assert clauses(converted({"if": [{"==": [var("tier"), "pro"]}, "b"]})) == [
        [{"attribute": "tier", "op": "in", "values": ["pro"]}]
    ]


def test_loose_equality_with_a_number_or_a_boolean_is_warned_about() -> None:
    targeting = {"if": [{"==": [var("n"), 1]}, "b", {"!=": [var("flag"), False]}, "c"]}
    imported = flagd_to_vexil(flagd_doc({"f": flagd_flag(targeting)}))
    assert clauses(imported.flags["f"]) == [
        [{"attribute": "n", "op": "in", "values": [1, True]}],
        [{"attribute": "flag", "op": "exists", "negate": True}],
        [{"attribute": "flag", "op": "in", "values": [False, 0], "negate": True}],
    ]
    assert [w.path for w in imported.warnings] == ["flags.f.targeting.if[0].=="]
    assert "flagd converts text to a number here" in imported.warnings[0].message
    # Strict equality converts nothing: no warning.
    strict = flagd_to_vexil(flagd_doc({"f": flagd_flag({"if": [{"===": [var("n"), 1]}, "b"]})}))
    assert strict.warnings == ()


def test_comparisons_with_numbers_are_warned_about() -> None:
    imported = flagd_to_vexil(flagd_doc({"f": flagd_flag({"if": [{"<": [var("age"), 18]}, "b"]})}))
    # JsonLogic reads a missing age as 0 and booleans as 0 and 1: kept exactly.
    assert clauses(imported.flags["f"]) == [
        [{"attribute": "age", "op": "lt", "values": [18]}],
        [{"attribute": "age", "op": "exists", "negate": True}],
        [{"attribute": "age", "op": "in", "values": [False, True]}],
    ]
    assert [str(w) for w in imported.warnings] == [
        "flags.f.targeting.if[0].<: compares with a number or a boolean: flagd converts text "
        'to a number here ("17" < 18, "1" == true), Vexil compares values of one type, so a '
        "context holding such a number as text no longer matches"
    ]


def test_sem_ver_operators() -> None:
    def of(op: str, version: str = "2.1.3") -> list[list[dict[str, Any]]]:
        return clauses(converted({"if": [{"sem_ver": [var("v"), op, version]}, "b"]}))

    assert of("=") == [[{"attribute": "v", "op": "semver_eq", "values": ["2.1.3"]}]]
    assert of(">=") == [[{"attribute": "v", "op": "semver_gte", "values": ["2.1.3"]}]]
    assert of("!=") == [
        [{"attribute": "v", "op": "semver_lt", "values": ["2.1.3"]}],
        [{"attribute": "v", "op": "semver_gt", "values": ["2.1.3"]}],
    ]
    assert of("~") == [
        [
            {"attribute": "v", "op": "semver_gte", "values": ["2.1.0-0"]},
            {"attribute": "v", "op": "semver_lt", "values": ["2.2.0-0"]},
        ]
    ]
    assert of("^") == [
        [
            {"attribute": "v", "op": "semver_gte", "values": ["2.0.0-0"]},
            {"attribute": "v", "op": "semver_lt", "values": ["3.0.0-0"]},
        ]
    ]
    # The version first: the comparison turns around.
    flipped = converted({"if": [{"sem_ver": ["2.0.0", "<", var("v")]}, "b"]})
    assert clauses(flipped) == [[{"attribute": "v", "op": "semver_gt", "values": ["2.0.0"]}]]


def test_variables_are_attribute_paths_and_the_targeting_key_is_key() -> None:
    flag = converted(
        {
            "if": [
                {"===": [{"var": ["address.country"]}, "CA"]},
                "b",
                {"starts_with": [var("targetingKey"), "team-"]},
                "c",
            ]
        }
    )
    assert clauses(flag) == [
        [{"attribute": "address.country", "op": "in", "values": ["CA"]}],
        [{"attribute": "key", "op": "starts_with", "values": ["team-"]}],
    ]


def test_leading_tests_of_the_targeting_key_become_individual_targets() -> None:
    flag = converted(
        {
            "if": [
                {"in": [var("targetingKey"), ["u-1", "u-2"]]},
                "b",
                {"===": [var("targetingKey"), "u-3"]},
                "c",
                {"in": [var("targetingKey"), ["u-2", "u-4"]]},  # u-2 went to b first
                "c",
                {"===": [var("plan"), "pro"]},
                "b",
                {"in": [var("targetingKey"), ["u-9"]]},  # after a rule: stays a rule
                "c",
            ]
        }
    )
    assert flag["targets"] == {"b": ["u-1", "u-2"], "c": ["u-3", "u-4"]}
    assert clauses(flag) == [
        [{"attribute": "plan", "op": "in", "values": ["pro"]}],
        [{"attribute": "key", "op": "in", "values": ["u-9"]}],
    ]


def test_evaluators_are_substituted() -> None:
    doc = flagd_doc(
        {"f": flagd_flag({"if": [{"$ref": "staff"}, "b"]})},
        **{"$evaluators": {"staff": {"or": [{"$ref": "mail"}, {"===": [var("role"), "ops"]}]}}},
    )
    doc["$evaluators"]["mail"] = {"ends_with": [var("email"), "@vexil.dev"]}
    assert clauses(flagd_to_vexil(doc).flags["f"]) == [
        [{"attribute": "email", "op": "ends_with", "values": ["@vexil.dev"]}],
        [{"attribute": "role", "op": "in", "values": ["ops"]}],
    ]


def test_a_null_branch_serves_the_default_variant_or_stops_without_one() -> None:
    targeting = {"if": [{"===": [var("plan"), "free"]}, None, {"===": [var("beta"), True]}, "b"]}
    with_default = converted(targeting)
    assert [r["serve"] for r in with_default["rules"]] == ["a", "b"]
    # Without a default variant, "free" contexts get the caller's default: the rules
    # after the null branch exclude them, and nothing is the default.
    without = converted(targeting, defaultVariant=None)
    assert "default" not in without
    assert clauses(without) == [
        [
            {"attribute": "beta", "op": "in", "values": [True]},
            {"attribute": "plan", "op": "exists", "negate": True},
        ],
        [
            {"attribute": "beta", "op": "in", "values": [True]},
            {"attribute": "plan", "op": "in", "values": ["free"], "negate": True},
        ],
    ]
    assert [r["serve"] for r in without["rules"]] == ["b", "b"]
    doc = flagd_doc({"f": flagd_flag(targeting, defaultVariant=None)})
    contexts: list[dict[str, Any]] = [
        {"plan": "free", "beta": True},
        {"beta": True},
        {"plan": "pro"},
        {},
    ]
    same_values(doc, flagd_to_vexil(doc).document(), contexts)


def test_fractional_becomes_a_rollout_with_a_warning() -> None:
    imported = flagd_to_vexil(
        flagd_doc(
            {
                "short": flagd_flag({"fractional": [["a", 1], ["b", 2]]}),
                "by-email": flagd_flag({"fractional": [var("email"), ["a", 50], ["b", 50]]}),
                "seeded": flagd_flag(
                    {"fractional": [{"cat": ["s-1", var("org.id")]}, ["a", 3], ["c", 1]]}
                ),
                "flag-key": flagd_flag(
                    {
                        "fractional": [
                            {"cat": [var("$flagd.flagKey"), var("email")]},
                            ["a", 1],
                            ["a", 1],
                            ["b"],
                        ]
                    },
                    defaultVariant=None,
                ),
                "in-rule": flagd_flag(
                    {"if": [{"===": [var("beta"), True]}, {"fractional": [["b", 1], ["c", 1]]}]}
                ),
            }
        )
    )
    flags = imported.flags
    assert flags["short"]["default"] == {
        "rollout": [{"variation": "a", "weight": 33.333}, {"variation": "b", "weight": 66.667}]
    }
    # flagd serves the default variant to a context without the bucketing attribute.
    assert flags["short"]["rules"] == [
        {
            "id": "rule-1",
            "description": "flagd targeting",
            "clauses": [{"attribute": "key", "op": "exists", "negate": True}],
            "serve": "a",
        }
    ]
    assert flags["by-email"]["default"]["bucket_by"] == "email"
    assert flags["seeded"]["default"] == {
        "rollout": [{"variation": "a", "weight": 75}, {"variation": "c", "weight": 25}],
        "bucket_by": "org.id",
        "seed": "s-1",
    }
    assert "rules" not in flags["seeded"]  # cat places contexts without org.id together
    # The flag's key then the attribute: Vexil's own way without a seed.
    assert flags["flag-key"]["default"] == {
        "rollout": [{"variation": "a", "weight": 66.667}, {"variation": "b", "weight": 33.333}],
        "bucket_by": "email",
    }
    assert flags["in-rule"]["rules"][-1]["serve"] == {
        "rollout": [{"variation": "b", "weight": 50}, {"variation": "c", "weight": 50}]
    }
    warned = {w.path: w.message for w in imported.warnings}
    assert set(warned) == {
        "flags.short.targeting.fractional",
        "flags.by-email.targeting.fractional",
        "flags.seeded.targeting.fractional",
        "flags.flag-key.targeting.fractional",
        "flags.in-rule.targeting.if[1].fractional",
    }
    assert warned["flags.short.targeting.fractional"].endswith(
        "people are assigned anew; the weights are rounded to Vexil's 0.001 %"
    )
    assert warned["flags.by-email.targeting.fractional"].endswith("people are assigned anew")


def test_a_converted_rollout_keeps_the_split() -> None:
    doc = flagd_doc({"f": flagd_flag({"fractional": [["a", 1], ["b", 3]]})})
    ruleset = Ruleset.from_data(flagd_to_vexil(doc).document())
    served = Counter(ruleset.evaluate("f", {"key": f"u-{i}"}).value for i in range(4000))
    assert abs(served["A"] / 4000 - 0.25) < 0.03
    assert abs(served["B"] / 4000 - 0.75) < 0.03
    assert ruleset.evaluate("f", {}).value == "A"  # no key: the default variant, as in flagd


@pytest.mark.parametrize(
    ("targeting", "path", "message"),
    [
        (
            {"if": [{">": [var("$flagd.timestamp"), 1700000000]}, "b"]},
            "flags.f.targeting.if[0].>[0].var",
            "$flagd.timestamp is the evaluation's own data",
        ),
        (
            {"cat": [var("plan"), "-x"]},
            "flags.f.targeting.cat",
            "'cat' computes the variant from the context",
        ),
        (
            {"if": [{"if": [var("a"), var("b"), False]}, "b"]},
            "flags.f.targeting.if[0].if",
            "an 'if' inside a condition has no Vexil form",
        ),
        ({"var": "plan"}, "flags.f.targeting.var", "the variant's name is read from the context"),
        (
            {"if": [{">": [{"+": [var("a"), 1]}, 3]}, "b"]},
            "flags.f.targeting.if[0].>",
            "tests a computed value",
        ),
        (
            {"if": [{"in": [var("plan"), "pro-team"]}, "b"]},
            "flags.f.targeting.if[0].in",
            "tests whether the attribute is part of a text",
        ),
        (
            {"if": [{"==": [var("a"), var("b")]}, "b"]},
            "flags.f.targeting.if[0].==",
            "compares two context attributes",
        ),
        (
            {"if": [{"fractional": [["a", 1], ["b", 1]]}, "b"]},
            "flags.f.targeting.if[0].fractional",
            "a fractional split used as a condition",
        ),
        (
            {"fractional": [var("a"), [var("b"), 1], ["a", 1]]},
            "flags.f.targeting.fractional[1]",
            "a bucket computed from the context",
        ),
        (
            {"fractional": [{"cat": [var("a"), var("b")]}, ["a", 1]]},
            "flags.f.targeting.fractional[0]",
            "Vexil buckets by one attribute",
        ),
        ({"if": [{"===": [var("a"), 1]}, "zzz"]}, "flags.f.targeting.if[1]", "'zzz'"),
        (
            {"in": [var("a"), ["x"]]},
            "flags.f.targeting.in",
            'write it as {"if": [condition, "variant", "other-variant"]}',
        ),
        (
            {"if": [{"<": [var("name"), "m"]}, "b"]},
            "flags.f.targeting.if[0].<",
            "Vexil's comparisons take numbers",
        ),
        (
            {"if": [{"===": [{"var": "items.0"}, "x"]}, "b"]},
            "flags.f.targeting.if[0].===[0].var",
            "indexes into a list",
        ),
        (
            {"if": [{"===": [{"var": ["plan", "free"]}, "x"]}, "b"]},
            "flags.f.targeting.if[0].===[0].var",
            "a var with a default value",
        ),
        (
            {"if": [{"starts_with": ["abc", var("p")]}, "b"]},
            "flags.f.targeting.if[0].starts_with",
            "tests whether a text starts with the attribute",
        ),
    ],
)
def test_what_has_no_vexil_form_is_refused_with_its_path(
    targeting: Any, path: str, message: str
) -> None:
    found = problems_of(flagd_to_vexil, flagd_doc({"f": flagd_flag(targeting)}))
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: "), found
    assert message in found[0]


def test_every_problem_of_every_flag_is_listed() -> None:
    doc = flagd_doc(
        {
            "ok": flagd_flag({"if": [{"===": [var("a"), 1]}, "b"]}),
            "two": flagd_flag(
                {
                    "if": [
                        {"cat": [var("a")]},
                        "b",
                        {"===": [var("a"), 1]},
                        "c",
                        {"%": [var("a"), 2]},
                        "b",
                    ]
                }
            ),
            "bad key!": flagd_flag(),
            "refs": flagd_flag({"if": [{"$ref": "broken"}, "b"]}),
            "unknown-ref": flagd_flag({"if": [{"$ref": "nothing"}, "b"]}),
            "names": {"variants": {"  ": 1, "x": 2}},
        },
        **{"$evaluators": {"broken": {"substr": [var("email"), 2]}}},
    )
    found = problems_of(flagd_to_vexil, doc)
    assert found == [
        "flags.unknown-ref.targeting.if[0].$ref: unknown evaluator 'nothing'",
        "flags.two.targeting.if[0].cat: 'cat' has no Vexil clause",
        "flags.two.targeting.if[4].%: '%' has no Vexil clause",
        "flags.bad key!: Vexil's flag keys are 1-200 letters, digits, '.', '_' or '-', "
        "starting with a letter or digit",
        "$evaluators.broken.substr: 'substr' has no Vexil clause (flag 'refs')",
        "flags.names.variants.  : Vexil's variation names are 1 to 100 characters, not only spaces",
    ]


def test_conditions_that_expand_too_far_are_refused() -> None:
    # Each "or" of two attributes negated doubles the alternatives.
    terms = [
        {"!": {"and": [{"===": [var(f"a{i}"), 1]}, {"===": [var(f"b{i}"), 1]}]}} for i in range(8)
    ]
    found = problems_of(flagd_to_vexil, flagd_doc({"f": flagd_flag({"if": [{"and": terms}, "b"]})}))
    assert len(found) == 1
    assert f"more than {MAX_TERMS} alternatives" in found[0]


def test_malformed_documents_are_refused_with_the_other_flags_problems_too() -> None:
    doc = {
        "flags": {
            "f": {"state": "ON", "variants": {"a": 1}},
            "g": {"variants": {"a": 1}, "targeting": {"if": [{"$ref": "r"}, "a"]}},
            "h": {"variants": {"a": 1}},
        },
        "$evaluators": {"r": {"some": [{"var": "tags"}, {"===": [{"var": ""}, "x"]}]}},
    }
    assert problems_of(flagd_to_vexil, doc) == [
        "flags.f.state: must be ENABLED or DISABLED, not 'ON'",
        "$evaluators.r.some: 'some' has no Vexil clause (flag 'g')",
    ]


def read_testbed_flags() -> dict[str, Any]:
    """The flagd testbed's own flag file, from the conformance data (not in this
    repository: ``$VEXIL_CONFORMANCE_DIR``, as for ``tests/conformance``)."""
    configured = os.environ.get("VEXIL_CONFORMANCE_DIR", "../shared/conformance")
    root = (Path(__file__).parents[2] / configured).resolve()
    path = root / "flagd-testbed" / "evaluator" / "flags" / "testkit-flags.json"
    if not path.is_file():
        missing(f"the flagd testbed's flags are not at {path}")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def test_the_flagd_testbeds_flags_import_and_serve_the_same() -> None:
    doc = read_testbed_flags()
    refused = problems_of(flagd_to_vexil, doc)
    culprits = sorted({p.split(".")[1] for p in refused if p.startswith("flags.")})
    # What Vexil cannot express, each for a reason the problems give.
    assert culprits == [
        "ends-with-non-string-flag",  # returns the test's own value
        "fractional-as-condition-false-flag",
        "fractional-as-condition-flag",
        "fractional-nested-if-flag",  # buckets computed from the context
        "fractional-nested-var-flag",
        "fractional-nested-weight-flag",
        "ref-to-nonexistent-evaluator-flag",
        "semver-invalid-version-flag",
        "starts-with-non-string-flag",
    ]
    doc["flags"] = {k: v for k, v in doc["flags"].items() if k not in culprits}
    imported = flagd_to_vexil(doc)
    # Rollouts place people differently: compared by their structure, the rest by value.
    splits = {k for k, f in imported.flags.items() if '"rollout"' in json.dumps(f)}
    assert len(splits) >= 5
    contexts = [
        *GRID,
        {"email": "ballmer@macrosoft.com"},
        {"email": "jobs@orange.com"},
        {"key": "5c3d8535-f81a-4478-a6d3-afaa4d51199e"},
        {"id": "abcxyz"},
        {"id": "xyz"},
        {"id": 1},
        *({"version": v} for v in ["2.0.0", "2.1.0", "1.0.0", "3.0.1", "3.1.0", "v1.0.0"]),
        *({"version": v} for v in ["1.0.0+build", "1.2.0", "1", "1.0.0-rc"]),
    ]
    non_split = {k: v for k, v in doc["flags"].items() if k not in splits}
    same_values(
        {**doc, "flags": non_split},
        Imported({k: imported.flags[k] for k in non_split}).document(),
        contexts,
    )
    for key in splits:
        assert "rollout" in imported.flags[key]["default"], key
    assert imported.flags["fractional-flag-A-shared-seed"]["default"]["seed"] == "shared-seed"
    assert imported.flags["fractional-flag"]["default"]["bucket_by"] == "user.name"


# ---------------------------------------------- flagd -> Vexil, equivalence


TEXTS = ["pro", "free", "5", "", "0", "1", " 1", "Pro", "a@x.io", "b@y.com", "team"]
NUMBERS = [0, 1, 5, 18, 2.5, -3, 65.5]
VERSIONS = [
    "1.0.0",
    "1.0.0-rc.1",
    "2.0.0",
    "2.0.0-beta",
    "2.1.0-rc.1",
    "2.1.5",
    "v3.0.0",
    "3.0.0-alpha.1",
    "3.1.0-rc.1",
    "2",
    "bad",
    "",
]


def scalar_or_missing(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(MISSING), st.none(), values)


#: Context attributes by kind, with values of other kinds where both engines agree:
#: a number compared as a number never meets numeric text (JsonLogic would convert
#: it), a version never meets a number (flagd reads numbers as versions).
ANY_SCALAR = st.one_of(st.sampled_from(TEXTS), st.sampled_from(NUMBERS), st.booleans())
#: Export also keeps booleans out: Vexil's comparisons skip them, JsonLogic reads 0 and 1.
NUMERIC_EXPORT_SAFE = st.one_of(
    st.sampled_from(NUMBERS), st.sampled_from([17.9, 65, 100]), st.just("pro")
)
NUMERIC_SAFE = NUMERIC_EXPORT_SAFE | st.booleans()
VERSION_SAFE = st.one_of(st.sampled_from(VERSIONS), st.booleans())


def grid(numeric_booleans: bool = True) -> list[dict[str, Any]]:
    """Contexts that take each attribute through all its values, the others missing
    (random contexts rarely hit the one value where two engines part)."""
    texts = [*TEXTS, *NUMBERS, True, False, None]
    pools: dict[str, list[Any]] = {
        "key": ["u-1", "u-2", "u-3", "5", 5, None],
        "plan": texts,
        "email": texts,
        "beta": texts,
        "age": [*NUMBERS, 17.9, 65, 100, "pro", None] + ([True, False] if numeric_booleans else []),
        "version": [*VERSIONS, True, False, None],
        "address": [None, "x", {}, *({"country": v} for v in texts)],
    }
    out: list[dict[str, Any]] = [{}]
    for attribute, values in pools.items():
        out.extend({attribute: v} for v in values)
    return out


GRID = grid()
EXPORT_GRID = grid(numeric_booleans=False)


@st.composite
def contexts(draw: st.DrawFn, numeric_booleans: bool = True) -> dict[str, Any]:
    numeric = NUMERIC_SAFE if numeric_booleans else NUMERIC_EXPORT_SAFE
    values = {
        "key": draw(scalar_or_missing(st.sampled_from(["u-1", "u-2", "u-3", "5"]) | st.just(5))),
        "plan": draw(scalar_or_missing(ANY_SCALAR)),
        "email": draw(scalar_or_missing(ANY_SCALAR)),
        "age": draw(scalar_or_missing(numeric)),
        "version": draw(scalar_or_missing(VERSION_SAFE)),
        "beta": draw(scalar_or_missing(ANY_SCALAR)),
        "address": draw(
            scalar_or_missing(
                st.fixed_dictionaries({}, optional={"country": st.one_of(st.none(), ANY_SCALAR)})
                | st.just("x")
            )
        ),
    }
    return {k: v for k, v in values.items() if v is not MISSING}


TEXT_ATTRS = st.sampled_from(["plan", "email", "address.country"])
ANY_ATTR = st.sampled_from(["plan", "email", "address.country", "age", "version", "beta"])


def either_order(attribute: str, literal: Any, draw: st.DrawFn) -> list[Any]:
    pair = [var(attribute), literal]
    return pair if draw(st.booleans()) else pair[::-1]


@st.composite
def flagd_leaf(draw: st.DrawFn) -> Any:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # loose equality with text
        op = draw(st.sampled_from(["==", "!="]))
        return {op: either_order(draw(TEXT_ATTRS), draw(st.sampled_from(TEXTS)), draw)}
    if kind == 1:  # strict equality with anything, null included
        op = draw(st.sampled_from(["===", "!==", "==", "!="]))
        literal = draw(st.one_of(ANY_SCALAR, st.none()))
        if op in ("==", "!=") and literal is not None:
            op = op + "="
        return {op: either_order(draw(ANY_ATTR), literal, draw)}
    if kind == 2:
        items = draw(st.lists(st.one_of(ANY_SCALAR, st.none()), max_size=4))
        return {"in": [var(draw(ANY_ATTR)), items]}
    if kind == 3:
        return {"in": [draw(st.sampled_from(["", "@", "pro", "x.io", "1"])), var(draw(TEXT_ATTRS))]}
    if kind == 4:
        op = draw(st.sampled_from(["starts_with", "ends_with"]))
        return {op: [var(draw(TEXT_ATTRS)), draw(st.sampled_from(["", "a", "pro", ".io", "1"]))]}
    if kind == 5:
        op = draw(st.sampled_from(["<", "<=", ">", ">="]))
        return {op: either_order("age", draw(st.sampled_from(NUMBERS)), draw)}
    if kind == 6:
        op = draw(st.sampled_from(["<", "<="]))
        low, high = sorted(draw(st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=2)))
        return {op: [low, var("age"), high]}
    if kind == 7:
        op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "~", "^"]))
        version = draw(st.sampled_from(["2.0.0", "2.1", "v3.0.0", "1.0.0-rc.1", "3"]))
        args = [var("version"), op, version]
        return {"sem_ver": args if draw(st.booleans()) else [version, op, var("version")]}
    if kind == 8:
        return var(draw(st.sampled_from(["beta", "plan", "age"])))
    return {"$ref": draw(st.sampled_from(["pro-plan", "adult"]))}


EVALUATORS = {
    "pro-plan": {"in": [var("plan"), ["pro", "team"]]},
    "adult": {"and": [{">=": [var("age"), 18]}, {"!": {"$ref": "pro-plan"}}]},
}


def flagd_conditions() -> st.SearchStrategy[Any]:
    return st.recursive(
        flagd_leaf(),
        lambda inner: st.one_of(
            st.builds(lambda c: {"!": c}, inner),
            st.builds(lambda c: {"!!": [c]}, inner),
            st.builds(lambda cs: {"and": cs}, st.lists(inner, min_size=1, max_size=3)),
            st.builds(lambda cs: {"or": cs}, st.lists(inner, min_size=1, max_size=3)),
        ),
        max_leaves=4,
    )


RESULTS = st.sampled_from(["a", "b", "c", None])


@st.composite
def flagd_targeting(draw: st.DrawFn, depth: int = 0) -> Any:
    chain: list[Any] = []
    if depth == 0 and draw(st.booleans()):
        keys = draw(st.lists(st.sampled_from(["u-1", "u-2", "u-3"]), min_size=1, unique=True))
        chain += [{"in": [var("targetingKey"), keys]}, draw(st.sampled_from(["a", "b", "c"]))]
    for _ in range(draw(st.integers(1, 3))):
        result = draw(flagd_targeting(depth + 1)) if depth < 1 and draw(st.booleans()) else None
        chain += [draw(flagd_conditions()), result or draw(RESULTS)]
    if draw(st.booleans()):
        chain.append(draw(RESULTS))
    return {"if": chain}


@st.composite
def flagd_documents(draw: st.DrawFn) -> dict[str, Any]:
    flags = {}
    for i in range(draw(st.integers(1, 3))):
        flags[f"f{i}"] = flagd_flag(
            draw(flagd_targeting()),
            state=draw(st.sampled_from(["ENABLED", "ENABLED", "DISABLED"])),
            defaultVariant=draw(st.sampled_from(["a", "b", None])),
        )
    return flagd_doc(flags, **{"$evaluators": copy.deepcopy(EVALUATORS)})


def import_or_reject(doc: dict[str, Any]) -> Imported:
    try:
        return flagd_to_vexil(doc)
    except ValidationError as exc:
        if all("alternatives" in p.message or "rules (at most" in p.message for p in exc.problems):
            reject()  # a condition too large to convert is refused by design
        raise


@settings(max_examples=300, deadline=None)
@given(leaf=flagd_leaf())
def test_each_condition_alone_and_negated_keeps_its_meaning(leaf: Any) -> None:
    doc = flagd_doc(
        {
            "alone": flagd_flag({"if": [leaf, "b", "c"]}),
            "negated": flagd_flag({"if": [{"!": leaf}, "b", "c"]}),
        },
        **{"$evaluators": copy.deepcopy(EVALUATORS)},
    )
    same_values(doc, flagd_to_vexil(doc).document(), GRID)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=flagd_documents(), cases=st.lists(contexts(), min_size=20, max_size=20))
@pytest.mark.slow
def test_imported_flags_serve_what_flagd_serves(
    doc: dict[str, Any], cases: list[dict[str, Any]]
) -> None:
    imported = import_or_reject(doc)
    same_values(doc, imported.document(), cases + GRID)


# ================================================================ Vexil -> flagd


SEGMENTS: dict[str, Any] = {
    "staff": {
        "included": ["u-1"],
        "excluded": ["u-2"],
        "rules": [{"clauses": [{"attribute": "email", "op": "ends_with", "values": ["x.io"]}]}],
    },
    "beta-testers": {
        "included": ["u-3"],
        "rules": [
            {"clauses": [{"attribute": "beta", "op": "in", "values": [True]}]},
            {
                "clauses": [
                    {"op": "segment", "values": ["staff"]},
                    {"attribute": "age", "op": "gt", "values": [30]},
                ]
            },
        ],
    },
    "nobody": {},
    "listed": {"included": ["u-2"], "excluded": ["u-3"]},
}


def vexil_doc(flags: dict[str, Any], segments: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"version": 1, "flags": flags, "segments": segments or copy.deepcopy(SEGMENTS)}


def vexil_flag(**fields: Any) -> dict[str, Any]:
    return {"variations": dict(VARIANTS), "default": "a", **fields}


def test_an_environment_becomes_a_flagd_document() -> None:
    doc = vexil_doc(
        {
            "static": vexil_flag(metadata={"owner": "web", "n": 1}),
            "targeted": vexil_flag(
                off_variation="c",
                targets={"b": ["u-1", "u-2"], "c": ["u-3"]},
                rules=[
                    {
                        "clauses": [
                            {"attribute": "email", "op": "ends_with", "values": ["@x.io", "@y.io"]},
                            {"attribute": "key", "op": "in", "values": ["u-9"], "negate": True},
                        ],
                        "serve": "c",
                    },
                    {"clauses": [{"op": "segment", "values": ["staff"]}], "serve": "b"},
                ],
                default="b",
            ),
            "off-with-off-variation": vexil_flag(on=False, off_variation="b"),
            "off-without": vexil_flag(on=False, default="c"),
            "no-default": {"variations": {"on": True, "off": False}},
        }
    )
    exported = vexil_to_flagd(doc)
    assert exported.skipped == {}
    out = exported.document
    assert out["$schema"] == "https://flagd.dev/schema/v0/flags.json"
    assert out["flags"]["static"] == {
        "state": "ENABLED",
        "variants": VARIANTS,
        "defaultVariant": "a",
        "metadata": {"owner": "web", "n": 1},
    }
    assert out["flags"]["targeted"] == {
        "state": "ENABLED",
        "variants": VARIANTS,
        "defaultVariant": "b",
        "targeting": {
            "if": [
                {"in": [{"var": "targetingKey"}, ["u-1", "u-2"]]},
                "b",
                {"in": [{"var": "targetingKey"}, ["u-3"]]},
                "c",
                {
                    "and": [
                        {
                            "or": [
                                {"ends_with": [{"var": "email"}, "@x.io"]},
                                {"ends_with": [{"var": "email"}, "@y.io"]},
                            ]
                        },
                        {
                            "and": [
                                {"!=": [{"var": "targetingKey"}, None]},
                                {"!": {"in": [{"var": "targetingKey"}, ["u-9"]]}},
                            ]
                        },
                    ]
                },
                "c",
                {"$ref": "segment:staff"},
                "b",
            ]
        },
    }
    assert out["$evaluators"] == {
        "segment:staff": {
            "or": [
                {"in": [{"var": "targetingKey"}, ["u-1"]]},
                {
                    "and": [
                        {"!": {"in": [{"var": "targetingKey"}, ["u-2"]]}},
                        {"ends_with": [{"var": "email"}, "x.io"]},
                    ]
                },
            ]
        }
    }
    assert out["flags"]["off-with-off-variation"] == {
        "state": "ENABLED",
        "variants": VARIANTS,
        "defaultVariant": "b",
    }
    assert out["flags"]["off-without"] == {
        "state": "DISABLED",
        "variants": VARIANTS,
        "defaultVariant": "c",
    }
    assert out["flags"]["no-default"] == {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
    }
    assert [str(w) for w in exported.warnings] == [
        "flags.off-with-off-variation.on: the flag is off: exported as serving 'b' to "
        "everyone (flagd has no off variation; a DISABLED flag would give applications "
        "their own default)"
    ]
    contexts_ = [
        {"key": k, "email": e}
        for k in ("u-1", "u-2", "u-3", "u-9", "u-7")
        for e in ("a@x.io", "b@z.io", None)
    ]
    same_values(out, doc, [*contexts_, {}])


def test_what_flagd_cannot_express_is_refused_with_every_problem() -> None:
    doc = vexil_doc(
        {
            "ok": vexil_flag(),
            "gated": vexil_flag(prerequisites=[{"flag": "ok", "variation": "a"}]),
            "regex": vexil_flag(
                rules=[
                    {
                        "clauses": [{"attribute": "email", "op": "matches", "values": ["^a"]}],
                        "serve": "b",
                    },
                    {"clauses": [{"attribute": "at", "op": "after", "values": [0]}], "serve": "b"},
                ]
            ),
            "via-segment": vexil_flag(
                rules=[{"clauses": [{"op": "segment", "values": ["dated"]}], "serve": "b"}]
            ),
            "off": vexil_flag(on=False, prerequisites=[{"flag": "ok", "variation": "a"}]),
            "arrays": {"type": "json", "variations": {"x": [1], "y": {}}},
        },
        segments={
            "dated": {"rules": [{"clauses": [{"attribute": "t", "op": "before", "values": [5]}]}]}
        },
    )
    assert problems_of(vexil_to_flagd, doc) == [
        "flags.arrays.variations.x: flagd's object variants are objects, not arrays",
        "flags.gated.prerequisites: flagd has no prerequisites (ok=a)",
        "flags.regex.rules[0].clauses[0].op: flagd has no regular expressions ('matches')",
        "flags.regex.rules[1].clauses[0].op: flagd cannot compare dates ('after')",
        "segments.dated.rules[0].clauses[0].op: flagd cannot compare dates ('before'); "
        "flag 'via-segment' uses segment 'dated'",
    ]
    exported = vexil_to_flagd(doc, skip_unsupported=True)
    assert set(exported.document["flags"]) == {"ok", "off"}
    assert {k: [str(p) for p in v] for k, v in exported.skipped.items()} == {
        "arrays": ["flags.arrays.variations.x: flagd's object variants are objects, not arrays"],
        "gated": ["flags.gated.prerequisites: flagd has no prerequisites (ok=a)"],
        "regex": [
            "flags.regex.rules[0].clauses[0].op: flagd has no regular expressions ('matches')",
            "flags.regex.rules[1].clauses[0].op: flagd cannot compare dates ('after')",
        ],
        "via-segment": [
            "segments.dated.rules[0].clauses[0].op: flagd cannot compare dates ('before'); "
            "flag 'via-segment' uses segment 'dated'"
        ],
    }
    assert "$evaluators" not in exported.document


def test_rollouts_become_fractional_splits_with_their_bucketing() -> None:
    doc = vexil_doc(
        {
            "by-key": vexil_flag(
                default={
                    "rollout": [{"variation": "a", "weight": 20}, {"variation": "b", "weight": 80}]
                }
            ),
            "by-org": vexil_flag(
                rules=[
                    {
                        "clauses": [{"attribute": "beta", "op": "in", "values": [True]}],
                        "serve": {
                            "rollout": [
                                {"variation": "a", "weight": 33.333},
                                {"variation": "b", "weight": 33.333},
                                {"variation": "c", "weight": 33.334},
                            ],
                            "bucket_by": "org.id",
                        },
                    }
                ]
            ),
            "seeded": vexil_flag(
                default={
                    "rollout": [{"variation": "a", "weight": 50}, {"variation": "c", "weight": 50}],
                    "seed": "s-1",
                    "experiment": True,
                }
            ),
        }
    )
    exported = vexil_to_flagd(doc)
    flags = exported.document["flags"]
    assert flags["by-key"]["targeting"] == {"fractional": [["a", 1], ["b", 4]]}
    assert "defaultVariant" not in flags["by-key"]
    assert flags["by-org"]["targeting"] == {
        "if": [
            {"in": [{"var": "beta"}, [True]]},
            {
                "fractional": [
                    {"cat": [{"var": "$flagd.flagKey"}, {"var": "org.id"}]},
                    ["a", 33333],
                    ["b", 33333],
                    ["c", 33334],
                ]
            },
        ]
    }
    assert flags["seeded"]["targeting"] == {
        "fractional": [{"cat": ["s-1", {"var": "targetingKey"}]}, ["a", 1], ["c", 1]]
    }
    assert {w.path for w in exported.warnings} == {"flags.by-key", "flags.by-org", "flags.seeded"}
    ruleset = Ruleset.from_flagd(exported.document, strict=True)
    served = Counter(ruleset.evaluate("by-key", {"key": f"u-{i}"}).value for i in range(4000))
    assert abs(served["A"] / 4000 - 0.2) < 0.03
    assert abs(served["B"] / 4000 - 0.8) < 0.03
    # And back: the same rollouts, bucketing and seeds.
    back = flagd_to_vexil(exported.document).flags
    assert back["by-key"]["default"] == doc["flags"]["by-key"]["default"]
    assert back["by-org"]["rules"][0]["serve"] == doc["flags"]["by-org"]["rules"][0]["serve"]
    assert back["seeded"]["default"] == {
        "rollout": [{"variation": "a", "weight": 50}, {"variation": "c", "weight": 50}],
        "seed": "s-1",
    }


# ----------------------------------------------- Vexil -> flagd, equivalence


ATTR_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "plan": st.lists(
        st.one_of(st.sampled_from(TEXTS), st.sampled_from([0, 1, 5]), st.booleans()),
        min_size=1,
        max_size=3,
    ),
    "contains": st.lists(st.sampled_from(["", "@", "pro", "x.io", "1"]), min_size=1, max_size=2),
    "numbers": st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=2),
    "versions": st.lists(
        st.sampled_from(["2.0.0", "2.1", "v3.0.0", "1.0.0-rc.1"]), min_size=1, max_size=2
    ),
}


@st.composite
def vexil_clause(draw: st.DrawFn) -> dict[str, Any]:
    negate = draw(st.booleans())
    kind = draw(st.integers(0, 6))
    if kind == 0:
        clause = {
            "attribute": draw(ANY_ATTR | st.just("key")),
            "op": "in",
            "values": draw(ATTR_VALUES["plan"]),
        }
    elif kind == 1:
        op = draw(st.sampled_from(["contains", "starts_with", "ends_with"]))
        clause = {"attribute": draw(TEXT_ATTRS), "op": op, "values": draw(ATTR_VALUES["contains"])}
    elif kind == 2:
        op = draw(st.sampled_from(["lt", "lte", "gt", "gte"]))
        clause = {"attribute": "age", "op": op, "values": draw(ATTR_VALUES["numbers"])}
    elif kind == 3:
        op = draw(
            st.sampled_from(["semver_eq", "semver_lt", "semver_lte", "semver_gt", "semver_gte"])
        )
        clause = {"attribute": "version", "op": op, "values": draw(ATTR_VALUES["versions"])}
    elif kind == 4:
        clause = {"attribute": draw(ANY_ATTR), "op": "exists"}
    else:
        segments = draw(
            st.lists(st.sampled_from(sorted(SEGMENTS)), min_size=1, max_size=2, unique=True)
        )
        clause = {"op": "segment", "values": segments}
    if negate:
        clause["negate"] = True
    return clause


@st.composite
def vexil_documents(draw: st.DrawFn) -> dict[str, Any]:
    names = st.sampled_from(sorted(VARIANTS))
    flags = {}
    for i in range(draw(st.integers(1, 3))):
        keys = draw(st.lists(st.sampled_from(["u-1", "u-2", "u-3"]), unique=True))
        targets: dict[str, list[str]] = {}
        for key in keys:
            targets.setdefault(draw(names), []).append(key)
        rules = [
            {"clauses": draw(st.lists(vexil_clause(), max_size=3)), "serve": draw(names)}
            for _ in range(draw(st.integers(0, 3)))
        ]
        flags[f"f{i}"] = {
            "variations": dict(VARIANTS),
            "on": draw(st.booleans() | st.just(True)),
            "off_variation": draw(st.none() | names),
            "default": draw(st.none() | names),
            "targets": targets,
            "rules": rules,
        }
    return vexil_doc(flags)


#: Twenty contexts, as the hypothesis tests of exported documents use them.
CASES = st.lists(contexts(numeric_booleans=False), min_size=20, max_size=20)


@settings(max_examples=300, deadline=None)
@given(clause=vexil_clause())
def test_each_clause_alone_keeps_its_meaning(clause: dict[str, Any]) -> None:
    doc = vexil_doc({"f": vexil_flag(rules=[{"clauses": [clause], "serve": "b"}], default="c")})
    same_values(vexil_to_flagd(doc).document, doc, EXPORT_GRID)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=vexil_documents(),
    cases=CASES,
)
@pytest.mark.slow
def test_exported_flags_serve_what_vexil_serves(
    doc: dict[str, Any], cases: list[dict[str, Any]]
) -> None:
    exported = vexil_to_flagd(doc)
    same_values(exported.document, doc, cases + EXPORT_GRID)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=vexil_documents(),
    cases=CASES,
)
@pytest.mark.slow
def test_exported_then_imported_flags_serve_the_same(
    doc: dict[str, Any], cases: list[dict[str, Any]]
) -> None:
    back = import_or_reject(vexil_to_flagd(doc).document)
    ours = Ruleset.from_data(doc)
    theirs = Ruleset.from_data(back.document())
    for context in cases + EXPORT_GRID:
        for key in ours.flags:
            assert theirs.evaluate(key, context).value == ours.evaluate(key, context).value, (
                key,
                context,
                json.dumps(back.flags[key]),
            )
