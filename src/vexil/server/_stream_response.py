"""The response of an SDK stream: shared bytes, a bounded buffer, and a deadline per send.

uvicorn's ``send`` waits while the connection's write buffer is over its
high-water mark (64 KiB): that is back-pressure, but it waits for ever, it
copies each body it is given (to frame it as a chunk), and below it the
kernel's send buffer grows on its own to megabytes. A client that opens a
stream and never reads would hold all of that for as long as it liked.

So:

- a stream's payloads, shared by every stream of an environment (``_stream``),
  go out as ``memoryview`` slices of at most ``SLICE`` bytes, and the transport's
  high-water mark is one slice: what uvicorn holds for a connection stays under
  two slices, however large the ruleset;
- the connection's kernel send buffer is fixed at ``buffer_bytes``
  (``stream_buffer_bytes``) instead of growing to megabytes;
- each slice must be taken within ``send_timeout`` seconds
  (``stream_send_timeout``), or the client is dropped: the connection is reset,
  which frees its buffers at once, and the client reconnects, as after any drop,
  to a fresh ``put``.

The buffer and the reset need the connection's transport, which ASGI does not
give an application: ``vexil serve``'s HTTP protocol (``_protocol``) lends it in
the scope's ``vexil.transport`` extension. Under a server that does not, the
kernel buffer is the system's, and a dropped response simply ends unfinished,
which makes the server close the connection once its buffer drains.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

#: Bytes per ``send``: small next to uvicorn's 64 KiB high-water mark.
SLICE = 16_384
#: The ASGI scope extension through which the server lends the connection's transport.
TRANSPORT_EXTENSION = "vexil.transport"
#: SO_LINGER on, for zero seconds: closing resets the connection, dropping what is unsent.
_RESET = struct.pack("ii", 1, 0)


def slices(chunk: bytes) -> Iterator[bytes | memoryview]:
    """``chunk`` in pieces of at most ``SLICE`` bytes, none of them a copy."""
    if len(chunk) <= SLICE:
        yield chunk
        return
    view = memoryview(chunk)
    for start in range(0, len(chunk), SLICE):
        yield view[start : start + SLICE]


def transport_of(scope: Scope) -> asyncio.Transport | None:
    extension = scope.get("extensions", {}).get(TRANSPORT_EXTENSION, {})
    transport: asyncio.Transport | None = extension.get("transport")
    return transport


class StreamResponse(StreamingResponse):
    """A never-ending ``text/event-stream`` whose client must keep reading.

    ``on_drop`` runs when a client is dropped for not reading; ``on_close`` when
    the response is over, however it ended.
    """

    def __init__(
        self,
        content: AsyncGenerator[bytes, None],
        *,
        send_timeout: float,
        buffer_bytes: int,
        on_drop: Callable[[], None],
        on_close: Callable[[], None],
        headers: Mapping[str, str],
    ) -> None:
        super().__init__(content, media_type="text/event-stream", headers=headers)
        self.content = content
        self.send_timeout, self.buffer_bytes = send_timeout, buffer_bytes
        self.on_drop, self.on_close = on_drop, on_close
        self.transport: asyncio.Transport | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.transport = transport_of(scope)
        try:
            self._bound_buffers()
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()

    async def stream_response(self, send: Send) -> None:
        try:
            if await self._sent_all(send):
                await self._send(send, {"type": "http.response.body", "body": b""})
        finally:
            # Ends the generator now (its subscription with it), not when it is collected.
            await self.content.aclose()

    async def _sent_all(self, send: Send) -> bool:
        """Send the headers and every chunk; False when the client was dropped."""
        start = {"type": "http.response.start", "status": self.status_code}
        if not await self._send(send, {**start, "headers": self.raw_headers}):
            return False
        async for chunk in self.content:
            for piece in slices(chunk):
                message = {"type": "http.response.body", "body": piece, "more_body": True}
                if not await self._send(send, message):
                    return False
        return True

    async def _send(self, send: Send, message: dict[str, Any]) -> bool:
        """Send ``message``, or drop the client when it takes longer than ``send_timeout``."""
        try:
            async with asyncio.timeout(self.send_timeout):
                await send(message)
        except TimeoutError:
            self._drop()
            return False
        return True

    def _bound_buffers(self) -> None:
        if self.transport is None:
            return
        # uvicorn waits for the transport's buffer to drain below its high-water mark
        # before each send: one slice, rather than 64 KiB, may wait there.
        self.transport.set_write_buffer_limits(high=SLICE)
        # Linux doubles the size asked for, for its bookkeeping: half of it, then.
        self._socket_option(socket.SO_SNDBUF, self.buffer_bytes // 2)

    def _drop(self) -> None:
        self.on_drop()
        if self.transport is not None:
            self._socket_option(socket.SO_LINGER, _RESET)
            self.transport.abort()

    def _socket_option(self, option: int, value: int | bytes) -> None:
        sock = None if self.transport is None else self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, option, value)
