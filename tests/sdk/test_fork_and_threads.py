"""Processes and threads: a forked child keeps up with changes; threads evaluate freely."""

from __future__ import annotations

import ctypes
import os
import threading
import warnings
from collections.abc import Callable

import pytest
from _sdk import Env

from _services import wait_for
from vexil import Client, FlagChange, Polling

USER = {"key": "u-1"}


def raw_fork() -> int:
    """fork(2) itself, as uWSGI calls it: none of Python's fork hooks run, in either process.

    Called through ``PyDLL``, which keeps the interpreter lock, so that the child has it
    (the thread that forked is the only one the child has).
    """
    return int(ctypes.PyDLL(None).fork())


def run_in_child(body: str, client: Client, env: Env, fork: Callable[[], int] = os.fork) -> int:
    """Fork; in the child run ``body`` (returns an exit code). Returns the child's code."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a threaded process may deadlock; forking such
        # a process (gunicorn --preload, Celery prefork) is exactly what is tested.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = fork()
    if pid == 0:  # the child: never return into pytest
        code = 99
        try:
            os.close(read_end)
            code = CHILD_BODIES[body](client, env, write_end)
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as messages:
        messages.read(1)  # the child is ready for the change (or gone)
        env.toggle("f", True)
        _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def child_sees_change(client: Client, env: Env, ready: int) -> int:
    names = {t.name for t in threading.enumerate()}
    if "vexil-streaming" not in names and "vexil-polling" not in names:
        return 3  # the background threads were not restarted
    if client.variation("f", USER, True) is not False:
        return 4
    os.write(ready, b"r")
    os.close(ready)
    try:
        wait_for(lambda: client.variation("f", USER, False), timeout=20)
    except TimeoutError:
        return 5
    client.close()
    return 0


def child_uses_it_first(client: Client, env: Env, ready: int) -> int:
    """No fork hook ran: the first use (here, ``status``) restarts the client."""
    if client.status not in ("starting", "streaming", "polling"):
        return 3
    return child_waits_for_change(client, ready, lambda: client.variation("f", USER, False))


def child_waits_for_change(client: Client, ready: int, changed: Callable[[], bool]) -> int:
    os.write(ready, b"r")
    os.close(ready)
    try:
        wait_for(changed, timeout=20)
    except TimeoutError:
        return 5
    client.close()
    return 0


CHILD_BODIES = {
    "sees-change": child_sees_change,
    "uses-it-first": child_uses_it_first,
}


@pytest.mark.parametrize("mode", ["streaming", "polling"])
def test_a_forked_child_restarts_its_threads_and_sees_later_changes(env: Env, mode: str) -> None:
    env.create_flag("f")
    chosen = Polling(interval=0.05) if mode == "polling" else mode
    with Client(env.key, url=env.url, mode=chosen) as client:
        assert client.variation("f", USER, True) is False
        assert run_in_child("sees-change", client, env) == 0
        # The parent, too, sees the change made after the fork.
        wait_for(lambda: client.variation("f", USER, False), what="the change in the parent")


@pytest.mark.parametrize("mode", ["streaming", "polling"])
def test_a_child_forked_without_fork_hooks_restarts_at_first_use(env: Env, mode: str) -> None:
    env.create_flag("f")
    chosen = Polling(interval=0.05) if mode == "polling" else mode
    with Client(env.key, url=env.url, mode=chosen) as client:
        assert client.variation("f", USER, True) is False
        assert run_in_child("uses-it-first", client, env, fork=raw_fork) == 0
        # The child used none of the parent's connections: the parent's still work.
        wait_for(lambda: client.variation("f", USER, False), what="the change in the parent")


def test_evaluations_from_many_threads_during_updates_never_fail(env: Env) -> None:
    env.create_flag("f")
    env.toggle("f", True)
    changes: list[FlagChange] = []
    errors: list[BaseException] = []
    with Client(env.key, url=env.url) as client:
        client.on_change(changes.append, "f")
        stop = threading.Event()

        def evaluate() -> None:
            try:
                while not stop.is_set():
                    value = client.variation("f", USER)
                    assert value in (True, False), value
            except BaseException as exc:  # collected for the main thread
                errors.append(exc)

        workers = [threading.Thread(target=evaluate) for _ in range(4)]
        for worker in workers:
            worker.start()
        try:
            for i in range(10):
                env.toggle("f", i % 2 == 0)
            wait_for(lambda: client.revision == int(env.ruleset().headers["X-Vexil-Revision"]))
            wait_for(lambda: len(changes) >= 1, what="change callbacks")
        finally:
            stop.set()
            for worker in workers:
                worker.join()
        assert errors == []
        assert client.variation("f", USER, True) is False  # the last toggle: off
