"""flagd flag-definition documents: reading, validating, compiling and evaluating them.

The flagd testbed's own suite runs in ``tests/conformance``; these tests pin the parts
it does not reach: every JsonLogic operation, the parse errors and their paths, the
generated code against the closures it inlines, and the SDK reading flagd files.
"""

from __future__ import annotations

import copy
import json
import math
import pickle
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

import mmh3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _services import wait_for
from vexil import Client
from vexil.flags import (
    ErrorKind,
    EvaluationDetail,
    Reason,
    Ruleset,
    ValidationError,
    VariationType,
)
from vexil.flags._flagd import (
    FlagdDocument,
    FlagdFlag,
    compile_flagd_flag,
    is_flagd_document,
    parse_flagd,
    parse_flagd_flag,
)
from vexil.flags._jsonlogic import compile_logic, is_truthy, logic_problems

SCHEMA = "https://flagd.dev/schema/v0/flags.json"
COLORS = {"red": "#f00", "green": "#0f0", "blue": "#00f"}


class Plan(StrEnum):
    PRO = "pro"


def doc(flags: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"$schema": SCHEMA, "flags": flags, **extra}


def flag(targeting: Any = None, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"state": "ENABLED", "variants": dict(COLORS), "defaultVariant": "red"}
    if targeting is not None:
        body["targeting"] = targeting
    body.update(fields)
    return body


def one(targeting: Any = None, **fields: Any) -> Ruleset:
    return Ruleset.from_data(doc({"f": flag(targeting, **fields)}))


def run(rule: Any, data: Any = None) -> Any:
    """``rule`` evaluated by the closures (the reference semantics)."""
    node = compile_logic(rule, flag_key="the-flag", clock=lambda: 1_700_000_000.5)
    return node.fn({} if data is None else data)


