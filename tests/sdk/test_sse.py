"""The SDK's SSE reader: the wire format, however it is cut into chunks, within bounds."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vexil.sdk._sse import HEARTBEAT, Event, EventTooLarge, Reader, StreamStalled, read

#: The example of docs/protocol.md, as the server writes it.
WIRE = (
    b'event: put\nid: 42\ndata: {"version":1,"flags":{},"segments":{}}\n\n'
    b'event: patch\ndata: {"kind":"segment","key":"s","object":{}}\n\n'
    b'event: patch\nid: 43\ndata: {"kind":"flag","key":"f","object":{}}\n\n'
    b": heartbeat\n\n"
)
EVENTS = [
    Event("put", b'{"version":1,"flags":{},"segments":{}}', "42"),
    Event("patch", b'{"kind":"segment","key":"s","object":{}}', None),
    Event("patch", b'{"kind":"flag","key":"f","object":{}}', "43"),
    HEARTBEAT,
]


def feed_all(chunks: list[bytes], limit: int = 1 << 20) -> list[Event]:
    reader = Reader(limit)
    return [event for chunk in chunks for event in reader.feed(chunk)]


def test_the_protocol_example_whole_and_byte_by_byte() -> None:
    assert feed_all([WIRE]) == EVENTS
    assert feed_all([WIRE[i : i + 1] for i in range(len(WIRE))]) == EVENTS


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_every_line_ending_of_the_specification(ending: bytes) -> None:
    wire = WIRE.replace(b"\n", ending)
    assert feed_all([wire]) == EVENTS
    # A "\r\n" split between two chunks is one line ending, not two.
    assert feed_all([wire[i : i + 1] for i in range(len(wire))]) == EVENTS


def test_fields_as_the_specification_reads_them() -> None:
    wire = (
        b"data: first\ndata:second\ndata\ndata:  two spaces\n\n"  # joined by newlines
        b"retry: 10\nunknown: x\nid: bad\x00id\ndata: x\n\n"  # ignored fields; a NUL id too
        b"event: put\n\n"  # no data: nothing dispatched
    )
    assert feed_all([wire]) == [
        Event("message", b"first\nsecond\n\n two spaces", None),
        Event("message", b"x", None),
    ]


@given(
    events=st.lists(
        st.tuples(
            st.sampled_from(["put", "patch", "delete"]),
            st.lists(st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b)),
            st.none() | st.integers(0, 10**9).map(str),
        ).filter(lambda e: bool(e[1])),
        max_size=8,
    ),
    ending=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
)
def test_any_stream_cut_anywhere_reads_the_same(
    events: list[tuple[str, list[bytes], str | None]], ending: bytes, cuts: list[int]
) -> None:
    wire = b""
    for kind, data, event_id in events:
        lines = [f"event: {kind}".encode()]
        lines += [] if event_id is None else [f"id: {event_id}".encode()]
        lines += [b"data: " + line for line in data]
        wire += ending.join(lines) + ending + ending
    bounds = sorted({0, len(wire), *(cut % (len(wire) + 1) for cut in cuts)})
    chunks = [wire[a:b] for a, b in itertools.pairwise(bounds)]
    expected = [Event(kind, b"\n".join(data), event_id) for kind, data, event_id in events]
    assert feed_all(chunks) == expected


@pytest.mark.parametrize(
    "opening", [b"event: put\ndata: ", b": a comment ", b"field-name-"], ids=str
)
def test_nothing_past_the_limit_is_held(opening: bytes) -> None:
    limit = 4096
    reader = Reader(limit)
    reader.feed(opening)
    for _ in range((limit - len(opening)) // 100):
        reader.feed(b"x" * 100)
        assert reader.buffered <= limit
    with pytest.raises(EventTooLarge):
        reader.feed(b"x" * 100)
    assert reader.buffered <= limit


def test_many_data_lines_count_toward_the_limit() -> None:
    reader = Reader(4096)
    line = b"data: 0123456789\n"
    for _ in range(4096 // (len(line) - 1)):
        reader.feed(line)
        assert reader.buffered <= 4096
    with pytest.raises(EventTooLarge):
        reader.feed(line)


def test_an_event_of_exactly_the_limit_is_read() -> None:
    """An event's size is that of its lines, endings aside."""
    data = b"x" * (4096 - len(b"event: put") - len(b"data: "))
    wire = b"event: put\ndata: " + data + b"\n\n"
    assert feed_all([wire], limit=4096) == [Event("put", data)]
    with pytest.raises(EventTooLarge):
        feed_all([wire.replace(b"put", b"puts")], limit=4096)


class Clock:
    """Time that moves only when told: the chunks below say how long each one took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def paced(clock: Clock, chunks: list[tuple[float, bytes]]) -> Iterator[bytes]:
    for seconds, chunk in chunks:
        clock.now += seconds
        yield chunk


def test_bytes_alone_do_not_keep_a_stream_alive() -> None:
    clock = Clock()
    drip = [(0.4, b"data: {")] + [(0.4, b" ")] * 10  # each byte well within a 1 s timeout
    with pytest.raises(StreamStalled):
        list(read(paced(clock, drip), 1 << 20, timeout=1.0, clock=clock))
    assert clock.now == pytest.approx(1.2)  # the first chunk past the deadline ends it


def test_heartbeats_and_events_keep_a_stream_alive() -> None:
    clock = Clock()
    chunks = [(0.8, b": heartbeat\n\n"), (0.8, b"data: 1\n"), (0.8, b"\n")] * 5
    events = list(read(paced(clock, chunks), 1 << 20, timeout=1.0, clock=clock))
    assert events == [HEARTBEAT, Event("message", b"1")] * 5
