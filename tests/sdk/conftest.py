"""Fixtures for the SDK tests: a project on a real ``vexil serve``, and an editor for it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest
from _sdk import Env, editor_for

from _services import VexilServer


@pytest.fixture(scope="session")
def editors() -> Iterator[dict[str, httpx.Client]]:
    """One token-authenticated admin client per server (HTTP Basic hashes on every call)."""
    clients: dict[str, httpx.Client] = {}
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def env(server: VexilServer, editors: dict[str, httpx.Client]) -> Env:
    """A fresh project on the session's server, with its development server key."""
    editor = editors.get(server.base_url)
    if editor is None:
        editor = editors[server.base_url] = editor_for(server)
    return Env.create(server, editor, f"sdk-{uuid.uuid4().hex[:10]}")


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Every SDK test ends with the threads it started; a client left open fails it."""
    before = set(threading.enumerate())
    yield
    left = [t.name for t in threading.enumerate() if t not in before and t.name.startswith("vexil")]
    assert not left, f"threads left behind: {left}"
