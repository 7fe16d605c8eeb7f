"""Bodies, connections and odd text: what one request may cost, and what it may leave behind.

Against real ``vexil serve`` processes, with raw sockets where the point is what the
server does before a request is complete: credentials are checked before a body is
read, one body limit holds on every endpoint (while the body streams in), slow or
oversized headers and idle connections are cut, the connection count is capped, NUL
characters are answered the same on SQLite and PostgreSQL, and a client key never
learns the name of a flag it may not read.
"""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from _services import VexilServer, sdk_key, wait_for

BOOL = {"on": True, "off": False}


# ------------------------------------------------------------------ raw HTTP


@contextmanager
def connection(server: VexilServer, timeout: float = 10) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    try:
        yield sock
    finally:
        sock.close()


def chunked_head(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += ["Transfer-Encoding: chunked"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def status_of(sock: socket.socket) -> int:
    """The status of the answer the server sends (reads only its first line)."""
    line = sock.makefile("rb").readline()
    assert line.startswith(b"HTTP/1.1 "), line
    return int(line.split()[1])


def refused_outright(sock: socket.socket) -> bool:
    """Whether the server closed the connection without sending a byte."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset), reading what it sent."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


# ------------------------------------------------------------------ credentials first


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/ofrep/v1/evaluate/flags/f", {}),
        ("/ofrep/v1/evaluate/flags", {}),
        ("/ofrep/v1/evaluate/flags/f", {"Authorization": "vx-cli-not-a-key"}),
        ("/api/v1/projects", {}),
        ("/api/v1/projects", {"Authorization": "Bearer vx-api-not-a-token"}),
        ("/api/v1/tokens", {}),
        ("/sdk/v1/events", {}),
    ],
)
def test_a_request_without_valid_credentials_is_refused_before_its_body_is_read(
    server: VexilServer, path: str, headers: dict[str, str]
) -> None:
    # Headers and one chunk of a body that never ends: a server that read the body
    # first would wait for the rest, and the read below would time out.
    with connection(server, timeout=5) as sock:
        sock.sendall(chunked_head(path, headers) + chunk(b" " * 65536))
        assert status_of(sock) == 401


def test_a_valid_key_reads_the_body_as_usual(
    server: VexilServer, admin: httpx.Client, project: str
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    key = sdk_key(admin, project)
    body = json.dumps({"context": {"targetingKey": "u"}}).encode()
    with connection(server) as sock:
        sock.sendall(
            chunked_head("/ofrep/v1/evaluate/flags/f", {"Authorization": key})
            + chunk(body)
            + chunk(b"")
        )
        assert status_of(sock) == 200


# ------------------------------------------------------------------ one body limit


@pytest.fixture(scope="module")
def small(workdir: Path) -> Iterator[VexilServer]:
    """A server with a 4 KiB body limit (and small header and idle timeouts)."""
    instance = VexilServer(
        f"sqlite:///{workdir / 'limits-small.db'}",
        workdir,
        VEXIL_MAX_BODY_BYTES="4096",
        VEXIL_HEADER_TIMEOUT="1",
        VEXIL_KEEP_ALIVE_TIMEOUT="1",
    ).start()
    yield instance
    instance.stop()


@pytest.fixture
def small_token(small: VexilServer) -> str:
    with small.admin() as admin:
        made = admin.post("/api/v1/tokens", json={"name": "limits", "role": "admin"})
        assert made.status_code == 201, made.text
        return str(made.json()["token"])


def test_a_declared_body_over_the_limit_is_refused_at_once_as_json(
    small: VexilServer, small_token: str
) -> None:
    headers = {"Authorization": f"Bearer {small_token}"}
    response = httpx.post(
        f"{small.base_url}/api/v1/projects",
        content=b'{"key": "' + b"a" * 5000 + b'"}',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert "4096" in response.json()["error"]["message"]
    assert httpx.get(f"{small.base_url}/api/v1/projects", headers=headers).status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/projects", "/ofrep/v1/evaluate/flags", "/sdk/v1/events"])
def test_a_streamed_body_is_refused_once_it_passes_the_limit(
    small: VexilServer, small_token: str, path: str
) -> None:
    with small.admin() as admin:
        kind = "client" if "ofrep" in path else "server"
        key = sdk_key(admin, "default", kind=kind)
    auth = {"Authorization": f"Bearer {small_token}" if "/api/" in path else key}
    with connection(small) as sock:
        # 8 KiB in chunks, and the body is never finished: the answer comes at 4 KiB.
        sock.sendall(chunked_head(path, auth))
        for _ in range(8):
            sock.sendall(chunk(b" " * 1024))
        assert status_of(sock) == 413


def test_the_limit_is_a_setting_and_bodies_under_it_pass(
    small: VexilServer, small_token: str
) -> None:
    headers = {"Authorization": f"Bearer {small_token}"}
    made = httpx.post(
        f"{small.base_url}/api/v1/projects", json={"key": "under-limit"}, headers=headers
    )
    assert made.status_code == 201, made.text


# ------------------------------------------------------------------ connections


@pytest.mark.slow
def test_headers_sent_too_slowly_get_the_connection_closed(small: VexilServer) -> None:
    with connection(small, timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        assert closed_by_server(sock)
        # The header timeout is 1 s here; "closed" without it would take forever.
        assert time.monotonic() - started < 8
    assert httpx.get(f"{small.base_url}/healthz").status_code == 200


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed(small: VexilServer) -> None:
    with connection(small, timeout=10) as sock:
        assert closed_by_server(sock)


@pytest.mark.slow
def test_an_idle_kept_alive_connection_is_closed(small: VexilServer) -> None:
    with connection(small, timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status_of(sock) == 200
        assert closed_by_server(sock)


def test_a_kept_alive_connection_serves_request_after_request(small: VexilServer) -> None:
    with httpx.Client(base_url=small.base_url) as client:
        for _ in range(5):
            assert client.get("/healthz").status_code == 200


def test_oversized_headers_get_431(server: VexilServer) -> None:
    with connection(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        try:
            for _ in range(100):
                sock.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert status_of(sock) == 431


@pytest.mark.slow
def test_connections_past_the_cap_are_refused_and_the_others_served(
    new_server: Callable[..., VexilServer],
) -> None:
    instance = new_server(VEXIL_MAX_CONNECTIONS="8", VEXIL_HEADER_TIMEOUT="60")
    held = [socket.create_connection(("127.0.0.1", instance.port), timeout=5) for _ in range(8)]
    try:
        # The server takes the held connections in as it accepts them.
        def refused() -> bool:
            with connection(instance, timeout=5) as extra:
                try:
                    extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    return True
                return refused_outright(extra)

        assert wait_for(refused, timeout=10, what="the ninth connection refused")
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert status_of(held[0]) == 200
    finally:
        for sock in held:
            sock.close()
    assert wait_for(
        lambda: httpx.get(f"{instance.base_url}/healthz").status_code == 200,
        what="a connection served once the others closed",
    )


# ------------------------------------------------------------------ NUL characters

NUL = "a\u0000b"


def events_batch(position: str) -> list[dict[str, Any]]:
    """A batch with a NUL in one of the seven places an end user's text reaches."""
    track: dict[str, Any] = {
        "kind": "track",
        "name": "clicked",
        "context": {"key": "u-1", "name": "ana"},
        "data": {"button": "buy"},
        "at": 1_700_000_000.0,
    }
    identify: dict[str, Any] = {"kind": "identify", "context": {"key": "u-1"}, "at": 1.7e9}
    summary: dict[str, Any] = {
        "kind": "summary",
        "start": 1.7e9,
        "end": 1.7e9 + 10,
        "counters": [{"flag": "f", "variant": "on", "count": 3}],
    }
    if position == "track.key":
        track["context"]["key"] = NUL
    elif position == "identify.key":
        identify["context"]["key"] = NUL
    elif position == "track.name":
        track["name"] = NUL
    elif position == "track.attribute":
        track["context"][NUL] = NUL
    elif position == "track.data":
        track["data"] = {"nested": [NUL]}
    elif position == "summary.flag":
        summary["counters"][0]["flag"] = NUL
    elif position == "summary.variant":
        summary["counters"][0]["variant"] = NUL
    return [summary, track, identify]


POSITIONS = [
    "track.key",
    "identify.key",
    "track.name",
    "track.attribute",
    "track.data",
    "summary.flag",
    "summary.variant",
]


def engine_for(server: VexilServer) -> sa.Engine:
    url = server.database_url.replace("postgresql://", "postgresql+psycopg://")
    return sa.create_engine(url)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_nul_in_an_sdk_event_never_fails_the_batch(
    server: VexilServer, admin: httpx.Client, project: str, anon: httpx.Client, position: str
) -> None:
    key = sdk_key(admin, project)
    body = gzip.compress(json.dumps(events_batch(position)).encode())
    answer = anon.post(
        "/sdk/v1/events",
        content=body,
        headers={"Authorization": key, "Content-Encoding": "gzip"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"accepted": 3}
    # Stored alike on both databases: the NUL as U+FFFD, the rest as sent.
    engine = engine_for(server)
    try:
        with engine.connect() as conn:
            env = conn.execute(
                sa.text(
                    "select e.id from environments e join projects p on p.id = e.project_id"
                    " where p.key = :p and e.key = 'development'"
                ),
                {"p": project},
            ).scalar_one()
            events = conn.execute(
                sa.text(
                    "select name, context_key, context, data from custom_events"
                    " where environment_id = :e order by id"
                ),
                {"e": env},
            ).all()
            counts = conn.execute(
                sa.text(
                    "select flag_key, variant from evaluation_counts where environment_id = :e"
                ),
                {"e": env},
            ).all()
    finally:
        engine.dispose()
    texts = [t for row in [*events, *counts] for value in row for t in strings(value)]
    assert not [t for t in texts if "\x00" in t]
    assert [t for t in texts if "a\ufffdb" in t]
    assert len(events) == 2
    assert len(counts) == 1


def strings(value: Any) -> Iterator[str]:
    """Every string in a stored value (SQLite hands JSON columns back as text)."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except ValueError:
            yield value
            return
        if not isinstance(decoded, dict | list):
            yield value
            return
        value = decoded
    if isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def test_a_nul_in_an_uncompressed_json_batch_or_an_ofrep_context_is_no_error(
    admin: httpx.Client, project: str, anon: httpx.Client
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    key = sdk_key(admin, project)
    batch = anon.post(
        "/sdk/v1/events", json=events_batch("track.attribute"), headers={"Authorization": key}
    )
    assert batch.status_code == 202, batch.text
    context = {"context": {"targetingKey": "u", "name": NUL}}
    evaluated = anon.post(
        "/ofrep/v1/evaluate/flags/f", json=context, headers={"Authorization": key}
    )
    assert evaluated.status_code == 200, evaluated.text


def test_an_unpaired_surrogate_in_an_sdk_event_is_stored_too(
    admin: httpx.Client, project: str, anon: httpx.Client
) -> None:
    key = sdk_key(admin, project)
    batch = '[{"kind": "identify", "context": {"key": "u-\\ud800"}, "at": 1.7e9}]'
    answer = anon.post(
        "/sdk/v1/events",
        content=batch,
        headers={"Authorization": key, "Content-Type": "application/json"},
    )
    assert answer.status_code == 202, answer.text


def test_the_admin_api_refuses_nul_naming_the_field_and_writes_nothing(
    admin: httpx.Client, project: str
) -> None:
    flags = f"/api/v1/projects/{project}/flags"
    before = admin.get(flags).json()
    refused = admin.post(flags, json={"key": "f", "name": NUL, "variations": BOOL})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "name"
    deep = admin.post(flags, json={"key": "g", "variations": {"on": {"list": ["x", NUL]}}})
    assert deep.status_code == 422, deep.text
    assert deep.json()["error"]["field"] == "variations.on.list[1]"
    assert admin.get(flags).json() == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/projects/{project}/flags/a%00b",
        "/api/v1/projects/{project}/environments/development/flags/a%00b",
        "/api/v1/projects/{project}/audit?actor=a%00b",
        "/ofrep/v1/evaluate/flags/a%00b",
    ],
)
def test_a_nul_in_a_path_or_query_is_a_4xx_on_both_databases(
    admin: httpx.Client, project: str, url: str
) -> None:
    key = sdk_key(admin, project)
    headers = {"Authorization": key} if url.startswith("/ofrep") else {}
    answer = (
        admin.post(url.format(project=project), json={}, headers=headers)
        if url.startswith("/ofrep")
        else admin.get(url.format(project=project))
    )
    assert 400 <= answer.status_code < 500, answer.text


# ------------------------------------------------------------------ what a client key learns


def test_ofrep_never_names_a_server_only_prerequisite_to_a_client_key(
    admin: httpx.Client, project: str, anon: httpx.Client
) -> None:
    flags = f"/api/v1/projects/{project}/flags"
    admin.post(flags, json={"key": "secret-parent", "variations": BOOL})
    child = {"key": "child", "variations": BOOL, "client_side": True}
    assert admin.post(flags, json=child).status_code == 201
    targeting = {
        "on": True,
        "prerequisites": [{"flag": "secret-parent", "variation": "on"}],
        "default": "on",
        "off_variation": "off",
    }
    url = f"/api/v1/projects/{project}/environments/development/flags/child"
    assert admin.put(url, json=targeting).status_code == 200
    client_key = sdk_key(admin, project, kind="client")
    server_key = sdk_key(admin, project)
    context = {"context": {"targetingKey": "u"}}

    single = anon.post(
        "/ofrep/v1/evaluate/flags/child", json=context, headers={"Authorization": client_key}
    )
    bulk = anon.post(
        "/ofrep/v1/evaluate/flags", json=context, headers={"Authorization": client_key}
    )
    for answer in (single.text, bulk.text):
        assert "secret-parent" not in answer
    assert single.json()["reason"] == "PREREQUISITE_FAILED"
    # A server key may read the parent, and is told which prerequisite failed.
    told = anon.post(
        "/ofrep/v1/evaluate/flags/child", json=context, headers={"Authorization": server_key}
    )
    assert told.json()["metadata"]["vexil.prerequisite"] == "secret-parent"


@pytest.mark.parametrize(
    "context",
    [
        {"targetingKey": "u", "name": "a" * 65_537},
        {"targetingKey": "u", "nested": {"list": ["ok", "a" * 65_537]}},
        {"targetingKey": "u", "a" * 65_537: True},
    ],
)
def test_an_ofrep_context_string_is_bounded(
    admin: httpx.Client, project: str, anon: httpx.Client, context: dict[str, Any]
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    key = {"Authorization": sdk_key(admin, project)}
    refused = anon.post("/ofrep/v1/evaluate/flags/f", json={"context": context}, headers=key)
    assert refused.status_code == 400, refused.text
    assert refused.json()["errorCode"] == "INVALID_CONTEXT"
    assert "65,536" in refused.json()["errorDetails"]
    bulk = anon.post("/ofrep/v1/evaluate/flags", json={"context": context}, headers=key)
    assert bulk.status_code == 400
    at_limit = {"targetingKey": "u", "name": "a" * 65_536}
    taken = anon.post("/ofrep/v1/evaluate/flags/f", json={"context": at_limit}, headers=key)
    assert taken.status_code == 200, taken.text
