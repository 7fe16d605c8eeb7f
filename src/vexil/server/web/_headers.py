"""Security headers on every answer of the server, as plain ASGI middleware.

The dashboard is the reason: a signed-in page must not be framed by another site
(clickjacking), must run no script but its own files (so that markup slipped into a
flag's name could not run even if escaping failed somewhere), and must not leak its
addresses to other sites. The API's answers get the same headers, which cost them
nothing: a JSON body is never sniffed as HTML, framed or run.

The API docs page (Swagger UI, which FastAPI serves with an inline script and files
from a CDN) gets a policy of its own that allows those; it shows no user-supplied
content. A header that a response set itself is left as it is.

Strict-Transport-Security is sent only over HTTPS (``scope["scheme"]``: behind a
TLS-terminating proxy, uvicorn makes it ``https`` from ``X-Forwarded-Proto`` when
the proxy is trusted): browsers ignore it over plain HTTP, and sending it from a
server reached without TLS would say nothing true.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The dashboard's own files only: no inline script or style, no plugins, no <base>,
#: forms only to this server, and no framing by anyone.
POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: Where FastAPI's Swagger UI loads its script, styles and icon from.
DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_ICON = "https://fastapi.tiangolo.com"
#: The API docs page: its inline start-up script, and Swagger UI's inline styles.
DOCS_POLICY = "; ".join(
    (
        "default-src 'self'",
        f"script-src 'self' 'unsafe-inline' {DOCS_CDN}",
        f"style-src 'self' 'unsafe-inline' {DOCS_CDN}",
        f"img-src 'self' data: {DOCS_ICON}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: Sent on every answer.
COMMON = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
)
CSP = b"content-security-policy"
HSTS = b"strict-transport-security"


class SecurityHeaders:
    """Adds the headers to each response's start; ``hsts_seconds`` 0 never sends HSTS."""

    def __init__(self, app: ASGIApp, *, hsts_seconds: int, docs_paths: Iterable[str]) -> None:
        self.app = app
        self.docs_paths = frozenset(docs_paths)
        self.hsts = f"max-age={hsts_seconds}".encode() if hsts_seconds > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] in self.docs_paths else POLICY
        extra = [*COMMON, (CSP, policy.encode())]
        if self.hsts is not None and scope.get("scheme") == "https":
            extra.append((HSTS, self.hsts))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
