"""What SDK streams may cost the server: clients that never read, and keys that open many.

Real ``vexil serve`` processes on loopback. A client that stops reading is a raw
socket with a tiny receive buffer that never calls ``recv``; the server's memory is
its resident set, read from ``/proc``.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import httpx
import pytest

from _services import VexilServer, metric, sdk_key, wait_for
from _sse import Event, SseReader, open_stream
from vexil.server._stream_response import SLICE, slices

BOOL = {"on": True, "off": False}
#: Flags of this size make a ruleset of about 1 MB: far more than a connection may buffer.
BIG_FLAGS, DESCRIPTION = 5, 200_000
#: Streams that never read, at once.
STALLED = 150


def token_client(instance: VexilServer) -> httpx.Client:
    """An admin API client with a token: no password check per request."""
    with instance.admin() as admin:
        body = {"name": f"limits-{uuid.uuid4().hex[:8]}", "role": "admin"}
        token = admin.post("/api/v1/tokens", json=body).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.Client(base_url=instance.base_url, headers=headers, timeout=30)


def resident_mib(instance: VexilServer) -> float:
    assert instance.process is not None
    with open(f"/proc/{instance.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/<pid>/status")


def make_big_ruleset(admin: httpx.Client) -> int:
    """Flags with large descriptions in the default project; the ruleset's size in bytes."""
    for i in range(BIG_FLAGS):
        body = {"key": f"big-{i}", "variations": BOOL, "description": "x" * DESCRIPTION}
        created = admin.post("/api/v1/projects/default/flags", json=body)
        assert created.status_code == 201, created.text
    created = admin.post("/api/v1/projects/default/flags", json={"key": "f", "variations": BOOL})
    assert created.status_code == 201, created.text
    key = sdk_key(admin, "default")
    return len(
        httpx.get(f"{admin.base_url}/sdk/v1/ruleset", headers={"Authorization": key}).content
    )


def raw_stream(instance: VexilServer, key: str, receive_buffer: int | None = None) -> socket.socket:
    """A stream on a plain socket, read (or not) by the test itself."""
    sock = socket.socket()
    if receive_buffer is not None:  # before connecting: it sets the window offered
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", instance.port))
    request = f"GET /sdk/v1/stream HTTP/1.1\r\nHost: vexil\r\nAuthorization: {key}\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def closed_by_server(sock: socket.socket, timeout: float = 10) -> bool:
    """Read what is left until the server has closed (EOF) or reset the connection."""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if not sock.recv(1 << 20):
                return True
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True
    return False


def toggle(admin: httpx.Client, on: bool) -> None:
    url = "/api/v1/projects/default/environments/development/flags/f/toggle"
    assert admin.post(url, json={"on": on}).status_code == 200


def next_patch(events: SseReader) -> Event:
    event = events.event()
    assert event.event == "patch", event
    return event


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


@pytest.mark.slow
def test_streams_that_never_read_hold_little_and_are_dropped(
    new_server: Callable[..., VexilServer], sockets: list[socket.socket]
) -> None:
    instance = new_server("sqlite", VEXIL_STREAM_SEND_TIMEOUT="8")
    with (
        token_client(instance) as admin,
        httpx.Client(base_url=instance.base_url, timeout=10) as sdk,
    ):
        size = make_big_ruleset(admin)
        key = sdk_key(admin, "default")
        with open_stream(sdk, key) as reader:  # a client that reads, on the same environment
            assert reader.event().event == "put"
            before = resident_mib(instance)
            # A 4 KiB window, and no recv: the clients never read.
            sockets.extend(raw_stream(instance, key, 4096) for _ in range(STALLED))
            wait_for(lambda: metric(instance, "vexil_open_streams") == STALLED + 1, 60)
            started = time.monotonic()
            assert httpx.get(f"{instance.base_url}/healthz", timeout=10).status_code == 200
            health_took = time.monotonic() - started
            toggle(admin, True)
            patch = next_patch(reader)
            resident = [resident_mib(instance)]

            def all_dropped() -> bool:
                resident.append(resident_mib(instance))  # sampled while they wait
                ended = metric(
                    instance, "vexil_streams_ended_by_server_total", reason="send_timeout"
                )
                return ended == STALLED

            wait_for(all_dropped, 60, "the stalled streams to be dropped")
            wait_for(lambda: metric(instance, "vexil_open_streams") == 1, what="them to leave")
            toggle(admin, False)
            after_drop = next_patch(reader)
    grown = max(resident) - before
    # Two copies of the ruleset per stream, before streams shared their payloads.
    assert size > 900_000
    assert grown < STALLED * size / 4 / 2**20, f"{grown:.0f} MiB for {STALLED} streams"
    assert health_took < 2, "the server stalled"
    assert (patch.event, patch.json()["object"]["on"]) == ("patch", True)
    assert (after_drop.event, after_drop.json()["object"]["on"]) == ("patch", False)
    assert all(closed_by_server(sock) for sock in sockets)


@pytest.mark.slow
def test_a_slow_but_steady_reader_is_not_dropped(new_server: Callable[..., VexilServer]) -> None:
    """The deadline is per slice sent, not for the whole ruleset."""
    instance = new_server("sqlite", VEXIL_STREAM_SEND_TIMEOUT="1")
    with token_client(instance) as admin:
        size = make_big_ruleset(admin)
        key = sdk_key(admin, "default")
    sock = raw_stream(instance, key)
    sock.settimeout(10)
    received, started = 0, time.monotonic()
    try:
        while received < size:  # about 1 MB at 64 KiB per 0.2 s: several send timeouts
            chunk = sock.recv(65_536)
            assert chunk, "the server dropped a client that was reading"
            received += len(chunk)
            time.sleep(0.2)  # the client's pace is what is tested
        took = time.monotonic() - started
    finally:
        sock.close()
    assert took > 2
    assert metric(instance, "vexil_streams_ended_by_server_total", reason="send_timeout") == 0


@pytest.mark.slow
def test_a_key_holds_at_most_max_streams_per_key(new_server: Callable[..., VexilServer]) -> None:
    instance = new_server("sqlite", VEXIL_MAX_STREAMS_PER_KEY="2")
    with token_client(instance) as admin:
        key = sdk_key(admin, "default")
        other_key = sdk_key(admin, "default", "production")
    with ExitStack() as stack:
        sdk = stack.enter_context(httpx.Client(base_url=instance.base_url, timeout=10))
        first = stack.enter_context(open_stream(sdk, key))
        stack.enter_context(open_stream(sdk, key))
        refused = sdk.get("/sdk/v1/stream", headers={"Authorization": key})
        with open_stream(sdk, other_key) as other:  # another key has streams of its own
            assert other.event().event == "put"
        assert metric(instance, "vexil_streams_per_key_max") == 2
        first.response.close()
        wait_for(lambda: metric(instance, "vexil_open_streams") == 1, what="the stream to close")
        with open_stream(sdk, key) as again:
            assert again.event().event == "put"
        refused_count = metric(instance, "vexil_streams_refused_total")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    error = refused.json()["error"]
    assert (error["code"], error["limit"], error["max"]) == (
        "rate_limited",
        "max_streams_per_key",
        2,
    )
    assert "max_streams_per_key" in error["message"]
    assert refused_count == 1


def test_large_payloads_go_out_in_slices_of_the_same_bytes() -> None:
    payload = bytes(range(256)) * 300
    pieces = list(slices(payload))
    assert all(len(p) <= SLICE for p in pieces)
    assert all(isinstance(p, memoryview) and p.obj is payload for p in pieces)  # no copies
    assert b"".join(pieces) == payload
    assert list(slices(b"small")) == [b"small"]
