"""Analytics events: evaluation summaries, ``track`` and ``identify``, sent in batches.

Evaluations are counted, not sent one by one. Each (flag, variant) pair has an
``itertools.count``: ``next()`` on it is one atomic C call, so counting needs no
lock and loses nothing. The flusher reads a counter by calling ``next()`` too and
subtracts its own reads, then sends the growth since the last flush.

``track`` and ``identify`` events go into a bounded deque; when it is full the
oldest is dropped and counted, never waiting. A background thread sends every
``flush_interval`` seconds, or sooner when a batch fills: gzip-compressed JSON,
retried once after a network error or a 5xx.
"""

from __future__ import annotations

import collections
import gzip
import itertools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

log = logging.getLogger("vexil.events")

#: Custom events per request; a summary rides along with the first batch.
BATCH_SIZE = 500
#: Distinct (flag, variant) pairs counted; evaluations of further pairs are dropped.
MAX_COUNTERS = 10_000
_RETRY_DELAY = 1.0
#: Where counts go once MAX_COUNTERS pairs are counted: read by no one.
_OVERFLOW: itertools.count[int] = itertools.count()


class EventProcessor:
    """Summaries, custom events and the thread that sends them."""

    def __init__(
        self,
        send: Callable[[bytes], int],
        *,
        flush_interval: float = 10.0,
        capacity: int = 10_000,
    ) -> None:
        self._send = send
        self.flush_interval = flush_interval
        self.capacity = capacity
        self._reset()

    def _reset(self) -> None:
        """Fresh state: at construction, and in a forked child (whose parent sends its own)."""
        #: (flag, variant) -> its counter; read on the hot path by ``Client``.
        self.counters: dict[tuple[str, str | None], itertools.count[int]] = {}
        #: Per pair: (the flusher's own ``next()`` calls, evaluations already sent).
        self._seen: dict[tuple[str, str | None], tuple[int, int]] = {}
        self._counters_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._queue: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.capacity)
        self._period_start = time.time()
        self._dropped = 0
        self._dropped_reported = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- hot path

    def count(self, flag: str, variant: str | None) -> None:
        """Count one evaluation (``Client`` inlines this; kept for other callers)."""
        key = (flag, variant)
        counter = self.counters.get(key)
        if counter is None:
            counter = self.new_counter(key)
        next(counter)

    def new_counter(self, key: tuple[str, str | None]) -> itertools.count[int]:
        """The counter of a pair seen for the first time (rare: once per pair)."""
        with self._counters_lock:
            counter = self.counters.get(key)
            if counter is None:
                if len(self.counters) >= MAX_COUNTERS:
                    self._dropped += 1
                    return _OVERFLOW
                counter = self.counters[key] = itertools.count()
            return counter

    # -------------------------------------------------------- custom events

    def track(self, name: str, context: Mapping[str, Any], value: float | None, data: Any) -> None:
        problem = _context_problem(context) or _name_problem(name)
        if problem is None and value is not None and not _is_finite_number(value):
            problem = f"value must be a finite number, not {value!r}"
        if problem:
            log.warning("track(%r) ignored: %s", name, problem)
            return
        event: dict[str, Any] = {
            "kind": "track",
            "name": name,
            "context": dict(context),
            "at": time.time(),
        }
        if value is not None:
            event["value"] = value
        if data is not None:
            event["data"] = data
        self._enqueue(event)

    def identify(self, context: Mapping[str, Any]) -> None:
        problem = _context_problem(context)
        if problem:
            log.warning("identify ignored: %s", problem)
            return
        self._enqueue({"kind": "identify", "context": dict(context), "at": time.time()})

    def _enqueue(self, event: dict[str, Any]) -> None:
        queue = self._queue
        if len(queue) >= self.capacity:
            self._dropped += 1  # the deque drops its oldest event to take this one
        queue.append(event)
        if len(queue) >= BATCH_SIZE:
            self._wake.set()

    # ------------------------------------------------------------- sending

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vexil-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.flush()
        self.flush()  # the last events, at close

    def stop(self) -> None:
        """Ask the thread to send what is left and end; see ``join``."""
        self._stopping.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def flush(self) -> None:
        """Send everything counted and queued so far, now, on the calling thread."""
        with self._send_lock:
            self._report_drops()
            events = self._take()
            for start in range(0, len(events), BATCH_SIZE):
                self._deliver(events[start : start + BATCH_SIZE])

    def _take(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        now = time.time()
        counters = self._summary_counters()
        if counters:
            events.append(
                {"kind": "summary", "start": self._period_start, "end": now, "counters": counters}
            )
        self._period_start = now
        queue = self._queue
        while queue:
            try:
                events.append(queue.popleft())
            except IndexError:
                break
        return events

    def _summary_counters(self) -> list[dict[str, Any]]:
        out = []
        seen = self._seen
        for key, counter in list(self.counters.items()):
            reads, sent = seen.get(key, (0, 0))
            total = next(counter) - reads  # next() returns evaluations + our earlier reads
            seen[key] = (reads + 1, total)
            if total > sent:
                out.append({"flag": key[0], "variant": key[1], "count": total - sent})
        return out

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        try:
            body = gzip.compress(json.dumps(batch, default=str).encode(), compresslevel=6)
        except (TypeError, ValueError) as exc:
            log.error("dropped %d events that could not be encoded: %s", len(batch), exc)
            return
        for attempt in (1, 2):
            try:
                status = self._send(body)
            except (httpx.HTTPError, OSError) as exc:
                problem = f"network error: {exc!r}"
            else:
                if status < 300:
                    return
                if status < 500:
                    log.error("the server refused %d events (HTTP %d)", len(batch), status)
                    return
                problem = f"HTTP {status}"
            if attempt == 1:
                self._stopping.wait(_RETRY_DELAY)  # cut short by close(), to stay bounded
        log.warning("dropped %d events after a retry: %s", len(batch), problem)

    def _report_drops(self) -> None:
        dropped = self._dropped
        if dropped != self._dropped_reported:
            log.warning(
                "dropped %d analytics events: the buffer (capacity %d) was full",
                dropped - self._dropped_reported,
                self.capacity,
            )
            self._dropped_reported = dropped

    @property
    def dropped(self) -> int:
        """Events dropped so far because the buffer was full."""
        return self._dropped

    def after_fork(self) -> None:
        self._reset()


def _context_problem(context: Any) -> str | None:
    if not isinstance(context, Mapping):
        return f"context must be a mapping, not {type(context).__name__}"
    key = context.get("key")
    if isinstance(key, bool) or not isinstance(key, str | int) or key == "":
        return "context.key must be a non-empty string or an integer"
    return None


def _name_problem(name: Any) -> str | None:
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        return "name must be a string of 1 to 200 characters"
    return None


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
