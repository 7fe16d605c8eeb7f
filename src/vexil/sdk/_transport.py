"""The SDK's HTTP: the three SDK endpoints, over one httpx client per core.

Every exception from httpx stays in here or in the data sources; callers see
``Fetched`` values and status codes. No answer is read past
``HttpOptions.max_event_bytes``, and none is asked for compressed (``Accept-Encoding:
identity``), so that what arrives is what is held: a server cannot fill the host's
memory with one large ruleset, nor with a small compressed one.

``interrupt()`` shuts down the sockets of requests in flight, so that ``close()`` is
bounded even when a server hangs: a blocked read is woken by ``shutdown``, which
``close`` on another thread does not do. Once interrupted, a transport cuts every
connection it opens later at once, so that a retry (or a request that was still
connecting) cannot hang in its turn.
"""

from __future__ import annotations

import contextlib
import os
import socket
import ssl
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from vexil._version import __version__
from vexil.sdk._errors import ConfigurationError

USER_AGENT = f"vexil-python/{__version__}"
#: The largest answer to an events batch read: it holds a count, nothing more.
MAX_EVENTS_ANSWER = 64 * 1024


class BodyTooLarge(Exception):
    """An answer larger than the client reads, or one sent compressed though not asked to be."""


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
    #: The largest stream event, and ruleset fetched, that the client reads: a few
    #: times the largest realistic ruleset (10,000 flags with rules are about 11 MB).
    #: Past it the stream is dropped and the ruleset fetched; a ruleset past it is
    #: refused, and the last good flags stay.
    max_event_bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        size = self.max_event_bytes
        if isinstance(size, bool) or not isinstance(size, int) or size < 1024:
            raise ConfigurationError(
                f"HttpOptions.max_event_bytes must be an integer of at least 1024, not {size!r}"
            )
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
            "Accept-Encoding": "identity",
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
        """Raises ``httpx.HTTPError`` on network trouble, ``BodyTooLarge`` past the limit."""
        headers = {"If-None-Match": etag} if etag else {}
        with self._client.stream(
            "GET", "/sdk/v1/ruleset", headers=headers, extensions={"trace": self._trace}
        ) as response:
            body = read_bounded(response, self.options.max_event_bytes)
        return Fetched(
            response.status_code,
            response.headers.get("ETag") or etag,
            _revision(response.headers.get("X-Vexil-Revision")),
            body,
        )

    @contextmanager
    def stream(
        self, last_event_id: str | None, read_timeout: float
    ) -> Iterator[tuple[httpx.Response, Iterator[bytes]]]:
        """The SSE stream; yields the response (check its status) and its raw chunks.

        Each chunk is at most one network read: parsing, and bounding what is held, is
        the reader's (``vexil.sdk._sse``).
        """
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
            yield response, _identity(response).iter_raw()

    def post_events(self, body: bytes) -> int:
        """``body`` is a gzipped JSON array. Raises ``httpx.HTTPError`` on network trouble."""
        with self._client.stream(
            "POST",
            "/sdk/v1/events",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
            extensions={"trace": self._trace},
        ) as response:
            # Only the status matters; past the bound the connection is dropped, not reused.
            with contextlib.suppress(BodyTooLarge):
                read_bounded(response, MAX_EVENTS_ANSWER)
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


def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body of ``response``; ``BodyTooLarge`` as soon as it shows to be past ``limit``."""
    declared = response.headers.get("Content-Length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the answer is {int(declared):,} bytes, over the limit of {limit:,}")
    return _join_bounded(_identity(response).iter_raw(), limit)


def _join_bounded(chunks: Iterable[bytes], limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the answer is over the limit of {limit:,} bytes")
        parts.append(chunk)
    return b"".join(parts)


def _identity(response: httpx.Response) -> httpx.Response:
    """``response`` if its body is sent as it is; ``BodyTooLarge`` if it came compressed.

    The client asks for no compression: decompressing would turn a small body into
    one of any size before it could be counted.
    """
    coding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in ("", "identity"):
        raise BodyTooLarge(f"the answer came compressed ({coding}) though the client asked not")
    return response


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
