"""Fixtures with real services: Vexil servers on SQLite and on PostgreSQL, and Redis.

With ``CI=true`` a missing service fails the run; elsewhere its tests are skipped
with the reason. Tests that need PostgreSQL or a browser are marked ``postgres`` and
``browser`` here, from their parameters and fixtures, so that ``make test-fast`` leaves
them out without anyone remembering to mark them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _services import (
    Postgres,
    Redis,
    VexilServer,
    database_for,
    missing,
    postgres_bin,
    redis_bin,
)

#: Fixtures that start PostgreSQL (directly, or through a parameter's value).
POSTGRES_FIXTURES = frozenset({"postgres"})
#: pytest-playwright's fixtures: a test using any of them launches Chromium.
BROWSER_FIXTURES = frozenset(
    {"page", "context", "new_context", "browser", "launch_browser", "playwright"}
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params.values() if callspec is not None else ()
        if fixtures & POSTGRES_FIXTURES or any(value == "postgresql" for value in params):
            item.add_marker(pytest.mark.postgres)
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if not (postgres_bin("initdb") and postgres_bin("pg_ctl")):
        missing("PostgreSQL is not installed (initdb and pg_ctl not found)")
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture(scope="session")
def redis_service() -> Iterator[Redis]:
    if not redis_bin():
        missing("Redis is not installed (redis-server not found)")
    service = Redis().start()
    yield service
    service.stop()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def server(backend: str, request: pytest.FixtureRequest, workdir: Path) -> Iterator[VexilServer]:
    """One server per backend for the whole session; tests isolate themselves by project."""
    instance = VexilServer(database_for(backend, request, workdir), workdir).start()
    yield instance
    instance.stop()


@pytest.fixture
def admin(server: VexilServer) -> Iterator[httpx.Client]:
    with server.admin() as client:
        yield client


@pytest.fixture
def anon(server: VexilServer) -> Iterator[httpx.Client]:
    """A client with no credentials of its own, for SDK keys and unauthenticated calls."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
def project(admin: httpx.Client) -> str:
    """A fresh project (with development and production) for one test."""
    key = f"p-{uuid.uuid4().hex[:10]}"
    response = admin.post("/api/v1/projects", json={"key": key})
    assert response.status_code == 201, response.text
    return key


@pytest.fixture
def new_server(
    request: pytest.FixtureRequest, workdir: Path
) -> Iterator[Callable[..., VexilServer]]:
    """Starts extra servers for one test (another backend, settings, replicas); stops them after."""
    started: list[VexilServer] = []

    def start(backend: str = "sqlite", database_url: str | None = None, **env: Any) -> VexilServer:
        url = database_url or database_for(backend, request, workdir)
        instance = VexilServer(url, workdir, **env).start()
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.stop()
