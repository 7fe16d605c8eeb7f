"""The SDK's HTTP: the three SDK endpoints, over one httpx client per core.

Every exception from httpx stays in here or in the data sources; callers see
``Fetched`` values and status codes. ``interrupt()`` shuts down the sockets of
requests in flight, so that ``close()`` is bounded even when a server hangs: a
blocked read is woken by ``shutdown``, which ``close`` on another thread does not do.
Once interrupted, a transport cuts every connection it opens later at once, so that a
retry (or a request that was still connecting) cannot hang in its turn.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from vexil import __version__
from vexil.sdk._errors import ConfigurationError

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
    #: ``True`` (the system's CAs, through certifi), ``False`` (no TLS checks: tests
    #: only), a CA bundle's path (a file, or a directory of hashed certificates), or an
    #: ``ssl.SSLContext`` of your own.
    verify: bool | str | ssl.SSLContext = True
    headers: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ConfigurationError(
                    f"HttpOptions.{name} must be a positive number of seconds, not {value!r}"
                )
        if self.proxy is not None:
            _check_proxy(self.proxy)
        if not isinstance(self.verify, bool | str | ssl.SSLContext):
            raise ConfigurationError(
                "HttpOptions.verify must be True, False, a CA bundle's path or an SSLContext,"
                f" not {type(self.verify).__name__}"
            )
        if isinstance(self.verify, str):
            try:
                _tls(self.verify)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigurationError(
                    f"HttpOptions.verify: cannot read CA certificates from {self.verify!r}: {exc}"
                ) from exc
        if self.headers is not None:
            _check_headers(self.headers)


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
            verify=_tls(options.verify),
            follow_redirects=True,
        )
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._interrupted = False

    # ------------------------------------------------------------------ requests

    def fetch_ruleset(self, etag: str | None = None) -> Fetched:
        """Raises ``httpx.HTTPError`` on network trouble."""
        headers = {"If-None-Match": etag} if etag else {}
        response = self._client.get(
            "/sdk/v1/ruleset", headers=headers, extensions={"trace": self._trace}
        )
        return Fetched(
            response.status_code,
            response.headers.get("ETag") or etag,
            _revision(response.headers.get("X-Vexil-Revision")),
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
                    interrupted = self._interrupted
                if interrupted:  # opened after interrupt(): no connection is wanted
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)

    def interrupt(self) -> None:
        """Wake every request blocked on a socket (they fail with a network error).

        Shuts down every connection this transport opened, and every one it opens
        afterwards: only ``close`` and the stream's stop use it, when no connection is
        wanted any more.
        """
        with self._lock:
            self._interrupted = True
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed
                sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.interrupt()
        self._client.close()


def _tls(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx takes contexts; a path becomes one (passing it as a string is deprecated)."""
    if isinstance(verify, str):
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return verify


def _revision(header: str | None) -> int | None:
    """``X-Vexil-Revision`` as a number; None when absent or not a plain decimal number."""
    if header and header.isascii() and header.isdigit():
        return int(header)
    return None


def _check_proxy(proxy: Any) -> None:
    try:
        url = httpx.URL(proxy)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigurationError(f"HttpOptions.proxy: {proxy!r} is not a URL") from exc
    if url.scheme not in ("http", "https", "socks5", "socks5h") or not url.host:
        raise ConfigurationError(
            f"HttpOptions.proxy: {proxy!r} must be an http://, https:// or socks5:// address"
        )


def _check_headers(headers: Any) -> None:
    if not isinstance(headers, Mapping):
        raise ConfigurationError("HttpOptions.headers must be a mapping of names to values")
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ConfigurationError(
                f"HttpOptions.headers: {name!r}: names and values must be strings"
            )
        if not name or any(c in name for c in " :\r\n") or any(c in value for c in "\r\n"):
            raise ConfigurationError(f"HttpOptions.headers: {name!r} is not a valid header")
