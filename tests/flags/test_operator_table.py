"""The one table of clause operators: every operator has every part, and every place that
knows operators reads them from it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from vexil.flags import (
    Operator,
    ValidationError,
    _codegen,
    _flagd_convert,
    _operators,
    _parse,
    parse_flag,
)
from vexil.flags._operators import SPECS, OperatorSpec, ValueKind, compile_test
from vexil.server.web import _common

#: The operators compiled as whole clauses: they read the whole context or the segments.
CLAUSE_LEVEL = {Operator.EXISTS, Operator.SEGMENT}
#: The editors' words, as the dashboard has always shown them.
LABELS = {
    "in": "is one of",
    "contains": "contains",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "matches": "matches the regular expression",
    "lt": "is less than",
    "lte": "is at most",
    "gt": "is greater than",
    "gte": "is at least",
    "semver_eq": "is the version",
    "semver_lt": "is a version before",
    "semver_lte": "is a version at most",
    "semver_gt": "is a version after",
    "semver_gte": "is a version at least",
    "before": "is a moment before",
    "after": "is a moment after",
    "exists": "exists",
    "segment": "is in the segment",
}
FLAGS = Path(_operators.__file__).parent


def test_every_operator_has_a_spec_in_the_editors_order() -> None:
    assert list(SPECS) == list(Operator)
    assert {op.value: spec.label for op, spec in SPECS.items()} == LABELS
    assert list(LABELS) == [op.value for op in SPECS]


@pytest.mark.parametrize("op", list(Operator))
def test_every_spec_has_every_part(op: Operator) -> None:
    spec = SPECS[op]
    assert isinstance(spec, OperatorSpec)
    assert spec.op is op
    for part in dataclasses.fields(OperatorSpec):
        assert hasattr(spec, part.name), part.name
    assert spec.label
    assert spec.help.endswith(".")
    assert isinstance(spec.form_typed, bool)
    assert isinstance(spec.form_splits_commas, bool)
    assert isinstance(spec.values, ValueKind)
    # Values: a check for each literal, unless the operator takes none.
    assert (spec.check is None) == (spec.values is ValueKind.NONE)
    # The compiled test: every operator but those compiled as whole clauses.
    assert (spec.test is None) == (op in CLAUSE_LEVEL)
    # flagd: a form, or the reason there is none (never both, never neither).
    assert (spec.flagd is None) == bool(spec.no_flagd)
    if spec.values in (ValueKind.NUMBERS, ValueKind.VERSIONS):
        assert spec.flagd_symbol, "a comparison names its flagd symbol, read back on import"


def test_the_form_fields_are_todays() -> None:
    typed = {op.value for op, spec in SPECS.items() if spec.form_typed}
    assert typed == {"in", "lt", "lte", "gt", "gte", "before", "after"}
    whole = {op.value for op, spec in SPECS.items() if not spec.form_splits_commas}
    assert whole == {"matches"}


def test_the_dashboard_lists_the_table() -> None:
    assert tuple((op.value, s.label) for op, s in SPECS.items()) == _common.OPERATORS
    assert _common.OPERATOR_WORDS == LABELS


def test_the_reader_knows_the_operators_of_the_table_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {op.value: spec for op, spec in SPECS.items()} == _parse._SPECS
    clause = {"attribute": "age", "op": "lt", "values": [18]}
    body = {"variations": {"on": True, "off": False}, "default": "off"}
    rule = {"id": "r", "clauses": [clause], "serve": "on"}
    parse_flag("f", {**body, "rules": [rule]})
    # An operator the table lacks is an error, never values passing unchecked.
    monkeypatch.setattr(_parse, "_SPECS", {k: v for k, v in _parse._SPECS.items() if k != "lt"})
    with pytest.raises(ValidationError, match="unknown operator 'lt'"):
        parse_flag("f", {**body, "rules": [rule]})


def test_the_reader_checks_values_through_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = dataclasses.replace(SPECS[Operator.CONTAINS], check=lambda v: f"no {v!r} today")
    monkeypatch.setitem(_parse._SPECS, "contains", spec)
    rule = {"id": "r", "clauses": [{"attribute": "a", "op": "contains", "values": ["x"]}]}
    body = {"variations": {"on": True, "off": False}, "default": "off"}
    with pytest.raises(ValidationError, match="no 'x' today"):
        parse_flag("f", {**body, "rules": [{**rule, "serve": "on"}]})


def test_tests_are_compiled_from_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(SPECS)
    table[Operator.GT] = dataclasses.replace(table[Operator.GT], test=lambda values: bool)
    monkeypatch.setattr(_operators, "SPECS", table)
    assert compile_test(Operator.GT, (10,))(1) is True
    for op in CLAUSE_LEVEL:
        with pytest.raises(ValueError, match="not a value test"):
            compile_test(op, ())


def test_the_generated_code_inlines_the_value_tests_only() -> None:
    assert {op for op, s in SPECS.items() if s.test is None} == _codegen._NOT_INLINE


def test_the_flagd_maps_are_the_tables() -> None:
    numbers = {s.flagd_symbol: op.value for op, s in SPECS.items() if s.values is ValueKind.NUMBERS}
    assert _flagd_convert._NUMBER_OPS == numbers == {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}
    assert _flagd_convert._SEMVER_OPS == {
        "=": "semver_eq",
        "<": "semver_lt",
        "<=": "semver_lte",
        ">": "semver_gt",
        ">=": "semver_gte",
    }
    refused = {op.value for op, s in SPECS.items() if s.no_flagd}
    assert refused == {"matches", "before", "after"}


def test_the_flagd_forms_keep_missing_attributes_unmatched() -> None:
    var: dict[str, Any] = {"var": "age"}
    form = SPECS[Operator.LT].flagd
    assert form is not None
    # JsonLogic reads null as 0, which is < 18: the form guards against a missing age.
    assert form(var, (18,), False, str) == {"and": [{"!=": [var, None]}, {"<": [var, 18]}]}
    assert form(var, (18,), True, str) == {"!": {"<": [var, 18]}}
    segment = SPECS[Operator.SEGMENT].flagd
    assert segment is not None
    assert segment(var, ("a", "b"), True, "s:".__add__) == {
        "!": {"or": [{"$ref": "s:a"}, {"$ref": "s:b"}]}
    }


# Operators spelled out anywhere else would be a second table. The clause compiler
# handles the clause-level operators, the code generator inlines three string tests.
_ALLOWED = {
    "_clauses.py": {"SEGMENT", "EXISTS"},
    "_explain.py": {"SEGMENT", "EXISTS"},
    "_codegen.py": {"IN", "STARTS_WITH", "ENDS_WITH"},
    "_parse.py": {"SEGMENT"},
    "_graph.py": {"SEGMENT"},
    "_flagd_convert.py": {"SEGMENT"},
}


@pytest.mark.parametrize(
    "path", sorted(p for p in FLAGS.glob("*.py") if p.name not in ("_operators.py", "_model.py"))
)
def test_no_other_module_lists_operators(path: Path) -> None:
    named = set(re.findall(r"\bOperator\.([A-Z_]+)", path.read_text()))
    assert named <= _ALLOWED.get(path.name, set())


def test_the_web_layer_lists_no_operator_words() -> None:
    text = Path(_common.__file__).read_text()
    for label in LABELS.values():
        if label != "contains" and label != "exists":
            assert f'"{label}"' not in text