def problems(excinfo: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


# ---------------------------------------------------------------- detection


def test_flagd_documents_are_told_apart_from_vexil_documents() -> None:
    assert is_flagd_document({"$schema": SCHEMA, "flags": {}})
    assert is_flagd_document({"flags": {"f": {"state": "ENABLED", "variants": {"a": 1}}}})
    assert is_flagd_document({"flags": {"f": {"defaultVariant": "a"}}, "$evaluators": {}})
    assert is_flagd_document({"flags": [{"key": "f", "state": "ENABLED"}]})
    assert not is_flagd_document({"version": 1, "flags": {"f": {"variations": {"a": 1}}}})
    assert not is_flagd_document({"flags": {"f": {"variations": {"a": 1}, "state": "x"}}})
    assert not is_flagd_document({"flags": {}})
    assert not is_flagd_document(["flags"])


def test_every_loader_reads_flagd_documents(tmp_path: Path) -> None:
    data = doc({"f": flag()})
    path = tmp_path / "flags.flagd.json"
    path.write_text(json.dumps(data))
    yaml_path = tmp_path / "flags.flagd.yaml"
    yaml_path.write_text(
        "flags:\n  f:\n    state: ENABLED\n    variants: {red: '#f00', blue: '#00f'}\n"
        "    defaultVariant: blue\n"
    )
    for ruleset in (
        Ruleset.from_data(data),
        Ruleset.from_text(json.dumps(data)),
        Ruleset.from_file(path),
        Ruleset.from_flagd({"flags": {"f": flag()}}),
    ):
        assert isinstance(ruleset.document, FlagdDocument)
        assert ruleset.evaluate("f", {}).value == "#f00"
    assert Ruleset.from_file(yaml_path).evaluate("f", {}).value == "#00f"


def test_the_model_is_vexils_model() -> None:
    ruleset = one({"if": [{"==": [{"var": "plan"}, "pro"]}, "blue"]}, metadata={"team": "web"})
    model = ruleset.flags["f"]
    assert isinstance(model, FlagdFlag)
    assert model.type is VariationType.STRING
    assert model.variations == COLORS
    assert model.on
    assert model.default == model.default_variant == "red"
    assert model.metadata == {"team": "web"}
    assert not model.is_static
    assert one().flags["f"].is_static


# ---------------------------------------------------------------- validation


def test_a_malformed_document_is_refused_with_every_problem_and_its_path() -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_flagd(
            {
                "flags": {
                    "a": {"state": "ON", "variants": {"x": 1}},
                    "b": {"variants": {"x": 1, "y": "two"}, "defaultVariant": "x"},
                    "c": {"variants": {}, "defaultVariant": None},
                    "d": {"variants": {"on": True, "off": False}, "defaultVariant": "of"},
                    "e": {"variants": {"x": None}},
                    "f": {"variants": {"x": 1}, "targeting": "x"},
                    "g": {"variants": {"x": 1}, "metadata": {"owner": ["a"]}},
                    "h": [],
                },
                "metadata": "shop",
                "$evaluators": [],
            }
        )
    assert problems(excinfo) == [
        "metadata: must be an object of names to strings, numbers or booleans, not a string",
        "$evaluators: must be an object of names to rules, not a list",
        "flags.a.state: must be ENABLED or DISABLED, not 'ON'",
        "flags.b.variants.y: is a string, but the flag's variants are of type number",
        "flags.c.variants: must be a non-empty object of variant names to values",
        "flags.d.defaultVariant: unknown variant 'of' (did you mean 'off'?)",
        "flags.e.variants.x: null is not a variant value",
        "flags.f.targeting: must be a JsonLogic object, not a string",
        "flags.g.metadata.owner: must be a string, number or boolean, not a list",
        "flags.h: must be an object, not a list",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], ": must be an object, not a list"),
        ({}, "flags: is required"),
        ({"flags": 3}, "flags: must be an object of flag keys to flags, not a number"),
        ({"flags": {"": flag()}}, "flags.: a flag key must be a non-empty string"),
        ({"flags": [{"key": "f"}, {"key": "f"}]}, "flags[1].key: flag 'f' appears twice"),
        ({"flags": [{"state": "ENABLED"}]}, "flags[0].key: each flag of the list needs"),
    ],
)
def test_document_level_problems(data: Any, message: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        parse_flagd(data)
    assert any(str(p).startswith(message.lstrip(": ")) for p in excinfo.value.problems), problems(
        excinfo
    )


def test_the_list_form_and_flagd_defaults_are_read() -> None:
    ruleset = Ruleset.from_flagd({"flags": [{"key": "f", "defaultVariant": "true"}]})
    model = ruleset.flags["f"]
    assert model.on  # no state: ENABLED
    assert model.variations == {"true": True, "false": False}  # no variants: flagd's booleans
    assert ruleset.evaluate("f", {}).value is True


def test_targeting_that_cannot_run_fails_its_flag_only_unless_strict() -> None:
    data = doc(
        {
            "bad-op": flag({"if": [{"startswith": [{"var": "email"}, "a"]}, "blue"]}),
            "bad-ref": flag({"if": [{"$ref": "is_staf"}, "blue"]}),
            "uses-broken": flag({"$ref": "broken"}),
            "good": flag({"if": [{"$ref": "is_staff"}, "blue"]}),
        },
        **{"$evaluators": {"is_staff": {"ends_with": [{"var": "email"}, "@x.io"]},
                           "broken": {"nope": [1]}}},
    )  # fmt: skip
    ruleset = Ruleset.from_data(data)
    issues = [str(p) for p in ruleset.document.issues]  # type: ignore[attr-defined]
    assert issues == [
        "$evaluators.broken.nope: unknown operation 'nope' (did you mean 'none'?)",
        "flags.bad-op.targeting.if[0].startswith: unknown operation 'startswith'"
        " (did you mean 'starts_with'?)",
        "flags.bad-ref.targeting.if[0].$ref: unknown evaluator 'is_staf'"
        " (did you mean 'is_staff'?)",
        "flags.uses-broken.targeting: uses the evaluator 'broken', which cannot run",
    ]
    for key in ("bad-op", "bad-ref", "uses-broken"):
        detail = ruleset.evaluate(key, {"email": "a@x.io"}, "#000")
        assert (detail.value, detail.reason, detail.error) == (
            "#000",
            Reason.ERROR,
            ErrorKind.PARSE_ERROR,
        )
        assert key in (detail.error_message or "") or "broken" in (detail.error_message or "")
    assert ruleset.evaluate("good", {"email": "a@x.io"}).value == "#00f"
    with pytest.raises(ValidationError) as excinfo:
        Ruleset.from_flagd(data, strict=True)
    assert [str(p) for p in excinfo.value.problems] == issues


def test_evaluators_may_use_evaluators_but_not_in_a_cycle() -> None:
    evaluators = {
        "is_staff": {"ends_with": [{"var": "email"}, "@x.io"]},
        "staff_pro": {"and": [{"$ref": "is_staff"}, {"==": [{"var": "plan"}, "pro"]}]},
        "loop_a": {"!": {"$ref": "loop_b"}},
        "loop_b": {"!": {"$ref": "loop_a"}},
    }
    ruleset = Ruleset.from_data(
        doc(
            {"f": flag({"if": [{"$ref": "staff_pro"}, "blue"]}), "g": flag({"$ref": "loop_a"})},
            **{"$evaluators": evaluators},
        )
    )
    assert ruleset.evaluate("f", {"email": "a@x.io", "plan": "pro"}).value == "#00f"
    assert ruleset.evaluate("f", {"email": "a@x.io", "plan": "free"}).value == "#f00"
    assert ruleset.evaluate("g", {}).error is ErrorKind.PARSE_ERROR
    cycles = [str(p) for p in ruleset.document.issues if "cycle" in p.message]  # type: ignore[attr-defined]
    assert cycles == [
        "$evaluators.loop_a: $ref cycle: loop_a -> loop_b -> loop_a",
        "$evaluators.loop_b: $ref cycle: loop_b -> loop_a -> loop_b",
    ]


def test_ref_whitespace_and_a_ref_beside_other_keys() -> None:
    text = '{"flags": {"f": {"state": "ENABLED", "variants": {"a": 1, "b": 2},'
    text += ' "defaultVariant": "a", "targeting": {"if": [{ "$ref" :  "yes" }, "b"]}}},'
    text += ' "$evaluators": {"yes": {"==": [1, 1]}}}'
    assert Ruleset.from_text(text).evaluate("f", {}).value == 2


def test_unknown_fields_are_warnings_not_errors() -> None:
    parsed = parse_flagd(
        {"flags": {"f": flag(defaultVarient="blue")}, "flagz": {}, "$comment": "fine"}
    )
    assert [str(w) for w in parsed.warnings] == [
        "flagz: unknown field (did you mean 'flags'?)",
        "flags.f.defaultVarient: unknown field (did you mean 'defaultVariant'?)",
    ]
    assert parsed.issues == ()


def test_rules_nested_too_deeply_are_refused_not_a_crash() -> None:
    rule: Any = {"var": "x"}
    for _ in range(150):
        rule = {"!": [rule]}  # 300 levels of JSON
    with pytest.raises(ValidationError) as excinfo:
        parse_flagd(doc({"f": flag(rule)}, **{"$evaluators": {"deep": rule}}))
    assert problems(excinfo) == [
        "$evaluators.deep: nested more than 200 levels deep",
        "flags.f.targeting: nested more than 200 levels deep",
    ]
    half: Any = {"var": "x"}
    for _ in range(60):
        half = {"!": [half]}  # 120 levels, and as many again where it is used
    uses: Any = {"$ref": "half"}
    for _ in range(60):
        uses = {"!": [uses]}
    ruleset = Ruleset.from_data(doc({"f": flag(uses)}, **{"$evaluators": {"half": half}}))
    assert str(ruleset.document.issues[0]) == (  # type: ignore[attr-defined]
        "flags.f.targeting: nested more than 200 levels deep with its evaluators"
    )
    deep: Any = {"var": "x"}
    for _ in range(195):
        deep = {"!": deep}  # as deep as may be: it evaluates like any other rule
    ruleset = one({"if": [deep, "blue"]})
    for ctx in ({"x": 0}, MappingProxyType({"x": 0})):
        assert ruleset.evaluate("f", ctx).variant == "blue"
    for ctx in ({"x": 1}, MappingProxyType({"x": 1})):
        assert ruleset.evaluate("f", ctx).variant == "red"


def test_parse_flagd_flag_validates_one_flag_with_the_documents_parts() -> None:
    parsed = parse_flagd_flag(
        "f",
        flag({"if": [{"$ref": "pro"}, "green"]}, metadata={"owner": "me"}),
        evaluators={"pro": {"==": [{"var": "plan"}, "pro"]}},
        flag_set_metadata={"flagSetId": "shop", "owner": "them"},
    )
    assert parsed.rule == {"if": [{"==": [{"var": "plan"}, "pro"]}, "green"]}
    assert parsed.metadata == {"flagSetId": "shop", "owner": "me"}
    with pytest.raises(ValidationError) as excinfo:
        parse_flagd_flag("f", flag({"if": [{"$ref": "pro"}, "green"]}), strict=True)
    assert problems(excinfo) == ["flags.f.targeting.if[0].$ref: unknown evaluator 'pro'"]


# ---------------------------------------------------------------- evaluation


def test_reasons_follow_flagd() -> None:
    ruleset = Ruleset.from_data(
        doc(
            {
                "static": flag(),
                "off": flag(state="DISABLED"),
                "targeted": flag({"if": [{"==": [{"var": "plan"}, "pro"]}, "blue", None]}),
                "no-default": flag({"if": [{"var": "vip"}, "green"]}, defaultVariant=None),
                "no-default-static": {"state": "ENABLED", "variants": COLORS},
                "empty-targeting": flag({}),
            }
        )
    )

    def outcome(key: str, ctx: dict[str, Any], default: Any = "#000") -> tuple[Any, ...]:
        d = ruleset.evaluate(key, ctx, default)
        return d.value, d.variant, d.reason, d.error

    assert outcome("static", {}) == ("#f00", "red", Reason.STATIC, None)
    assert outcome("empty-targeting", {}) == ("#f00", "red", Reason.STATIC, None)
    assert outcome("off", {}) == ("#000", None, Reason.DISABLED, None)
    assert outcome("targeted", {"plan": "pro"}) == ("#00f", "blue", Reason.TARGETING_MATCH, None)
    assert outcome("targeted", {"plan": "free"}) == ("#f00", "red", Reason.DEFAULT, None)
    assert outcome("no-default", {"vip": True}) == ("#0f0", "green", Reason.TARGETING_MATCH, None)
    assert outcome("no-default", {}) == ("#000", None, Reason.DEFAULT, None)
    assert outcome("no-default-static", {}) == ("#000", None, Reason.DEFAULT, None)
    assert outcome("static", {}, 3) == (3, None, Reason.ERROR, ErrorKind.TYPE_MISMATCH)
    assert outcome("missing", {}) == ("#000", None, Reason.ERROR, ErrorKind.FLAG_NOT_FOUND)
    assert ruleset.evaluate("off", {}).value is None  # no default: nothing to serve


@pytest.mark.parametrize(
    ("targeting", "variant", "reason", "error"),
    [
        ({"cat": ["bl", "ue"]}, "blue", Reason.TARGETING_MATCH, None),
        ({"==": [1, 1]}, "true", Reason.TARGETING_MATCH, None),  # booleans name variants
        ({"==": [1, 2]}, "false", Reason.TARGETING_MATCH, None),
        ({"+": [1, 1]}, "2", Reason.TARGETING_MATCH, None),
        ({"if": [True, None]}, "red", Reason.DEFAULT, None),
        ({"cat": ["pur", "ple"]}, None, Reason.ERROR, ErrorKind.GENERAL),
        ({"merge": [["blue"]]}, None, Reason.ERROR, ErrorKind.GENERAL),
        ({"cat": [""]}, None, Reason.ERROR, ErrorKind.GENERAL),
    ],
)
def test_what_the_targeting_returns_names_the_variant(
    targeting: Any, variant: str | None, reason: Reason, error: ErrorKind | None
) -> None:
    variants = {**COLORS, "true": "yes", "false": "no", "2": "two"}
    detail = one(targeting, variants=variants).evaluate("f", {})
    assert (detail.variant, detail.reason, detail.error) == (variant, reason, error)
    if error is not None:
        assert "not a variant" in (detail.error_message or "")


def test_an_empty_variant_name_without_a_default_variant_is_the_callers_default() -> None:
    detail = one({"cat": [""]}, defaultVariant=None).evaluate("f", {}, "#000")
    assert (detail.value, detail.reason, detail.error) == ("#000", Reason.DEFAULT, None)


def test_metadata_merges_the_flag_sets_and_comes_out_in_every_detail() -> None:
    ruleset = Ruleset.from_data(
        doc(
            {
                "f": flag(
                    {"if": [{"var": "vip"}, "blue"]}, metadata={"owner": "web", "version": 3}
                ),
                "off": flag(state="DISABLED"),
                "bare": flag(),
            },
            metadata={"flagSetId": "shop", "owner": "platform", "$internal": "x"},
        )
    )
    merged = {"flagSetId": "shop", "owner": "web", "version": 3}
    assert ruleset.evaluate("f", {"vip": True}).metadata == merged
    assert ruleset.evaluate("f", {}).metadata == merged
    assert ruleset.evaluate("off", {}).metadata == {"flagSetId": "shop", "owner": "platform"}
    assert ruleset.flags["f"].metadata == merged  # what OFREP and the SDK read
    assert ruleset.evaluate("f", {}).to_dict()["metadata"] == merged
    detail = ruleset.evaluate("f", {})
    with pytest.raises(TypeError):
        detail.metadata["owner"] = "me"  # type: ignore[index]
    assert copy.deepcopy(detail) == detail
    assert pickle.loads(pickle.dumps(detail)) == detail
    assert hash(detail) == hash(copy.copy(detail))


def test_details_without_metadata_are_as_before() -> None:
    detail = EvaluationDetail(True, "on", Reason.STATIC)
    assert detail.metadata == {}
    assert not detail.metadata
    assert "metadata" not in detail.to_dict()
    assert hash(detail) == hash(EvaluationDetail(True, "on", Reason.STATIC))
    native = Ruleset.from_data({"flags": {"n": {"variations": {"a": 1}, "default": "a"}}})
    assert native.evaluate("n", {}).metadata == {}
    assert one().evaluate("f", {}).metadata == {}


def test_object_flags_give_each_caller_its_own_copy() -> None:
    variants = {"small": {"items": [1]}, "big": {"items": [1, 2, 3]}}
    ruleset = one({"if": [{"var": "vip"}, "big"]}, variants=variants, defaultVariant="small")
    first = ruleset.evaluate("f", {"vip": True}, {})
    first.value["items"].append(99)
    assert ruleset.evaluate("f", {"vip": True}, {}).value == {"items": [1, 2, 3]}
    assert ruleset.evaluate("f", {}, {}).value == {"items": [1]}


def test_flagd_context_names() -> None:
    clock = iter([1_700_000_000.9, 1_700_000_100.2])
    parsed = parse_flagd_flag(
        "ts-flag",
        flag(
            {
                "if": [
                    {"==": [{"var": "$flagd.flagKey"}, "ts-flag"]},
                    {"if": [{">": [{"var": "$flagd.timestamp"}, 1_700_000_050]}, "green", "blue"]},
                    None,
                ]
            }
        ),
    )
    compiled = compile_flagd_flag(parsed, clock=lambda: next(clock))
    ruleset = Ruleset()
    assert compiled.evaluate({}, ruleset).variant == "blue"  # 1,700,000,000
    assert compiled.evaluate({}, ruleset).variant == "green"  # 1,700,000,100
    assert run({"var": "$flagd.timestamp"}) == 1_700_000_000
    assert run({"var": "$flagd"}) == {"flagKey": "the-flag", "timestamp": 1_700_000_000}
    assert run({"var": ["$flagd.other", "d"]}) == "d"


def test_flagd_timestamp_reads_the_wall_clock_by_default() -> None:
    ruleset = one({"if": [{">=": [{"var": "$flagd.timestamp"}, {"var": "after"}]}, "blue"]})
    now = int(time.time())
    assert ruleset.evaluate("f", {"after": now - 5}).variant == "blue"
    assert ruleset.evaluate("f", {"after": now + 3600}).variant == "red"


def test_the_targeting_key_is_targeting_key_or_else_vexils_key() -> None:
    ruleset = one({"if": [{"==": [{"var": "targetingKey"}, "u-1"]}, "blue"]})
    assert ruleset.evaluate("f", {"targetingKey": "u-1"}).variant == "blue"
    assert ruleset.evaluate("f", {"key": "u-1"}).variant == "blue"
    assert ruleset.evaluate("f", {"targetingKey": "u-2", "key": "u-1"}).variant == "red"
    assert ruleset.evaluate("f", {}).variant == "red"


def test_contexts_of_other_mapping_types_evaluate_alike() -> None:
    ruleset = one(
        {"if": [{"in": [{"var": "plan"}, ["pro", "team"]]}, "blue", {"fractional": [["green"]]}]}
    )
    for ctx in ({"plan": "pro"}, {"plan": "free", "key": "u-1"}, {"plan": "free"}):
        assert ruleset.evaluate("f", ctx) == ruleset.evaluate("f", MappingProxyType(ctx))


# ------------------------------------------------------------ JsonLogic itself


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        # equality, loose and strict
        ({"==": [1, 1]}, None, True),
        ({"==": [1, "1"]}, None, True),
        ({"==": [0, False]}, None, True),
        ({"==": [None, None]}, None, True),
        ({"==": [None, 0]}, None, False),
        ({"==": ["", 0]}, None, True),
        ({"==": [[1], 1]}, None, True),
        ({"==": [{"var": "a"}, "x"]}, {"a": "x"}, True),
        ({"==": ["x", {"var": "a"}]}, {"a": "x"}, True),
        ({"==": [{"var": "a"}, "1"]}, {"a": 1}, True),
        ({"===": [1, "1"]}, None, False),
        ({"===": [1, 1.0]}, None, True),
        ({"===": [True, 1]}, None, False),
        ({"!=": [1, "1"]}, None, False),
        ({"!=": [{"var": "a"}, "x"]}, {"a": "y"}, True),
        ({"!==": [1, "1"]}, None, True),
        # relations, with "between"
        ({">": [2, 1]}, None, True),
        ({">": ["2", 1]}, None, True),
        ({">=": [1, 1]}, None, True),
        ({"<": ["a", "b"]}, None, True),
        ({"<": ["10", "9"]}, None, True),  # two strings compare as strings
        ({"<": ["abc", 1]}, None, False),  # NaN
        ({"<": [None, 1]}, None, True),  # null is 0
        ({"<": [1, 2, 3]}, None, True),
        ({"<": [1, 1, 3]}, None, False),
        ({"<=": [1, 1, 3]}, None, True),
        ({"<": [{"var": "n"}, 10]}, {"n": 3}, True),
        ({">": [{"var": "n"}, 10]}, {"n": "30"}, True),
        ({">": [{"var": "n"}, 10]}, {}, False),
        # truthiness
        ({"!": [True]}, None, False),
        ({"!": {"var": "a"}}, {"a": []}, True),
        ({"!!": [[]]}, None, False),
        ({"!!": ["0"]}, None, True),
        ({"!!": [{}]}, None, True),  # every object is true
        ({"!!": [{"var": "o"}]}, {"o": {}}, True),
        ({"!!": [{"/": [0, 0]}]}, None, False),  # NaN is false
        ({"and": [True, "a", 3]}, None, 3),
        ({"and": [True, "", 3]}, None, ""),
        ({"and": [{"var": "a"}, {"var": "b"}, {"var": "c"}]}, {"a": 1, "b": 0}, 0),
        ({"and": [{"==": [1, 1]}, {"==": [{"var": "a"}, 1]}, {"var": "x"}]}, {"a": 1}, None),
        ({"or": [False, 0, "a"]}, None, "a"),
        ({"or": [False, 0]}, None, 0),
        ({"or": [{"var": "a"}, {"var": "b"}]}, {"b": "x"}, "x"),
        ({"or": [{">": [{"var": "n"}, 1]}, {"<": [{"var": "n"}, -1]}, {"==": [0, 1]}]}, {}, False),
        # if
        ({"if": [True, "yes", "no"]}, None, "yes"),
        ({"if": [[], "yes", "no"]}, None, "no"),
        ({"if": [False, 1, False, 2, 3]}, None, 3),
        ({"if": [False, 1, {"var": "b"}, 2, 3]}, {"b": True}, 2),
        ({"if": [False, 1]}, None, None),
        ({"if": [{"var": "a"}]}, {"a": "only"}, "only"),
        ({"if": []}, None, None),
        ({"?:": [{"var": "a"}, "yes", "no"]}, {"a": 1}, "yes"),
        # strings and arrays
        ({"in": ["Spring", "Springfield"]}, None, True),
        ({"in": [{"var": "a"}, "Springfield"]}, {"a": "field"}, True),
        ({"in": ["", ""]}, None, False),
        ({"in": ["b", ["a", "b"]]}, None, True),
        ({"in": [1, ["1"]]}, None, False),  # arrays compare strictly
        ({"in": [True, [1]]}, None, False),
        ({"in": [{"var": "a"}, ["x", "y"]]}, {"a": "y"}, True),
        ({"in": [{"var": "a"}, ["x", "y"]]}, {"a": 1}, False),
        ({"in": [{"var": "a"}, [1, "x"]]}, {"a": 1.0}, True),
        ({"in": [{"var": "a"}, [True]]}, {"a": 1}, False),
        ({"in": [{"var": "a"}, [True]]}, {"a": True}, True),
        ({"in": [{"var": "a"}, [1, None]]}, {}, True),
        ({"in": [{"var": "a"}, [1, "x"]]}, {"a": Plan.PRO}, False),
        ({"in": [{"var": "a"}, [1, "pro"]]}, {"a": Plan.PRO}, True),
        ({"in": [{"var": "a"}, [math.nan]]}, {"a": math.nan}, False),
        ({"in": [{"var": "a"}, [[1]]]}, {"a": [1]}, False),
        ({"in": ["a", 5]}, None, False),
        ({"cat": ["I love", " pie"]}, None, "I love pie"),
        ({"cat": [1, None, True, 1.5, 2.0, [1, None, "a"]]}, None, "1true1.521,,a"),
        ({"cat": "alone"}, None, "alone"),
        ({"substr": ["jsonlogic", 4]}, None, "logic"),
        ({"substr": ["jsonlogic", -5]}, None, "logic"),
        ({"substr": ["jsonlogic", 1, 3]}, None, "son"),
        ({"substr": ["jsonlogic", 4, -2]}, None, "log"),
        ({"merge": [[1, 2], [3], 4]}, None, [1, 2, 3, 4]),
        ({"merge": [{"var": "a"}, "x"]}, {"a": ["w"]}, ["w", "x"]),
        # arithmetic
        ({"+": [4, 2]}, None, 6),
        ({"+": ["3", 1]}, None, 4),
        ({"+": ["3.5"]}, None, 3.5),
        ({"-": [4, 2]}, None, 2),
        ({"-": [2]}, None, -2),
        ({"-": ["", True]}, None, -1),
        ({"*": [2, "3"]}, None, 6),
        ({"*": [{"var": "a"}, 2]}, {"a": 21}, 42),
        ({"/": [4, 2]}, None, 2),
        ({"/": [1, 0]}, None, math.inf),
        ({"/": [-1, 0]}, None, -math.inf),
        ({"%": [101, 2]}, None, 1),
        ({"%": [-7, 3]}, None, -1),  # the sign of the dividend, as in JavaScript
        ({"min": [3, 1, "2"]}, None, 1),
        ({"max": [3, 1, 2]}, None, 3),
        ({"max": []}, None, None),
        # var
        ({"var": "a"}, {"a": 1}, 1),
        ({"var": ["a"]}, {"a": None}, None),
        ({"var": ["b", 26]}, {"a": 1}, 26),
        ({"var": ["a", 26]}, {"a": None}, None),  # found, even null: not the default
        ({"var": ["b", {"var": "a"}]}, {"a": 7}, 7),
        ({"var": "a.b"}, {"a": {"b": "x"}}, "x"),
        ({"var": "a.b"}, {"a": None}, None),
        ({"var": "list.1"}, {"list": [10, 20]}, 20),
        ({"var": "list.5"}, {"list": [10, 20]}, None),
        ({"var": ""}, {"a": 1}, {"a": 1}),
        ({"var": []}, {"a": 1}, {"a": 1}),
        ({"var": [{"cat": ["a", "b"]}]}, {"ab": "dynamic"}, "dynamic"),
        ({"var": {"var": "which"}}, {"which": "x", "x": 5}, 5),
        ({"var": {"var": "which"}}, {"which": 2}, None),
        ({"var": True}, {"a": 1}, None),
        # missing, missing_some
        ({"missing": ["a", "b"]}, {"a": 1}, ["b"]),
        ({"missing": ["a", "b"]}, {"a": 1, "b": ""}, ["b"]),
        ({"missing": {"merge": ["a", ["b"]]}}, {"b": 0}, ["a"]),
        ({"missing": ["a.b"]}, {"a": {"b": 1}}, []),
        ({"missing": [{"var": "k"}]}, {"k": "zz"}, ["zz"]),
        ({"missing_some": [1, ["a", "b", "c"]]}, {"a": 1}, []),
        ({"missing_some": [2, ["a", "b", "c"]]}, {"a": 1}, ["b", "c"]),
        ({"missing_some": [1]}, None, None),
        # array scopes
        ({"all": [[1, 2, 3], {">": [{"var": ""}, 0]}]}, None, True),
        ({"all": [[], {">": [{"var": ""}, 0]}]}, None, False),
        ({"all": [{"var": "xs"}, {">": [{"var": ""}, 1]}]}, {"xs": [1, 2]}, False),
        (
            {"some": [{"var": "pies"}, {"==": [{"var": "filling"}, "apple"]}]},
            {"pies": [{"filling": "pumpkin"}, {"filling": "apple"}]},
            True,
        ),
        ({"none": [[], {"var": ""}]}, None, True),
        ({"none": [[0, 1], {"var": ""}]}, None, False),
        ({"map": [[1, 2, 3], {"*": [{"var": ""}, 2]}]}, None, [2, 4, 6]),
        ({"map": [{"var": "missing"}, {"var": ""}]}, {}, []),
        ({"filter": [[1, 2, 3], {"%": [{"var": ""}, 2]}]}, None, [1, 3]),
        (
            {"reduce": [[1, 2, 3], {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]},
            None,
            6,
        ),
        ({"reduce": [[1, 2], {"var": "current"}]}, None, 2),
        # object literals are data
        ({"a": 1, "b": 2}, None, {"a": 1, "b": 2}),
        ([1, {"var": "a"}], {"a": 2}, [1, 2]),
    ],
)
def test_jsonlogic_operations(rule: Any, data: Any, expected: Any) -> None:
    result = run(rule, data)
    assert result == expected
    if not isinstance(expected, int | float) or isinstance(expected, bool):
        assert type(result) is type(expected)


