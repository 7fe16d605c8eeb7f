"""A :class:`~vexil.sdk._stores.Store` on Redis, so processes can share the latest flags.

A :class:`~vexil.sdk._stores.FileStore` serves the processes of one machine; Redis
serves a fleet. Clients connected to the server save every ruleset they receive
under one key per namespace, so a process that starts while the server is down
still has flags, and ``daemon`` clients (which never talk to the server) read the
flags that the connected ones keep up to date.

A store must never hang the SDK: a client made from a URL gives up after 2 s to
connect or to read, and retries once, at once (for a pooled connection that Redis
dropped), rather than backing off for seconds. Errors are raised as
:mod:`redis.exceptions`; the SDK catches, logs and carries on with what it holds.

Needs the ``redis`` extra: ``pip install 'vexil[redis]'``.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from vexil.integrations._base import needs_extra

try:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
except ImportError as error:  # pragma: no cover - depends on the environment
    raise needs_extra("RedisStore", "redis") from error

__all__ = ["RedisStore"]

#: Seconds to wait for Redis to accept a connection, and then for each reply.
_CONNECT_TIMEOUT = 2.0
_READ_TIMEOUT = 2.0


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address loses its brackets in .hostname
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" if parts.port is None else f"{user}:***@{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class RedisStore:
    """One Redis key per namespace (``prefix + namespace``), written with ``SET``.

    Give either a ``url`` (the store makes, and :meth:`close` closes, its own client
    with short timeouts) or an existing ``client`` (used as it is, never closed here).
    With ``ttl`` (seconds), each save expires after that long, so flags that no
    process refreshes eventually disappear rather than linger.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "vexil:",
        client: redis.Redis | None = None,
        ttl: float | None = None,
    ) -> None:
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        self.prefix = prefix
        self.ttl = ttl
        self._owns_client = client is None
        self._url = None if client is not None else url
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=_CONNECT_TIMEOUT,
                socket_timeout=_READ_TIMEOUT,
                retry=Retry(NoBackoff(), 1),
            )
        self.client = client

    def key(self, namespace: str) -> str:
        """The Redis key that holds ``namespace``."""
        return self.prefix + namespace

    def save(self, namespace: str, data: bytes) -> None:
        """Replace the value under ``namespace`` (``SET``, atomic; ``PX`` when there is a ttl)."""
        px = None if self.ttl is None else max(1, round(self.ttl * 1000))
        self.client.set(self.key(namespace), data, px=px)

    def load(self, namespace: str) -> bytes | None:
        """The value under ``namespace`` (``GET``), or ``None`` if there is none."""
        value = self.client.get(self.key(namespace))
        if value is None or isinstance(value, bytes):
            return value
        # A client passed in with decode_responses=True; rulesets are UTF-8 JSON.
        return value.encode("utf-8")

    def close(self) -> None:
        """Close the client this store made; a client passed in is left to its owner."""
        if self._owns_client:
            self.client.close()

    def __repr__(self) -> str:
        if self._url is not None:
            where = repr(_without_password(self._url))
        else:
            kwargs = self.client.connection_pool.connection_kwargs
            if "path" in kwargs:  # a Unix socket
                where = f"client=<{kwargs['path']}>"
            else:
                where = f"client=<{kwargs.get('host', '?')}:{kwargs.get('port', '?')}>"
        ttl = "" if self.ttl is None else f", ttl={self.ttl!r}"
        return f"RedisStore({where}, prefix={self.prefix!r}{ttl})"
