"""Fixtures of the server tests: an admin client through a token, a fresh project, and the
store of a session server opened in this process (for the services called directly)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from _admin_api import new_project, root_client

from _services import VexilServer, sdk_key
from vexil.server._bus import Hub
from vexil.server._db import make_engine
from vexil.server._settings import Settings
from vexil.server._store import Store


@pytest.fixture
def api(server: VexilServer) -> Iterator[httpx.Client]:
    """An admin client with a token (Basic costs an argon2 check per request)."""
    with root_client(server) as client:
        yield client


@pytest.fixture
def project(api: httpx.Client) -> str:
    """A fresh project, made through a token."""
    return new_project(api)


@pytest.fixture
def keys(admin: httpx.Client, project: str) -> dict[str, str]:
    """The development environment's server and client keys."""
    return {kind: sdk_key(admin, project, kind=kind) for kind in ("server", "client")}


@pytest.fixture
def store(server: VexilServer) -> Iterator[Store]:
    """The session server's database, opened here: services called as the routes call them."""
    engine = make_engine(Settings.load({"database_url": server.database_url}, environ={}))
    yield Store(engine, Hub())
    engine.dispose()
