"""Password checks cannot be flooded: the password gate, and failure limits per address and name.

Each case runs a real ``vexil serve`` with small limits (``VEXIL_*`` variables). The
limits are per address: the tests reach the server from other loopback addresses
(127.0.0.2, 127.0.0.3) to be other clients.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis
from _admin_api import API, create_token

from _services import ADMIN_PASSWORD, Redis, VexilServer, free_port, wait_for
from vexil.server._throttle import WAIT_SECONDS

#: Limits that never trigger, for the cases about another one.
UNLIMITED = "100000000/minute"


def client(
    server: VexilServer, address: str = "127.0.0.1", headers: dict[str, str] | None = None
) -> httpx.Client:
    """A client that connects from ``address``: another loopback address is another client."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, transport=transport, headers=headers, timeout=15)


def basic(
    server: VexilServer, username: str, password: str, address: str = "127.0.0.1"
) -> httpx.Response:
    with client(server, address) as http:
        return http.get(f"{API}/projects", auth=(username, password))


def new_user(server: VexilServer) -> tuple[str, str]:
    username, password = f"u-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    with server.admin() as admin:
        body = {"username": username, "password": password, "role": "viewer"}
        response = admin.post(f"{API}/users", json=body)
        assert response.status_code == 201, response.text
    return username, password


def metric(server: VexilServer, name: str, labels: str = "") -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name}{labels} is not in /metrics"
    return float(found[1])


def assert_rate_limited(response: httpx.Response) -> int:
    """The response is a 429 with a Retry-After of at most a minute; returns the seconds."""
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


@pytest.mark.slow
def test_wrong_passwords_lock_the_user_name_out(
    backend: str, new_server: Callable[..., VexilServer]
) -> None:
    server = new_server(
        backend, VEXIL_AUTH_RATE_PER_USER="3/minute", VEXIL_AUTH_RATE_PER_CLIENT=UNLIMITED
    )
    username, password = new_user(server)
    # Failures count whatever the address: many clients cannot share out the guesses.
    for address in ("127.0.0.1", "127.0.0.2", "127.0.0.3"):
        assert basic(server, username, "wrong", address).status_code == 401
    checks = metric(server, "vexil_password_checks_total")

    refused = basic(server, username, "wrong", "127.0.0.2")
    assert_rate_limited(refused)
    assert refused.json()["error"]["code"] == "rate_limited"
    # Locked for the window: the right password is refused too, from any address...
    assert_rate_limited(basic(server, username, password))
    # ...before any hash: the refused attempts ran no password check.
    assert metric(server, "vexil_password_checks_total") == checks
    assert metric(server, "vexil_auth_refused_total", '{reason="user"}') == 2
    # Another user is not locked out.
    assert basic(server, "admin", ADMIN_PASSWORD).status_code == 200


@pytest.mark.slow
def test_parallel_guesses_get_no_more_than_the_limit(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server(VEXIL_AUTH_RATE_PER_USER="3/minute", VEXIL_AUTH_RATE_PER_CLIENT=UNLIMITED)
    username, _ = new_user(server)
    barrier = threading.Barrier(12)

    def guess(i: int) -> int:
        with client(server, f"127.0.0.{2 + i}") as http:
            barrier.wait(timeout=15)
            return http.get(f"{API}/projects", auth=(username, f"guess-{i}")).status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = Counter(pool.map(guess, range(12)))
    # The checks under way count against the limit: the burst cannot all pass at once.
    assert 1 <= statuses[401] <= 3, statuses
    assert statuses[401] + statuses[429] == 12, statuses


@pytest.mark.slow
def test_a_correct_password_is_no_failure(new_server: Callable[..., VexilServer]) -> None:
    server = new_server(VEXIL_AUTH_RATE_PER_USER="2/minute", VEXIL_AUTH_RATE_PER_CLIENT="2/minute")
    username, password = new_user(server)
    for _ in range(5):  # a script authenticating each request is never limited
        assert basic(server, username, password).status_code == 200
    assert basic(server, username, "wrong").status_code == 401


def login_csrf(http: httpx.Client) -> str:
    form = http.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None, form.text
    return token[1]


def sign_in(http: httpx.Client, username: str, password: str) -> httpx.Response:
    data = {"username": username, "password": password, "csrf": login_csrf(http)}
    return http.post("/login", data=data)


@pytest.mark.slow
def test_the_sign_in_form_is_limited_per_address(new_server: Callable[..., VexilServer]) -> None:
    server = new_server(VEXIL_AUTH_RATE_PER_CLIENT="3/minute", VEXIL_AUTH_RATE_PER_USER=UNLIMITED)
    with client(server, "127.0.0.2") as attacker:
        # One address trying many names: each name fails once, the address three times.
        for name in ("ana", "bob", "eve"):
            wrong = sign_in(attacker, name, "guess")
            assert wrong.status_code == 401
            assert "Wrong username or password." in wrong.text
        refused = sign_in(attacker, "admin", ADMIN_PASSWORD)
        seconds = assert_rate_limited(refused)
        assert refused.headers["content-type"].startswith("text/html")
        assert f"please try again in {seconds} seconds" in refused.text
        assert 'role="alert"' in refused.text  # shown on the sign-in page, as an error
    # Another client's failures, on other names, never block a legitimate sign-in.
    with client(server, "127.0.0.1") as person:
        signed_in = sign_in(person, "admin", ADMIN_PASSWORD)
        assert signed_in.status_code == 303, signed_in.text
        assert "vexil_session" in signed_in.cookies
    assert metric(server, "vexil_auth_refused_total", '{reason="client"}') == 1


@pytest.mark.slow
def test_the_form_and_basic_share_the_failures_of_a_name(
    new_server: Callable[..., VexilServer],
) -> None:
    server = new_server(VEXIL_AUTH_RATE_PER_USER="2/minute", VEXIL_AUTH_RATE_PER_CLIENT=UNLIMITED)
    username, password = new_user(server)
    with client(server) as http:
        assert sign_in(http, username, "guess").status_code == 401
        assert basic(server, username, "guess").status_code == 401
        assert_rate_limited(sign_in(http, username, password))


class Flood:
    """``threads`` threads sending wrong Basic-auth requests until ``stop`` is set.

    Records each answer's status and how long it took.
    """

    def __init__(self, server: VexilServer, threads: int) -> None:
        self.server, self.stop = server, threading.Event()
        self.answers: list[tuple[int, float]] = []
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(i,), daemon=True, name=f"flood-{i}")
            for i in range(threads)
        ]

    def _run(self, i: int) -> None:
        with client(self.server) as http:
            while not self.stop.is_set():
                started = time.monotonic()
                status = http.get(f"{API}/projects", auth=(f"user-{i}", "wrong")).status_code
                with self._lock:
                    self.answers.append((status, time.monotonic() - started))
                if status == 429:
                    # These clients share the machine's two cores with the server: a
                    # pause keeps them from taking its CPU, not its connections.
                    self.stop.wait(0.02)

    def statuses(self) -> Counter[int]:
        return Counter(status for status, _ in self.answers)

    def __enter__(self) -> Flood:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def rss_mib(server: VexilServer) -> float:
    assert server.process is not None
    with open(f"/proc/{server.process.pid}/status") as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return kib / 1024