def test_truthiness_is_javascripts() -> None:
    falsy: list[Any] = [False, None, 0, 0.0, math.nan, "", []]
    truthy = [True, 1, -1.5, "0", "false", [0], {}, {"a": 1}, math.inf]
    assert [is_truthy(v) for v in falsy] == [False] * len(falsy)
    assert [is_truthy(v) for v in truthy] == [True] * len(truthy)


def test_unknown_operations_are_listed_with_their_paths() -> None:
    rule = {
        "and": [
            {"var": "a"},
            {"if": [{"lgo": [1]}, {"method": ["x", "upper"]}]},
            {"$ref": "x", "==": [1, 1]},
        ]
    }
    assert [str(p) for p in logic_problems(rule, "t", evaluators=["x"])] == [
        "t.and[1].if[0].lgo: unknown operation 'lgo'",
        "t.and[1].if[1].method: unknown operation 'method'",
        "t.and[2].$ref: a $ref must be alone in its object",
    ]


# ----------------------------------------------------------- flagd's operations


def bucket_of(key: str, weights: list[tuple[str, int]]) -> str:
    """flagd's recipe written out: MurmurHash3 x86 32-bit, seed 0, times the total, >> 32."""
    total = sum(w for _, w in weights)
    point = (mmh3.hash(key.encode("utf-8"), 0, signed=False) * total) >> 32
    end = 0
    for name, weight in weights:
        end += weight
        if point < end:
            return name
    raise AssertionError("unreachable")


