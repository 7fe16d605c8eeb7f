"""The JSON Schema for editors agrees with the validator on sample documents."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from vexil.flags import Ruleset, ValidationError, json_schema
from vexil.flags._loader import load_data

ROOT = Path(__file__).parent.parent.parent
EXAMPLE = load_data(ROOT / "examples" / "flags.yaml")


def validator() -> jsonschema.Draft202012Validator:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_the_bundled_example_passes_both() -> None:
    Ruleset.from_data(EXAMPLE)
    assert list(validator().iter_errors(EXAMPLE)) == []


def test_a_dumped_ruleset_passes_the_schema() -> None:
    dumped = Ruleset.from_data(EXAMPLE).to_data()
    assert list(validator().iter_errors(dumped)) == []


def _broken(change: str) -> dict[str, Any]:
    doc: dict[str, Any] = copy.deepcopy(EXAMPLE)
    flag = doc["flags"]["new-checkout"]
    if change == "unknown flag field":
        flag["defualt"] = "on"
    elif change == "unknown operator":
        flag["rules"][0]["clauses"][0]["op"] = "startswith"
    elif change == "weight out of range":
        flag["default"]["rollout"][0]["weight"] = 120
    elif change == "weight too fine":
        flag["default"]["rollout"][0]["weight"] = 5.0001
    elif change == "bad flag key":
        doc["flags"]["-bad key"] = doc["flags"].pop("new-checkout")
    elif change == "variations missing":
        del flag["variations"]
    elif change == "clause without op":
        del flag["rules"][1]["clauses"][0]["op"]
    elif change == "wrong version":
        doc["version"] = 2
    return doc


@pytest.mark.parametrize(
    "change",
    [
        "unknown flag field",
        "unknown operator",
        "weight out of range",
        "weight too fine",
        "bad flag key",
        "variations missing",
        "clause without op",
        "wrong version",
    ],
)
def test_documents_the_schema_rejects_are_rejected_by_the_validator(change: str) -> None:
    doc = _broken(change)
    assert list(validator().iter_errors(doc)), "the schema should reject it"
    with pytest.raises(ValidationError):
        Ruleset.from_data(doc)
