"""The HTTP connection guard: limits uvicorn does not enforce by itself.

uvicorn closes idle keep-alive connections and answers 503 past
``limit_concurrency``, but a client that opens a connection and sends its
request line and headers one byte at a time (slowloris) holds the connection,
and the headers it has sent so far, for as long as it likes; and nothing caps
how many such connections are open. This protocol, a subclass of uvicorn's
httptools one, adds three limits from the settings:

- **header timeout**: a request's line and headers must arrive within
  ``header_timeout`` seconds of the connection opening, or of the previous
  response ending; otherwise the connection is closed;
- **header size**: more than ``MAX_HEADER_BYTES`` before the headers end gets 431
  and the connection is closed, so that the headers held in memory are bounded;
- **connections**: past ``max_connections`` open connections a new one is closed
  at once, before anything is read from it.

Bodies are bounded separately (``_limits``), and idle keep-alive connections by
uvicorn's ``timeout_keep_alive`` (``keep_alive_timeout``).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ._settings import Settings

#: Request line and headers together; browsers send a few KiB, 64 KiB is generous.
MAX_HEADER_BYTES = 65_536

_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 33\r\n"
    b"connection: close\r\n\r\n"
    b"the request headers are too large"
)


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header timeout, a header size and a connection cap."""

    header_timeout: ClassVar[float] = 10.0
    max_connections: ClassVar[int] = 10_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        #: Bytes received of the request whose headers are still coming; None once they ended.
        self._header_bytes: int | None = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            # Refuse before reading anything: a full server must not grow further.
            transport.abort()
            return
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        if self.transport is None:  # refused in connection_made
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        counting = self._header_bytes is not None
        super().data_received(data)
        # Counted after parsing, since a read may hold the end of the headers and a
        # body: only a request whose headers are still unfinished is over the limit.
        if counting and self._header_bytes is not None:
            self._header_bytes += len(data)
            if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._disarm_header_timer()
                self.transport.write(_TOO_LARGE)
                self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_bytes is None:  # the next request on a kept-alive connection
            self._header_bytes = 0
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        self._header_bytes = None
        # Lent to SDK streams, which bound the connection's buffer and reset it when
        # the client stops reading (``_stream_response``).
        self.scope["extensions"] = {"vexil.transport": {"transport": self.transport}}
        super().on_headers_complete()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedProtocol]:
    """The protocol class with the limits of ``settings``."""
    return type(
        "GuardedProtocol",
        (GuardedProtocol,),
        {"header_timeout": settings.header_timeout, "max_connections": settings.max_connections},
    )
