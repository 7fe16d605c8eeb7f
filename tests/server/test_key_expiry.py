"""SDK keys stop working when they should: at the end of a rotation's overlap, or when
revoked, for requests and for open streams alike, on every replica.

Two ``vexil serve`` replicas share one database (SQLite file or PostgreSQL): ``a``
makes the changes, ``b`` only hears of them through the database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from _services import Postgres, VexilServer, metric, sdk_key
from _sse import SseReader, open_stream

# Two replicas per backend, and keys left to expire.
pytestmark = pytest.mark.slow

BOOL = {"on": True, "off": False}
#: How long after its expiry a key may still answer: the cache must not outlive it.
REFUSED_WITHIN = 0.5
#: How long after its key stopped working a stream may still be open.
ENDED_WITHIN = 5.0


class Replicas:
    def __init__(self, a: VexilServer, b: VexilServer, admin: httpx.Client) -> None:
        self.a, self.b, self.admin = a, b, admin


@pytest.fixture(scope="module")
def replicas(backend: str, request: pytest.FixtureRequest, workdir: Path) -> Iterator[Replicas]:
    name = f"vexil_keys_{uuid.uuid4().hex[:8]}"
    if backend == "sqlite":
        url = f"sqlite:///{workdir / name}.db"
    else:
        postgres: Postgres = request.getfixturevalue("postgres")
        url = postgres.create_database(name)
    a = VexilServer(url, workdir).start()
    b = VexilServer(url, workdir).start()
    try:
        with a.admin() as admin:
            body = {"name": f"keys-{uuid.uuid4().hex[:8]}", "role": "admin"}
            token = admin.post("/api/v1/tokens", json=body).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=a.base_url, headers=headers, timeout=10) as client:
            yield Replicas(a, b, client)
    finally:
        a.stop()
        b.stop()


@pytest.fixture
def project(replicas: Replicas) -> str:
    key = f"p-{uuid.uuid4().hex[:10]}"
    created = replicas.admin.post("/api/v1/projects", json={"key": key})
    assert created.status_code == 201, created.text
    flag = {"key": "f", "variations": BOOL}
    assert replicas.admin.post(f"/api/v1/projects/{key}/flags", json=flag).status_code == 201
    return key


def rotate(admin: httpx.Client, project: str, overlap: int) -> tuple[str, datetime]:
    """Rotate the development server key; the new key, and when the old one expires."""
    env = f"/api/v1/projects/{project}/environments/development"
    old = sdk_key(admin, project)
    body = {"kind": "server", "overlap_seconds": overlap}
    rotated = admin.post(f"{env}/keys/rotate", json=body)
    assert rotated.status_code == 200, rotated.text
    if overlap == 0:
        return rotated.json()["key"], datetime.fromtimestamp(time.time()).astimezone()
    keys = admin.get(f"{env}/keys").json()
    expires_at = next(k["expires_at"] for k in keys if k["key"] == old)
    return rotated.json()["key"], datetime.fromisoformat(expires_at)


def ruleset_status(server: VexilServer, key: str) -> int:
    response = httpx.get(f"{server.base_url}/sdk/v1/ruleset", headers={"Authorization": key})
    return response.status_code


def ends(events: SseReader, within: float = 15) -> float:
    """Read the stream until the server ends it; when that was (Unix time)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:  # each read is bounded by the client's timeout
        try:
            events.next()
        except StopIteration:
            return time.time()
    raise AssertionError(f"the stream is still open after {within} s")


def toggle(admin: httpx.Client, project: str, env: str, on: bool) -> None:
    url = f"/api/v1/projects/{project}/environments/{env}/flags/f/toggle"
    assert admin.post(url, json={"on": on}).status_code == 200


