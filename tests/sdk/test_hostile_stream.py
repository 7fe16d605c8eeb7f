"""A hostile stream: one event of 64 MiB, a stream that drips, one that never ends an event.

``HostileProxy`` stands in front of a real ``vexil serve``: it relays every request
byte for byte, except the next stream requests, which it answers with the attacks
queued. The ruleset endpoint is always the real server's. The client must hold no
more than its limit of an event, fetch the ruleset instead, say it is not streaming
while it is not, and come back to the real stream.
"""

from __future__ import annotations

import logging
import socket
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest
from _sdk import Env, LoopbackServer, editor_for

from _services import VexilServer, wait_for
from vexil import Client, ErrorKind, HttpOptions, Polling, Streaming

# Every test starts a server of its own behind a hostile proxy.
pytestmark = pytest.mark.slow

USER = {"key": "u-1"}
#: The client's limit in these tests, and the event sent past it.
LIMIT = 1024 * 1024
HUGE = 64 * 1024 * 1024
BLOCK = b"x" * 65536
#: Seconds between two bytes of a dripping stream: well within the read timeout.
DRIP = 0.05
#: Seconds without a complete event or heartbeat after which a stream is dead.
READ_TIMEOUT = 1.0
#: The server's heartbeats, often enough for a relayed stream to live with READ_TIMEOUT.
HEARTBEAT = "0.2"


