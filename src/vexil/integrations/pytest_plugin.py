"""The pytest plugin (entry point ``pytest11``): the ``vexil_flags`` fixture.

::

    def test_new_checkout(vexil_flags, client):
        vexil_flags.set("new-checkout", True)              # a value for everyone
        vexil_flags.set_flag("banner", {...})              # or a whole flag, with rules
        assert client.get("/checkout").status_code == 200

    @pytest.mark.vexil_flags({"new-checkout": True})       # the same, before the test
    def test_marked(vexil_flags): ...

The fixture is a ``vexil.testing.TestClient``: it records every evaluation
(``vexil_flags.evaluated("new-checkout")``), and while the test runs, the Flask,
Django and FastAPI integrations and the OpenFeature provider evaluate through it
instead of their own clients. Everything is reset after the test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from vexil.sdk._testing import TestClient

__all__ = ["vexil_flags"]

_MARKER = "vexil_flags"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(flags): flag values (a dict) that the vexil_flags fixture starts with",
    )


@pytest.fixture
def vexil_flags(request: pytest.FixtureRequest) -> Iterator[TestClient]:
    """A ``TestClient`` that every Vexil integration uses during this test."""
    # Imported here: the plugin loads in every pytest run, Vexil's tests or not.
    from vexil.integrations._base import overriding
    from vexil.sdk._testing import TestClient

    initial: dict[str, Any] = {}
    # Closest marker last, so that a test's marker wins over its class's or module's.
    for marker in reversed(list(request.node.iter_markers(_MARKER))):
        if len(marker.args) > 1 or not isinstance(marker.args[0] if marker.args else {}, dict):
            raise pytest.UsageError(f"@pytest.mark.{_MARKER} takes one dict of flag values")
        initial.update(marker.args[0] if marker.args else {})
        initial.update(marker.kwargs)
    client = TestClient(initial)
    try:
        with overriding(client):
            yield client
    finally:
        client.close()
