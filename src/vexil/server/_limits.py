"""One request-body limit for every endpoint, enforced before and while the body arrives.

A body is refused with 413 as soon as it is known to be too large: at once when
its ``Content-Length`` says so, and otherwise (a chunked upload) the moment the
bytes received pass the limit, so that no request ever holds more than
``max_body_bytes`` of body in memory, whatever the endpoint does with it. The
SDK events endpoint has a smaller limit of its own (``max_event_bytes``), which
also bounds the body once decompressed.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._json import json_bytes


class BodyLimit:
    """Pure ASGI middleware: 413 for a body over ``limit`` bytes, JSON like every error."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        self.message = f"the request body is larger than {limit} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                # Raised inside the application, so that its error handlers answer
                # (as JSON, or as a page for a browser) and nothing more is read.
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, send: Send) -> None:
        body = json_bytes({"error": {"code": "too_large", "message": self.message, "field": None}})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            # ASCII digits only: int() would take "²" or "1_000".
            return int(text) if text.isascii() and text.isdigit() else None
    return None