class HostileProxy:
    """Relays to ``upstream``, but answers the next stream requests with ``attack``s."""

    def __init__(self, upstream: VexilServer) -> None:
        self.upstream = ("127.0.0.1", upstream.port)
        self.http = LoopbackServer(_Handler, self)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        self.released = threading.Event()
        self._attacks: list[str] = []
        self._relays: set[socket.socket] = set()
        self._lock = threading.Lock()
        #: Every request, in order: (method, path, headers).
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        #: Bytes each attack managed to send, as it goes (its name, then a count).
        self.sent: list[list[Any]] = []
        self.attack_ended = threading.Event()

    def attack(self, *names: str) -> None:
        with self._lock:
            self._attacks.extend(names)

    def paths(self) -> list[str]:
        with self._lock:
            return [path for _, path, _ in self.requests]

    def cut(self) -> None:
        """End every relayed connection now (the client sees its stream end)."""
        with self._lock:
            relays = list(self._relays)
        for upstream in relays:
            upstream.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.released.set()
        self.cut()

    def _next_attack(self, method: str, path: str, headers: dict[str, str]) -> str | None:
        with self._lock:
            self.requests.append((method, path, headers))
            if path == "/sdk/v1/stream" and self._attacks:
                return self._attacks.pop(0)
            return None


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer[HostileProxy]

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        self._answer(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _answer(self, body: bytes) -> None:
        proxy = self.server.owner
        headers = {name.lower(): value for name, value in self.headers.items()}
        attack = proxy._next_attack(self.command, urlsplit(self.path).path, headers)
        if attack is None:
            self._relay(body)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        count = [attack, 0]
        proxy.sent.append(count)
        try:
            ATTACKS[attack](self, proxy, count)
        except OSError:
            pass  # the client dropped the connection: the point of the attack
        finally:
            proxy.attack_ended.set()

    def _relay(self, body: bytes) -> None:
        """The request to the real server, and its answer back, byte for byte."""
        proxy = self.server.owner
        upstream = socket.create_connection(proxy.upstream)
        with proxy._lock:
            proxy._relays.add(upstream)
        try:
            lines = [f"{self.command} {self.path} HTTP/1.1"]
            lines += [
                f"{name}: {value}"
                for name, value in self.headers.items()
                if name.lower() not in ("connection", "keep-alive")
            ]
            lines.append("Connection: close")
            upstream.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
            while chunk := upstream.recv(65536):
                self.wfile.write(chunk)
                self.wfile.flush()
        except OSError:
            pass  # cut, or the client went away
        finally:
            with proxy._lock:
                proxy._relays.discard(upstream)
            upstream.close()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _huge(handler: _Handler, proxy: HostileProxy, count: list[Any]) -> None:
    """A put event of 64 MiB, one block at a time (the proxy holds one block only)."""
    handler.wfile.write(b"event: put\nid: 99\ndata: ")
    while count[1] < HUGE:
        handler.wfile.write(BLOCK)
        count[1] += len(BLOCK)
    handler.wfile.write(b"\n\n")


def _drip(handler: _Handler, proxy: HostileProxy, count: list[Any]) -> None:
    """A put that never ends: one byte each DRIP seconds, for ever."""
    handler.wfile.write(b"event: put\nid: 99\ndata: {")
    handler.wfile.flush()
    while not proxy.released.wait(DRIP):
        handler.wfile.write(b" ")
        handler.wfile.flush()
        count[1] += 1


def _lines(handler: _Handler, proxy: HostileProxy, count: list[Any]) -> None:
    """Whole lines, each DRIP seconds, and never the blank line that ends an event."""
    while not proxy.released.wait(DRIP):
        handler.wfile.write(b'data: {"kind": "flag"}\n')
        handler.wfile.flush()
        count[1] += 1


ATTACKS: dict[str, Callable[[_Handler, HostileProxy, list[Any]], None]] = {
    "huge": _huge,
    "drip": _drip,
    "lines": _lines,
}


@pytest.fixture
def upstream(new_server: Callable[..., VexilServer]) -> VexilServer:
    return new_server("sqlite", VEXIL_HEARTBEAT_SECONDS=HEARTBEAT)


@pytest.fixture
def env(upstream: VexilServer) -> Iterator[Env]:
    with editor_for(upstream) as editor:
        environment = Env.create(upstream, editor, "hostile")
        environment.flag_on("f")
        yield environment


@pytest.fixture
def proxy(upstream: VexilServer) -> Iterator[HostileProxy]:
    hostile = HostileProxy(upstream)
    thread = threading.Thread(
        target=hostile.http.serve_forever, kwargs={"poll_interval": 0.05}, name="hostile-proxy"
    )
    thread.start()
    yield hostile
    hostile.close()
    hostile.http.shutdown()
    hostile.http.server_close()
    thread.join(5)


def mode(**fields: Any) -> Streaming:
    return Streaming(
        **{
            "initial_backoff": 0.05,
            "max_backoff": 0.2,
            "fallback_after": 1000,
            "read_timeout": READ_TIMEOUT,
            **fields,
        }
    )


def streams_again(env: Env, client: Client) -> None:
    """After the attack, the real stream (once the backoff passed) carries a change."""
    wait_for(lambda: client.status == "streaming", what="the real stream, after the backoff")
    env.toggle("f", False)
    wait_for(lambda: client.variation("f", USER, True) is False, what="a change by the stream")


def after(paths: list[str], first: str, then: str) -> bool:
    """True if ``then`` was requested after the first request for ``first``."""
    return first in paths and then in paths[paths.index(first) + 1 :]


def test_an_event_past_the_limit_is_dropped_unread_and_the_ruleset_fetched_instead(
    env: Env, proxy: HostileProxy, caplog: pytest.LogCaptureFixture
) -> None:
    proxy.attack("huge")
    # A backoff long enough to see the status between the fetch and the next stream.
    slow = mode(initial_backoff=1.0, max_backoff=1.0)
    options = HttpOptions(max_event_bytes=LIMIT)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        client = Client(env.key, url=proxy.url, mode=slow, http=options, send_events=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with client:
        # The constructor returned with the flags of the GET that followed the refusal.
        assert client.is_initialized
        assert client.variation("f", USER, False) is True
        assert after(proxy.paths(), "/sdk/v1/stream", "/sdk/v1/ruleset")
        assert peak - before < 4 * LIMIT, f"{(peak - before) / 2**20:.1f} MiB held at the peak"
        sent = proxy.sent[0][1]
        assert sent < HUGE, "the client read the whole event"
        wait_for(lambda: client.status == "polling-fallback", what="the fetch, as a fallback")
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("larger than 1,048,576 bytes" in e for e in errors), errors

        streams_again(env, client)


def test_a_stream_dripping_bytes_is_dead_though_bytes_keep_coming(
    env: Env, proxy: HostileProxy
) -> None:
    proxy.attack("drip")
    with Client(env.key, url=proxy.url, mode=mode(), init_timeout=0, send_events=False) as client:
        wait_for(lambda: proxy.sent and proxy.sent[0][1] >= 5, what="bytes dripping")
        assert client.status == "starting"
        assert not client.is_initialized
        # Dead after READ_TIMEOUT without a complete event: dropped, and the ruleset fetched.
        assert proxy.attack_ended.wait(10), "the client kept reading the dripping stream"
        assert proxy.sent[0][1] < 10 * READ_TIMEOUT / DRIP
        wait_for(lambda: client.is_initialized, what="the fetched ruleset")
        assert client.variation("f", USER, False) is True
        assert after(proxy.paths(), "/sdk/v1/stream", "/sdk/v1/ruleset")

        streams_again(env, client)


def test_a_resumed_stream_that_never_ends_an_event_is_not_streaming(
    env: Env, proxy: HostileProxy
) -> None:
    with Client(env.key, url=proxy.url, mode=mode(), send_events=False) as client:
        assert client.status == "streaming"
        proxy.attack("lines")
        proxy.cut()  # the stream ends; the client resumes it, and meets the attack
        wait_for(lambda: proxy.sent and proxy.sent[0][1] >= 5, what="lines without an event")
        resumed = [h for _, path, h in proxy.requests if path == "/sdk/v1/stream"][1]
        assert resumed.get("last-event-id") == str(client.revision)
        assert client.status != "streaming"  # it is stale, and says so
        env.toggle("f", False)  # a change it cannot hear about on this stream

        assert proxy.attack_ended.wait(10), "the client kept reading lines without events"
        wait_for(lambda: client.variation("f", USER, True) is False, what="the change, fetched")
        wait_for(lambda: client.status == "streaming", what="the real stream")


def test_a_ruleset_past_the_limit_is_refused_and_the_defaults_served(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.create_flag("big", {"long": "x" * 4000, "short": "x"})  # the ruleset: over 2 KiB
    options = HttpOptions(max_event_bytes=2048)
    polling = Polling(interval=0.1)
    with Client(env.key, url=env.url, mode=polling, http=options, init_timeout=0) as client:
        wait_for(lambda: any("max_event_bytes" in r.getMessage() for r in caplog.records))
        assert not client.is_initialized
        detail = client.variation_detail("f", USER, False)
        assert (detail.value, detail.error) == (False, ErrorKind.PROVIDER_NOT_READY)
