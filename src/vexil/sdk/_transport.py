"""The SDK's HTTP: the three SDK endpoints, over one httpx client per core.

Every exception from httpx stays in here or in the data sources; callers see
``Fetched`` values and status codes. ``interrupt()`` shuts down the sockets of
requests in flight, so that ``close()`` is bounded even when a server hangs: a
blocked read is woken by ``shutdown``, which ``close`` on another thread does not do.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from vexil import __version__

USER_AGENT = f"vexil-python/{__version__}"


@dataclass(frozen=True, slots=True)
class Fetched:
    """The answer to ``GET /sdk/v1/ruleset``."""

    status: int
    etag: str | None = None
    revision: int | None = None
    body: bytes = b""


@dataclass(frozen=True)
class HttpOptions:
    """How the client talks HTTP: timeouts, proxy, TLS and extra headers."""

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    proxy: str | None = None
    #: ``True``, ``False`` (no TLS checks: tests only), or a CA bundle's path.
    verify: bool | str = True
    headers: Mapping[str, str] | None = None


class Transport:
    def __init__(self, url: str, sdk_key: str, options: HttpOptions) -> None:
        self.options = options
        headers = {
            "User-Agent": USER_AGENT,
            **(options.headers or {}),
            "Authorization": sdk_key,
        }
        self._client = httpx.Client(
            base_url=url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(options.read_timeout, connect=options.connect_timeout),
            proxy=options.proxy,
            verify=options.verify,
            follow_redirects=True,
        )
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ requests

    def fetch_ruleset(self, etag: str | None = None) -> Fetched:
        """Raises ``httpx.HTTPError`` on network trouble."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._client.get(
            "/sdk/v1/ruleset", headers=headers, extensions={"trace": self._trace}
        )
        revision = response.headers.get("X-Vexil-Revision")
        return Fetched(
            response.status_code,
            response.headers.get("ETag") or etag,
            int(revision) if revision and revision.isdigit() else None,
            response.content,
        )

    @contextmanager
    def stream(
        self, last_event_id: str | None, read_timeout: float
    ) -> Iterator[tuple[httpx.Response, Iterator[ServerSentEvent]]]:
        """The SSE stream; yields the response (check its status) and its events."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(read_timeout, connect=self.options.connect_timeout)
        with self._client.stream(
            "GET",
            "/sdk/v1/stream",
            headers=headers,
            timeout=timeout,
            extensions={"trace": self._trace},
        ) as response:
            yield response, EventSource(response).iter_sse()

    def post_events(self, body: bytes) -> int:
        """``body`` is a gzipped JSON array. Raises ``httpx.HTTPError`` on network trouble."""
        response = self._client.post(
            "/sdk/v1/events",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            extensions={"trace": self._trace},
        )
        return response.status_code

    # ----------------------------------------------------------- interrupting

    def _trace(self, name: str, info: dict[str, Any]) -> None:
        """httpcore's trace hook: remember every socket opened, for ``interrupt``."""
        if name.endswith(("connect_tcp.complete", "start_tls.complete")):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sockets.add(sock)

    def interrupt(self) -> None:
        """Wake every request blocked on a socket (they fail with a network error).

        Shuts down every connection this transport opened: only ``close`` and the
        stream's stop use it, when no connection is wanted any more.
        """
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.interrupt()
        self._client.close()