USERS = [f"user-{i}" for i in range(200)] + ["", "ünïcödé", "🙂", "a" * 300]


def test_fractional_buckets_by_flag_key_and_targeting_key() -> None:
    weights = [("red", 25), ("green", 60), ("blue", 15)]
    ruleset = Ruleset.from_data(doc({"split": flag({"fractional": [list(w) for w in weights]})}))
    seen = set()
    for user in USERS:
        got = ruleset.evaluate("split", {"targetingKey": user}).variant
        assert got == bucket_of("split" + user, weights)
        seen.add(got)
        assert ruleset.evaluate("split", {"key": user}).variant == got  # Vexil's key
    assert seen == {"red", "green", "blue"}


def test_fractional_with_a_bucketing_expression() -> None:
    rule = {"fractional": [{"var": "email"}, ["red", 1], ["blue", 1]]}
    for email in USERS:
        assert run(rule, {"email": email}) == bucket_of(email, [("red", 1), ("blue", 1)])
    seeded = {"fractional": [{"cat": ["seed", {"var": "id"}]}, ["red", 3], ["blue", 997]]}
    for user in USERS:
        assert run(seeded, {"id": user}) == bucket_of("seed" + user, [("red", 3), ("blue", 997)])


def test_fractional_weights_and_names_may_be_rules() -> None:
    rule = {
        "fractional": [
            {"var": "id"},
            [{"if": [{"var": "vip"}, "gold", "silver"]}, {"var": "w"}],
            ["bronze", 50],
        ]
    }
    for user in USERS[:50]:
        for vip, w in ((True, 50), (False, 10), (True, 0)):
            name = "gold" if vip else "silver"
            expected = bucket_of(user, [(name, w), ("bronze", 50)])
            assert run(rule, {"id": user, "vip": vip, "w": w}) == expected


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"fractional": [["only", 1]]}, {"targetingKey": "u"}, "only"),
        ({"fractional": [["only"]]}, {"targetingKey": "u"}, "only"),
        ({"fractional": [["a", 0], ["b", 0]]}, {"targetingKey": "u"}, None),
        ({"fractional": [["a", -50], ["b", 100]]}, {"targetingKey": "u"}, "b"),
        ({"fractional": [["a", 2**31], ["b", 1]]}, {"targetingKey": "u"}, None),
        ({"fractional": [["a", 2**31 - 2], ["b", 1]]}, {"targetingKey": "u"}, "a"),
        ({"fractional": [["a", 1.9], ["b", 0.5]]}, {"targetingKey": "u"}, "a"),  # floor
        ({"fractional": [["a", "1"]]}, {"targetingKey": "u"}, None),
        ({"fractional": [[["a"], 1]]}, {"targetingKey": "u"}, None),
        ({"fractional": [[]]}, {"targetingKey": "u"}, None),
        ({"fractional": [["a", 1]]}, {}, None),  # no targeting key
        ({"fractional": [{"var": "nope"}, ["a", 1]]}, {"targetingKey": "u"}, None),
        ({"fractional": [{"var": "n"}, ["a", 1]]}, {"n": 5}, None),
        ({"fractional": [["a", {"var": "w"}]]}, {"targetingKey": "u", "w": True}, None),
        ({"fractional": [[False, 0], [True, 1]]}, {"targetingKey": "u"}, True),
        ({"fractional": [[None, 1]]}, {"targetingKey": "u"}, None),
        ({"fractional": []}, {}, None),
    ],
)
def test_fractional_edge_cases(rule: Any, data: Any, expected: Any) -> None:
    assert run(rule, data) == expected
    assert run(rule, MappingProxyType(data)) == expected


