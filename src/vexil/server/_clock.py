"""The server's clock: every moment it stores or compares is read here, aware and in UTC.

A module of its own so that whatever needs the time (credentials, the store, the
services) imports nothing else for it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    return datetime.now(UTC)
