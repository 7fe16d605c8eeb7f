"""How a client gets its flags: one small frozen value per mode.

``Client(key, mode=Polling(interval=60))``; the strings ``"streaming"``,
``"polling"``, ``"lazy"``, ``"manual"``, ``"offline"`` and ``"daemon"`` stand for
each mode with its defaults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ._errors import ConfigurationError


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}")
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive, not {value!r}")


@dataclass(frozen=True)
class Streaming:
    """Server-Sent Events: every change within milliseconds. The default.

    Reconnects with exponential backoff and jitter, from ``initial_backoff`` up to
    ``max_backoff``. After ``fallback_after`` failed attempts in a row it also polls
    the ruleset between attempts, until the stream works again. A stream that
    delivers no complete event nor heartbeat for ``read_timeout`` seconds is dead,
    however many bytes it sends: four heartbeats at the server's default of 15 s.
    """

    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    fallback_after: int = 3
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        _positive("Streaming.initial_backoff", self.initial_backoff)
        _positive("Streaming.max_backoff", self.max_backoff)
        _positive("Streaming.read_timeout", self.read_timeout)
        if not isinstance(self.fallback_after, int) or self.fallback_after < 1:
            raise ConfigurationError(
                f"Streaming.fallback_after must be an integer >= 1, not {self.fallback_after!r}"
            )


@dataclass(frozen=True)
class Polling:
    """Ask for the ruleset every ``interval`` seconds (with ``If-None-Match``), with jitter."""

    interval: float = 30.0

    def __post_init__(self) -> None:
        _positive("Polling.interval", self.interval)


@dataclass(frozen=True)
class Lazy:
    """Fetch when an evaluation finds the flags older than ``ttl`` seconds.

    The fetch runs in the background, one at a time; evaluations meanwhile use the
    flags held, so none of them waits for the network.
    """

    ttl: float = 60.0

    def __post_init__(self) -> None:
        _positive("Lazy.ttl", self.ttl)


@dataclass(frozen=True)
class Manual:
    """Fetch at start and whenever you call ``client.refresh()``; nothing in the background."""


@dataclass(frozen=True)
class Offline:
    """No network at all: the flags of ``path`` (a flag document), or every caller's default."""

    path: str | Path | None = None


@dataclass(frozen=True)
class Daemon:
    """Read flags only from the client's ``store``, which another process keeps filled.

    The store is read again every ``interval`` seconds; the flags are rebuilt only
    when what it holds changed.
    """

    interval: float = 5.0

    def __post_init__(self) -> None:
        _positive("Daemon.interval", self.interval)


Mode = Streaming | Polling | Lazy | Manual | Offline | Daemon

_BY_NAME: dict[str, type[Mode]] = {
    "streaming": Streaming,
    "polling": Polling,
    "lazy": Lazy,
    "manual": Manual,
    "offline": Offline,
    "daemon": Daemon,
}


def parse_mode(mode: Mode | str) -> Mode:
    if isinstance(mode, Streaming | Polling | Lazy | Manual | Offline | Daemon):
        return mode
    if isinstance(mode, str) and mode in _BY_NAME:
        return _BY_NAME[mode]()
    raise ConfigurationError(
        f"mode must be one of {', '.join(sorted(_BY_NAME))} or a mode object"
        f" (Streaming(), Polling(interval=...), ...), not {mode!r}"
    )
