"""A small Server-Sent Events reader for the tests, as an SDK in another language would write it.

It follows the parsing rules of the HTML standard: lines, blank-line dispatch,
``:`` comments, ``field: value`` with one optional space. A read that waits
longer than the client's read timeout fails the test instead of hanging it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Event:
    event: str
    #: The event's own ``id`` field, None when it has none (the SSE "last event ID"
    #: then stays what it was: ``SseReader.last_event_id``).
    id: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class Comment:
    text: str


class SseReader:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.last_event_id: str | None = None
        self._items = self._parse(response.iter_lines())

    def _parse(self, lines: Iterator[str]) -> Iterator[Event | Comment]:
        event, event_id, data = "message", None, list[str]()
        for line in lines:
            if line == "":
                if event_id is not None:
                    self.last_event_id = event_id
                if data:
                    yield Event(event, event_id, "\n".join(data))
                event, event_id, data = "message", None, []
                continue
            if line.startswith(":"):
                yield Comment(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
            elif name == "id":
                event_id = value

    def next(self) -> Event | Comment:
        """The next event or comment; StopIteration when the server ended the stream."""
        return next(self._items)

    def event(self) -> Event:
        """The next event, skipping comments (heartbeats)."""
        while True:
            item = self.next()
            if isinstance(item, Event):
                return item

    def rest(self) -> list[Event | Comment]:
        """Everything until the server ends the stream."""
        return list(self._items)


@contextmanager
def open_stream(
    client: httpx.Client, key: str, last_event_id: str | None = None
) -> Iterator[SseReader]:
    headers = {"Authorization": key, "Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    with client.stream("GET", "/sdk/v1/stream", headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield SseReader(response)
