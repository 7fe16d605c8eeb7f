"""SDK streams: Server-Sent Events fed by one change feed per environment.

How a change reaches the streams::

    Store.write() commits ─┐
    other replicas ────────┴─> Hub ─> Broadcaster ─> Feed of the environment
      (NOTIFY, revision poll)                        │ one read of the change log, in a
                                                     │ worker thread, rendered once
                                                     v
                                           every stream of that environment
                                           sends the same bytes

Per change, the database is read once per environment with open streams, not
once per stream: a change reaches a thousand streams for the price of one read.
Idle streams hold no database connection; they wait on an ``asyncio.Event``. A
stream reads the database itself only to start (the whole ruleset, or a replay
after ``Last-Event-ID``) and to catch up when it fell behind its feed: it joined
while the feed was moving, or its client read so slowly that its backlog
overflowed.

What a stream holds is bounded, whoever its client is. Its payloads are shared:
a change is rendered once for every stream of its environment, and so is a
``put``, once per revision (``Puts``), however many streams start meanwhile; a
connection buffers at most about ``stream_buffer_bytes``, and a client that
takes nothing for ``stream_send_timeout`` seconds is dropped
(``_stream_response``). A key holds at most ``max_streams_per_key`` streams, and
its streams end when it expires or is revoked (``_stream_keys``).

The responses are ``StreamResponse``\\s of pre-rendered bytes rather than
sse-starlette's ``EventSourceResponse``: that one runs a ping task per stream,
polls for shutdown, and patches uvicorn's signal handler when it is imported.
Here a stream is one generator that sends a heartbeat when it has been idle and
ends when the broadcaster closes. The wire format is specified in
``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
from sqlalchemy import Connection, func, select

from vexil.flags import Document, Ruleset, parse_flag, parse_segment

from ._auth import SdkCredential
from ._bus import Change, Hub
from ._errors import NotFound
from ._metrics import Metrics
from ._settings import Settings
from ._store import Store, flag_document
from ._stream_keys import StreamKeys
from ._stream_response import StreamResponse
from ._tables import changes, environments, flags, segments, targeting

log = logging.getLogger("vexil.server.stream")

HEARTBEAT = b": heartbeat\n\n"
#: Batches a stream may have waiting; a slower client catches up from the database.
BACKLOG = 64
#: Seconds before a feed retries a failed read.
RETRY_SECONDS = 1.0


def compact_json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def sse(event: str, data: bytes) -> bytes:
    """One event, without an id; ``data`` is compact JSON, which never contains a line break."""
    return b"event: %s\ndata: %s\n\n" % (event.encode(), data)


def group(events: Sequence[bytes], revision: int) -> bytes:
    """Events sent together, the last one carrying as its id the revision they complete.

    An event may need the ones after it (a flag that uses a segment the next event
    creates): the client's document is consistent again, and a resumption point,
    only where an id stands.
    """
    if not events:
        return b""
    last = events[-1]
    head = last.index(b"\n") + 1
    return b"".join(events[:-1]) + last[:head] + b"id: %d\n" % revision + last[head:]


@dataclass(frozen=True, slots=True)
class Batch:
    """Events that take a client from revision ``start`` to ``end``.

    ``start`` is None for a ``put``, which replaces whatever the client had.
    ``events`` pairs each event with the revision of the change it carries;
    ``committed`` holds when the changes were written, for the propagation metric;
    ``whole`` is the group of all the events, rendered once for every stream.
    """

    start: int | None
    end: int
    events: tuple[tuple[int, bytes], ...]
    committed: tuple[float, ...] = ()
    whole: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "whole", group([e for _, e in self.events], self.end))

    @classmethod
    def put(cls, revision: int, document: bytes) -> Batch:
        """The ``put`` of ``document``: rendered in one piece, without an event copy besides."""
        batch = cls(None, revision, ())
        head = b"event: put\nid: %d\ndata: " % revision
        object.__setattr__(batch, "whole", b"".join((head, document, b"\n\n")))
        return batch

    def after(self, revision: int) -> bytes:
        """The events a client that has seen ``revision`` still needs, as one group."""
        if self.start is None or revision <= self.start:
            return self.whole if revision < self.end else b""
        return group(
            [e for event_revision, e in self.events if event_revision > revision], self.end
        )


# ------------------------------------------------------------------ reading


def ruleset_bytes(store: Store, conn: Connection, env_id: int) -> tuple[int, bytes]:
    """The environment's revision and its whole document as JSON, rendered once per revision."""
    revision, ruleset = store.rulesets.load(conn, env_id)
    body = store.rulesets.document_bytes(env_id, revision, lambda: compact_json(ruleset.to_data()))
    return revision, body