def test_a_rotated_key_is_refused_from_its_expiry_on_every_replica(
    replicas: Replicas, project: str
) -> None:
    old = sdk_key(replicas.admin, project)
    servers = (replicas.a, replicas.b)
    # Both replicas have the key in their caches, from before the rotation.
    assert [ruleset_status(s, old) for s in servers] == [200, 200]
    new, expires_at = rotate(replicas.admin, project, overlap=2)
    expiry = expires_at.timestamp()
    while time.time() < expiry - 0.3:  # the overlap: the old key still works everywhere
        assert [ruleset_status(s, old) for s in servers] == [200, 200]
    refused_at: dict[int, float] = {}  # the first 401 of each replica
    while len(refused_at) < len(servers) and time.time() < expiry + 10:
        for server in servers:
            if server.port not in refused_at and ruleset_status(server, old) == 401:
                refused_at[server.port] = time.time()
    assert len(refused_at) == len(servers), "the old key was never refused"
    assert [ruleset_status(s, new) for s in servers] == [200, 200]
    for when in refused_at.values():
        assert when - expiry < REFUSED_WITHIN, f"refused {when - expiry:.2f} s after its expiry"


def streams_on_every_replica(
    stack: ExitStack, replicas: Replicas, key: str
) -> tuple[list[httpx.Client], list[SseReader]]:
    """A client on each replica with a stream of ``key`` open, past its first ``put``."""
    clients = [
        stack.enter_context(httpx.Client(base_url=s.base_url, timeout=10))
        for s in (replicas.a, replicas.b)
    ]
    streams = [stack.enter_context(open_stream(c, key)) for c in clients]
    for events in streams:
        assert events.event().event == "put"
    return clients, streams


def test_streams_of_a_rotated_key_end_when_it_expires_on_every_replica(
    replicas: Replicas, project: str
) -> None:
    old = sdk_key(replicas.admin, project)
    unaffected = sdk_key(replicas.admin, project, "production")
    with ExitStack() as stack:
        clients, streams = streams_on_every_replica(stack, replicas, old)
        other = stack.enter_context(open_stream(clients[1], unaffected))
        assert other.event().event == "put"
        _, expires_at = rotate(replicas.admin, project, overlap=2)
        ended_at = [ends(events) for events in streams]
        toggle(replicas.admin, project, "production", True)
        change = other.event()
    expiry = expires_at.timestamp()
    for when in ended_at:
        assert expiry - 0.3 < when < expiry + ENDED_WITHIN, f"ended {when - expiry:+.2f} s off"
    assert (change.event, change.json()["object"]["on"]) == ("patch", True)
    assert metric(replicas.b, "vexil_streams_ended_by_server_total", reason="key") >= 1


def test_streams_of_a_revoked_key_end_at_once_on_every_replica(
    replicas: Replicas, project: str
) -> None:
    old = sdk_key(replicas.admin, project)
    with ExitStack() as stack:
        clients, streams = streams_on_every_replica(stack, replicas, old)
        new, revoked_at = rotate(replicas.admin, project, overlap=0)
        ended_at = [ends(events) for events in streams]
        with open_stream(clients[1], new) as fresh:
            assert fresh.event().event == "put"
        refused = clients[1].get("/sdk/v1/stream", headers={"Authorization": old})
    for when in ended_at:
        assert when - revoked_at.timestamp() < ENDED_WITHIN
    assert refused.status_code == 401


def test_streams_of_a_deleted_environment_end_on_every_replica(
    replicas: Replicas, project: str
) -> None:
    envs = f"/api/v1/projects/{project}/environments"
    created = replicas.admin.post(envs, json={"key": "staging"})
    assert created.status_code == 201, created.text
    key = sdk_key(replicas.admin, project, "staging")
    with ExitStack() as stack:
        _, streams = streams_on_every_replica(stack, replicas, key)
        assert replicas.admin.delete(f"{envs}/staging").status_code == 204
        deleted_at = time.time()
        ended_at = [ends(events) for events in streams]
    for when in ended_at:
        assert when - deleted_at < ENDED_WITHIN
