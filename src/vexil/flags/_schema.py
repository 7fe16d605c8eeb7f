"""A JSON Schema of the flag document, for editors (``vexil schema``).

The schema describes the document's shape so an editor can complete and check
fields as you type. What a schema cannot say (references between flags, weights
summing to 100 %, valid regexes and versions) is checked by ``parse_document``,
which stays the authority; tests keep the two in agreement on sample documents.
"""

from __future__ import annotations

from typing import Any

from ._model import Operator, VariationType
from ._parse import KEY_PATTERN

SCHEMA_ID = "https://vexil.dev/schema/flags-v1.json"

_SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}


def _clause() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "A test of one context attribute; any one of the values may match.",
        "required": ["op"],
        "additionalProperties": False,
        "properties": {
            "attribute": {
                "type": "string",
                "minLength": 1,
                "description": "An attribute, or a dotted path such as address.country",
            },
            "op": {"enum": [op.value for op in Operator]},
            "values": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
            "negate": {"type": "boolean", "default": False},
        },
    }


def _serve() -> dict[str, Any]:
    variation = {"type": "string", "description": "The name of a variation."}
    rollout = {
        "type": "object",
        "required": ["rollout"],
        "additionalProperties": False,
        "properties": {
            "rollout": {
                "type": "array",
                "minItems": 1,
                "description": "Slices in order; weights in percent sum to 100.",
                "items": {
                    "type": "object",
                    "required": ["variation", "weight"],
                    "additionalProperties": False,
                    "properties": {
                        "variation": variation,
                        "weight": {
                            "type": "number",
                            "minimum": 0,
                            "maximum": 100,
                            "multipleOf": 0.001,
                        },
                    },
                },
            },
            "bucket_by": {"type": "string", "default": "key"},
            "seed": {"type": ["string", "integer"]},
            "experiment": {"type": "boolean", "default": False},
        },
    }
    by_name = {
        "type": "object",
        "required": ["variation"],
        "additionalProperties": False,
        "properties": {"variation": variation},
    }
    return {"oneOf": [variation, by_name, rollout]}


_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}


def _rule(required: str, **extra: Any) -> dict[str, Any]:
    """A rule of clauses; a flag's rule also has a serve."""
    return {
        "type": "object",
        "required": [required],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "clauses": {"type": "array", "items": {"$ref": "#/$defs/clause"}},
            **extra,
        },
    }


def _flag() -> dict[str, Any]:
    strings = _STRINGS
    rule = _rule("serve", serve={"$ref": "#/$defs/serve"})
    return {
        "type": "object",
        "required": ["variations"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "tags": strings,
            "temporary": {"type": "boolean", "default": True},
            "client_side": {"type": "boolean", "default": False},
            "metadata": {"type": "object", "additionalProperties": _SCALAR},
            "type": {"enum": [t.value for t in VariationType]},
            "variations": {
                "type": "object",
                "minProperties": 1,
                "description": "Variation names and their values, all of one type.",
                "additionalProperties": {
                    "type": ["boolean", "string", "number", "object", "array"]
                },
            },
            "on": {"type": "boolean", "default": True},
            "off_variation": {"type": "string"},
            "default": {"$ref": "#/$defs/serve"},
            "targets": {"type": "object", "additionalProperties": strings},
            "rules": {"type": "array", "items": rule},
            "prerequisites": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["flag", "variation"],
                    "additionalProperties": False,
                    "properties": {"flag": {"type": "string"}, "variation": {"type": "string"}},
                },
            },
        },
    }


def _segment() -> dict[str, Any]:
    strings = _STRINGS
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "included": strings,
            "excluded": strings,
            "rules": {"type": "array", "items": _rule("clauses")},
        },
    }


def json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a Vexil flag document."""
    key = f"^{KEY_PATTERN}$"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Vexil flag document",
        "description": "The flags and segments of one environment.",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "$schema": {"type": "string"},
            "version": {"const": 1},
            "flags": {
                "type": "object",
                "propertyNames": {"pattern": key},
                "additionalProperties": {"$ref": "#/$defs/flag"},
            },
            "segments": {
                "type": "object",
                "propertyNames": {"pattern": key},
                "additionalProperties": {"$ref": "#/$defs/segment"},
            },
        },
        "$defs": {"flag": _flag(), "segment": _segment(), "clause": _clause(), "serve": _serve()},
    }
