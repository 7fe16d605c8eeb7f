"""What every framework integration shares: which client to use, and contexts from users.

While a test runs with the pytest plugin's ``vexil_flags`` fixture, every integration
uses that fixture's ``TestClient`` instead of its own client, so a test sets flags in
one place whatever the framework. The override is process-wide, not per thread or
task, because a framework's test server may answer on another thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vexil.sdk._client import Client

_override: Client | None = None


def current_client(own: Client | None) -> Client | None:
    """The client an integration should use now: the test override, else its own."""
    return _override if _override is not None else own


@contextmanager
def overriding(client: Client) -> Iterator[Client]:
    """Make every integration use ``client`` until the block ends (tests only)."""
    global _override
    previous, _override = _override, client
    try:
        yield client
    finally:
        _override = previous


def context_of_user(user: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A context for a signed-in user object, or an anonymous one.

    The key is the user's ``get_id()`` (Flask-Login), ``pk`` (Django) or ``id``;
    ``email`` and ``username`` are copied when present. Anonymous users (no key, or
    ``is_authenticated`` false) get ``{"key": "anonymous", "anonymous": True}``.
    """
    context: dict[str, Any] = {}
    if user is not None and getattr(user, "is_authenticated", True):
        key = None
        getter = getattr(user, "get_id", None)
        if callable(getter):
            key = getter()
        for name in ("pk", "id"):
            if key is None:
                key = getattr(user, name, None)
        if key is not None:
            context["key"] = str(key)
            for name in ("email", "username"):
                value = getattr(user, name, None)
                if isinstance(value, str) and value:
                    context[name] = value
    if "key" not in context:
        context = {"key": "anonymous", "anonymous": True}
    if extra:
        context.update(extra)
    return context
