"""The core behind ``Client`` handles: state, data source, events and their threads.

Clients built with the same SDK key and URL in one process share one core, counted
by reference, so a second ``Client(...)`` opens no second stream; the last
``close()`` shuts the core down. A forked child restarts every live core's threads
(they do not survive a fork) with fresh connections and locks: see ``_forks`` for
how, under ``os.fork()``, under uWSGI, and when no fork hook runs at all.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vexil.flags import EvaluationDetail, Ruleset
from vexil.sdk import _forks
from vexil.sdk._events import Counters, EventProcessor
from vexil.sdk._modes import Daemon, Lazy, Manual, Mode, Offline, Polling, Streaming
from vexil.sdk._sources import (
    UNAUTHORIZED,
    FileSource,
    LazySource,
    ManualSource,
    PollingSource,
    Source,
    StoreSource,
    StreamingSource,
    encode_saved,
    load_saved,
)
from vexil.sdk._state import (
    FlagChange,
    FlagState,
    NotReady,
    Touched,
    UpdateHook,
    changed_flags,
)
from vexil.sdk._stores import Store, store_namespace
from vexil.sdk._threads import joined
from vexil.sdk._transport import HttpOptions, Transport

log = logging.getLogger("vexil.sdk")
trace_log = logging.getLogger("vexil.evaluation")

Listener = tuple[Callable[[FlagChange], Any], str | None]


@dataclass(frozen=True)
class CoreConfig:
    """Everything a core is built from (and rebuilt from, after a fork)."""

    sdk_key: str | None
    url: str
    mode: Mode
    store: Store | None = None
    send_events: bool = True
    flush_interval: float = 10.0
    events_capacity: int = 10_000
    http: HttpOptions = field(default_factory=HttpOptions)
    file: Path | None = None
    watch: bool = False
    watch_interval: float = 1.0

    @property
    def namespace(self) -> str:
        """The store key: the same for every process using this SDK key."""
        return store_namespace(self.sdk_key or "offline")


class LazyFlagState(FlagState):
    """Lazy mode's state: reading the ruleset when stale wakes the fetcher."""

    def __init__(self, on_update: UpdateHook, ttl: float):
        self._ruleset: Ruleset
        super().__init__(on_update)
        self.ttl = ttl
        self.on_stale: Callable[[], None] = lambda: None

    @property
    def ruleset(self) -> Ruleset:
        if time.monotonic() - self.checked_at > self.ttl:
            self.on_stale()
        return self._ruleset

    @ruleset.setter
    def ruleset(self, value: Ruleset) -> None:
        self._ruleset = value


class Notifier:
    """Runs ``on_change`` callbacks and store saves off the data source's thread.

    The thread starts with the first job, so clients without listeners or a store
    have no such thread. With ``inline`` (test clients) jobs run on the caller.
    """

    def __init__(self, *, inline: bool = False) -> None:
        self.inline = inline
        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def submit(self, job: Callable[[], None]) -> None:
        if self.inline:
            _run_job(job)
            return
        with self._lock:
            if self._stopped:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="vexil-notify", daemon=True)
                self._thread.start()
        self._queue.put(job)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            _run_job(job)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._thread is not None:
                self._queue.put(None)

    def join(self, timeout: float) -> bool:
        return joined(self._thread, timeout)


def _run_job(job: Callable[[], None]) -> None:
    try:
        job()
    except Exception:  # a user's callback must not stop the others
        log.exception("an on_change callback or a store save failed")