@pytest.mark.slow
def test_a_flood_of_wrong_passwords_is_bounded(new_server: Callable[..., VexilServer]) -> None:
    # More waiting checks (50) than the worker threads (anyio's 40): were they to wait
    # in threads, token requests would find none free.
    server = new_server(
        VEXIL_PASSWORD_CHECKS="1",
        VEXIL_PASSWORD_QUEUE="50",
        VEXIL_AUTH_RATE_PER_CLIENT=UNLIMITED,
        VEXIL_AUTH_RATE_PER_USER=UNLIMITED,
    )
    with server.admin() as admin:
        token = create_token(admin, "viewer")
    before = rss_mib(server)
    peak, token_times = before, []
    with (
        client(server, headers={"Authorization": f"Bearer {token}"}) as api,
        Flood(server, threads=60) as flood,
    ):
        deadline = time.monotonic() + WAIT_SECONDS + 2  # past the first waits given up
        while time.monotonic() < deadline:
            started = time.monotonic()
            answered = api.get(f"{API}/projects")
            token_times.append(time.monotonic() - started)
            assert answered.status_code == 200, answered.text
            peak = max(peak, rss_mib(server))
    statuses = flood.statuses()
    waits = sorted(seconds for _, seconds in flood.answers)
    print(
        f"\nflood: RSS {before:.0f} -> {peak:.0f} MiB; token requests: {len(token_times)},"
        f" median {sorted(token_times)[len(token_times) // 2]:.3f}s,"
        f" slowest {max(token_times):.3f}s; flood answers {dict(statuses)},"
        f" slowest {waits[-1]:.1f}s"
    )
    # One argon2 check at a time (64 MiB), not sixty.
    assert peak - before < 250, (before, peak)
    # Token requests hash nothing, and find a worker thread: they never queue behind
    # the checks (a generous bound; queued, they would wait for many checks).
    assert max(token_times) < 3, token_times
    assert statuses[401] > 0, statuses  # the checks that had a turn
    assert statuses[429] > 0, statuses  # refused by the gate...
    assert set(statuses) == {401, 429}, statuses
    assert metric(server, "vexil_auth_refused_total", '{reason="busy"}') == statuses[429]
    # ...at once when the queue is full, or once a wait for a turn gave up.
    assert waits[0] < 1, waits[:5]
    assert WAIT_SECONDS <= waits[-1] < WAIT_SECONDS + 5, waits[-5:]


@pytest.fixture
def redis_db(redis_service: Redis) -> str:
    """An empty Redis database: no counts from other tests' failures."""
    url = redis_service.url(5)
    with redis.Redis.from_url(url) as connection:
        connection.flushdb()
    return url


@pytest.mark.slow
def test_replicas_share_the_failures_through_redis(
    new_server: Callable[..., VexilServer], redis_db: str
) -> None:
    limits = {
        "VEXIL_REDIS_URL": redis_db,
        "VEXIL_AUTH_RATE_PER_USER": "3/minute",
        "VEXIL_AUTH_RATE_PER_CLIENT": UNLIMITED,
    }
    a = new_server(**limits)
    b = new_server(database_url=a.database_url, **limits)
    username, password = new_user(a)
    assert basic(a, username, "wrong").status_code == 401
    assert basic(a, username, "wrong").status_code == 401
    assert basic(b, username, "wrong").status_code == 401
    # Three failures, on two replicas: the name is locked on both.
    assert_rate_limited(basic(b, username, password))
    assert_rate_limited(basic(a, username, password))
    assert basic(b, "admin", ADMIN_PASSWORD).status_code == 200


@pytest.mark.slow
def test_an_unreachable_redis_falls_back_to_limits_in_memory(
    new_server: Callable[..., VexilServer],
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    server = new_server(VEXIL_REDIS_URL=nowhere, VEXIL_AUTH_RATE_PER_USER="2/minute")
    username, password = new_user(server)
    assert basic(server, username, password).status_code == 200
    assert basic(server, username, "wrong").status_code == 401
    assert basic(server, username, "wrong").status_code == 401
    assert_rate_limited(basic(server, username, password))
    wait_for(lambda: "Redis (redis_url) cannot be reached" in server.log.read_text(), 5, "warning")
    assert "Traceback" not in server.log.read_text()
