"""Flags in Flask applications: the ``Vexil`` extension, a view decorator, Jinja helpers.

::

    from flask import Flask
    from vexil.integrations.flask import Vexil, flag, flag_required

    app = Flask(__name__)
    app.config["VEXIL_SDK_KEY"] = "vx-srv-..."
    vexil = Vexil(app)                      # or Vexil() and, later, vexil.init_app(app)

    @app.get("/checkout")
    @flag_required("new-checkout")          # 404 while the flag is off for this visitor
    def checkout(): ...

    @app.get("/")
    def home():
        return render_template("home.html", wide=flag("wide-layout"))

In templates: ``{% if flag("new-ui") %}``, ``{{ flag("button-color", "blue") }}``, or
``{% if "new-ui" is flag_on %}``.

The extension makes one client per application in ``init_app``, from ``app.config``
(see :class:`Vexil`), and closes it when the process exits or at :meth:`Vexil.close`.
A client made before a fork (gunicorn ``--preload``, uWSGI with ``py-call-osafterfork``)
restarts its threads in each worker by itself, keeping the flags it holds.
Every evaluation goes through :func:`vexil.integrations._base.current_client`, so the
pytest plugin's ``vexil_flags`` fixture takes over while a test uses it.

Each request is evaluated for one context, built at its first evaluation and kept on
``flask.g``: by default the Flask-Login user when one is signed in, else an anonymous
visitor (see :func:`request_context`); :meth:`Vexil.context_loader` replaces it.

Needs the ``flask`` extra: ``pip install 'vexil[flask]'``.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import inspect
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

from vexil.integrations._base import (
    client_from_settings,
    client_options,
    context_of_user,
    current_client,
    needs_extra,
)

try:
    from flask import Flask, abort, current_app, g, has_request_context, redirect, request, url_for
except ImportError as error:  # pragma: no cover - depends on the environment
    raise needs_extra("vexil.integrations.flask", "flask") from error

from vexil.flags import EvaluationDetail
from vexil.sdk._client import Client
from vexil.sdk._errors import ConfigurationError

__all__ = [
    "ContextLoader",
    "Vexil",
    "context_of_user",
    "flag",
    "flag_on",
    "flag_required",
    "request_context",
]

log = logging.getLogger("vexil.flask")

#: Builds the context of the current request; called at most once per request.
ContextLoader = Callable[[], Mapping[str, Any]]

F = TypeVar("F", bound=Callable[..., Any])

#: The context when there is no request, or when a context loader fails.
_ANONYMOUS: Mapping[str, Any] = {"key": "anonymous", "anonymous": True}

# Where a request's context is kept on ``flask.g``.
_G_CONTEXT = "_vexil_context"

# The ways to give the extension its client; exactly one may be set.
_SOURCES = ("VEXIL_CLIENT", "VEXIL_TESTING", "VEXIL_FILE", "VEXIL_SDK_KEY")

# The Client's options that VEXIL_OPTIONS may hold: every keyword argument but the
# two that have settings of their own.
_CLIENT_OPTIONS = client_options("url")


def _setting_error(setting: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"app.config[{setting!r}]: {message}")


@dataclass(eq=False)
class _AppState:
    """What the extension holds for one application (``app.extensions["vexil"]``)."""

    extension: Vexil
    client: Client
    owned: bool  # made from the settings, so closed here; VEXIL_CLIENT's is the caller's

    def close(self) -> None:
        if self.owned:
            self.client.close()


class Vexil:
    """The Flask extension: one client per application, evaluated per request.

    Settings, read from ``app.config`` by :meth:`init_app` (one source of flags):

    - ``VEXIL_SDK_KEY``, ``VEXIL_URL``: connect to a Vexil server; ``VEXIL_OPTIONS``
      (a dict) holds further ``Client`` options (``mode``, ``init_timeout``, ``store``...).
      Without any source setting, the ``VEXIL_SDK_KEY`` and ``VEXIL_URL`` environment
      variables apply, as for ``Client()``.
    - ``VEXIL_FILE``: serve a flag document (``Client.from_file``), relative to
      ``app.root_path``; ``VEXIL_WATCH = True`` reloads it when it changes.
    - ``VEXIL_TESTING``: ``True``, or a dict of flag values, for ``Client.for_testing``.
    - ``VEXIL_CLIENT``: a ready ``Client``, used as it is and never closed here.
    - ``VEXIL_KEY_COOKIE``: a cookie whose value keys anonymous visitors (see
      :func:`request_context`).

    A setting that is wrong raises ``ConfigurationError`` naming it.
    """

    def __init__(self, app: Flask | None = None, *, context: ContextLoader | None = None) -> None:
        self._context_loader: ContextLoader = context or request_context
        self._states: list[_AppState] = []
        if app is not None:
            self.init_app(app)

    # ---------------------------------------------------------------- set-up

    def init_app(self, app: Flask) -> None:
        """Make the application's client from its settings and register the helpers."""
        if "vexil" in app.extensions:
            raise RuntimeError(f"Vexil is already initialized on the application {app.name!r}")
        client, owned = _client_from_config(app)
        state = _AppState(self, client, owned)
        app.extensions["vexil"] = state
        self._states.append(state)
        app.add_template_global(flag, "flag")
        app.add_template_test(flag_on, "flag_on")
        # Threads are daemons: without this, events counted since the last flush would
        # be lost at exit. After a fork the SDK restarts the client's threads itself.
        atexit.register(state.close)

    def context_loader(self, loader: ContextLoader) -> ContextLoader:
        """Decorator: ``loader()`` builds each request's context instead of the default."""
        self._context_loader = loader
        return loader

    def close(self) -> None:
        """Close the clients this extension made (safe to call twice)."""
        for state in self._states:
            atexit.unregister(state.close)
            state.close()

    # ------------------------------------------------------------ evaluating

    @property
    def client(self) -> Client:
        """The client of the current application, or the test override."""
        client = current_client(self._state().client)
        assert client is not None  # every state holds a client
        return client

    def context(self) -> Mapping[str, Any]:
        """The current request's context: built once per request, then kept on ``g``."""
        if not has_request_context():
            return self._load_context()
        cached: Mapping[str, Any] | None = g.get(_G_CONTEXT)
        if cached is None:
            cached = self._load_context()
            setattr(g, _G_CONTEXT, cached)
        return cached

    def variation(
        self, key: str, default: Any = None, *, context: Mapping[str, Any] | None = None
    ) -> Any:
        """The value of flag ``key`` for the request (or ``context``); never raises."""
        return self.client.variation(key, self._context(context), default)

    def is_on(self, key: str, *, context: Mapping[str, Any] | None = None) -> bool:
        """True if the boolean flag ``key`` is true for the request (or ``context``)."""
        return self.client.variation(key, self._context(context), False) is True

    def detail(
        self, key: str, default: Any = None, *, context: Mapping[str, Any] | None = None
    ) -> EvaluationDetail[Any]:
        """The value with its variant, reason and error, for the request (or ``context``)."""
        return self.client.variation_detail(key, self._context(context), default)

    def all_flags(self, *, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every flag's value for the request (or ``context``)."""
        return self.client.all_flags(self._context(context))

    # -------------------------------------------------------------- private

    def _context(self, given: Mapping[str, Any] | None) -> Mapping[str, Any]:
        return self.context() if given is None else given

    def _load_context(self) -> Mapping[str, Any]:
        try:
            return self._context_loader()
        except Exception:
            # A failing loader must not turn every page that reads a flag into a 500.
            log.exception("the Vexil context loader failed; evaluating for an anonymous context")
            return dict(_ANONYMOUS)

    def _state(self) -> _AppState:
        state = current_app.extensions.get("vexil")
        if not isinstance(state, _AppState) or state.extension is not self:
            raise RuntimeError(
                f"this Vexil extension is not initialized on the application"
                f" {current_app.name!r}: call vexil.init_app(app)"
            )
        return state


# ------------------------------------------------------------------- helpers


def _extension() -> Vexil:
    state = current_app.extensions.get("vexil")
    if not isinstance(state, _AppState):
        raise RuntimeError(
            f"Vexil is not initialized on the application {current_app.name!r}:"
            " call Vexil(app) or vexil.init_app(app)"
        )
    return state.extension


def flag(key: str, default: Any = None) -> Any:
    """The value of flag ``key`` for the current request (also the Jinja global ``flag``).

    ``default`` (``None``: falsy, and of no type, so any flag's value comes through)
    is served when the flag is missing or fails; a default of another type than the
    flag's is served too (``TYPE_MISMATCH``).
    """
    return _extension().variation(key, default)


def flag_on(key: str) -> bool:
    """True if the boolean flag ``key`` is true (also the Jinja test ``is flag_on``)."""
    return _extension().is_on(key)


def flag_required(key: str, *, redirect_to: str | None = None) -> Callable[[F], F]:
    """View decorator: answer 404 (or redirect) unless the boolean flag ``key`` is true.

    ``redirect_to`` is an endpoint name (``"index"``) or a URL (anything with a ``/``).
    Works on ``async def`` views too.
    """

    def refusal() -> Any:
        if flag_on(key):
            return None
        if redirect_to is None:
            abort(404)
        return redirect(redirect_to if "/" in redirect_to else url_for(redirect_to))

    def decorator(view: F) -> F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                refused = refusal()
                return refused if refused is not None else await view(*args, **kwargs)

            return cast(F, async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = refusal()
            return refused if refused is not None else view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def request_context() -> dict[str, Any]:
    """The default context of a request.

    - A signed-in Flask-Login user: :func:`~vexil.integrations._base.context_of_user`
      (``key`` from ``get_id()``, with ``email`` and ``username`` when present).
    - Anyone else: ``{"key": ..., "anonymous": True}``, keyed by the cookie named by
      ``VEXIL_KEY_COOKIE`` when it is set and present, else by the client's address,
      else ``"anonymous"``.

    Both carry ``ip``, the client's address (``request.remote_addr``: behind a proxy,
    use Werkzeug's ``ProxyFix``). Outside a request: the anonymous context.
    """
    if not has_request_context():
        return dict(_ANONYMOUS)
    ip = request.remote_addr
    extra = {"ip": ip} if ip else None
    user = _signed_in_user()
    if user is not None:
        return context_of_user(user, extra)
    cookie = current_app.config.get("VEXIL_KEY_COOKIE")
    key = (request.cookies.get(cookie) if cookie else None) or ip or "anonymous"
    return {"key": key, "anonymous": True, **(extra or {})}


def _signed_in_user() -> Any:
    """Flask-Login's current user when the app uses Flask-Login and one is signed in."""
    if not hasattr(current_app, "login_manager"):
        return None  # no Flask-Login here (its LoginManager sets this attribute)
    # Imported by name: Flask-Login is optional and ships no type information.
    current_user = importlib.import_module("flask_login").current_user
    if not getattr(current_user, "is_authenticated", False):
        return None
    return current_user._get_current_object()


# ------------------------------------------------------------------ settings


def _client_from_config(app: Flask) -> tuple[Client, bool]:
    """The application's client, and whether the extension owns (and so closes) it."""
    config = app.config
    given = [name for name in _SOURCES if config.get(name) not in (None, False, "")]
    if len(given) > 1:
        raise _setting_error(given[1], f"set only one of {', '.join(given)}")
    source = given[0] if given else "VEXIL_SDK_KEY"
    if source != "VEXIL_SDK_KEY":
        for name in ("VEXIL_URL", "VEXIL_OPTIONS"):
            if config.get(name):
                raise _setting_error(name, f"applies to a server connection, not to {source}")
    if config.get("VEXIL_WATCH") and source != "VEXIL_FILE":
        raise _setting_error("VEXIL_WATCH", "applies to VEXIL_FILE only")

    if source == "VEXIL_CLIENT":
        client = config["VEXIL_CLIENT"]
        if not isinstance(client, Client):
            raise _setting_error(
                "VEXIL_CLIENT", f"must be a vexil.Client, not {type(client).__name__}"
            )
        return client, False
    if source == "VEXIL_TESTING":
        return _testing_client(config["VEXIL_TESTING"]), True
    if source == "VEXIL_FILE":
        return _file_client(app), True
    return _server_client(config), True


def _testing_client(flags: Any) -> Client:
    if flags is True:
        flags = None
    elif not isinstance(flags, Mapping):
        raise _setting_error(
            "VEXIL_TESTING", f"must be True or a dict of flag values, not {type(flags).__name__}"
        )
    try:
        return client_from_settings("testing", testing=flags)
    except ConfigurationError as exc:
        raise _setting_error("VEXIL_TESTING", str(exc)) from exc


def _file_client(app: Flask) -> Client:
    path = app.config["VEXIL_FILE"]
    if not isinstance(path, str | os.PathLike):
        raise _setting_error("VEXIL_FILE", f"must be a path, not {type(path).__name__}")
    watch = app.config.get("VEXIL_WATCH", False)
    if not isinstance(watch, bool):
        raise _setting_error("VEXIL_WATCH", f"must be True or False, not {watch!r}")
    try:
        return client_from_settings("file", file=Path(app.root_path, path), watch=watch)
    except ConfigurationError as exc:
        raise _setting_error("VEXIL_FILE", str(exc)) from exc


def _server_client(config: Mapping[str, Any]) -> Client:
    options = config.get("VEXIL_OPTIONS") or {}
    if not isinstance(options, Mapping):
        raise _setting_error(
            "VEXIL_OPTIONS", f"must be a dict of Client options, not {type(options).__name__}"
        )
    for name in options:
        if name == "url":
            raise _setting_error("VEXIL_OPTIONS", "set the server's address in VEXIL_URL")
        if name not in _CLIENT_OPTIONS:
            raise _setting_error(
                "VEXIL_OPTIONS",
                f"unknown Client option {name!r} (options: {', '.join(sorted(_CLIENT_OPTIONS))})",
            )
    try:
        return client_from_settings(
            "server",
            sdk_key=config.get("VEXIL_SDK_KEY"),
            url=config.get("VEXIL_URL"),
            options=options,
        )
    except ConfigurationError as exc:
        raise _setting_error(_setting_of(str(exc)), str(exc)) from exc


def _setting_of(message: str) -> str:
    """The setting behind a ``Client`` error, from the option its message starts with."""
    match = re.match(r"\w+", message)
    option = match.group(0) if match else ""
    return {"sdk_key": "VEXIL_SDK_KEY", "url": "VEXIL_URL"}.get(option, "VEXIL_OPTIONS")
