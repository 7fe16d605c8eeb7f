"""Server-Sent Events, read within bounds: no event past a size, no wait without end.

A general SSE client buffers each event whole, however large, and keeps reading a
stream that sends bytes without ever finishing an event: a hostile or broken server
(or anything between) could then fill the host's memory, or keep a client stale for
ever while it looks connected. ``Reader`` parses the wire format itself (lines; the
``event``, ``data`` and ``id`` fields; a blank line ends an event; ``:`` starts a
comment) and refuses, as soon as it shows, an event that would grow past
``max_bytes``, without holding more of it than that. ``read`` measures liveness in
complete events and comments (the server's ``: heartbeat``), not in bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass


class EventTooLarge(Exception):
    """An event (or a line) grew past the limit; nothing more of it was read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a stream event is larger than {limit:,} bytes")
        self.limit = limit


class StreamStalled(Exception):
    """No complete event nor comment arrived within the timeout, though bytes may have."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"no complete event nor heartbeat for {timeout:g} s")
        self.timeout = timeout


@dataclass(frozen=True, slots=True)
class Event:
    """One event; ``type`` is ``""`` for a comment line (a heartbeat), which has no data."""

    type: str
    data: bytes = b""
    #: The event's own ``id`` field, or None when it had none (the last one seen then
    #: still applies, as the SSE specification says).
    id: str | None = None


HEARTBEAT = Event("")


class Reader:
    """Turns a stream's chunks into events, holding at most ``max_bytes`` of an event."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._line: list[bytes] = []  # the line being received, in the pieces that came
        self._line_size = 0
        self._data: list[bytes] = []
        self._data_size = 0
        self._type = ""
        self._id: str | None = None
        self._after_cr = False  # the last chunk ended in "\r": a "\n" opening the next is its pair

    @property
    def buffered(self) -> int:
        """The size of the event in progress: its lines so far, endings aside.

        Never more than ``max_bytes``: a line that would take it past is refused
        before it is kept.
        """
        return self._line_size + self._data_size

    def feed(self, chunk: bytes) -> list[Event]:
        """The events (and comments) that ``chunk`` completes; ``EventTooLarge`` past the limit."""
        events: list[Event] = []
        # bytes.splitlines breaks at "\r\n", "\r" and "\n" only: the SSE line endings.
        for piece in chunk.splitlines(keepends=True):
            if self._after_cr:
                self._after_cr = False
                if piece == b"\n":
                    continue
            ended = piece.endswith((b"\n", b"\r"))
            body = piece.rstrip(b"\r\n") if ended else piece
            if self.buffered + len(body) > self.max_bytes:
                raise EventTooLarge(self.max_bytes)
            if not ended:
                self._line.append(body)
                self._line_size += len(body)
                continue
            self._after_cr = piece.endswith(b"\r")
            if self._line:
                self._line.append(body)
                body = b"".join(self._line)
                self._line.clear()
                self._line_size = 0
            event = self._take_line(body)
            if event is not None:
                events.append(event)
        return events

    def _take_line(self, line: bytes) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return HEARTBEAT
        name, colon, value = line.partition(b":")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._type = value.decode("utf-8", "replace")
        elif name == b"id" and b"\0" not in value:
            self._id = value.decode("utf-8", "replace")
        else:  # "retry" and unknown fields: ignored (the client has its own backoff)
            return None
        self._data_size += len(line)  # an event's size: the lines it is made of
        return None

    def _dispatch(self) -> Event | None:
        data, kind, event_id = self._data, self._type or "message", self._id
        self._data, self._data_size, self._type, self._id = [], 0, "", None
        if not data:  # a blank line with no data before it: nothing to dispatch
            return None
        return Event(kind, b"\n".join(data), event_id)


def read(
    chunks: Iterable[bytes],
    max_bytes: int,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Event]:
    """The events of a stream's raw chunks, ended by ``StreamStalled`` or ``EventTooLarge``.

    The deadline moves with every complete event or comment, never with bytes alone: a
    stream dripping a byte at a time stalls. The chunks' own read timeout bounds a
    stream that sends nothing at all; a deadline missed is noticed when a chunk comes.
    """
    reader = Reader(max_bytes)
    alive = clock()
    for chunk in chunks:
        events = reader.feed(chunk)
        if events:
            yield from events
            alive = clock()  # after the caller handled them: applying a big put takes time
        elif clock() - alive > timeout:
            raise StreamStalled(timeout)
