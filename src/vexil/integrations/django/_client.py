# mypy: disable-error-code="import-untyped"
"""The ``VEXIL`` setting, and the one client of a Django process.

The client is built from ``settings.VEXIL`` the first time :func:`get_client` is
called, which the app does in ``AppConfig.ready()``, so that a wrong setting stops the
process at start with ``ImproperlyConfigured`` rather than on the first request.
Later calls return the same client: ``ready()`` running twice opens nothing more.
"""

from __future__ import annotations

import atexit
import difflib
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

from vexil import Client, ConfigurationError
from vexil.integrations._base import client_from_settings, client_options

__all__ = ["ContextFunction", "VexilSettings", "close_client", "get_client", "read_settings"]

#: A function that makes the evaluation context of a request.
ContextFunction = Callable[[Any], Mapping[str, Any]]

SETTING = "VEXIL"
KEYS = ("sdk_key", "url", "options", "file", "watch", "watch_interval", "testing", "context")
# What ``options`` may hold: Client's keyword arguments, but the two given at the top.
OPTIONS = client_options("url")


@dataclass(frozen=True)
class VexilSettings:
    """``settings.VEXIL``, checked: where the flags come from, and how to make contexts."""

    source: str  # "server", "file" or "testing"
    sdk_key: str | None = None
    url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    file: Path | None = None
    watch: bool = False
    watch_interval: float = 1.0
    testing: Mapping[str, Any] = field(default_factory=dict)
    context: ContextFunction | None = None

    def build(self) -> Client:
        """A new client for these settings; a malformed option raises ImproperlyConfigured."""
        try:
            return client_from_settings(
                self.source,
                sdk_key=self.sdk_key,
                url=self.url,
                options=self.options,
                file=self.file,
                watch=self.watch,
                watch_interval=self.watch_interval,
                testing=self.testing,
            )
        except ConfigurationError as error:
            raise ImproperlyConfigured(self._explain(error)) from error

    def _explain(self, error: ConfigurationError) -> str:
        # The SDK's messages start with the option's name; say where it is in VEXIL.
        message = str(error)
        match = re.match(r"(\w+)(: | )", message)
        name = match.group(1) if match else ""
        if self.source == "testing":
            where = f"{SETTING}['testing']"
        elif name == "path":
            where, message = f"{SETTING}['file']", message.removeprefix("path: ")
        elif name in ("sdk_key", "url", "watch_interval"):
            where, message = f"{SETTING}[{name!r}]", message.removeprefix(f"{name}: ")
        elif name in self.options:
            where, message = f"{SETTING}['options'][{name!r}]", message.removeprefix(f"{name}: ")
        else:
            where = SETTING
        return f"{where}: {message}"


def _fail(key: str | None, message: str) -> ImproperlyConfigured:
    where = SETTING if key is None else f"{SETTING}[{key!r}]"
    return ImproperlyConfigured(f"{where}: {message}")


def _unknown(kind: str, name: object, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(name), known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; known: {', '.join(known)}"


def read_settings(value: Any = None) -> VexilSettings:
    """Check ``settings.VEXIL`` (or ``value``) and say what is wrong, naming the key.

    With no ``VEXIL`` setting at all, the client reads ``VEXIL_SDK_KEY`` and
    ``VEXIL_URL`` from the environment, as the SDK does.
    """
    conf = getattr(settings, SETTING, None) if value is None else value
    if conf is None:
        conf = {}
    if not isinstance(conf, Mapping):
        raise _fail(None, f"must be a dict, not {type(conf).__name__}")
    for key in conf:
        if key not in KEYS:
            raise _fail(None, _unknown("key", key, KEYS))

    sources = [key for key in ("file", "testing") if key in conf]
    server = [key for key in ("sdk_key", "url", "options") if key in conf]
    if len(sources) > 1 or (sources and server):
        both = " and ".join(repr(key) for key in [*server, *sources][:2])
        raise _fail(None, f"{both} cannot be used together: give one source of flags")
    source = sources[0] if sources else "server"
    if source != "file":
        for key in ("watch", "watch_interval"):
            if key in conf:
                raise _fail(key, "applies to a flag file; set 'file' too")

    context = _context_function(conf.get("context"))
    if source == "testing":
        flags = conf["testing"]
        if not isinstance(flags, Mapping):
            raise _fail("testing", f"must be a dict of flag values, not {type(flags).__name__}")
        return VexilSettings("testing", testing=dict(flags), context=context)
    if source == "file":
        path = conf["file"]
        if not isinstance(path, str | os.PathLike):
            raise _fail("file", f"must be a path, not {type(path).__name__}")
        watch = conf.get("watch", False)
        if not isinstance(watch, bool):
            raise _fail("watch", f"must be True or False, not {watch!r}")
        interval = conf.get("watch_interval", 1.0)
        return VexilSettings(
            "file", file=Path(path), watch=watch, watch_interval=interval, context=context
        )

    for key in ("sdk_key", "url"):
        if conf.get(key) is not None and not isinstance(conf[key], str):
            raise _fail(key, f"must be a string, not {type(conf[key]).__name__}")
    options = conf.get("options", {})
    if not isinstance(options, Mapping):
        raise _fail("options", f"must be a dict of Client options, not {type(options).__name__}")
    for name in options:
        if name in ("sdk_key", "url"):
            raise _fail("options", f"give {name!r} at the top of {SETTING}, not in 'options'")
        if name not in OPTIONS:
            raise _fail("options", _unknown("option", name, OPTIONS))
    return VexilSettings(
        "server",
        sdk_key=conf.get("sdk_key"),
        url=conf.get("url"),
        options=dict(options),
        context=context,
    )


def _context_function(value: Any) -> ContextFunction | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as error:
            raise _fail("context", f"cannot import {value!r}: {error}") from error
    if not callable(value):
        raise _fail("context", f"must be a function of the request, not {value!r}")
    function: ContextFunction = value
    return function


# ---------------------------------------------------------------- the client


class _Holder:
    """The process's client, with the settings it was built from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: Client | None = None
        self.settings: VexilSettings | None = None
        self.atexit = False


_holder = _Holder()


def _after_fork_in_child() -> None:
    # Another thread may have held the lock at the fork; the child has only this one.
    # (The client itself restarts its threads after a fork: the SDK sees to that.)
    _holder.lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_client() -> Client:
    """The client of this process, built from ``settings.VEXIL`` on the first call.

    Integrations evaluate through ``current_client(get_client())``, so that the pytest
    plugin's ``vexil_flags`` fixture takes over in tests; call this directly to use
    the client elsewhere (``get_client().track(...)``, a management command...).
    """
    client = _holder.client
    if client is not None:
        return client
    with _holder.lock:
        if _holder.client is None:
            checked = read_settings()
            _holder.client, _holder.settings = checked.build(), checked
            if not _holder.atexit:
                # Django has no shutdown hook: send the last events when Python exits.
                atexit.register(close_client)
                _holder.atexit = True
        return _holder.client


def current_settings() -> VexilSettings:
    """The settings of the current client (building it if needed)."""
    get_client()
    checked = _holder.settings
    return checked if checked is not None else read_settings()


def close_client() -> None:
    """Close the client; the next :func:`get_client` builds a new one from the settings.

    Called at exit, and when ``VEXIL`` changes (``override_settings`` in tests).
    """
    with _holder.lock:
        client, _holder.client, _holder.settings = _holder.client, None, None
    if client is not None:
        client.close()


def _on_setting_changed(*, setting: str, **_: Any) -> None:
    if setting == SETTING:
        close_client()


setting_changed.connect(_on_setting_changed, dispatch_uid="vexil.integrations.django")
