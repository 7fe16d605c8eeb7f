"""What every framework integration shares: a client from its settings, which client to
use, and contexts from users.

While a test runs with the pytest plugin's ``vexil_flags`` fixture, every integration
uses that fixture's ``TestClient`` instead of its own client, so a test sets flags in
one place whatever the framework. The override is process-wide, not per thread or
task, because a framework's test server may answer on another thread.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from vexil.sdk._client import Client

_override: Client | None = None


def needs_extra(what: str, extra: str) -> ImportError:
    """The error an integration raises when its framework is not installed."""
    return ImportError(f"{what} needs the {extra} extra: pip install 'vexil[{extra}]'")


def client_options(*set_apart: str) -> tuple[str, ...]:
    """The ``Client`` keyword options a framework passes through: all but ``set_apart``.

    Read from the signature (in its order), so every framework knows a new option.
    """
    return tuple(
        name
        for name, parameter in inspect.signature(Client.__init__).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name not in set_apart
    )


def client_from_settings(
    source: str,
    *,
    sdk_key: str | None = None,
    url: str | None = None,
    options: Mapping[str, Any] | None = None,
    file: str | os.PathLike[str] | None = None,
    watch: bool = False,
    watch_interval: float = 1.0,
    testing: Mapping[str, Any] | None = None,
) -> Client:
    """The client for one source of flags ("server", "file" or "testing"), once a
    framework has checked its settings.

    ``ConfigurationError`` passes through: each framework says which of its settings
    holds the faulty option.
    """
    if source == "testing":
        return Client.for_testing(testing)
    if source == "file":
        if file is None:
            raise TypeError("client_from_settings: the file source needs a file")
        return Client.from_file(file, watch=watch, watch_interval=watch_interval)
    return Client(sdk_key, url=url, **(options or {}))


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
