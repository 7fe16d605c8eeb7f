"""The server's settings: one object, from CLI options and ``VEXIL_*`` variables.

Precedence: an explicit argument (the CLI), then the environment, then the default.
Mistakes fail at construction, with the name of the setting.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ._errors import SettingsError

ENV_PREFIX = "VEXIL_"
#: A rate as the ``limits`` library reads it, restricted to the forms documented.
_RATE = re.compile(r"[1-9][0-9]{0,8}/(?:second|minute|hour|day)")


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``vexil serve`` can be told. Each field is also ``VEXIL_<NAME>``."""

    #: Where the server listens.
    host: str = "127.0.0.1"
    port: int = 8800
    #: SQLAlchemy URL; SQLite file ``vexil.db`` in the working directory by default.
    database_url: str = "sqlite:///vexil.db"
    #: The first admin's password; a random one is generated and printed if unset.
    admin_password: str | None = None
    #: The URL people reach the server at, for the links it prints.
    public_url: str | None = None
    #: Seconds between heartbeat comments on idle streams.
    heartbeat_seconds: float = 15.0
    #: Largest accepted request body for SDK events, in bytes (also once decompressed).
    max_event_bytes: int = 1_048_576
    #: Largest accepted request body on every other endpoint, in bytes (413 over it).
    max_body_bytes: int = 2_097_152
    #: Seconds between checks for changes made by other replicas (fallback bus).
    poll_seconds: float = 1.0
    #: Whether /metrics needs no credentials.
    public_metrics: bool = True
    #: How many changes per environment are kept for stream replay.
    change_log_size: int = 1000
    #: Logging: "info", "debug", "warning"...
    log_level: str = "info"
    #: "text" for people, "json" for one JSON object per line.
    log_format: str = "text"

    # -- security and limits (docs/server.md, "Security and limits") --

    #: Password checks (argon2, about 64 MiB each) run at once; more wait their turn.
    password_checks: int = 2
    #: Password checks that may wait for a turn; past that a request gets 429.
    password_queue: int = 32
    #: Sign-ins and Basic-auth attempts per client address ("N/second|minute|hour").
    auth_rate_per_client: str = "30/minute"
    #: Failed sign-ins and Basic-auth attempts per user name.
    auth_rate_per_user: str = "10/minute"
    #: Redis URL for limits shared by every replica (``redis://host:6379/0``); per process if unset.
    redis_url: str | None = None
    #: SDK streams one key may hold open at once on this server.
    max_streams_per_key: int = 1000
    #: Bytes a stream may have waiting for its client before it is dropped.
    stream_buffer_bytes: int = 262_144
    #: Seconds a stream may wait for a slow client to read before it is dropped.
    stream_send_timeout: float = 30.0
    #: Seconds a client has to send a request's headers.
    header_timeout: float = 10.0
    #: Seconds an idle keep-alive connection stays open.
    keep_alive_timeout: float = 5.0
    #: Connections served at once; more are answered 503.
    max_connections: int = 10_000
    #: Addresses of reverse proxies whose X-Forwarded-For/-Proto are believed ("*": any).
    trusted_proxies: str = ""
    #: Strict-Transport-Security max-age, sent on every HTTPS response (0: never sent).
    hsts_seconds: int = 31_536_000

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise SettingsError("port", f"must be from 1 to 65535, not {self.port}")
        if self.heartbeat_seconds <= 0:
            raise SettingsError("heartbeat_seconds", "must be positive")
        if self.poll_seconds <= 0:
            raise SettingsError("poll_seconds", "must be positive")
        for name in ("max_event_bytes", "max_body_bytes", "stream_buffer_bytes"):
            if getattr(self, name) < 1024:
                raise SettingsError(name, "must be at least 1024")
        for name in (
            "password_checks",
            "max_streams_per_key",
            "max_connections",
        ):
            if getattr(self, name) < 1:
                raise SettingsError(name, "must be at least 1")
        for name in ("password_queue", "hsts_seconds"):
            if getattr(self, name) < 0:
                raise SettingsError(name, "must not be negative")
        for name in ("stream_send_timeout", "header_timeout", "keep_alive_timeout"):
            if getattr(self, name) <= 0:
                raise SettingsError(name, "must be positive")
        for name in ("auth_rate_per_client", "auth_rate_per_user"):
            if not _RATE.fullmatch(getattr(self, name)):
                raise SettingsError(
                    name, f"write N/second, N/minute or N/hour, not {getattr(self, name)!r}"
                )
        if self.redis_url is not None and not self.redis_url.startswith(("redis://", "rediss://")):
            raise SettingsError("redis_url", "use redis://HOST:PORT/DB or rediss://...")
        if self.log_format not in ("text", "json"):
            raise SettingsError("log_format", f"use text or json, not {self.log_format!r}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error", "critical"):
            raise SettingsError(
                "log_level", f"use debug, info, warning or error, not {self.log_level!r}"
            )
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise SettingsError("database_url", "use sqlite:///PATH or postgresql://USER@HOST/DB")

    @classmethod
    def load(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Settings from ``environ`` (default ``os.environ``), then ``overrides`` (not None)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, f.type, raw)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(**values)

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The trusted proxies, one address (or ``*``) an item."""
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def sqlalchemy_url(self) -> str:
        """The URL with the driver SQLAlchemy should use (psycopg 3 for PostgreSQL)."""
        url = self.database_url
        if url.startswith("postgresql://"):
            return "postgresql+psycopg://" + url.removeprefix("postgresql://")
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            path = Path(url.removeprefix("sqlite:///"))
            return f"sqlite:///{path}"
        return url


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind = str(kind)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
        if kind.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError:
        raise SettingsError(name, f"{ENV_PREFIX}{name.upper()}={raw!r} is not a {kind}") from None
    return raw
