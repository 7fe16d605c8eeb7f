"""Conformance suites of other projects, run against Vexil's engine.

The data is not in this repository: it is read from ``$VEXIL_CONFORMANCE_DIR``
(default ``../shared/conformance`` next to the repository), which holds the
OpenFeature flagd testbed's evaluator suite in ``flagd-testbed/evaluator``.

The gherkin tags of the suite become pytest markers: they are registered here
(pytest runs with ``--strict-markers``), and the rows tagged ``@fractional-v1``,
which describe flagd's legacy bucketing, are deselected: the suite is run with
flagd's own tag filter ``not @fractional-v1``.
"""

from __future__ import annotations

import re

import pytest
from _conformance import EXCLUDED_TAGS, KNOWN_TAGS, flagd_evaluator_dir


def _feature_tags() -> set[str]:
    gherkin = flagd_evaluator_dir() / "gherkin"
    if not gherkin.is_dir():
        return set()
    found: set[str] = set()
    for feature in gherkin.glob("*.feature"):
        for line in feature.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("@"):
                found.update(re.findall(r"@([^\s@]+)", line))
    return found


def pytest_configure(config: pytest.Config) -> None:
    for tag in sorted(set(KNOWN_TAGS) | _feature_tags()):
        config.addinivalue_line("markers", f"{tag}: flagd testbed gherkin tag @{tag}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Apply the tag filter ``not @fractional-v1``."""
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        excluded = any(item.get_closest_marker(tag) for tag in EXCLUDED_TAGS)
        (dropped if excluded else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
