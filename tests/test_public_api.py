"""The public API is what the facades export, and nothing else by accident."""

from __future__ import annotations

import vexil
import vexil.flags


def test_vexil_exports() -> None:
    assert sorted(vexil.__all__) == sorted(
        [
            "ErrorKind",
            "EvaluationDetail",
            "Explanation",
            "Problem",
            "Reason",
            "Ruleset",
            "ValidationError",
            "__version__",
        ]
    )


def test_vexil_flags_exports() -> None:
    assert sorted(vexil.flags.__all__) == sorted(
        [
            "Clause",
            "Document",
            "ErrorKind",
            "EvaluationDetail",
            "Explanation",
            "Flag",
            "Operator",
            "Prerequisite",
            "Problem",
            "Reason",
            "Rollout",
            "Rule",
            "Ruleset",
            "Segment",
            "SegmentRule",
            "Slice",
            "Step",
            "ValidationError",
            "VariationType",
            "bucket",
            "json_schema",
            "parse_document",
            "parse_flag",
            "parse_segment",
            "read_document",
        ]
    )


def test_every_exported_name_exists_and_is_public() -> None:
    for module in (vexil, vexil.flags):
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name} is exported but missing"
            member = getattr(module, name)
            origin = getattr(member, "__module__", module.__name__)
            assert origin.startswith("vexil"), f"{name} comes from {origin}"


def test_reasons_and_error_kinds_use_openfeature_wire_names() -> None:
    assert {r.value for r in vexil.Reason} >= {
        "STATIC", "DEFAULT", "TARGETING_MATCH", "SPLIT", "DISABLED", "ERROR",
    }  # fmt: skip
    assert {e.value for e in vexil.ErrorKind} == {
        "FLAG_NOT_FOUND", "TYPE_MISMATCH", "TARGETING_KEY_MISSING", "INVALID_CONTEXT",
        "PARSE_ERROR", "PROVIDER_NOT_READY", "GENERAL",
    }  # fmt: skip
