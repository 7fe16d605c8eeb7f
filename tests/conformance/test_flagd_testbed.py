"""The OpenFeature flagd testbed's evaluator suite, run against Vexil's engine.

Every scenario of ``flagd-testbed/evaluator/gherkin/*.feature`` (except the rows
tagged ``@fractional-v1``, see ``conftest.py``) evaluates a flag of the testbed's
``testkit-flags.json``, loaded as it is by ``Ruleset.from_file``, and checks the
value, reason, error code and metadata the flagd evaluators must produce.

The data lives outside the repository (``$VEXIL_CONFORMANCE_DIR``). Without it the
suite is skipped, or fails with ``CI=true``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from _conformance import conformance_dir, flagd_evaluator_dir
from pytest_bdd import given, parsers, scenarios, then, when

from _services import ON_CI
from vexil.flags import EvaluationDetail, Ruleset

EVALUATOR = flagd_evaluator_dir()
FLAGS_FILE = EVALUATOR / "flags" / "testkit-flags.json"
GHERKIN = EVALUATOR / "gherkin"

if not (FLAGS_FILE.is_file() and GHERKIN.is_dir()):
    _reason = (
        f"the flagd testbed's evaluator suite is not at {EVALUATOR}: set VEXIL_CONFORMANCE_DIR"
        f" to the directory that holds flagd-testbed/ (now {conformance_dir()})"
    )
    if not ON_CI:
        pytest.skip(_reason, allow_module_level=True)

    def test_the_flagd_testbed_is_present() -> None:
        pytest.fail(f"{_reason} (CI=true: the conformance data must be available)", pytrace=False)

else:
    scenarios(str(GHERKIN))


# ------------------------------------------------------------------ values


def typed(kind: str, text: str) -> Any:
    """A value written in the suite's tables, as the type its column names."""
    if kind == "Boolean":
        return {"true": True, "false": False}[text]
    if kind == "Integer":
        return int(text)
    if kind == "Float":
        return float(text)
    if kind == "Object":
        # The tables escape the quotes of JSON objects (`{\"a\": 1}`).
        return json.loads(text.replace('\\"', '"'))
    assert kind == "String", kind
    return text


def same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, float):
        return isinstance(actual, int | float) and math.isclose(expected, actual)
    return type(expected) is type(actual) and expected == actual


class Evaluation:
    """What the steps of one scenario build up."""

    def __init__(self, ruleset: Ruleset) -> None:
        self.ruleset = ruleset
        self.kind = "String"
        self.key = ""
        self.default: Any = None
        self.context: dict[str, Any] = {}
        self.detail: EvaluationDetail[Any] | None = None

    @property
    def result(self) -> EvaluationDetail[Any]:
        assert self.detail is not None, "the flag was not evaluated"
        return self.detail


@pytest.fixture(scope="module")
def testkit() -> Ruleset:
    return Ruleset.from_file(FLAGS_FILE)


# ------------------------------------------------------------------- steps


@given("an evaluator", target_fixture="evaluation")
def an_evaluator(testkit: Ruleset) -> Evaluation:
    return Evaluation(testkit)


@given(
    parsers.re(
        r'a (?P<kind>\w+)-flag with key "(?P<key>.*)" and a fallback value "(?P<default>.*)"'
    )
)
def a_flag(evaluation: Evaluation, kind: str, key: str, default: str) -> None:
    evaluation.kind, evaluation.key = kind, key
    evaluation.default = typed(kind, default)


@given(
    parsers.re(
        r'a context containing a key "(?P<key>.*)", with type "(?P<kind>\w+)"'
        r' and with value "(?P<value>.*)"'
    )
)
def a_context_key(evaluation: Evaluation, key: str, kind: str, value: str) -> None:
    evaluation.context[key] = typed(kind, value)


@given(
    parsers.re(
        r'a context containing a nested property with outer key "(?P<outer>.*)"'
        r' and inner key "(?P<inner>.*)", with value "(?P<value>.*)"'
    )
)
def a_nested_property(evaluation: Evaluation, outer: str, inner: str, value: str) -> None:
    evaluation.context.setdefault(outer, {})[inner] = value


@given(parsers.re(r'a context containing a targeting key with value "(?P<value>.*)"'))
def a_targeting_key(evaluation: Evaluation, value: str) -> None:
    evaluation.context["targetingKey"] = value


@when("the flag was evaluated with details")
def evaluated(evaluation: Evaluation) -> None:
    evaluation.detail = evaluation.ruleset.evaluate(
        evaluation.key, evaluation.context, evaluation.default
    )


@then(parsers.re(r'the resolved details value should be "(?P<value>.*)"'))
def value_is(evaluation: Evaluation, value: str) -> None:
    expected = typed(evaluation.kind, value)
    assert same(expected, evaluation.result.value), evaluation.result


@then(parsers.re(r'the reason should be "(?P<reason>.*)"'))
def reason_is(evaluation: Evaluation, reason: str) -> None:
    assert evaluation.result.reason == reason, evaluation.result


@then(parsers.re(r'the error-code should be "(?P<code>.*)"'))
def error_is(evaluation: Evaluation, code: str) -> None:
    assert (evaluation.result.error or "") == code, evaluation.result


@then("the resolved metadata should contain")
def metadata_contains(evaluation: Evaluation, datatable: list[list[str]]) -> None:
    header, *rows = datatable
    assert header == ["key", "metadata_type", "value"]
    metadata = evaluation.result.metadata
    for key, kind, text in rows:
        assert key in metadata, (key, metadata)
        assert same(typed(kind, text), metadata[key]), (key, metadata)


@then("the resolved metadata is empty")
def metadata_is_empty(evaluation: Evaluation) -> None:
    assert dict(evaluation.result.metadata) == {}, evaluation.result
