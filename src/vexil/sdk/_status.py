"""What a client's data source is doing, as ``client.status`` says it."""

from __future__ import annotations

from enum import StrEnum


class ClientStatus(StrEnum):
    """A ``str``: ``client.status == "streaming"`` and ``f"{client.status}"`` keep working."""

    #: ``Streaming``: the first connection is being made.
    STARTING = "starting"
    #: ``Streaming``: connected and current (events or heartbeats keep coming).
    STREAMING = "streaming"
    #: ``Polling`` and ``Daemon`` modes, and a watched file.
    POLLING = "polling"
    #: ``Streaming``: the stream keeps failing, but fetching between attempts works.
    FALLBACK = "polling-fallback"
    #: ``Streaming``: the stream dropped or failed; reconnecting with backoff.
    INTERRUPTED = "interrupted"
    #: The server refused the key (401 or 403); the client no longer asks.
    UNAUTHORIZED = "unauthorized"
    #: Nothing runs between fetches (``Lazy``, ``Manual``, ``Offline``, a uWSGI master).
    IDLE = "idle"
    #: Closed.
    STOPPED = "stopped"
