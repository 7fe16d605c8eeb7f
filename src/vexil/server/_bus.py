"""The change bus: tells open streams that an environment changed.

Writers publish ``Change(environment_id, revision)`` after their transaction
commits; streams subscribe and read what changed from the database. Three parts:

- ``Hub``: in-process fan-out to asyncio subscribers (each stream has a queue);
- ``RevisionPoller``: notices changes committed by *other* processes by polling
  environment revisions, on any database (the fallback for several replicas);
- ``PostgresListener``: the same through PostgreSQL ``LISTEN``/``NOTIFY``,
  delivered as soon as the other replica commits.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, select

from ._tables import environments

log = logging.getLogger("vexil.server.bus")

CHANNEL = "vexil_changes"


@dataclass(frozen=True, slots=True)
class Change:
    environment_id: int
    revision: int


class Hub:
    """Fans changes out to subscribers; safe to publish from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Change]]] = set()
        self._seen: dict[int, int] = {}
        self.listeners: list[Callable[[Change], None]] = []

    def subscribe(self, maxsize: int = 1000) -> asyncio.Queue[Change]:
        queue: asyncio.Queue[Change] = asyncio.Queue(maxsize)
        with self._lock:
            self._subscribers.add((asyncio.get_running_loop(), queue))
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Change]) -> None:
        with self._lock:
            self._subscribers = {s for s in self._subscribers if s[1] is not queue}

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(self, change: Change) -> None:
        """Deliver ``change`` unless a newer revision of its environment was already seen."""
        with self._lock:
            if self._seen.get(change.environment_id, -1) >= change.revision:
                return
            self._seen[change.environment_id] = change.revision
            subscribers = list(self._subscribers)
        for listener in self.listeners:
            listener(change)
        for loop, queue in subscribers:
            try:
                loop.call_soon_threadsafe(_offer, queue, change)
            except RuntimeError:  # that loop has closed
                self.unsubscribe(queue)

    def latest(self, environment_id: int) -> int | None:
        return self._seen.get(environment_id)


def _offer(queue: asyncio.Queue[Change], change: Change) -> None:
    # A stream that has fallen this far behind reloads from the database anyway:
    # dropping here never loses a change, since streams read changes by revision.
    if not queue.full():
        queue.put_nowait(change)


class _Task:
    """A named daemon thread running ``_run`` until ``stop`` (which waits for it, briefly)."""

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        raise NotImplementedError


class RevisionPoller(_Task):
    """Publishes changes made by other processes, found by polling revisions."""

    def __init__(self, engine: Engine, hub: Hub, interval: float) -> None:
        self.engine, self.hub, self.interval = engine, hub, interval
        super().__init__("vexil-revision-poller")

    def poll_once(self) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(select(environments.c.id, environments.c.revision)).all()
        for env_id, revision in rows:
            self.hub.publish(Change(env_id, revision))

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception:
                log.warning("revision poll failed; retrying", exc_info=True)


class PostgresListener(_Task):
    """Receives NOTIFY messages from every replica on one dedicated connection."""

    def __init__(self, dsn: str, hub: Hub) -> None:
        self.dsn, self.hub = dsn, hub
        super().__init__("vexil-pg-listener")

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=100):
                            env_id, revision = note.payload.split(":")
                            self.hub.publish(Change(int(env_id), int(revision)))
            except Exception:
                log.warning("lost the PostgreSQL LISTEN connection; reconnecting", exc_info=True)
                self._stop.wait(1.0)
