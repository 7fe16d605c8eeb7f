"""Data sources: where a client's flags come from, all behind one small interface.

``start()`` begins (a background thread, or nothing), ``stop()`` asks it to end and
wakes it, ``join(timeout)`` waits for it, ``refresh()`` fetches now on the calling
thread, and ``status`` says how it is doing. Each thread is a named daemon that
sleeps on ``threading.Event.wait``, so ``stop()`` ends it at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from vexil.flags import ValidationError
from vexil.flags import read_document as _read_document
from vexil.sdk._modes import Daemon, Lazy, Polling, Streaming
from vexil.sdk._sse import EventTooLarge, StreamStalled
from vexil.sdk._sse import read as read_events
from vexil.sdk._state import FlagState, StreamEvent
from vexil.sdk._status import ClientStatus
from vexil.sdk._stores import Store
from vexil.sdk._threads import joined
from vexil.sdk._transport import BodyTooLarge, Transport

log = logging.getLogger("vexil.sdk")

STARTING, STREAMING, POLLING, FALLBACK = (
    ClientStatus.STARTING,
    ClientStatus.STREAMING,
    ClientStatus.POLLING,
    ClientStatus.FALLBACK,
)
INTERRUPTED, UNAUTHORIZED, IDLE, STOPPED = (
    ClientStatus.INTERRUPTED,
    ClientStatus.UNAUTHORIZED,
    ClientStatus.IDLE,
    ClientStatus.STOPPED,
)


class Source:
    """The interface; also the source of ``Offline()`` without a file: nothing at all."""

    name = "offline"

    def __init__(self, state: FlagState) -> None:
        self.state = state
        self.status: ClientStatus = IDLE
        #: Set once the first attempt to get flags has ended, well or badly.
        self.attempted = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.attempted.set()

    def prime(self) -> None:
        """The first attempt to get flags, on the calling thread, and no thread after it.

        For a process about to fork workers (a uWSGI master): each worker starts the
        source's thread for itself, after the fork.
        """
        self.refresh()
        self.attempted.set()
        if self.status != UNAUTHORIZED:
            self.status = IDLE

    def _spawn(self, target: Callable[[], None]) -> None:
        self._thread = threading.Thread(target=target, name=f"vexil-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.status = STOPPED

    def join(self, timeout: float) -> bool:
        return joined(self._thread, timeout)

    def refresh(self) -> bool:
        """Fetch now; True if the flags are current afterwards."""
        return self.state.is_ready


# ------------------------------------------------------------------ over HTTP


class _Remote(Source):
    """A source that fetches ``GET /sdk/v1/ruleset``."""

    def __init__(self, state: FlagState, transport: Transport) -> None:
        super().__init__(state)
        self.transport = transport
        self._fetch_lock = threading.Lock()
        self._warned_unauthorized = False

    def refresh(self) -> bool:
        with self._fetch_lock:
            return self._fetch_safely()

    def _fetch_safely(self) -> bool:
        """``_fetch``, which must never end a source's thread, whatever the server sent."""
        try:
            return self._fetch()
        except Exception as exc:  # a bug, or a payload nobody foresaw: keep what we hold
            log.exception("unexpected error while fetching the flags: %r", exc)
            return False
        finally:
            self.attempted.set()

    def _fetch(self) -> bool:
        try:
            fetched = self.transport.fetch_ruleset(self.state.etag if self.state.is_ready else None)
        except httpx.HTTPError as exc:
            log.warning("could not fetch the flags from the server: %r", exc)
            return False
        except BodyTooLarge as exc:
            log.error(
                "refused the flags from the server, keeping the last good ones: %s"
                " (HttpOptions.max_event_bytes)",
                exc,
            )
            return False
        if fetched.status == 304:
            self.state.touch()
            self.state.confirmed = True
            return True
        if not self._accepted(fetched.status, "the server answered HTTP %d for the flags"):
            return False
        try:
            document = _decode(fetched.body)
        except ValueError as exc:
            log.error("refused the flags from the server, keeping the last good ones: %s", exc)
            return False
        if not self.state.put(document, fetched.revision, "the server"):
            return False
        self.state.etag = fetched.etag
        self.state.confirmed = True
        return True

    def _accepted(self, status: int, warning: str) -> bool:
        """Whether an answer is a 200; a refused key stops the source, anything else warns."""
        if status in (401, 403):
            self._unauthorized(status)
        elif status != 200:
            log.warning(warning, status)
        return status == 200

    def _unauthorized(self, status: int) -> None:
        """A 401 or 403: stop asking. Flags the server never sent this process go."""
        self.status = UNAUTHORIZED
        # Flags from a store were saved under a key that the server now refuses (revoked,
        # or never valid): serving them would carry on, indefinitely, as if the key were
        # good. Flags the server itself sent are kept, as through any other outage.
        kept = self.state.confirmed
        if not kept:
            self.state.forget()
        if not self._warned_unauthorized:
            self._warned_unauthorized = True
            log.error(
                "the server refused the SDK key (HTTP %d): not retrying; %s."
                " Check the key (a server key, vx-srv-...).",
                status,
                "serving the flags it sent before" if kept else "serving every caller's default",
            )


