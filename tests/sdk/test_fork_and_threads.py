"""Processes and threads: a forked child keeps up with changes; threads evaluate freely."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable

import pytest
from _sdk import Env

from _services import wait_for
from vexil import Client, FlagChange, Polling

USER = {"key": "u-1"}


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


#: A process with a polling client forks with fork(2) itself, as uWSGI does: none of
#: Python's fork hooks run, and the child has no polling thread. Its first use of the
#: client (here ``status``) finds it in a new process and restarts it, whose first poll
#: brings the change made after the fork; without that, the child would stay stale.
#: Run in a process of its own, forking while the poller sleeps (its interval is an
#: hour): a raw fork of a process whose other threads (pytest's) may hold a lock can
#: deadlock, whatever the library.
RAW_FORK_CHILD = """
import ctypes, os, sys, time
from vexil import Client, Polling

client = Client(sys.argv[1], url=sys.argv[2], mode=Polling(interval=3600), send_events=False)
assert client.variation("f", {"key": "u-1"}, True) is False
pid = ctypes.PyDLL(None).fork()
if pid == 0:
    print("forked", flush=True)
    sys.stdin.readline()
    code = 3 if client.status in ("stopped", "unauthorized") else 5
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if client.variation("f", {"key": "u-1"}, False):
            code = 0
            break
        time.sleep(0.05)
    os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_child_forked_without_fork_hooks_restarts_at_first_use(env: Env) -> None:
    env.create_flag("f")
    argv = [sys.executable, "-c", RAW_FORK_CHILD, env.key, env.url]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(argv, text=True, **pipes) as child:  # type: ignore[call-overload]
        try:
            ready = select.select([child.stdout], [], [], 30)[0]
            assert ready, "the forked child never said it was ready"
            assert child.stdout.readline().strip() == "forked"
            env.toggle("f", True)
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.wait(30) == 0, child.stderr.read()
        finally:
            if child.poll() is None:
                child.kill()


@pytest.mark.slow
def test_evaluations_from_many_threads_during_updates_never_fail(env: Env) -> None:
    env.flag_on("f")
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
