"""Limits on password checks: how many run at once, and how often an address or a name may fail.

Every password check is an argon2 verification, about 64 MiB of memory and a fifth of a
second of a core, on purpose. Unchecked, a flood of wrong passwords exhausts the server's
memory and its worker threads; unlimited, it guesses passwords. Two mechanisms answer,
both before any hash is computed:

- **The password gate** (``PasswordGate``): at most ``password_checks`` verifications run
  at once in the process, at most ``password_queue`` more wait for a turn (for at most
  ``WAIT_SECONDS``); past that a request gets 429 at once. The waiting happens on the
  event loop, in an asyncio semaphore, not in a worker thread: only the checks that hold a
  turn take a thread, so requests that hash nothing (API tokens, SDK keys) never queue
  behind passwords.
- **Failure limits** (``FailureLimits``): failed checks per client address
  (``auth_rate_per_client``) and per user name (``auth_rate_per_user``), in a moving
  window of the ``limits`` library. Only failures count, because HTTP Basic sends the
  password with every request: a script that authenticates correctly must never be
  slowed by its own successes (the gate bounds what successes cost). Per address, so that
  one client's failures never block another's sign-in; per name, so that many addresses
  cannot share out the guesses at one account. A name over its limit is locked for the
  window, even with the right password: that is the point (a guess then learns nothing),
  and the price (anyone may lock a name out for a window by failing on it).

With ``redis_url`` the failures are counted in Redis, so that every replica sees the same
counts. While Redis cannot be reached, each replica counts in its own memory (a warning in
the log), and tries Redis again after ``REDIS_RETRY_SECONDS``: sign-ins keep working, and
stay limited, per replica.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Final, NoReturn, TypeVar

import limits
import limits.errors
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from ._credentials import digest
from ._errors import SettingsError, TooManyRequests
from ._metrics import Metrics
from ._settings import Settings

log = logging.getLogger("vexil.server.throttle")

T = TypeVar("T")

#: The longest a password check waits for a turn before its request gets 429: a client
#: is better told to come back than held while the queue ahead of it drains.
WAIT_SECONDS: Final = 5.0
#: How long failures are counted in memory after Redis failed, before Redis is tried again.
REDIS_RETRY_SECONDS: Final = 30.0
#: Redis calls give up after this: an unreachable Redis must not hold a sign-in up.
REDIS_TIMEOUT_SECONDS: Final = 1.0
#: The key space of these limits, in memory and in Redis.
NAMESPACE: Final = "vexil-auth"


class PasswordGate:
    """Runs password checks in worker threads, a few at a time; refuses the rest with 429."""

    def __init__(self, checks: int, queue: int, metrics: Metrics, wait: float = WAIT_SECONDS):
        self._turns = asyncio.Semaphore(checks)
        self._queue, self._wait, self._metrics = queue, wait, metrics
        self._waiting = 0

    async def run(self, check: Callable[[], T]) -> T:
        """``check()`` in a worker thread once a turn is free."""
        await self._take_turn()
        self._metrics.password_checks.inc()
        try:
            # anyio never abandons a worker thread when the request is cancelled: the
            # turn is held until the hash is done, so no more than ``checks`` ever run.
            return await run_in_threadpool(check)
        finally:
            self._turns.release()

    async def _take_turn(self) -> None:
        if self._turns.locked() and self._waiting >= self._queue:
            raise self._busy()
        self._waiting += 1
        try:
            async with asyncio.timeout(self._wait):
                await self._turns.acquire()
        except TimeoutError:
            raise self._busy() from None
        finally:
            self._waiting -= 1

    def _busy(self) -> TooManyRequests:
        self._metrics.auth_refused.labels("busy").inc()
        return TooManyRequests("the server is busy checking other passwords; retry shortly", 1)


class _Windows:
    """Moving windows in Redis when there is one, and in memory while Redis cannot be reached."""

    def __init__(self, redis_url: str | None) -> None:
        self._memory = MovingWindowRateLimiter(MemoryStorage())
        self._shared = None if redis_url is None else MovingWindowRateLimiter(_redis(redis_url))
        self._redis_down_until = 0.0

    async def stats(self, item: limits.RateLimitItem, key: str) -> limits.WindowStats:
        return await self._call(lambda limiter: limiter.get_window_stats(item, NAMESPACE, key))

    async def hit(self, item: limits.RateLimitItem, key: str) -> bool:
        return await self._call(lambda limiter: limiter.hit(item, NAMESPACE, key))

    async def _call(self, op: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        if self._shared is not None and time.monotonic() >= self._redis_down_until:
            try:
                return await op(self._shared)
            except limits.errors.StorageError as exc:
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
                log.warning(
                    "Redis (redis_url) cannot be reached: %s; sign-in failures are counted"
                    " in this process for %.0fs, then Redis is tried again",
                    exc,
                    REDIS_RETRY_SECONDS,
                )
        return await op(self._memory)


def _redis(url: str) -> RedisStorage:
    try:
        return RedisStorage(
            "async+" + url,
            implementation="redispy",
            wrap_exceptions=True,  # every Redis failure is a StorageError
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
    except limits.errors.ConfigurationError as exc:
        raise SettingsError(
            "redis_url", f"needs the redis package (pip install 'vexil[redis]'): {exc}"
        ) from None


class FailureLimits:
    """Failed password checks per client address and per user name."""

    def __init__(self, per_client: str, per_user: str, windows: _Windows, metrics: Metrics):
        self._rules = {"client": limits.parse(per_client), "user": limits.parse(per_user)}
        self._windows, self._metrics = windows, metrics
        # Checks under way, per (scope, key), which may all still fail: without them, a
        # burst of parallel guesses would all pass before the first one failed (in one
        # process; replicas can still race each other by the few each has under way).
        self._pending: Counter[tuple[str, str]] = Counter()

    def admit(self, keys: list[tuple[str, str]]) -> None:
        self._pending.update(keys)

    async def check(self, scope: str, key: str) -> None:
        """429 unless the window of ``key`` has room for the checks under way (this one too)."""
        noun = "address" if scope == "client" else "user name"
        stats = await self._windows.stats(self._rules[scope], f"{scope}/{key}")
        if stats.remaining < 1:
            retry_after = max(1, math.ceil(stats.reset_time - time.time()))
            self._refuse(scope, f"too many failed sign-ins for this {noun}", retry_after)
        if stats.remaining < self._pending[scope, key]:
            self._refuse(scope, f"too many sign-ins for this {noun} at once", 1)

    def _refuse(self, scope: str, reason: str, retry_after: int) -> NoReturn:
        self._metrics.auth_refused.labels(scope).inc()
        raise TooManyRequests(f"{reason}; retry in {retry_after}s", retry_after)

    async def failed(self, keys: list[tuple[str, str]]) -> None:
        for scope, key in keys:
            await self._windows.hit(self._rules[scope], f"{scope}/{key}")

    def finish(self, keys: list[tuple[str, str]]) -> None:
        for key in keys:
            self._pending[key] -= 1
            if not self._pending[key]:
                del self._pending[key]


def client_address(request: Request) -> str:
    """The address failures are counted against.

    The peer's address, unless uvicorn took it from ``X-Forwarded-For``, which it
    believes from ``trusted_proxies`` only: a client cannot choose its own.
    """
    return request.client.host if request.client else "unknown"


class Throttle:
    """The gate and the failure limits of one app (``app.state.throttle``)."""

    def __init__(self, gate: PasswordGate, failures: FailureLimits) -> None:
        self.gate, self.failures = gate, failures

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> Throttle:
        gate = PasswordGate(settings.password_checks, settings.password_queue, metrics)
        windows = _Windows(settings.redis_url)
        failures = FailureLimits(
            settings.auth_rate_per_client, settings.auth_rate_per_user, windows, metrics
        )
        return cls(gate, failures)

    async def verify(self, client: str, username: str, check: Callable[[], T | None]) -> T | None:
        """``check()``, a password check that returns None when it fails, within the limits.

        Raises ``TooManyRequests`` before any hash when the address or the name is over
        its limit, or when the gate is full.
        """
        # The name by its digest: bounded keys, and no user names in Redis.
        keys = [("client", client), ("user", digest(username))]
        self.failures.admit(keys)
        try:
            for scope, key in keys:
                await self.failures.check(scope, key)
            found = await self.gate.run(check)
            if found is None:
                await self.failures.failed(keys)
        finally:
            self.failures.finish(keys)
        return found