def test_string_subclasses_are_strings() -> None:
    ctx = {"targetingKey": Plan.PRO, "plan": Plan.PRO, "v": Plan.PRO}
    assert run({"fractional": [["a", 1], ["b", 1]]}, ctx) == run(
        {"fractional": [["a", 1], ["b", 1]]}, {"targetingKey": "pro"}
    )
    assert run({"in": [{"var": "plan"}, ["pro"]]}, ctx) is True
    assert run({"==": [{"var": "plan"}, "pro"]}, ctx) is True
    assert run({"starts_with": [{"var": "plan"}, "p"]}, ctx) is True
    ruleset = one({"if": [{"in": [{"var": "plan"}, ["pro"]]}, "blue"]})
    assert ruleset.evaluate("f", ctx).variant == "blue"


@pytest.mark.parametrize(
    ("version", "op", "target", "expected"),
    [
        ("2.0.0", "=", "2.0.0", True),
        ("2.1.0", ">", "2.0.0", True),
        ("1.9.0", "<", "2.0.0", True),
        ("2.0.0-alpha", "<", "2.0.0", True),
        ("2.0.0-alpha.2", ">", "2.0.0-alpha.10", False),
        ("2.0.0", "!=", "2.0.1", True),
        ("2.0.0", ">=", "2.0.0", True),
        ("1.9.9", "<=", "2.0.0", True),
        ("3.0.1", "~", "3.0.0", True),
        ("3.1.0", "~", "3.0.0", False),
        ("3.1.0", "^", "3.0.0", True),
        ("4.0.0", "^", "3.0.0", False),
        ("v1.0.0", "=", "1.0.0", True),
        ("V1.0.0", "=", "v1.0.0", True),
        ("1", "=", "1.0.0", True),
        ("1.2", ">", "1.1", True),
        (1, "^", "1", True),
        (1.2, ">", "1.1", True),
        (2, ">", "1.1", True),
        ("1.0.0+build.5", "=", "1.0.0+other", True),
        ("2.0.0.0", "=", "2.0.0", None),
        ("not-a-version", "=", "1.0.0", None),
        (None, "=", "1.0.0", None),
        (True, "=", "1.0.0", None),
        ("1.0.0", "===", "1.0.0", None),
        ("1.0.0", "=", "nope", None),
    ],
)
def test_sem_ver(version: Any, op: str, target: str, expected: bool | None) -> None:
    assert run({"sem_ver": [version, op, target]}) is expected
    assert run({"sem_ver": [{"var": "v"}, op, target]}, {"v": version}) is expected
    assert run({"sem_ver": [{"var": "v"}, {"var": "op"}, target]}, {"v": version, "op": op}) is (
        expected
    )


