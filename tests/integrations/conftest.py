"""Fixtures of the framework integrations' tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _frameworks import vexil_threads

from vexil import Client
from vexil.testing import TestClient


@pytest.fixture
def no_thread_left_behind() -> Iterator[None]:
    """Every test closes the clients it opened: no ``vexil-*`` thread outlives it."""
    before = vexil_threads()
    yield
    left = sorted(t.name for t in vexil_threads() - before)
    assert not left, f"threads left behind: {left}"


@pytest.fixture
def flags() -> Iterator[TestClient]:
    """The application's client in the Flask and FastAPI tests: ``new-ui`` starts off."""
    client = Client.for_testing({"new-ui": False})
    yield client
    client.close()
