"""Where the conformance data of other projects is, for the conformance tests."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: Tags whose rows are not run: flagd's legacy (v1) fractional bucketing.
EXCLUDED_TAGS = ("fractional-v1",)

#: Tags the suite is known to use; any other tag found in the feature files is added.
KNOWN_TAGS = (
    "disabled",
    "evaluator-refs",
    "evaluator-refs-whitespace",
    "fractional",
    "fractional-nested",
    "fractional-v1",
    "fractional-v2",
    "metadata",
    "no-default-variant",
    "non-existent-evaluator-ref",
    "operator-errors",
    "semver",
    "semver-build-metadata",
    "semver-edge-cases",
    "semver-numeric-context",
    "semver-partial-version",
    "semver-v-prefix",
    "string",
    "targeting",
)


def conformance_dir() -> Path:
    """Where the conformance data is: ``$VEXIL_CONFORMANCE_DIR``, relative to the repository."""
    configured = os.environ.get("VEXIL_CONFORMANCE_DIR", "../shared/conformance")
    return (REPO / configured).resolve()


def flagd_evaluator_dir() -> Path:
    return conformance_dir() / "flagd-testbed" / "evaluator"