class Puts:
    """The latest ``put`` of each environment with streams, shared by all of them.

    A put carries the whole ruleset: rendered per stream, a thousand clients
    starting at once would hold a thousand copies. Safe from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._puts: dict[int, Batch] = {}

    def get(self, env_id: int, revision: int, document: bytes) -> Batch:
        with self._lock:
            latest = self._puts.get(env_id)
            if latest is not None and latest.end == revision:
                return latest
            put = Batch.put(revision, document)
            if latest is None or latest.end < revision:  # not for a reader behind the others
                self._puts[env_id] = put
            return put

    def forget(self, env_id: int) -> None:
        """The environment has no stream left here."""
        with self._lock:
            self._puts.pop(env_id, None)


def read_since(store: Store, env_id: int, since: int | None, puts: Puts) -> Batch:
    """What a client that has seen revision ``since`` needs: the changes after it, or a put.

    A put when ``since`` is None, lies in the future, or is older than the change log.
    Blocking: run it in a worker thread.
    """
    with store.read() as conn:
        _one_snapshot(conn)
        env = conn.execute(
            select(environments.c.revision, environments.c.project_id).where(
                environments.c.id == env_id
            )
        ).first()
        if env is None:
            raise NotFound(f"no environment {env_id}")
        if since is not None and since <= env.revision and _log_reaches(conn, env_id, since):
            return _changes(conn, env_id, env.project_id, since, env.revision)
        revision, body = ruleset_bytes(store, conn, env_id)
    return puts.get(env_id, revision, body)


def _one_snapshot(conn: Connection) -> None:
    """Make every statement of the read see the same snapshot, so that the objects of a
    group are exactly those of its revision. SQLite's read transactions already do."""
    if conn.dialect.name == "postgresql":
        conn.execution_options(isolation_level="REPEATABLE READ")


def _log_reaches(conn: Connection, env_id: int, since: int) -> bool:
    """Whether the change log still holds every revision after ``since``.

    Every revision has at least one change row, and trimming removes the oldest
    revisions whole, so the log is complete if it still holds ``since + 1``.
    """
    oldest = conn.execute(
        select(func.min(changes.c.revision)).where(
            changes.c.environment_id == env_id, changes.c.revision > since
        )
    ).scalar()
    return oldest is None or oldest == since + 1


def _changes(conn: Connection, env_id: int, project_id: int, since: int, revision: int) -> Batch:
    """One event per object changed after ``since``, in the order of their last change."""
    last = func.max(changes.c.revision).label("last_revision")
    rows = conn.execute(
        select(changes.c.kind, changes.c.key, last, func.max(changes.c.created_at).label("at"))
        .where(
            changes.c.environment_id == env_id,
            changes.c.revision > since,
            changes.c.revision <= revision,
        )
        .group_by(changes.c.kind, changes.c.key)
        .order_by(last, changes.c.kind, changes.c.key)
    ).all()
    objects = _objects(conn, env_id, project_id, rows)
    events = tuple((row.last_revision, _event(row.kind, row.key, objects)) for row in rows)
    return Batch(since, revision, events, tuple(row.at.timestamp() for row in rows))


