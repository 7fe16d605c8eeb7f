"""Real services for the tests: PostgreSQL, Redis and Vexil servers, on loopback.

Nothing here is mocked: PostgreSQL and Redis are started from their own binaries in
temporary directories, and each Vexil server is a real ``vexil serve`` process. The
dashboard's tests drive Debian's Chromium (see ``chromium_bin``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

ON_CI = os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> None:
    """A service the tests need is not installed: fail with ``CI=true``, skip elsewhere."""
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: services must be available)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        try:
            result = condition()
            if result:
                return result
        except (httpx.HTTPError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


@contextmanager
def not_stalled(seconds: float) -> Iterator[None]:
    """Fail the block with TimeoutError once it has run for ``seconds``.

    A bound that tells "linear" from "stalled", not a speed figure. The alarm reaches
    Python's ``re`` too, which checks for signals while it backtracks, so a test of a
    catastrophic pattern fails instead of hanging. Main thread only (SIGALRM).
    """

    def expire(signum: int, frame: Any) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def postgres_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class Postgres:
    """A throwaway PostgreSQL cluster on a free loopback port."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vexil-pg-"))
        self.port = free_port()
        self.user = "vexil"
        self._as: list[str] = []

    def start(self) -> None:
        initdb, pg_ctl = postgres_bin("initdb"), postgres_bin("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError("PostgreSQL's initdb and pg_ctl were not found")
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            account = pwd.getpwnam("postgres")
            os.chown(self.dir, account.pw_uid, account.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run([initdb, "-D", str(data), "-U", self.user, "--auth=trust", "-E", "UTF8"])
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off"
        self._run(
            [pg_ctl, "-D", str(data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"]
        )

    def _run(self, argv: list[str]) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        pg_ctl = postgres_bin("pg_ctl")
        if pg_ctl:
            subprocess.run(
                [*self._as, pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "stop"],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)


class Service(Protocol):
    """A process a test starts: it answers once ``_ready()``, and ``stop()`` ends it."""

    port: int
    log: Path

    def _ready(self) -> bool: ...

    def stop(self) -> object: ...


def launch(
    argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start a service's process, its output going to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )


def started(service: Service, timeout: float, name: str) -> None:
    """Wait for the service to answer; stop it and show its log if it does not in time."""
    try:
        wait_for(service._ready, timeout=timeout, what=f"{name} on port {service.port}")
    except TimeoutError:
        service.stop()
        raise RuntimeError(f"{name} did not start:\n{service.log.read_text()}") from None


def alive(process: subprocess.Popen[str] | None, log: Path, name: str) -> None:
    """Raise, with the log, if the process has exited (``wait_for`` stops polling then)."""
    assert process is not None
    if process.poll() is not None:
        raise RuntimeError(f"{name} exited:\n{log.read_text()}")


def redis_bin() -> str | None:
    found = shutil.which("redis-server")
    if found:
        return found
    return "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None


class Redis:
    """A throwaway ``redis-server`` on a free loopback port, persisting nothing."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vexil-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[str] | None = None
        self.log = self.dir / "log"

    def start(self) -> Redis:
        server = redis_bin()
        if not server:
            raise RuntimeError("redis-server was not found")
        argv = [
            server,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.dir),
        ]
        self.process = launch(argv, self.dir, self.log)
        started(self, timeout=15, name="redis-server")
        return self

    def _ready(self) -> bool:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        alive(self.process, self.log, "redis-server")
        # No retries inside ping: wait_for does the polling.
        no_retry = Retry(NoBackoff(), 0)
        with redis.Redis(port=self.port, socket_timeout=2, retry=no_retry) as client:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def chromium_bin() -> str | None:
    """Debian's Chromium (package ``chromium``), which the dashboard's tests drive."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


ADMIN_PASSWORD = "test-admin-password"


class VexilServer:
    """A ``vexil serve`` process on a free loopback port."""

    def __init__(self, database_url: str, workdir: Path, *, demo: bool = False, **env: str) -> None:
        self.database_url, self.workdir, self.demo = database_url, workdir, demo
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.process: subprocess.Popen[str] | None = None
        self.log = workdir / f"server-{self.port}.log"

    def start(self) -> VexilServer:
        env = {
            **os.environ,
            "VEXIL_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "VEXIL_POLL_SECONDS": "0.2",
            **self.env,
        }
        argv = [
            sys.executable,
            "-m",
            "vexil",
            "serve",
            "--port",
            str(self.port),
            "--database",
            self.database_url,
        ]
        if self.demo:
            argv.append("--demo")
        self.process = launch(argv, self.workdir, self.log, env)
        started(self, timeout=30, name="vexil serve")
        return self

    def _ready(self) -> bool:
        alive(self.process, self.log, "vexil serve")
        return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200

    def admin(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url, auth=("admin", ADMIN_PASSWORD), timeout=10, **kwargs
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def metric(server: VexilServer, name: str, **labels: str) -> float:
    """A sample of the server's ``/metrics`` with these labels (0 while it has none)."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def database_for(
    backend: str, request: pytest.FixtureRequest, workdir: Path, prefix: str = "vexil"
) -> str:
    """A new, empty database: a file under ``workdir``, or a database of the session's
    PostgreSQL (started on first use)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    if backend == "sqlite":
        return f"sqlite:///{workdir / name}.db"
    postgres: Postgres = request.getfixturevalue("postgres")
    return postgres.create_database(name)


def run_vexil(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The ``vexil`` command, run as users run it, in ``cwd``; bounded to a minute."""
    return subprocess.run(
        [sys.executable, "-m", "vexil", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sdk_key(
    admin: httpx.Client, project: str, env: str = "development", kind: str = "server"
) -> str:
    """The current SDK key of ``kind`` of an environment, read through the admin API."""
    keys = admin.get(f"/api/v1/projects/{project}/environments/{env}/keys").json()
    assert isinstance(keys, list), keys
    return str(next(k["key"] for k in keys if k["kind"] == kind))


def new_flag(admin: httpx.Client, project: str, key: str = "new-ui") -> None:
    """A boolean flag in ``project`` through the admin API; new flags are off."""
    created = admin.post(
        f"/api/v1/projects/{project}/flags",
        json={"key": key, "variations": {"on": True, "off": False}},
    )
    assert created.status_code == 201, created.text


def toggle_on(admin: httpx.Client, project: str, key: str = "new-ui") -> None:
    """Turn a flag on in development, as someone would on the dashboard."""
    path = f"/api/v1/projects/{project}/environments/development/flags/{key}/toggle"
    toggled = admin.post(path, json={"on": True})
    assert toggled.status_code == 200, toggled.text