class Core:
    def __init__(self, config: CoreConfig, *, inline: bool = False) -> None:
        self.config = config
        self.refs = 0
        self.closed = False
        #: The process this core's threads run in (see ``here``).
        self.pid = os.getpid()
        #: Started without threads, in a uWSGI process about to fork its workers.
        self.deferred = False
        self.listeners: list[Listener] = []
        self._saving_enabled = config.store is not None and not isinstance(config.mode, Daemon)
        self._pending_save: tuple[Ruleset, int | None] | None = None
        self._save_lock = threading.Lock()
        self.trace = trace_log.isEnabledFor(logging.DEBUG)
        #: Evaluation counts, read by clients on every evaluation. Without events they
        #: are kept (bounded) but never sent.
        self.counters = Counters()
        if isinstance(config.mode, Lazy):
            self.state: FlagState = LazyFlagState(self._updated, config.mode.ttl)
        else:
            self.state = FlagState(self._updated)
        self._inline = inline
        self._build()

    # ------------------------------------------------------------- building

    def _build(self) -> None:
        """The parts with threads, connections or locks: built again after a fork."""
        config = self.config
        self.notifier = Notifier(inline=self._inline)
        self.transport: Transport | None = None
        self.events: EventProcessor | None = None
        if config.sdk_key and not isinstance(config.mode, Offline | Daemon):
            self.transport = Transport(config.url, config.sdk_key, config.http)
            if config.send_events:
                self.events = EventProcessor(
                    self.transport.post_events,
                    flush_interval=config.flush_interval,
                    capacity=config.events_capacity,
                    counters=self.counters,
                    on_tick=self._read_log_level,
                )
        self.source = self._make_source()

    def _make_source(self) -> Source:
        config, mode, state = self.config, self.config.mode, self.state
        if config.file is not None:
            return FileSource(
                state, config.file, watch=config.watch, interval=config.watch_interval
            )
        if isinstance(mode, Offline):
            if mode.path is not None:
                return FileSource(state, mode.path, watch=False, interval=1.0)
            return Source(state)
        if isinstance(mode, Daemon):
            assert config.store is not None  # checked by the client
            return StoreSource(state, config.store, config.namespace, mode)
        assert self.transport is not None
        if isinstance(mode, Streaming):
            stream_transport = Transport(config.url, config.sdk_key or "", config.http)
            return StreamingSource(state, stream_transport, mode)
        if isinstance(mode, Polling):
            return PollingSource(state, self.transport, mode)
        if isinstance(mode, Lazy):
            source = LazySource(state, self.transport, mode)
            assert isinstance(state, LazyFlagState)
            state.on_stale = source.stale
            return source
        assert isinstance(mode, Manual)
        return ManualSource(state, self.transport)

    def start(self) -> None:
        _forks.track(self)
        self.pid = os.getpid()
        if self._saving_enabled:
            self._boot_from_store()
        if _forks.uwsgi_will_fork():
            # Threads running here when uWSGI forks would hang the workers: flags now,
            # on this thread, for the workers to start from; threads in each worker.
            self.deferred = True
            self.notifier.inline = True
            self.source.prime()
            _forks.hook_uwsgi()
            return
        self._start_threads()

    def _start_threads(self) -> None:
        self.deferred = False
        self.notifier.inline = self._inline
        self.source.start()
        if self.events is not None:
            self.events.start()

    def _boot_from_store(self) -> None:
        store = self.config.store
        assert store is not None
        try:
            data = store.load(self.config.namespace)
        except Exception as exc:  # any store's failure: start without it
            log.warning("could not read the saved flags from %r: %r", store, exc)
            return
        if data is not None:
            self._saving_enabled = False  # no need to save back what was just read
            try:
                load_saved(self.state, data, repr(store))
            finally:
                self._saving_enabled = True

    def wait_for_start(self, timeout: float) -> None:
        """Wait for flags from the source, a definite refusal, or the timeout."""
        source = self.source
        if self.deferred or not isinstance(source, StreamingSource | PollingSource):
            return  # the other sources made their first attempt in start(): nothing to wait for
        deadline = time.monotonic() + timeout
        if self.state.is_ready:  # booted from a store: wait for the first answer only
            source.attempted.wait(timeout)
            return
        while not self.state.ready.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if source.status == UNAUTHORIZED or time.monotonic() >= deadline:
                return

    def _read_log_level(self) -> None:
        # Checking the level on every evaluation would cost more than the evaluation;
        # re-reading it once per flush interval lets DEBUG be turned on while running.
        self.trace = trace_log.isEnabledFor(logging.DEBUG)

    def record(self, key: str, context: Any, detail: EvaluationDetail[Any]) -> None:
        """An evaluation, when ``trace`` is on: DEBUG logs of ``vexil.evaluation``."""
        trace_log.debug("%s for %r: %r", key, context, detail)

    # ------------------------------------------------------------- updates

    def _updated(self, old: Ruleset, new: Ruleset, revision: int | None, touched: Touched) -> None:
        if self._saving_enabled and not isinstance(new, NotReady):
            with self._save_lock:
                scheduled = self._pending_save is not None
                self._pending_save = (new, revision)
            if not scheduled:
                self.notifier.submit(self._save)
        if self.listeners and not isinstance(old, NotReady):  # the first flags are no change
            listeners = list(self.listeners)
            self.notifier.submit(lambda: _notify(listeners, old, new, revision, touched))

    def _save(self) -> None:
        with self._save_lock:
            pending, self._pending_save = self._pending_save, None
        if pending is None or self.config.store is None:
            return
        ruleset, revision = pending
        try:
            self.config.store.save(self.config.namespace, encode_saved(ruleset.to_data(), revision))
        except Exception as exc:  # the flags in memory are what matter; the store can wait
            log.warning("could not save the flags to %r: %r", self.config.store, exc)

    # ------------------------------------------------------------- closing

    def close(self, timeout: float = 2.0) -> None:
        """Stop every thread, sending the last events; bounded by ``timeout``."""
        if self.closed:
            return
        self.closed = True
        if self.pid != os.getpid():
            return  # forked, never restarted: the threads and sockets are the parent's
        deadline = time.monotonic() + timeout
        self.source.stop()
        if self.events is not None:
            self.events.stop()
        self.notifier.stop()
        parts: list[Any] = [self.source, self.events, self.notifier]
        stopped = all(
            part is None or part.join(max(0.0, deadline - time.monotonic() - 0.2)) for part in parts
        )
        if not stopped:  # a hung request: cut it short
            for transport in self._transports():
                transport.interrupt()
            for part in parts:
                if part is not None:
                    part.join(0.2)
        for transport in self._transports():
            transport.close()

    def _transports(self) -> list[Transport]:
        found = [self.transport] if self.transport is not None else []
        if isinstance(self.source, StreamingSource):
            found.append(self.source.transport)
        return found

    # ------------------------------------------------------------- forking

    def here(self) -> Core:
        """This core, restarted first if the process forked without running the hooks."""
        if self.pid != os.getpid():
            try:
                self.resume_here()
            except Exception:  # never into the caller: it evaluates with the flags held
                log.exception("could not restart the flag client in this process")
        return self

    def resume_here(self) -> None:
        with _forks.process_lock():
            if self.closed:
                return
            if self.pid != os.getpid():
                self.after_fork()
            elif self.deferred:
                self._start_threads()  # uWSGI without a master: this process is a worker

    def fork_locks(self) -> list[threading.Lock]:
        if self.closed:
            return []
        locks = [self.state._lock, self._save_lock, self.counters._lock, self.notifier._lock]
        if self.events is not None:
            locks.append(self.events._lock)
        locks.extend(transport._lock for transport in self._transports())
        return locks

    def after_fork(self) -> None:
        """In a forked child: fresh locks, connections and threads; the flags stay.

        Nothing of the parent's is used, closed or shut down: its locks may be held by
        threads that were not copied, and its sockets are still the parent's.
        """
        if self.closed:
            return
        self.pid = os.getpid()
        state = self.state  # the same object: clients hold it
        state._lock = threading.Lock()
        ready, state.ready = state.ready, threading.Event()
        if ready.is_set():
            state.ready.set()
        self._save_lock = threading.Lock()
        self._pending_save = None
        self.counters.clear()  # the parent reports what it counted
        self._build()
        self._start_threads()


