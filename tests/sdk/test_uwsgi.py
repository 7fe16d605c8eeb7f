"""Under real uWSGI (pyuwsgi): workers forked from a master that created the client.

The documented setup: ``--master --processes 4 --enable-threads``, a client created
when the application is imported (so in the master, before the fork), with and
without ``--py-call-osafterfork`` (without it, Python's fork hooks do not run in the
workers). Each run checks that every worker answers, that a change made through the
admin API of a real ``vexil serve`` reaches every worker, and that the master and all
workers are gone within a bound after SIGINT or SIGTERM. Several runs, because a
worker forked while a thread of the master held the interpreter lock hangs for ever
(unbit/uwsgi#1149): a test of one run would pass by luck.

To reach every worker, each request holds its worker: the application sends its
answer, then waits for the request's one byte of body, which the test sends only once
every worker has answered. A worker that hangs leaves its request unanswered.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from _sdk import Env

from _services import free_port, missing, wait_for

# Real uWSGI masters and workers, forked and signalled.
pytestmark = pytest.mark.slow

UWSGI = Path(sys.executable).parent / "uwsgi"
WORKERS = 4
RUNS = 5
#: Seconds within which the master and every worker must be gone after the signal.
EXIT_BOUND = 15.0

APP = """
import json, os

import vexil

client = vexil.Client(
    os.environ["VEXIL_SDK_KEY"],
    url=os.environ["VEXIL_URL"],
    mode=vexil.Streaming(initial_backoff=0.05, max_backoff=0.5),
)


def application(environ, start_response):
    answer = {
        "pid": os.getpid(),
        "value": client.variation("f", {"key": "u-1"}, None),
        "status": client.status,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    yield json.dumps(answer).encode() + b"\\n"
    # Held until the test sends the body, so that the next request goes to another worker.
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
"""


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (command)"
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry.name))
    return members


class Uwsgi:
    """A uWSGI master and its workers, in a process group of their own."""

    def __init__(self, app: Path, env: Env, log: Path, *extra: str) -> None:
        self.port = free_port()
        self.log = log
        argv = [
            str(UWSGI),
            "--strict",
            "--need-app",
            "--http-socket",
            f"127.0.0.1:{self.port}",
            "--master",
            "--processes",
            str(WORKERS),
            "--enable-threads",
            "--die-on-term",
            "--disable-logging",
            "--wsgi-file",
            str(app),
            *extra,
        ]
        environ = {**os.environ, "VEXIL_SDK_KEY": env.key, "VEXIL_URL": env.url}
        with open(log, "w") as out:
            self.process = subprocess.Popen(
                argv, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def ask_every_worker(self, timeout: float = 20.0) -> dict[int, dict[str, Any]]:
        """One answer from each worker, by pid; fails if one of them does not answer."""
        held: list[socket.socket] = []
        answers: dict[int, dict[str, Any]] = {}
        deadline = time.monotonic() + timeout
        try:
            for _ in range(WORKERS):
                held.append(self._connect(deadline))
                answer = self._first_line(held[-1], deadline)
                answers[answer["pid"]] = answer
        finally:
            for connection in held:
                with suppress(OSError):
                    connection.sendall(b"x")
                connection.close()
        # A worker holding a request answers again only once uWSGI's read of the body
        # times out: fewer pids than workers means that the others never answered.
        assert len(answers) == WORKERS, f"workers answering: {answers}\n{self.log_tail()}"
        return answers

    def _connect(self, deadline: float) -> socket.socket:
        def connected() -> socket.socket:
            if self.process.poll() is not None:
                raise AssertionError(f"uWSGI exited:\n{self.log_tail()}")
            return socket.create_connection(("127.0.0.1", self.port), timeout=1)

        remaining = max(0.1, deadline - time.monotonic())
        connection: socket.socket = wait_for(connected, remaining, what="uWSGI to listen")
        connection.sendall(b"POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\n")
        return connection

    def _first_line(self, connection: socket.socket, deadline: float) -> dict[str, Any]:
        received = b""
        while b"\n" not in received.partition(b"\r\n\r\n")[2]:
            connection.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                chunk = connection.recv(4096)
            except TimeoutError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"a worker did not answer (hung?):\n{self.log_tail()}")
            received += chunk
        return dict(json.loads(received.partition(b"\r\n\r\n")[2].partition(b"\n")[0]))

    def worker_pids(self) -> set[int]:
        return set(group_members(self.process.pid)) - {self.process.pid}

    def stop(self, sig: int) -> float:
        """Signal the master; the seconds until the whole group was gone."""
        began = time.monotonic()
        self.process.send_signal(sig)
        try:
            self.process.wait(EXIT_BOUND)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the uWSGI master outlived {sig!r}:\n{self.log_tail()}") from None
        remaining = EXIT_BOUND - (time.monotonic() - began)
        try:
            wait_for(lambda: not group_members(self.process.pid), timeout=max(0.5, remaining))
        except TimeoutError:
            left = group_members(self.process.pid)
            raise AssertionError(f"{left} outlived the master:\n{self.log_tail()}") from None
        return time.monotonic() - began

    def kill(self) -> None:
        """Whatever is left of the group, gone: no test leaves a uWSGI process behind."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@contextmanager
def uwsgi(app: Path, env: Env, log: Path, *extra: str) -> Iterator[Uwsgi]:
    if not UWSGI.exists():
        missing(f"uWSGI is not installed (pyuwsgi's {UWSGI} not found)")
    server = Uwsgi(app, env, log, *extra)
    try:
        yield server
    finally:
        server.kill()


def every_worker_serves(server: Uwsgi, value: bool) -> bool:
    answers = server.ask_every_worker().values()
    return all(a["value"] is value and a["status"] == "streaming" for a in answers)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # storage is not the point
@pytest.mark.parametrize(
    "fork_hooks", [["--py-call-osafterfork"], []], ids=["py-call-osafterfork", "no-fork-hooks"]
)
def test_every_worker_follows_changes_and_exits_on_signals(
    env: Env, tmp_path: Path, fork_hooks: list[str]
) -> None:
    env.create_flag("f")
    app = tmp_path / "app.py"
    app.write_text(APP)
    for run in range(RUNS):
        on = run % 2 == 0  # the flag is off at the first run, and each run flips it
        with uwsgi(app, env, tmp_path / f"uwsgi-{run}.log", *fork_hooks) as server:
            answers = server.ask_every_worker()
            assert set(answers) == server.worker_pids()
            assert {answer["value"] for answer in answers.values()} == {not on}, answers

            env.toggle("f", on)
            wait_for(
                lambda: every_worker_serves(server, on),  # noqa: B023 - called in this iteration
                timeout=20,
                what=f"the change in every worker (run {run})",
            )
            sig = signal.SIGINT if run % 2 == 0 else signal.SIGTERM
            assert server.stop(sig) < EXIT_BOUND
