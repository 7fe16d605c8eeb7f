"""Forks: keeping clients whole across ``fork()``, however the process was forked.

Threads do not survive a fork, and a lock that one of them held at that moment stays
held in the child for ever. Processes get forked in three ways, with three answers:

- ``os.fork()`` (gunicorn ``--preload``, Celery's prefork pool, ``multiprocessing``
  with "fork") runs Python's fork hooks. Before the fork, the forking thread takes
  every short-held SDK lock, so that no other thread is halfway through an update
  when memory is copied; after it, the parent lets them go, and the child builds
  fresh locks, connections and threads. A child never uses, closes or shuts down the
  parent's connection pools: their sockets are the parent's too.
- uWSGI forks its workers from C while Python threads may be running, and without
  Python's "before" hook: a worker then waits for ever for the interpreter lock that
  one of those threads held (unbit/uwsgi#1149: the worker hangs on a futex, ignores
  SIGTERM and outlives the master). So a client created in a uWSGI process that is
  going to fork workers (the application imported before the fork, no ``lazy-apps``)
  starts no thread there: it gets its flags once on the calling thread, and each
  worker starts the threads for itself, from Python's fork hook
  (``py-call-osafterfork``), from uWSGI's ``post_fork_hook``, or failing both at
  first use.
- Other C code may fork and run no hook at all. A client then notices at first use:
  every method but the evaluations compares ``os.getpid()`` with the process its
  threads run in, and restarts in the new process. Evaluations do not check: a
  ``getpid`` costs about 200 ns, as much as a simple evaluation.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("vexil.sdk")

#: Seconds the "before fork" hook waits for each lock; past it the fork goes on (the
#: child builds its own locks anyway: only a half-made update could be copied).
LOCK_WAIT = 1.0


class Forkable(Protocol):
    """What this module needs of a client's core."""

    def fork_locks(self) -> list[threading.Lock]:
        """The locks held for short, in-memory updates only, never across I/O."""

    def after_fork(self) -> None:
        """In a forked child: fresh locks, connections and threads."""

    def resume_here(self) -> None:
        """Start the threads if this process has none yet (a fork, or a deferred start)."""


_cores: weakref.WeakSet[Any] = weakref.WeakSet()
_locks: dict[int, threading.Lock] = {}
_held: list[threading.Lock] = []


def track(core: Forkable) -> None:
    """Restart ``core`` in forked children (it is forgotten when garbage)."""
    _cores.add(core)


def process_lock() -> threading.Lock:
    """A lock of this process's own: a copy inherited through a fork may be held for ever."""
    pid = os.getpid()
    lock = _locks.get(pid)
    if lock is None:
        lock = _locks.setdefault(pid, threading.Lock())  # one winner, under the GIL
    return lock


def resume_all() -> None:
    """Every live core started in this process, if it is not yet."""
    for core in list(_cores):
        try:
            core.resume_here()
        except Exception:  # never break the host process over flags
            log.exception("could not start the flag client in this process")


# ------------------------------------------------------------ Python's hooks


def _before_fork() -> None:
    wanted = [process_lock(), *(lock for core in list(_cores) for lock in core.fork_locks())]
    for lock in wanted:
        if lock.acquire(timeout=LOCK_WAIT):
            _held.append(lock)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop().release()


def _after_fork_in_child() -> None:
    _held.clear()  # the child's copies: never released, never used again
    _locks.clear()
    for core in list(_cores):
        try:
            core.after_fork()
        except Exception:  # never break the child process over flags
            log.exception("could not restart the flag client after fork")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


# ------------------------------------------------------------------ uWSGI


def uwsgi_will_fork() -> bool:
    """True in a uWSGI process that imports the application and then forks its workers."""
    uwsgi: Any = sys.modules.get("uwsgi")  # set by uWSGI's embedded interpreter alone
    if uwsgi is None:
        return False
    try:
        if uwsgi.opt.get("lazy-apps") or uwsgi.opt.get("lazy"):
            return False  # each worker imports the application after its fork
        return bool(
            uwsgi.worker_id() == 0 and uwsgi.mule_id() == 0 and not uwsgi.i_am_the_spooler()
        )
    except Exception:  # a module of that name that is not uWSGI's
        return False


class _PostForkHook:
    """uWSGI's ``post_fork_hook``, run in each worker (with or without py-call-osafterfork)."""

    def __init__(self, previous: Callable[[], object] | None) -> None:
        self.previous = previous

    def __call__(self) -> None:
        resume_all()
        if self.previous is not None:
            self.previous()


def hook_uwsgi() -> None:
    """Have uWSGI start the clients in each worker, keeping any hook set before."""
    uwsgi: Any = sys.modules.get("uwsgi")
    if uwsgi is None or isinstance(getattr(uwsgi, "post_fork_hook", None), _PostForkHook):
        return
    uwsgi.post_fork_hook = _PostForkHook(getattr(uwsgi, "post_fork_hook", None))
