"""The public API is what the facades export, and nothing else by accident."""

from __future__ import annotations

import subprocess
import sys

import vexil
import vexil.flags


def test_vexil_exports() -> None:
    assert sorted(vexil.__all__) == sorted(
        [
            "Client",
            "ConfigurationError",
            "Daemon",
            "ErrorKind",
            "EvaluationDetail",
            "Explanation",
            "FileStore",
            "FlagChange",
            "HttpOptions",
            "Lazy",
            "Manual",
            "Offline",
            "Polling",
            "Problem",
            "Reason",
            "Ruleset",
            "Store",
            "Streaming",
            "ValidationError",
            "__version__",
        ]
    )


def test_vexil_testing_exports() -> None:
    import vexil.testing

    assert sorted(vexil.testing.__all__) == [
        "Evaluation",
        "TestClient",
        "Tracked",
        "flag_for_value",
    ]


def test_the_sdk_imports_neither_the_server_nor_its_dependencies() -> None:
    """Dependencies point one way: the SDK's install stays light."""
    code = (
        "import sys, vexil, vexil.testing; "
        "heavy = [m for m in ('vexil.server', 'fastapi', 'sqlalchemy', 'starlette', 'redis')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


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
