"""The client under faults: a server down, killed, failing, hanging, garbled or refusing.

Where a real ``vexil serve`` can show the fault (down at start, killed mid-stream, a
revoked key), it does. A real server cannot answer 500, hang or send garbage on
demand, so ``FakeVexil`` below, a small scripted HTTP server on loopback, does that.
In every case nothing is raised into the caller, and ``close()`` leaves no thread.
"""

from __future__ import annotations

import itertools
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from _sdk import API, Env, LoopbackServer, editor_for, new_env

from _services import VexilServer, wait_for
from vexil import Client, ErrorKind, Polling, Streaming
from vexil.sdk._sources import StreamingSource

KEY = "vx-srv-fault-tests-0001"
USER = {"key": "u-1"}
BOOL = {"on": True, "off": False}


def vexil_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("vexil")]


def sdk_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "vexil.sdk" and r.levelno >= logging.ERROR
    ]


# ------------------------------------------------------------ a scripted server


@dataclass(frozen=True)
class Reply:
    """One answer of the fake server."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Say nothing at all, not even a status line, until the test ends.
    silent: bool = False
    #: After the body, keep the connection open without a word (a stream that hangs).
    hold: bool = False


@dataclass(frozen=True)
class Seen:
    """A request as the fake server received it."""

    path: str
    headers: Mapping[str, str]
    at: float

    @property
    def last_event_id(self) -> str | None:
        return self.headers.get("last-event-id")


class FakeVexil:
    """Answers ``/sdk/v1/{ruleset,stream,events}`` as scripted, and records the requests.

    ``script(endpoint, *replies)`` queues answers: each request takes the first, and
    the last one repeats. Until scripted, every endpoint answers 500.
    """

    def __init__(self) -> None:
        self._replies: dict[str, list[Reply]] = {
            name: [Reply(500, b'{"error": {"code": "internal"}}')]
            for name in ("ruleset", "stream", "events")
        }
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self.released = threading.Event()
        self.http = LoopbackServer(_Handler, self)
        self.url = f"http://127.0.0.1:{self.http.server_port}"

    def script(self, endpoint: str, *replies: Reply) -> None:
        with self._lock:
            self._replies[endpoint] = list(replies)

    def seen(self, endpoint: str) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if s.path == f"/sdk/v1/{endpoint}"]

    def _next(self, path: str, headers: Mapping[str, str]) -> Reply | None:
        with self._lock:
            self._seen.append(Seen(path, headers, time.monotonic()))
            replies = self._replies.get(path.removeprefix("/sdk/v1/"))
            if replies is None:
                return None
            return replies.pop(0) if len(replies) > 1 else replies[0]


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer[FakeVexil]

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        fake = self.server.owner
        path = urlsplit(self.path).path
        reply = fake._next(path, {k.lower(): v for k, v in self.headers.items()})
        if reply is None:
            reply = Reply(404, b'{"error": {"code": "not_found"}}')
        if reply.silent:
            fake.released.wait(30)
            return
        self.send_response(reply.status)
        streaming = path.endswith("/stream") and reply.status == 200
        self.send_header("Content-Type", "text/event-stream" if streaming else "application/json")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not reply.hold:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.hold:
            fake.released.wait(30)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakeVexil]:
    server = FakeVexil()
    thread = threading.Thread(
        target=server.http.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-vexil"
    )
    thread.start()
    yield server
    server.released.set()
    server.http.shutdown()
    server.http.server_close()
    thread.join(5)


def flag(value: bool) -> dict[str, Any]:
    """A boolean flag, on, serving ``value`` to everyone."""
    return {"type": "boolean", "variations": BOOL, "on": True, "default": "on" if value else "off"}


def document(**flags: bool) -> dict[str, Any]:
    return {"version": 1, "flags": {k: flag(v) for k, v in flags.items()}, "segments": {}}


def ruleset(revision: int, **flags: bool) -> Reply:
    headers = {"ETag": f'"1-{revision}"', "X-Vexil-Revision": str(revision)}
    return Reply(200, json.dumps(document(**flags)).encode(), headers)


def sse(event: str, data: Any, id: int | None = None) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (
        f"event: {event}\n" + (f"id: {id}\n" if id is not None else "") + f"data: {text}\n\n"
    ).encode()


def stream(*events: bytes, hold: bool = True) -> Reply:
    return Reply(200, b"".join(events), {"Cache-Control": "no-cache"}, hold=hold)


FAST = Streaming(initial_backoff=0.05, max_backoff=0.5, fallback_after=2)


# ------------------------------------------------ faults of a real vexil serve


@pytest.mark.slow
def test_server_down_at_start_serves_defaults_then_recovers_when_it_comes_up(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server("sqlite")
    with new_env(server, "down-at-start") as env:
        env.flag_on("f")
    server.stop()

    began = time.monotonic()
    client = Client(env.key, url=server.base_url, mode=FAST, init_timeout=0.5, send_events=False)
    try:
        assert 0.45 <= time.monotonic() - began < 1.5  # waited init_timeout, no longer
        assert not client.is_initialized
        detail = client.variation_detail("f", USER, False)
        assert (detail.value, detail.error) == (False, ErrorKind.PROVIDER_NOT_READY)
        assert client.refresh() is False
        assert client.status in ("starting", "interrupted")

        server.start()  # the same port and database
        assert client.wait_until_ready(15)
        assert client.variation("f", USER, False) is True
        wait_for(lambda: client.status == "streaming", what="the stream to resume")
    finally:
        client.close()
    assert vexil_threads() == []


@pytest.mark.slow
def test_a_server_killed_mid_stream_is_reconnected_and_the_missed_changes_caught_up(
    new_server: Callable[..., VexilServer],
) -> None:
    first = new_server("sqlite")
    with new_env(first, "killed") as env:
        for key in ("kept", "toggled", "removed"):
            env.create_flag(key)
    # No fallback polling here: the changes can come back through the stream only.
    mode = Streaming(initial_backoff=0.05, max_backoff=0.5, fallback_after=1000)
    with Client(env.key, url=first.base_url, mode=mode, send_events=False) as client:
        assert client.status == "streaming"
        sent = _stream_requests(client)
        before = client.revision
        assert before is not None
        first.stop(signal.SIGKILL)
        wait_for(lambda: client.status == "interrupted", what="the stream to break")
        assert client.variation("toggled", USER, True) is False  # the flags held, still served

        # While the client is cut off, another server on the same database takes changes.
        second = new_server(database_url=first.database_url)
        with editor_for(second) as editor:
            missed = Env(second, editor, env.project, env.key)
            missed.toggle("toggled", True)
            missed.delete_flag("removed")
            missed.create_flag("added")
            revision = int(missed.ruleset().headers["X-Vexil-Revision"])
        second.stop()
        assert client.revision == before
        assert client.all_flags(USER) == {"kept": False, "toggled": False, "removed": False}

        first.start()  # back on its port, with the database the other one changed
        wait_for(lambda: client.revision == revision, what="the catch-up")
        assert client.all_flags(USER) == {"kept": False, "toggled": True, "added": False}
        assert client.status == "streaming"
        # It caught up from where it was: every reconnection named the last revision seen.
        ids = {request.headers.get("Last-Event-ID") for request in sent}
        assert ids == {str(before)}, ids
    assert vexil_threads() == []


def _stream_requests(client: Client) -> list[httpx.Request]:
    """The stream's next requests, as sent: an httpx event hook on the SDK's own client."""
    source = client._core.source
    assert isinstance(source, StreamingSource)
    sent: list[httpx.Request] = []
    http = source.transport._client
    http.event_hooks = {**http.event_hooks, "request": [*http.event_hooks["request"], sent.append]}
    return sent


@pytest.mark.parametrize("mode", [FAST, Polling(interval=0.1)], ids=["streaming", "polling"])
def test_an_unknown_key_gets_401_once_then_defaults_and_no_retries(
    server: VexilServer, mode: Streaming | Polling, caplog: pytest.LogCaptureFixture
) -> None:
    began = time.monotonic()
    client = Client(KEY, url=server.base_url, mode=mode, init_timeout=10, send_events=False)
    try:
        assert time.monotonic() - began < 5  # a refusal ends the wait: no use waiting on
        assert client.status == "unauthorized"
        assert client.variation("f", USER, "default") == "default"
        wait_for(lambda: vexil_threads() == [], what="the source to stop retrying")
        errors = sdk_errors(caplog)
        assert len(errors) == 1, errors
        assert "HTTP 401" in errors[0]
    finally:
        client.close()


@pytest.mark.slow
def test_a_key_revoked_under_a_stream_stops_it_at_reconnection_keeping_the_flags(
    new_server: Callable[..., VexilServer], caplog: pytest.LogCaptureFixture
) -> None:
    server = new_server("sqlite")
    with new_env(server, "revoked") as env:
        env.flag_on("f")
        with Client(env.key, url=server.base_url, mode=FAST, send_events=False) as client:
            assert client.variation("f", USER, False) is True
            url = f"{API}/projects/{env.project}/environments/development/keys/rotate"
            rotated = env.editor.post(url, json={"kind": "server", "overlap_seconds": 0})
            assert rotated.status_code == 200, rotated.text
            # An open stream outlives its key; a restart ends it, and the next connection
            # is refused.
            server.stop()
            server.start()
            wait_for(lambda: client.status == "unauthorized", what="the refusal")
            wait_for(lambda: "vexil-streaming" not in vexil_threads(), what="no more retries")
            assert client.variation("f", USER, False) is True
            assert client.is_initialized
    errors = sdk_errors(caplog)
    assert len(errors) == 1, errors
    assert "HTTP 401" in errors[0]
    assert vexil_threads() == []


def test_polling_with_a_revoked_key_keeps_the_flags_and_stops(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.flag_on("f")
    with Client(env.key, url=env.url, mode=Polling(interval=0.1), send_events=False) as client:
        assert client.variation("f", USER, False) is True
        url = f"{API}/projects/{env.project}/environments/development/keys/rotate"
        rotated = env.editor.post(url, json={"kind": "server", "overlap_seconds": 0})
        assert rotated.status_code == 200, rotated.text
        wait_for(lambda: client.status == "unauthorized", what="the refusal")
        wait_for(lambda: vexil_threads() == [], what="the polling to stop")
        assert client.variation("f", USER, False) is True
    errors = sdk_errors(caplog)
    assert len(errors) == 1, errors
    assert "HTTP 401" in errors[0]


# --------------------------------------------- faults a real server cannot make


@pytest.mark.slow
def test_stream_retries_back_off_exponentially_up_to_the_cap(fake: FakeVexil) -> None:
    mode = Streaming(initial_backoff=0.05, max_backoff=0.4, fallback_after=1000)
    with Client(KEY, url=fake.url, mode=mode, init_timeout=0, send_events=False) as client:
        # Without the cap, eight attempts would take at least 6.35 s (half of each ceiling).
        wait_for(lambda: len(fake.seen("stream")) >= 8, timeout=5, what="eight attempts")
        assert client.status == "interrupted"
        assert client.variation("f", USER, "default") == "default"
    times = [seen.at for seen in fake.seen("stream")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # After the n-th failure it waits between half and all of min(cap, initial * 2**n).
    floors = [min(0.4, 0.05 * 2**n) / 2 for n in range(1, len(gaps) + 1)]
    assert all(gap >= floor - 0.005 for gap, floor in zip(gaps, floors, strict=True)), gaps


@pytest.mark.slow
def test_500s_fall_back_to_polling_and_streaming_resumes_when_it_works(fake: FakeVexil) -> None:
    began = time.monotonic()
    client = Client(KEY, url=fake.url, mode=FAST, init_timeout=0.3, send_events=False)
    try:
        assert time.monotonic() - began < 1.3
        assert client.variation("f", USER, "default") == "default"
        assert client.refresh() is False

        fake.script("ruleset", ruleset(4, f=True))
        wait_for(lambda: client.status == "polling-fallback", what="the fallback")
        assert client.variation("f", USER, False) is True
        assert client.revision == 4
        tried = len(fake.seen("stream"))
        wait_for(lambda: len(fake.seen("stream")) > tried, what="another try of the stream")

        fake.script("stream", stream(sse("put", document(f=False), id=5)))
        wait_for(lambda: client.status == "streaming", what="the stream to resume")
        assert client.variation("f", USER, True) is False
        assert client.revision == 5
    finally:
        client.close()
    assert vexil_threads() == []


def test_polling_rides_out_500s_with_the_last_good_flags(fake: FakeVexil) -> None:
    fake.script("ruleset", ruleset(1, f=True), Reply(500))
    with Client(KEY, url=fake.url, mode=Polling(interval=0.05), send_events=False) as client:
        assert client.variation("f", USER, False) is True
        wait_for(lambda: len(fake.seen("ruleset")) >= 5, what="polls answered 500")
        assert client.variation("f", USER, False) is True
        assert (client.status, client.revision) == ("polling", 1)
        assert client.refresh() is False

        fake.script("ruleset", ruleset(2, f=False))
        wait_for(lambda: client.revision == 2, what="the next good answer")
        assert client.variation("f", USER, True) is False


@pytest.mark.slow
@pytest.mark.parametrize("mode", [FAST, Polling(interval=0.2)], ids=["streaming", "polling"])
def test_a_hung_server_costs_init_timeout_and_close_stays_bounded(
    fake: FakeVexil, mode: Streaming | Polling
) -> None:
    for endpoint in ("ruleset", "stream", "events"):
        fake.script(endpoint, Reply(silent=True))  # accepts, reads, never answers
    began = time.monotonic()
    client = Client(KEY, url=fake.url, mode=mode, init_timeout=0.5)
    assert 0.45 <= time.monotonic() - began < 1.5
    assert client.variation("f", USER, "default") == "default"
    client.track("clicked", USER)  # something to send at close, to a server that hangs
    wait_for(lambda: fake.seen("stream") or fake.seen("ruleset"), what="a hung request")

    began = time.monotonic()
    client.close()
    assert time.monotonic() - began <= 2.5
    assert fake.seen("events"), "close() tried to send the events"
    assert vexil_threads() == []
    began = time.monotonic()
    client.close()  # twice is fine, and immediate
    assert time.monotonic() - began < 0.1


@pytest.mark.slow
def test_a_stream_silent_past_read_timeout_is_dropped_and_reopened(fake: FakeVexil) -> None:
    fake.script("stream", stream(sse("put", document(f=True), id=3)))  # then not a byte
    mode = Streaming(initial_backoff=0.05, max_backoff=0.2, read_timeout=0.3, fallback_after=1000)
    with Client(KEY, url=fake.url, mode=mode, send_events=False) as client:
        assert client.variation("f", USER, False) is True
        wait_for(lambda: len(fake.seen("stream")) >= 3, what="reconnections")
        assert [s.last_event_id for s in fake.seen("stream")[:3]] == [None, "3", "3"]
        assert client.variation("f", USER, False) is True
        began = time.monotonic()
    assert time.monotonic() - began <= 2.5  # closed with a stream held open and silent
    assert vexil_threads() == []


@pytest.mark.slow
def test_a_malformed_stream_payload_is_refused_whole(
    fake: FakeVexil, caplog: pytest.LogCaptureFixture
) -> None:
    broken_group = [  # a valid change to a, then an invalid b: neither may apply
        sse("patch", {"kind": "flag", "key": "a", "object": flag(False)}),
        sse("patch", {"kind": "flag", "key": "b", "object": {"type": "boolean"}}, id=2),
    ]
    fake.script(
        "stream",
        stream(sse("put", document(a=True, b=True), id=1), *broken_group, hold=False),
        stream(sse("put", "{not json", id=3), hold=False),
        stream(sse("patch", "[[[", id=4), hold=False),
        Reply(500),
    )
    mode = Streaming(initial_backoff=0.05, max_backoff=0.2, fallback_after=1000)
    with Client(KEY, url=fake.url, mode=mode, send_events=False) as client:
        wait_for(lambda: len(fake.seen("stream")) >= 5, what="the malformed answers")
        assert client.all_flags(USER) == {"a": True, "b": True}
        assert client.revision == 1
        # After refusing a payload it asks for a whole document, not for what follows.
        assert [s.last_event_id for s in fake.seen("stream")[:5]] == [None] * 5
        errors = sdk_errors(caplog)
        assert any("refused a change from the stream" in e for e in errors), errors
        assert any("refused the flags from the stream" in e for e in errors), errors
        assert any("patch event is not JSON" in e for e in errors), errors

        fake.script("stream", stream(sse("put", document(a=False, b=False), id=6)))
        wait_for(lambda: client.revision == 6, what="a good put")
        assert client.all_flags(USER) == {"a": False, "b": False}


def test_polling_refuses_malformed_rulesets_and_keeps_polling(
    fake: FakeVexil, caplog: pytest.LogCaptureFixture
) -> None:
    invalid = json.dumps({"version": 1, "flags": {"f": {"type": "boolean"}}}).encode()
    fake.script(
        "ruleset",
        ruleset(1, f=True),
        Reply(200, b"{not json"),
        Reply(200, invalid, {"X-Vexil-Revision": "3"}),
        Reply(200, b"[" * 100_000),  # too deep for the JSON parser
        Reply(200, json.dumps(document(f=True)).encode(), {"X-Vexil-Revision": "\u00b2"}),
        Reply(200, b"\xff\xfe not utf-8"),
    )
    with Client(KEY, url=fake.url, mode=Polling(interval=0.05), send_events=False) as client:
        assert client.variation("f", USER, False) is True
        wait_for(lambda: len(fake.seen("ruleset")) >= 8, what="the malformed answers")
        assert client.variation("f", USER, False) is True
        assert (client.status, client.revision) == ("polling", 1)
        assert "vexil-polling" in vexil_threads()
        refused = [e for e in sdk_errors(caplog) if "refused the flags from the server" in e]
        assert len(refused) >= 4, sdk_errors(caplog)

        fake.script("ruleset", ruleset(5, f=False))
        wait_for(lambda: client.revision == 5, what="the next good ruleset")
        assert client.variation("f", USER, True) is False