@pytest.mark.parametrize(
    ("rule", "data", "expected"),
    [
        ({"starts_with": [{"var": "id"}, "abc"]}, {"id": "abcdef"}, True),
        ({"starts_with": [{"var": "id"}, "abc"]}, {"id": "xabc"}, False),
        ({"ends_with": [{"var": "id"}, "xyz"]}, {"id": "uvwxyz"}, True),
        ({"ends_with": [{"var": "id"}, {"var": "s"}]}, {"id": "uvwxyz", "s": "yz"}, True),
        ({"starts_with": [{"var": "id"}, "abc"]}, {"id": 123}, None),
        ({"ends_with": [{"var": "id"}, "abc"]}, {}, None),
        ({"starts_with": ["abc", 1]}, None, None),
        ({"starts_with": ["abc"]}, None, None),
        ({"ends_with": ["abc", "c", "x"]}, None, None),
        ({"sem_ver": ["1.0.0", "="]}, None, None),
    ],
)
def test_string_operations_and_wrong_arguments(rule: Any, data: Any, expected: Any) -> None:
    assert run(rule, data) is expected


# --------------------------------------------------- generated code = closures

RULES: list[Any] = [
    {"if": [{"in": [{"var": "plan"}, ["pro", "team"]]}, "a", {"==": [{"var": "n"}, 3]}, "b"]},
    {"if": [{"and": [{"ends_with": [{"var": "s"}, "x"]}, {"!": {"var": "flag"}}]}, "a", "b"]},
    {
        "if": [
            {"or": [{"starts_with": [{"var": "s"}, "a"]}, {"sem_ver": [{"var": "s"}, ">", "1.0"]}]},
            {"if": [{"!=": [{"var": "plan"}, "pro"]}, "b", "c"]},
            None,
        ]
    },
    {"if": [{"var": "n"}, {"fractional": [["a", 1], ["b", 1], ["c", 1]]}, {"var": "plan"}]},
    {"if": [{"<": [1, {"var": "n"}, 5]}, "a", {">=": [{"var": "n"}, 2.5]}, "b", "c"]},
    {"if": [{"missing": ["plan"]}, "a", {"===": [{"var": "flag"}, True]}, "b", "c"]},
    {"fractional": [{"var": "s"}, ["a", {"var": "n"}], ["b", 5]]},
    {"if": [{"==": [{"var": "plan"}, "pro"]}, True, {"==": [{"var": "plan"}, "team"]}, 2]},
]
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["pro", "team", "a", "ax", "1.2.3", "2", "", "x"]),
    st.lists(st.sampled_from(["pro", 1]), max_size=2),
    st.just({}),
)
CONTEXTS = st.dictionaries(
    st.sampled_from(["plan", "n", "s", "flag", "targetingKey", "key"]), VALUES, max_size=6
)


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(RULES) - 1), ctx=CONTEXTS)
def test_generated_code_agrees_with_the_closures(index: int, ctx: dict[str, Any]) -> None:
    """A ``dict`` context runs the generated function; any other mapping the closures."""
    variants = {"a": "A", "b": "B", "c": "C", "true": "T", "2": "two"}
    ruleset = one(RULES[index], variants=variants, defaultVariant="c")
    fast = ruleset.evaluate("f", ctx)
    reference = ruleset.evaluate("f", MappingProxyType(ctx))
    assert fast == reference


