"""Analytics events: evaluation summaries, ``track`` and ``identify``, sent in batches.

Evaluations are counted, not sent one by one. Each (flag, variant) pair has an
``itertools.count``: ``next()`` on it is one atomic C call, so counting needs no
lock and loses nothing. The flusher reads a counter by calling ``next()`` too and
subtracts its own reads, then sends the growth since the last flush.

``track`` and ``identify`` events go into a bounded deque; when it is full the
oldest is dropped and counted, never waiting, and a warning says so at most once
per ``flush_interval``. A background thread sends every ``flush_interval`` seconds,
or sooner when a batch fills: gzip-compressed JSON, retried once after a network
error or a 5xx; a batch refused as too large (413) is split and sent in halves.

What the server would refuse is refused here instead, so that it cannot take a
whole batch down with it: invalid ``track``/``identify`` input is logged and
ignored, and evaluations of flag keys the protocol cannot carry are not counted.
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

from vexil.sdk._threads import joined

log = logging.getLogger("vexil.events")

#: Custom events per request; a summary rides along with the first batch.
BATCH_SIZE = 500
#: Distinct (flag, variant) pairs counted; evaluations of further pairs are dropped.
MAX_COUNTERS = 10_000
#: The longest flag key and variant the protocol carries.
MAX_KEY = 200
_RETRY_DELAY = 1.0
#: Where uncountable evaluations go: read by no one.
_NOWHERE: itertools.count[int] = itertools.count()


class Counters:
    """Evaluation counts per flag and variant: ``table[flag][variant]`` is a counter.

    ``Client`` reads ``table`` on every evaluation and calls ``next()`` on the
    counter; a pair seen for the first time goes through ``new``. The table object
    lives as long as the client: a forked child clears it rather than replacing it.
    """

    def __init__(self) -> None:
        self.table: dict[str, dict[str | None, itertools.count[int]]] = {}
        #: Per pair: (the flusher's own ``next()`` calls, evaluations already sent).
        self._seen: dict[tuple[str, str | None], tuple[int, int]] = {}
        self._pairs = 0
        self._lock = threading.Lock()
        self._warned = False

    def new(self, flag: str, variant: str | None) -> itertools.count[int]:
        """The counter of a pair seen for the first time (rare: once per pair)."""
        if not _sendable_key(flag) or not (variant is None or _sendable_key(variant)):
            return _NOWHERE  # the server would refuse the whole batch for it
        with self._lock:
            variants = self.table.get(flag)
            counter = variants.get(variant) if variants is not None else None
            if counter is not None:
                return counter
            if self._pairs >= MAX_COUNTERS:
                if not self._warned:
                    self._warned = True
                    log.warning(
                        "more than %d flag and variant pairs evaluated: the evaluations of"
                        " further pairs are not counted in summaries",
                        MAX_COUNTERS,
                    )
                return _NOWHERE
            counter = itertools.count()
            if variants is None:
                self.table[flag] = {variant: counter}
            else:
                variants[variant] = counter
            self._pairs += 1
            return counter

    def read(self) -> list[dict[str, Any]]:
        """The evaluations counted since the last read, as summary counters."""
        out = []
        seen = self._seen
        with self._lock:
            pairs = [
                (flag, variant, counter)
                for flag, variants in self.table.items()
                for variant, counter in variants.items()
            ]
        for flag, variant, counter in pairs:
            reads, sent = seen.get((flag, variant), (0, 0))
            total = next(counter) - reads  # next() returns evaluations + our earlier reads
            seen[flag, variant] = (reads + 1, total)
            if total > sent:
                out.append({"flag": flag, "variant": variant, "count": total - sent})
        return out

    def clear(self) -> None:
        """Forget every count (in a forked child, whose parent reports its own)."""
        self._lock = threading.Lock()
        self.table.clear()
        self._seen.clear()
        self._pairs = 0


class EventProcessor:
    """Summaries, custom events and the thread that sends them."""

    def __init__(
        self,
        send: Callable[[bytes], int],
        *,
        flush_interval: float = 10.0,
        capacity: int = 10_000,
        counters: Counters | None = None,
        on_tick: Callable[[], None] = lambda: None,
    ) -> None:
        #: Called on the events thread before each flush (the client re-reads its log level).
        self.on_tick = on_tick
        self.counters = counters if counters is not None else Counters()
        self._send = send
        self.flush_interval = flush_interval
        self.capacity = capacity
        self._reset()

    def _reset(self) -> None:
        """Fresh state (a forked child gets a new processor over the same, cleared, counters)."""
        self.counters.clear()
        self._send_lock = threading.Lock()
        #: Guards the queue's swap and the drop count: held for a few operations, no I/O.
        self._lock = threading.Lock()
        self._queue: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.capacity)
        self._period_start = time.time()
        self._dropped = 0
        self._dropped_reported = 0
        self._warned_at = -math.inf
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- hot path

    def count(self, flag: str, variant: str | None) -> None:
        """Count one evaluation (``Client`` inlines this; kept for other callers)."""
        try:
            next(self.counters.table[flag][variant])
        except KeyError:
            next(self.counters.new(flag, variant))

    # -------------------------------------------------------- custom events

    def track(self, name: str, context: Mapping[str, Any], value: float | None, data: Any) -> None:
        problem = _context_problem(context) or _name_problem(name)
        if problem is None and value is not None and not _is_finite_number(value):
            problem = f"value must be a finite number, not {value!r}"
        if problem is None:
            context = dict(context)
            problem = _json_problem("context", context) or _json_problem("data", data)
        if problem:
            log.warning("track(%r) ignored: %s", name, problem)
            return
        event: dict[str, Any] = {
            "kind": "track",
            "name": name,
            "context": context,
            "at": time.time(),
        }
        if value is not None:
            event["value"] = value
        if data is not None:
            event["data"] = data
        self._enqueue(event)

    def identify(self, context: Mapping[str, Any]) -> None:
        problem = _context_problem(context)
        if problem is None:
            context = dict(context)
            problem = _json_problem("context", context)
        if problem:
            log.warning("identify ignored: %s", problem)
            return
        self._enqueue({"kind": "identify", "context": context, "at": time.time()})

    def _enqueue(self, event: dict[str, Any]) -> None:
        with self._lock:
            queue = self._queue
            if len(queue) >= self.capacity:
                self._dropped += 1  # the deque drops its oldest event to take this one
            queue.append(event)
            full = len(queue) >= BATCH_SIZE
        if full:
            self._wake.set()

    # ------------------------------------------------------------- sending

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vexil-events", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            self.on_tick()
            self._flush_logged()
        self._flush_logged()  # the last events, at close

    def _flush_logged(self) -> None:
        try:
            self.flush()
        except Exception:  # pragma: no cover - flush handles its errors; the thread must live
            log.exception("sending analytics events failed")

    def stop(self) -> None:
        """Ask the thread to send what is left and end; see ``join``."""
        self._stopping.set()
        self._wake.set()

    def join(self, timeout: float) -> bool:
        return joined(self._thread, timeout)

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
        counters = self.counters.read()
        if counters:
            events.append(
                {"kind": "summary", "start": self._period_start, "end": now, "counters": counters}
            )
        self._period_start = now
        with self._lock:
            queue, self._queue = self._queue, collections.deque(maxlen=self.capacity)
        events.extend(queue)
        return events

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        try:
            body = gzip.compress(_encode(batch), compresslevel=6)
        except (TypeError, ValueError, RecursionError):
            # Checked when queued, but changed since (the caller's data is shared):
            # send the others rather than none.
            kept = [event for event in batch if _encodable(event)]
            log.error("dropped %d events that could not be encoded", len(batch) - len(kept))
            if kept:
                self._deliver(kept)
            return
        for attempt in (1, 2):
            try:
                status = self._send(body)
            except (httpx.HTTPError, OSError) as exc:
                problem = f"network error: {exc!r}"
            except Exception as exc:  # a closed client, a broken send: never into the caller
                problem = f"{exc!r}"
            else:
                if status < 300:
                    return
                if status == 413 and len(batch) > 1:  # too large: send it in halves
                    half = len(batch) // 2
                    self._deliver(batch[:half])
                    self._deliver(batch[half:])
                    return
                if status < 500:
                    log.error("the server refused %d events (HTTP %d)", len(batch), status)
                    return
                problem = f"HTTP {status}"
            if attempt == 1:
                self._stopping.wait(_RETRY_DELAY)  # cut short by close(), to stay bounded
        log.warning("dropped %d events after a retry: %s", len(batch), problem)

    def _report_drops(self) -> None:
        """Warn of new drops, at most once per ``flush_interval`` (and at the last flush)."""
        dropped = self._dropped
        if dropped == self._dropped_reported:
            return
        now = time.monotonic()
        if now - self._warned_at >= self.flush_interval or self._stopping.is_set():
            self._warned_at = now
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


def _sendable_key(key: Any) -> bool:
    return isinstance(key, str) and 0 < len(key) <= MAX_KEY


def _encode(value: Any) -> bytes:
    """JSON as the server reads it: no NaN nor infinities; other objects as ``str``."""
    return json.dumps(value, default=str, allow_nan=False).encode()


def _encodable(value: Any) -> bool:
    try:
        _encode(value)
    except (TypeError, ValueError, RecursionError):
        return False
    return True


def _json_problem(name: str, value: Any) -> str | None:
    if value is None or _encodable(value):
        return None
    return f"{name} cannot be sent as JSON (NaN, infinity, a cycle or a key not a string?)"


def _is_finite_number(value: Any) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False
