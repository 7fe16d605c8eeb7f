"""OpenFeature's evaluation scenarios, as data, with the flags they assume in Vexil's format.

The rows reproduce the examples of the scenarios of ``evaluation_v2.feature`` in the
OpenFeature specification (``specification/assets/gherkin/``), and the flags are
those of its ``test-flags.json``, rewritten as a Vexil flag document: the
specification's targeting expressions (``email == 'ballmer@macrosoft.com' ? 'zero'
: ''``) become rules with clauses. Nothing of the specification's files is copied;
``test_openfeature.py`` says which scenarios apply to a provider and which do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

TEMPLATE = {"showImages": True, "title": "Check out these pics!", "imagesPerPage": 100}

FLAGS_YAML = """\
version: 1
flags:
  # Standard flags: on, no targeting, so every context gets the default (reason STATIC).
  boolean-flag:
    variations: {on: true, off: false}
    default: on
  string-flag:
    variations: {greeting: hi, parting: bye}
    default: greeting
  integer-flag:
    variations: {one: 1, ten: 10}
    default: ten
  float-flag:
    variations: {tenth: 0.1, half: 0.5}
    default: half
  object-flag:
    variations:
      empty: {}
      template: {showImages: true, title: "Check out these pics!", imagesPerPage: 100}
    default: template

  # Zero values: false, "", 0, 0.0 and {} are values like any other.
  boolean-zero-flag:
    variations: {zero: false, non-zero: true}
    default: zero
  string-zero-flag:
    variations: {zero: "", non-zero: str}
    default: zero
  integer-zero-flag:
    variations: {zero: 0, non-zero: 1}
    default: zero
  float-zero-flag:
    variations: {zero: 0.0, non-zero: 1.0}
    default: zero
  object-zero-flag:
    variations:
      zero: {}
      non-zero: {showImages: true, title: "Check out these pics!", imagesPerPage: 100}
    default: zero

  # Targeted zero values: a rule on the email serves the zero variation (TARGETING_MATCH);
  # everyone else gets it from the default (DEFAULT).
  boolean-targeted-zero-flag:
    variations: {zero: false, non-zero: true}
    rules: &macrosoft  # the same rule for the four flags below
      - id: macrosoft
        clauses: [{attribute: email, op: in, values: [ballmer@macrosoft.com]}]
        serve: zero
    default: zero
  string-targeted-zero-flag:
    variations: {zero: "", non-zero: str}
    rules: *macrosoft
    default: zero
  integer-targeted-zero-flag:
    variations: {zero: 0, non-zero: 1}
    rules: *macrosoft
    default: zero
  float-targeted-zero-flag:
    variations: {zero: 0.0, non-zero: 1.0}
    rules: *macrosoft
    default: zero
  object-targeted-zero-flag:
    variations:
      zero: {}
      non-zero: {showImages: true, title: "Check out these pics!", imagesPerPage: 100}
    rules: *macrosoft
    default: zero

  # "!customer && email == 'ballmer@macrosoft.com' && age > 10 ? 'internal' : ''"
  complex-targeted:
    variations: {internal: INTERNAL, external: EXTERNAL}
    rules:
      - id: internal
        clauses:
          - {attribute: customer, op: in, values: [false]}
          - {attribute: email, op: in, values: [ballmer@macrosoft.com]}
          - {attribute: age, op: gt, values: [10]}
        serve: internal
    default: external

  metadata-flag:
    variations: {on: true, off: false}
    default: on
    metadata: {string: "1.0.2", integer: 2, float: 0.1, boolean: true}

  # Off, with no off variation: the caller's default, with reason DISABLED.
  boolean-disabled-flag:
    variations: {on: true, off: false}
    on: false
    default: on
  string-disabled-flag:
    variations: {greeting: hi, parting: bye}
    on: false
    default: greeting
  integer-disabled-flag:
    variations: {one: 1, ten: 10}
    on: false
    default: ten
  float-disabled-flag:
    variations: {tenth: 0.1, half: 0.5}
    on: false
    default: half
  object-disabled-flag:
    variations:
      empty: {}
      template: {showImages: true, title: "Check out these pics!", imagesPerPage: 100}
    on: false
    default: template