class ManualSource(_Remote):
    """Fetches at start and on ``refresh()`` only."""

    name = "manual"

    def start(self) -> None:
        self.status = IDLE
        self.refresh()


class PollingSource(_Remote):
    name = "polling"

    def __init__(self, state: FlagState, transport: Transport, mode: Polling) -> None:
        super().__init__(state, transport)
        self.interval = mode.interval

    def start(self) -> None:
        self.status = POLLING
        self._spawn(self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            if self.status == UNAUTHORIZED:
                return
            # Up to a tenth of jitter, so that a fleet of processes does not ask in step.
            self._stop.wait(self.interval * random.uniform(0.9, 1.0))


class LazySource(_Remote):
    """Fetches in the background when an evaluation finds the flags older than the TTL."""

    name = "lazy"

    def __init__(self, state: FlagState, transport: Transport, mode: Lazy) -> None:
        super().__init__(state, transport)
        self.ttl = mode.ttl
        self.wake = threading.Event()

    def start(self) -> None:
        self.status = IDLE
        self.refresh()
        self._spawn(self._run)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.wake.wait()
            if self._stop.is_set() or self.status == UNAUTHORIZED:
                return
            self.refresh()
            self.wake.clear()

    def stop(self) -> None:
        super().stop()
        self.wake.set()

    def stale(self) -> None:
        """Called by evaluations that found the flags stale; cheap when already woken."""
        if not self.wake.is_set():
            self.wake.set()


class StreamingSource(_Remote):
    """The SSE stream, with backoff, a polling fallback and catch-up by ``Last-Event-ID``.

    The stream is trusted with neither its size nor its pace. An event past
    ``HttpOptions.max_event_bytes`` drops the connection before more of it is read; a
    stream with no complete event nor heartbeat for ``Streaming.read_timeout`` is dead,
    however many bytes it sends. Either way the ruleset is fetched at once with a
    plain GET, and the stream reopened after the usual backoff. ``status`` says
    ``streaming`` only while events or heartbeats keep coming.
    """

    name = "streaming"

    def __init__(self, state: FlagState, transport: Transport, mode: Streaming) -> None:
        self._status = STARTING
        #: ``time.monotonic()`` of the last complete event or heartbeat.
        self._alive_at = 0.0
        super().__init__(state, transport)
        self.mode = mode
        self.last_event_id: str | None = None

    @property
    def status(self) -> ClientStatus:
        status = self._status
        if status == STREAMING and time.monotonic() - self._alive_at > self.mode.read_timeout:
            return INTERRUPTED  # dead already: the reader, blocked on a read, will see it next
        return status

    @status.setter
    def status(self, value: ClientStatus) -> None:
        self._status = value

    def start(self) -> None:
        self.status = STARTING
        self._spawn(self._run)

    def stop(self) -> None:
        super().stop()
        self.transport.interrupt()  # wakes a read blocked on the stream

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            began = time.monotonic()
            outcome = self._stream_once()
            if self._stop.is_set():
                return
            if outcome == UNAUTHORIZED:
                self.attempted.set()
                return
            if self._alive_at - began > 60:
                attempt = 0  # a stream that stayed alive a minute resets the backoff
            attempt += 1
            self.status = INTERRUPTED
            # A stream refused for its size or its pace may be all that is wrong: the
            # ruleset may still come the ordinary way, so fetch it without waiting.
            if outcome == _REFUSED or attempt >= self.mode.fallback_after:
                with self._fetch_lock:
                    if self._fetch_safely():
                        self.status = FALLBACK
                if self.status == UNAUTHORIZED:
                    return
            self.attempted.set()
            ceiling = min(self.mode.max_backoff, self.mode.initial_backoff * 2 ** min(attempt, 30))
            self._stop.wait(random.uniform(ceiling / 2, ceiling))

    def _stream_once(self) -> str:
        """One connection, until it ends or fails; returns how it ended."""
        try:
            with self.transport.stream(self.last_event_id, self.mode.read_timeout) as (
                response,
                chunks,
            ):
                status = response.status_code
                if not self._accepted(status, "the stream answered HTTP %d"):
                    return UNAUTHORIZED if status in (401, 403) else INTERRUPTED
                return self._read(chunks)
        except (EventTooLarge, BodyTooLarge) as exc:
            if not self._stop.is_set():
                log.error(
                    "%s (HttpOptions.max_event_bytes): dropped the stream; fetching the"
                    " ruleset instead",
                    exc,
                )
            return _REFUSED
        except (StreamStalled, httpx.ReadTimeout):
            if not self._stop.is_set():
                log.warning(
                    "no complete event nor heartbeat on the stream for %g s"
                    " (Streaming.read_timeout): taken for dead; reconnecting",
                    self.mode.read_timeout,
                )
            return _REFUSED
        except (httpx.HTTPError, OSError) as exc:
            if not self._stop.is_set():
                log.info("the stream broke: %r", exc)
            return INTERRUPTED
        except Exception as exc:  # a bug must not end the thread: log it and reconnect
            log.exception("unexpected error on the stream: %r", exc)
            return INTERRUPTED

    def _read(self, chunks: Iterator[bytes]) -> str:
        group: list[StreamEvent] = []
        limit = self.transport.options.max_event_bytes
        for sse in read_events(chunks, limit, self.mode.read_timeout):
            self._alive_at = time.monotonic()
            if sse.type == "put":
                group.clear()
                if not self._accept_put(sse.data, sse.id):
                    return INTERRUPTED
            elif sse.type in ("patch", "delete"):
                try:
                    group.append((sse.type, _decode(sse.data)))
                except ValueError:
                    return self._malformed(f"{sse.type} event is not JSON")
                if sse.id is not None:  # the last event of a group carries its revision
                    if not self.state.apply_group(group, _revision(sse.id)):
                        return self._malformed("a change did not apply")
                    self.state.confirmed = True
                    self.last_event_id = sse.id or None
                    group = []
            if self.last_event_id is not None:
                # Current from here: a put arrived, or a resumed stream spoke (with the
                # changes missed, or a heartbeat when there were none).
                self.status = STREAMING
            if self._stop.is_set():
                break
        return INTERRUPTED

    def _accept_put(self, data: bytes, event_id: str | None) -> bool:
        try:
            document = _decode(data)
        except ValueError as exc:
            log.error("refused the flags from the stream, keeping the last good ones: %s", exc)
            accepted = False
        else:
            accepted = self.state.put(document, _revision(event_id or ""), "the stream")
        if not accepted:
            self._malformed("the put event was refused")
            return False
        self.state.confirmed = True
        self.last_event_id = event_id or None
        self.status = STREAMING
        self.attempted.set()
        return True

    def _malformed(self, what: str) -> str:
        log.error("%s; reconnecting for a fresh copy of the flags", what)
        self.last_event_id = None  # ask for a whole document next time
        return INTERRUPTED


#: How a stream ended when it was refused for its size or its pace.
_REFUSED = "refused"


def _revision(event_id: str) -> int | None:
    return int(event_id) if event_id.isascii() and event_id.isdigit() else None


def _decode(payload: bytes | str) -> Any:
    """JSON text decoded; ``ValueError`` for anything else, nesting too deep included."""
    try:
        return json.loads(payload)
    except RecursionError:
        raise ValueError("JSON nested too deeply to decode") from None


# ------------------------------------------------------------ local sources


class FileSource(Source):
    """A flag document on disk, read at start and, with ``watch``, again when it changes."""

    name = "file"

    def __init__(
        self, state: FlagState, path: str | os.PathLike[str], *, watch: bool, interval: float
    ) -> None:
        super().__init__(state)
        self.path = Path(path)
        self.watch = watch
        self.interval = interval
        self._seen: tuple[int, int] | None = None

    def start(self) -> None:
        self.refresh()
        self.attempted.set()
        if self.watch:
            self.status = POLLING
            self._spawn(self._run)

    def _signature(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def refresh(self) -> bool:
        self._seen = self._signature()
        try:
            data = _read_document(self.path.read_bytes())
        except (OSError, ValidationError, ValueError, RecursionError) as exc:
            log.error(
                "could not read the flags of %s, keeping the last good ones: %s", self.path, exc
            )
            return False
        return self.state.put(data, None, str(self.path))

    def _run(self) -> None:
        # Polling the file's size and time keeps the SDK free of a file-watching
        # dependency; a second's delay is nothing next to a human edit.
        while not self._stop.wait(self.interval):
            if self._signature() != self._seen:
                self.refresh()


class StoreSource(Source):
    """Daemon mode: flags only from a persistent store that another process fills."""

    name = "daemon"

    def __init__(self, state: FlagState, store: Store, namespace: str, mode: Daemon) -> None:
        super().__init__(state)
        self.store, self.namespace, self.mode = store, namespace, mode
        self._last: bytes | None = None

    def start(self) -> None:
        self.refresh()
        self.attempted.set()
        self.status = POLLING
        self._spawn(self._run)

    def refresh(self) -> bool:
        try:
            data = self.store.load(self.namespace)
        except Exception as exc:  # any store's failure: keep what we hold
            log.warning("could not read the flags from %r: %r", self.store, exc)
            return False
        if data is None:
            return self.state.is_ready
        if data == self._last:
            self.state.touch()
            return True
        self._last = data
        return load_saved(self.state, data, repr(self.store))

    def _run(self) -> None:
        while not self._stop.wait(self.mode.interval):
            self.refresh()


# ---------------------------------------------------------- saved rulesets


def encode_saved(document: object, revision: int | None) -> bytes:
    """What a client saves in a store: the document with its revision."""
    return json.dumps(
        {"revision": revision, "saved_at": time.time(), "document": document},
        separators=(",", ":"),
    ).encode()


def load_saved(state: FlagState, data: bytes, origin: str) -> bool:
    try:
        saved = json.loads(data)
        document, revision = saved["document"], saved.get("revision")
    except (ValueError, KeyError, TypeError) as exc:
        log.error("the flags saved in %s are unreadable: %r", origin, exc)
        return False
    return state.put(document, revision if isinstance(revision, int) else None, origin)