def test_an_exception_in_the_targeting_is_a_parse_error() -> None:
    class Weird(int):
        def __float__(self) -> float:
            raise RuntimeError("boom")

    ruleset = one({"if": [{">": [{"var": "n"}, 1]}, "blue"]})
    for ctx in ({"n": Weird(3)}, MappingProxyType({"n": Weird(3)})):
        detail = ruleset.evaluate("f", ctx, "#000")
        assert (detail.value, detail.error) == ("#000", ErrorKind.PARSE_ERROR)
        assert "boom" in (detail.error_message or "")


def test_bucketing_keys_that_are_not_utf8_do_not_crash() -> None:
    """A lone surrogate (valid in JSON text) is U+FFFD, as Go's JSON decoder reads it."""
    rule = {"fractional": [{"var": "id"}, ["a", 1], ["b", 1], ["c", 1], ["d", 1]]}
    weights = [("a", 1), ("b", 1), ("c", 1), ("d", 1)]
    for broken, read_as in (("\ud800", "\ufffd"), ("x\udfffy\ud83d", "x\ufffdy\ufffd")):
        assert run(rule, {"id": broken}) == bucket_of(read_as, weights)
    ruleset = one({"fractional": [["red", 1], ["blue", 1], ["green", 1]]})
    for key in ("\ud800", "é\udc00"):
        assert ruleset.evaluate("f", {"targetingKey": key}).reason is Reason.TARGETING_MATCH