def _notify(
    listeners: list[Listener], old: Ruleset, new: Ruleset, revision: int | None, touched: Touched
) -> None:
    for key in changed_flags(old, new, touched):
        change = FlagChange(key, revision)
        for callback, wanted in listeners:
            if wanted is None or wanted == key:
                _run_job(functools.partial(callback, change))


# ---------------------------------------------------------------- sharing

_shared: dict[tuple[str, str], Core] = {}


def acquire(config: CoreConfig) -> tuple[Core, bool]:
    """The shared core for ``config``'s key and URL (created if needed), and if it is new."""
    assert config.sdk_key is not None
    ident = (config.sdk_key, config.url)
    with _forks.process_lock():
        core = _shared.get(ident)
        if core is not None and not core.closed:
            if core.config != config:
                log.warning(
                    "a client for this SDK key and URL already exists with other options;"
                    " sharing it, with its options"
                )
            core.refs += 1
            return core, False
        core = Core(config)
        core.refs = 1
        _shared[ident] = core
    return core, True


def release(core: Core, timeout: float) -> None:
    with _forks.process_lock():
        core.refs -= 1
        if core.refs > 0:
            return
        ident = (core.config.sdk_key or "", core.config.url)
        if _shared.get(ident) is core:
            del _shared[ident]
    core.close(timeout)
