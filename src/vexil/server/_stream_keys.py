"""The SDK keys that hold streams open: a cap per key, and an end when a key stops working.

A key is checked when its stream opens, but a stream outlives any request:
without more, a stream opened with a rotated key would go on receiving changes
after the overlap, and one of a deleted environment for ever. So the streams of
this process are filed by their key's digest, with the key's expiry:

- a key holds at most ``max_per_key`` streams here; one more is refused (429)
  before anything is streamed;
- every ``interval`` seconds, and at once when this server changes SDK keys, one
  query reads the current state of every key in use here, by open streams and in
  the credential cache alike; the streams of a key that is gone end, those of a
  key that expired end at its expiry, and cached lookups that no longer stand
  are forgotten. That is how a rotation or a deletion made on another replica
  reaches this one, within ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Protocol

import anyio
from sqlalchemy import select

from ._errors import TooManyRequests
from ._metrics import Metrics
from ._store import Store
from ._tables import sdk_keys

log = logging.getLogger("vexil.server.stream")

#: Seconds a client refused over the cap is told to wait: the protocol's longest backoff.
RETRY_AFTER = 30.0
#: Digests per query, well under every database's limit on bound parameters.
QUERY_CHUNK = 500


class KeyedStream(Protocol):
    """What the key check needs of a stream."""

    @property
    def key(self) -> str:
        """The digest of the stream's key."""

    def end(self, reason: str) -> None:
        """End the stream soon, for ``reason``."""


def key_states(store: Store, digests: Collection[str]) -> dict[str, datetime | None]:
    """The expiry of each key of ``digests`` that still exists. Blocking: run it in a thread."""
    found: dict[str, datetime | None] = {}
    ordered = sorted(digests)
    with store.read() as conn:
        for start in range(0, len(ordered), QUERY_CHUNK):
            chunk = ordered[start : start + QUERY_CHUNK]
            query = select(sdk_keys.c.key_hash, sdk_keys.c.expires_at).where(
                sdk_keys.c.key_hash.in_(chunk)
            )
            for key_digest, expires_at in conn.execute(query):
                found[key_digest] = expires_at
    return found


def _earlier(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier expiry: a rotation only ever sets or shortens one."""
    return b if a is None else a if b is None else min(a, b)


class StreamKeys:
    def __init__(self, store: Store, metrics: Metrics, max_per_key: int, interval: float) -> None:
        self.store, self.metrics = store, metrics
        self.max_per_key, self.interval = max_per_key, interval
        self._streams: dict[str, set[KeyedStream]] = {}
        self._expiry: dict[str, datetime | None] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        metrics.streams_per_key.set_function(
            lambda: max(map(len, self._streams.values()), default=0)
        )

    def start(self) -> None:
        """Check keys from now on; call from the event loop that serves the streams."""
        self._loop = asyncio.get_running_loop()
        self.store.credentials.listeners.append(self.changed)
        self._task = asyncio.create_task(self._run(), name="vexil-stream-keys")

    def stop(self) -> None:
        if self.changed in self.store.credentials.listeners:
            self.store.credentials.listeners.remove(self.changed)
        if self._task is not None:
            self._task.cancel()

    def admit(self, stream: KeyedStream, expires_at: datetime | None) -> None:
        """File ``stream`` under its key, or refuse it (429) when the key holds the most."""
        streams = self._streams.setdefault(stream.key, set())
        if len(streams) >= self.max_per_key:
            self.metrics.streams_refused.inc()
            error = TooManyRequests(
                f"this SDK key holds {self.max_per_key} open streams on this server already,"
                " the most it may (max_streams_per_key); close one, or retry later",
                RETRY_AFTER,
            )
            error.extra.update(limit="max_streams_per_key", max=self.max_per_key)
            raise error
        streams.add(stream)
        self._expiry[stream.key] = _earlier(self._expiry.get(stream.key), expires_at)

    def leave(self, stream: KeyedStream) -> None:
        streams = self._streams.get(stream.key)
        if streams is None:
            return
        streams.discard(stream)
        if not streams:
            del self._streams[stream.key]
            self._expiry.pop(stream.key, None)

    def changed(self) -> None:
        """SDK keys changed through this server: check now. Safe from any thread."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while True:
            try:
                async with asyncio.timeout(self.interval):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.check()
            except Exception:
                log.warning("checking the keys of open streams failed; retrying", exc_info=True)

    async def check(self) -> None:
        """Read the keys in use again, end the streams of those that stopped working."""
        cached = self.store.credentials.valid_digests()
        streamed = set(self._streams)
        if cached or streamed:
            current = await anyio.to_thread.run_sync(key_states, self.store, cached | streamed)
            self.store.credentials.revalidate(cached, current)
            # Only the keys asked about: others may have opened streams meanwhile.
            for key in streamed:
                if key not in current:
                    self._end(key)
                elif key in self._streams:
                    self._expiry[key] = _earlier(self._expiry.get(key), current[key])
        now = datetime.now(UTC)
        for key, expiry in list(self._expiry.items()):
            if expiry is not None and expiry <= now:
                self._end(key)

    def _end(self, key: str) -> None:
        for stream in list(self._streams.get(key, ())):
            stream.end("key")