def test_flags_of_one_shape_share_their_code() -> None:
    ruleset = Ruleset.from_data(
        doc({f"f{i}": flag({"if": [{"==": [{"var": "n"}, i]}, "blue"]}) for i in range(3)})
    )
    codes = {ruleset.compiled_flags[k].evaluate.__code__ for k in ("f0", "f1", "f2")}
    assert len(codes) == 1
    assert [ruleset.evaluate(f"f{i}", {"n": 1}).variant for i in range(3)] == [
        "red",
        "blue",
        "red",
    ]


# ----------------------------------------------------------- ruleset changes


def test_changing_a_flagd_ruleset_flag_by_flag_and_writing_it_back() -> None:
    data = doc(
        {"f": flag({"if": [{"$ref": "pro"}, "blue"]}, metadata={"a": 1}), "g": flag()},
        **{"$evaluators": {"pro": {"==": [{"var": "plan"}, "pro"]}}},
        metadata={"flagSetId": "shop"},
    )
    ruleset = Ruleset.from_data(copy.deepcopy(data))
    assert ruleset.to_data() == data
    assert Ruleset.from_data(ruleset.to_data()).evaluate("f", {"plan": "pro"}).value == "#00f"
    changed = ruleset.with_flag("g", flag({"if": [{"$ref": "pro"}, "green"]}))
    assert changed.evaluate("g", {"plan": "pro"}).value == "#0f0"
    assert changed.evaluate("g", {}).metadata == {"flagSetId": "shop"}
    assert ruleset.evaluate("g", {"plan": "pro"}).value == "#f00"  # the original is unchanged
    assert "g" not in changed.without_flag("g")
    with pytest.raises(ValidationError, match="unknown variant"):
        ruleset.with_flag("g", flag(defaultVariant="purple"))
    native = Ruleset.from_data({"flags": {"n": {"variations": {"a": 1}, "default": "a"}}})
    with pytest.raises(ValidationError, match="flagd flags only"):
        ruleset.with_flag("n", native.flags["n"])
    with pytest.raises(ValidationError, match="belongs in a flagd ruleset"):
        native.with_flag("f", ruleset.flags["f"])


def test_explaining_a_flagd_evaluation() -> None:
    ruleset = Ruleset.from_data(
        doc(
            {
                "f": flag({"if": [{"==": [{"var": "plan"}, "pro"]}, "blue", None]}),
                "off": flag(state="DISABLED"),
                "static": flag(),
                "broken": flag({"nope": []}),
            }
        )
    )
    hit = ruleset.explain("f", {"plan": "pro"})
    assert hit.detail == ruleset.evaluate("f", {"plan": "pro"})
    assert [str(s) for s in hit.steps] == [
        "    the flag is ENABLED",
        "[x] the targeting returned 'blue'",
    ]
    miss = ruleset.explain("f", {})
    assert [s.message for s in miss.steps][1:] == [
        "the targeting returned None",
        "the default variant 'red' is served",
    ]
    assert "DISABLED" in str(ruleset.explain("off", {}))
    assert "has no targeting" in str(ruleset.explain("static", {}))
    assert "cannot run" in str(ruleset.explain("broken", {}))


# ------------------------------------------------------------------- the SDK


def test_the_sdk_reads_a_flagd_file_and_follows_its_changes(tmp_path: Path) -> None:
    path = tmp_path / "flags.flagd.json"
    data = doc(
        {"banner": flag({"if": [{"==": [{"var": "plan"}, "pro"]}, "blue"]}, metadata={"v": 1})}
    )
    path.write_text(json.dumps(data))
    with Client.from_file(path, watch=True, watch_interval=0.02) as client:
        assert client.variation("banner", {"key": "u-1", "plan": "pro"}, "#000") == "#00f"
        detail = client.variation_detail("banner", {"key": "u-1"}, "#000")
        assert (detail.value, detail.reason, detail.metadata) == ("#f00", Reason.DEFAULT, {"v": 1})
        assert client.all_flags({"key": "u-1", "plan": "pro"}) == {"banner": "#00f"}
        changes: list[str] = []
        seen = threading.Event()

        def changed(change: Any) -> None:
            changes.append(change.key)
            seen.set()

        client.on_change(changed)
        # Only the targeting changes: the SDK still sees a changed flag.
        data["flags"]["banner"]["targeting"]["if"][1] = "green"
        path.write_text(json.dumps(data))
        wait_for(lambda: client.variation("banner", {"plan": "pro"}, "") == "#0f0", what="reload")
        wait_for(seen.is_set, what="the change callback")
        assert changes == ["banner"]


def test_the_sdk_refuses_a_malformed_flagd_file(tmp_path: Path) -> None:
    from vexil import ConfigurationError

    path = tmp_path / "flags.flagd.json"
    path.write_text(json.dumps(doc({"f": flag(defaultVariant="purple")})))
    with pytest.raises(ConfigurationError, match="not a valid flag document"):
        Client.from_file(path)


@pytest.mark.parametrize(
    ("text", "number", "equal"),
    [("1.", 1, True), (".5", 0.5, True), ("+1.e3", 1000, True), ("-2.5E-1", -0.25, True),
     (".e3", 0, False), ("1..2", 1, False), ("1e", 1, False), (" 7 ", 7, True)],
)  # fmt: skip
def test_text_is_read_as_a_number_as_javascript_does(text: str, number: float, equal: bool) -> None:
    assert run({"==": [text, number]}) is equal


def test_text_that_is_almost_a_number_is_read_in_linear_time(
    not_stalled: Callable[[float], AbstractContextManager[None]],
) -> None:
    # Digits then a letter once made the number reader try every split of the digits:
    # seconds for 16,000 of them, from any context sent to a flagd flag.
    ruleset = one({"if": [{"==": [{"var": "n"}, 1]}, "blue"]})
    with not_stalled(2.0):
        for almost in ("1" * 100_000 + "x", "1." + "1" * 100_000 + "e", "1" * 100_000 + ".."):
            assert ruleset.evaluate("f", {"n": almost}).value == "#f00"
            assert run({"+": [almost, 0]}) > 0