"""

#: What a "Then" step leaves unchecked.
ANY: Any = object()


@dataclass(frozen=True)
class Row:
    """One example row: evaluate ``key`` as ``type`` with ``default`` and ``context``."""

    type: str  # Boolean, String, Integer, Float or Object, as the scenarios write it
    key: str
    default: Any
    value: Any = ANY
    reason: str | Any | None = ANY
    error_code: str | Any | None = ANY
    variant: str | Any | None = ANY
    context: dict[str, Any] = field(default_factory=dict)


def rows(scenario: str, *examples: Row) -> list[Any]:
    """``pytest.param``s named after the scenario and the row."""
    return [
        pytest.param(row, id=f"{scenario}: {row.key} ({row.type}, default {row.default!r})")
        for row in examples
    ]


MACROSOFT = {"email": "ballmer@macrosoft.com"}
NONE_COM = {"email": "ballmer@none.com"}

STANDARD = [
    ("Boolean", "boolean-flag", False, True, "on"),
    ("String", "string-flag", "bye", "hi", "greeting"),
    ("Integer", "integer-flag", 1, 10, "ten"),
    ("Float", "float-flag", 0.1, 0.5, "half"),
    ("Object", "object-flag", {}, TEMPLATE, "template"),
]
ZERO = [
    ("Boolean", "boolean", True, False),
    ("String", "string", "hi", ""),
    ("Integer", "integer", 1, 0),
    ("Float", "float", 0.1, 0.0),
    ("Object", "object", {"a": 1}, {}),
]

SCENARIOS: list[Any] = [
    *rows(
        "Resolve values",
        *(Row(t, key, default, value=value) for t, key, default, value, _ in STANDARD),
    ),
    *rows(
        "Resolves zero value",
        *(
            Row(t, f"{name}-zero-flag", default, value=value, reason="STATIC")
            for t, name, default, value in ZERO
        ),
    ),
    *(
        param
        for scenario, reason, context in [
            ("Resolves zero value with targeting", "TARGETING_MATCH", MACROSOFT),
            ("Resolves zero value with targeting using default", "DEFAULT", NONE_COM),
        ]
        for param in rows(
            scenario,
            *(
                Row(t, f"{name}-targeted-zero-flag", default, value, reason, context=context)
                for t, name, default, value in ZERO
            ),
        )
    ),
    *rows(
        "Flag not found error",
        *(
            Row(t, "non-existent-flag", default, default, "ERROR", "FLAG_NOT_FOUND")
            for t, default in [
                ("Boolean", False),
                ("String", "bye"),
                ("Integer", 1),
                ("Float", 0.1),
                ("Object", {"a": 1}),
            ]
        ),
    ),
    *rows(
        "Type mismatch error",
        Row("String", "boolean-flag", "bye", "bye", "ERROR", "TYPE_MISMATCH"),
        Row("Boolean", "string-flag", False, False, "ERROR", "TYPE_MISMATCH"),
        Row("Integer", "string-flag", 1, 1, "ERROR", "TYPE_MISMATCH"),
        Row("Object", "string-flag", {}, {}, "ERROR", "TYPE_MISMATCH"),
    ),
    *rows(
        "Complete evaluation details structure",
        *(
            Row(t, key, default, value=value, variant=variant, reason="STATIC")
            for t, key, default, value, variant in STANDARD
        ),
    ),
    *rows(
        "Empty evaluation context",
        Row("Boolean", "boolean-targeted-zero-flag", True, False, "DEFAULT"),
        Row("String", "string-targeted-zero-flag", "str", "", "DEFAULT"),
        Row("Integer", "integer-targeted-zero-flag", 1, 0, "DEFAULT"),
        Row("Float", "float-targeted-zero-flag", 1.0, 0.0, "DEFAULT"),
        Row("Object", "object-targeted-zero-flag", {"a": 1}, {}, "DEFAULT"),
    ),
    *rows(
        "Null context values",
        *(
            Row(t, key, default, value, "DEFAULT", context={"email": None})
            for t, key, default, value in [
                ("Boolean", "boolean-targeted-zero-flag", True, False),
                ("String", "string-targeted-zero-flag", "str", ""),
                ("Integer", "integer-targeted-zero-flag", 1, 0),
                ("Float", "float-targeted-zero-flag", 1.0, 0.0),
                ("Object", "object-targeted-zero-flag", {"a": 1}, {}),
            ]
        ),
    ),
    *rows(
        "Multiple context attributes targeting",
        Row(
            "String",
            "complex-targeted",
            "false",
            "INTERNAL",
            "TARGETING_MATCH",
            context={**MACROSOFT, "role": "admin", "age": 65, "customer": False},
        ),
    ),
    *rows("Structure flag evaluation", Row("Object", "object-flag", {}, TEMPLATE, "STATIC")),
    *rows(
        "Variant field population",
        *(Row(t, key, default, variant=variant) for t, key, default, _, variant in STANDARD),
    ),
    *rows(
        "DISABLED reason",
        *(
            Row(t, f"{name}-disabled-flag", default, default, "DISABLED", error_code=None)
            for t, name, default in [
                ("Boolean", "boolean", False),
                ("String", "string", "bye"),
                ("Integer", "integer", 1),
                ("Float", "float", 0.1),
                ("Object", "object", {"a": 1}),
            ]
        ),
    ),
    *rows(
        "Default value type validation",
        Row("Boolean", "string-flag", False, False, error_code="TYPE_MISMATCH"),
        Row("String", "boolean-flag", "bye", "bye", error_code="TYPE_MISMATCH"),
        Row("Integer", "boolean-flag", 1, 1, error_code="TYPE_MISMATCH"),
        Row("Float", "boolean-flag", 0.1, 0.1, error_code="TYPE_MISMATCH"),
    ),
]

#: The rows of "Provider not ready error" and "Provider in fatal state error".
STATUS_ROWS = [
    ("Boolean", "boolean-flag", False),
    ("String", "string-flag", "bye"),
    ("Integer", "integer-flag", 1),
    ("Float", "float-flag", 0.1),
    ("Object", "object-flag", {"a": 1}),
]