def _objects(
    conn: Connection, env_id: int, project_id: int, rows: Sequence[Any]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The changed flags and segments that still exist, in document form."""
    wanted = {kind: [r.key for r in rows if r.kind == kind] for kind in ("flag", "segment")}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    if wanted["flag"]:
        for row in conn.execute(
            select(flags, targeting.c.body)
            .join(targeting, targeting.c.flag_id == flags.c.id)
            .where(
                targeting.c.environment_id == env_id,
                flags.c.project_id == project_id,
                flags.c.key.in_(wanted["flag"]),
            )
        ):
            found["flag", row.key] = document_form(
                "flag", row.key, flag_document(row._mapping, row.body)
            )
    if wanted["segment"]:
        for key, body in conn.execute(
            select(segments.c.key, segments.c.body).where(
                segments.c.environment_id == env_id, segments.c.key.in_(wanted["segment"])
            )
        ):
            found["segment", key] = document_form("segment", key, body)
    return found


def document_form(kind: str, key: str, data: dict[str, Any]) -> dict[str, Any]:
    """An object exactly as the ruleset document (the ``put``) writes it, defaults left out."""
    if kind == "flag":
        document = Document(flags={key: parse_flag(key, data)}, segments={})
    else:
        document = Document(flags={}, segments={key: parse_segment(key, data)})
    found: dict[str, Any] = Ruleset(document).to_data()[f"{kind}s"][key]
    return found


def _event(kind: str, key: str, objects: dict[tuple[str, str], dict[str, Any]]) -> bytes:
    found = objects.get((kind, key))
    if found is None:
        return sse("delete", compact_json({"kind": kind, "key": key}))
    return sse("patch", compact_json({"kind": kind, "key": key, "object": found}))


# ------------------------------------------------------------------ fan-out


class Subscriber:
    """One stream's place in its feed: the revision its client has, and what is waiting.

    ``key`` is the digest of the stream's SDK key; ``ending`` says why the server
    ended the stream early, if it did. The batches waiting are shared with the
    other streams of the feed, never copied.
    """

    def __init__(self, key: str = "") -> None:
        self.key = key
        self.revision = -1
        self.pending: deque[Batch] = deque(maxlen=BACKLOG)
        self.wake = asyncio.Event()
        self.closed = False
        self.ending: str | None = None

    def offer(self, batch: Batch) -> None:
        self.pending.append(batch)
        self.wake.set()

    def close(self) -> None:
        self.closed = True
        self.wake.set()

    def end(self, reason: str) -> None:
        """Close the stream early, for ``reason`` (a label of ``vexil_streams_ended_by_server``)."""
        if not self.closed:
            self.ending = reason
            self.close()

    def take(self, batch: Batch) -> bytes:
        """The part of ``batch`` this client still needs; afterwards it has ``batch.end``."""
        chunk = batch.after(self.revision)
        self.revision = max(self.revision, batch.end)
        return chunk

    def has_gap(self, feed_revision: int) -> bool:
        """Whether changes are missing before the next waiting batch (or the feed's revision)."""
        if not self.pending:
            return feed_revision > self.revision
        start = self.pending[0].start
        return start is not None and start > self.revision


class Feed:
    """The changes of one environment, read once per change for all of its streams."""

    def __init__(self, env_id: int, broadcaster: Broadcaster) -> None:
        self.env_id, self.broadcaster = env_id, broadcaster
        #: The revision the subscribers have been offered; None until the first has started.
        self.revision: int | None = None
        self.subscribers: set[Subscriber] = set()
        self._dirty = False
        self._task: asyncio.Task[None] | None = None

    def start_at(self, revision: int) -> None:
        """The first stream has read the environment up to ``revision``: follow from there."""
        if self.revision is None:
            self.revision = revision
            self._refresh_soon()

    def changed(self, revision: int) -> None:
        if self.revision is None or revision > self.revision:
            self._dirty = True
            self._refresh_soon()

    def close(self) -> None:
        for subscriber in self.subscribers:
            subscriber.close()

    def _refresh_soon(self) -> None:
        idle = self._task is None or self._task.done()
        if self._dirty and self.revision is not None and idle:
            self._task = asyncio.create_task(self._refresh(), name=f"vexil-feed-{self.env_id}")

    async def _refresh(self) -> None:
        """Read and offer changes until none is left; changes arriving meanwhile mark it dirty."""
        while self._dirty and self.subscribers:
            self._dirty = False
            assert self.revision is not None
            try:
                batch = await self.broadcaster.read(self.env_id, self.revision)
            except NotFound:  # the environment was deleted
                self.close()
                return
            except Exception:
                log.warning("reading changes of environment %s failed", self.env_id, exc_info=True)
                self._dirty = True
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._offer(batch)

    def _offer(self, batch: Batch) -> None:
        assert self.revision is not None
        if batch.end <= self.revision:
            return
        self.revision = batch.end
        for subscriber in self.subscribers:
            subscriber.offer(batch)
        now = time.time()
        for committed in batch.committed:
            self.broadcaster.metrics.propagation.observe(max(0.0, now - committed))


class Broadcaster:
    """All the SDK streams of this process: feeds per environment, fed by the hub."""

    def __init__(self, store: Store, hub: Hub, metrics: Metrics, settings: Settings) -> None:
        self.store, self.hub, self.metrics, self.settings = store, hub, metrics, settings
        self.heartbeat = settings.heartbeat_seconds
        self.closed = False
        self.puts = Puts()
        self.keys = StreamKeys(store, metrics, settings.max_streams_per_key, settings.poll_seconds)
        self._feeds: dict[int, Feed] = {}
        self._queue: asyncio.Queue[Change] | None = None
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow the hub and check keys; call from the event loop that serves the streams."""
        self._queue = self.hub.subscribe()
        self._pump = asyncio.create_task(self._follow_hub(self._queue), name="vexil-broadcaster")
        self.keys.start()

    async def close(self) -> None:
        """End every stream now, so that a graceful shutdown need not wait for them."""
        self.closed = True
        for feed in list(self._feeds.values()):
            feed.close()
        self.keys.stop()
        if self._pump is not None:
            self._pump.cancel()
        if self._queue is not None:
            self.hub.unsubscribe(self._queue)

    async def _follow_hub(self, queue: asyncio.Queue[Change]) -> None:
        while True:
            change = await queue.get()
            feed = self._feeds.get(change.environment_id)
            if feed is not None:
                feed.changed(change.revision)

    async def read(self, env_id: int, since: int | None) -> Batch:
        return await anyio.to_thread.run_sync(read_since, self.store, env_id, since, self.puts)

    def response(
        self, credential: SdkCredential, last_event_id: int | None, headers: Mapping[str, str]
    ) -> StreamResponse:
        """The stream of ``credential``'s environment; 429 when its key holds the most already."""
        subscriber = Subscriber(credential.digest)
        self.keys.admit(subscriber, credential.expires_at)
        return StreamResponse(
            self.stream(credential.environment_id, last_event_id, subscriber),
            send_timeout=self.settings.stream_send_timeout,
            buffer_bytes=self.settings.stream_buffer_bytes,
            on_drop=self.metrics.streams_ended.labels("send_timeout").inc,
            on_close=lambda: self.keys.leave(subscriber),
            headers=headers,
        )

    async def stream(
        self, env_id: int, last_event_id: int | None, subscriber: Subscriber
    ) -> AsyncGenerator[bytes, None]:
        """The bytes of one stream, until its client leaves, it is ended, or the server stops."""
        feed = self._feeds.get(env_id) or self._feeds.setdefault(env_id, Feed(env_id, self))
        # Joining before the first read means no change can fall between the two.
        feed.subscribers.add(subscriber)
        self.metrics.open_streams.inc()
        try:
            first = await self.read(env_id, last_event_id)
            subscriber.revision = -1 if first.start is None else first.start
            feed.start_at(first.end)
            yield subscriber.take(first) or HEARTBEAT
            while (chunk := await self._next(feed, subscriber)) is not None:
                yield chunk
            if subscriber.ending is not None:
                self.metrics.streams_ended.labels(subscriber.ending).inc()
        except NotFound:
            return
        except Exception:
            log.warning("a stream of environment %s failed; it ends", env_id, exc_info=True)
        finally:
            self._leave(feed, subscriber)

    async def _next(self, feed: Feed, subscriber: Subscriber) -> bytes | None:
        """The next bytes to send: changes, a catch-up, or a heartbeat; None to end."""
        while not (subscriber.closed or self.closed):
            assert feed.revision is not None
            if subscriber.has_gap(feed.revision):
                chunk = subscriber.take(await self.read(feed.env_id, subscriber.revision))
            elif subscriber.pending:
                chunk = subscriber.take(subscriber.pending.popleft())
            else:
                subscriber.wake.clear()
                try:
                    async with asyncio.timeout(self.heartbeat):
                        await subscriber.wake.wait()
                except TimeoutError:
                    return HEARTBEAT
                continue
            if chunk:
                return chunk
        return None

    def _leave(self, feed: Feed, subscriber: Subscriber) -> None:
        feed.subscribers.discard(subscriber)
        if not feed.subscribers and self._feeds.get(feed.env_id) is feed:
            del self._feeds[feed.env_id]
            self.puts.forget(feed.env_id)
        self.metrics.open_streams.dec()
