"""Flags in FastAPI applications: a lifespan that owns the client, and dependencies.

::

    from typing import Annotated
    from fastapi import Depends, FastAPI
    from vexil.integrations.fastapi import Flags, flag, vexil_lifespan

    app = FastAPI(lifespan=vexil_lifespan("vx-srv-...", url="http://flags.internal:8800"))

    @app.get("/checkout", dependencies=[Depends(flag("new-checkout"))])   # 404 when off
    async def checkout(): ...

    @app.get("/")
    async def home(flags: Flags):
        return {"wide": flags.is_on("wide-layout"), "color": flags.value("button-color", "blue")}

:func:`vexil_lifespan` makes the client at startup (on a worker thread), waits for its
flags without blocking the event loop, keeps it on ``app.state.vexil`` and closes it at
shutdown. It wraps the application's own lifespan, if any (``lifespan=``).

Every dependency evaluates for the request's context, which is itself a dependency:
:data:`request_context` by default (an anonymous visitor keyed by the client's address),
or any dependency given as ``context=`` (one that reads your signed-in user, say).
FastAPI solves a dependency once per request, so the context is built once however many
flags a request reads. Evaluations read memory and never block: the dependencies are
``async def`` so that FastAPI runs them on the event loop, not in its thread pool.

Every evaluation goes through :func:`vexil.integrations._base.current_client`, so the
pytest plugin's ``vexil_flags`` fixture takes over while a test uses it.

Needs the ``fastapi`` extra: ``pip install 'vexil[fastapi]'``.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the dependencies'
# signatures at run time, and they name callables local to the factories below.

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

from vexil.integrations._base import (
    client_from_settings,
    client_options,
    context_of_user,
    current_client,
    needs_extra,
)

try:
    from fastapi import Depends, HTTPException
    from starlette.applications import Starlette
    from starlette.requests import HTTPConnection
except ImportError as error:  # pragma: no cover - depends on the environment
    raise needs_extra("vexil.integrations.fastapi", "fastapi") from error

from vexil.flags import EvaluationDetail
from vexil.sdk._client import Client
from vexil.sdk._errors import ConfigurationError

__all__ = [
    "ContextDependency",
    "Flags",
    "Lifespan",
    "RequestFlags",
    "context_from_request",
    "context_of_user",
    "flag",
    "flags_for",
    "get_client",
    "request_context",
    "vexil_lifespan",
]

log = logging.getLogger("vexil.fastapi")

#: A FastAPI dependency (sync or async, with dependencies of its own) giving a context.
ContextDependency = Callable[..., Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

#: A lifespan, as ``FastAPI(lifespan=...)`` takes it. It takes ``Any`` application
#: because lifespans are written for ``FastAPI``, ``Starlette`` or a subclass.
Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]

# The Client's options that vexil_lifespan passes through: every keyword argument but
# those it sets itself.
_CLIENT_OPTIONS = client_options("url", "init_timeout")


# ------------------------------------------------------------------ lifespan


def vexil_lifespan(
    sdk_key: str | None = None,
    *,
    url: str | None = None,
    file: str | os.PathLike[str] | None = None,
    watch: bool = False,
    client: Client | Callable[[], Client] | None = None,
    ready_timeout: float | None = 5.0,
    lifespan: Lifespan | None = None,
    **options: Any,
) -> Lifespan:
    """A lifespan that owns the application's client: ``FastAPI(lifespan=vexil_lifespan(...))``.

    The client comes from one of:

    - ``sdk_key`` and ``url`` (or the ``VEXIL_SDK_KEY`` and ``VEXIL_URL`` environment
      variables), with further ``Client`` options as keywords (``mode=``, ``store=``...);
    - ``file``: ``Client.from_file(file, watch=watch)``;
    - ``client``: a ready ``Client``, used as it is and never closed here, or a
      function that makes one at startup, whose client is closed at shutdown.

    At startup the client is made on a worker thread and kept on ``app.state.vexil``;
    then its flags are awaited for up to ``ready_timeout`` seconds (``None``: as long as
    it takes; ``0``: not at all) without blocking the event loop. Past that, the
    application starts anyway and evaluations get their defaults until the flags arrive.
    ``lifespan`` is the application's own lifespan, run inside this one; what it yields
    is yielded on. Mistaken arguments raise ``ConfigurationError`` here, at once.
    """
    make, owned = _client_maker(sdk_key, url, file, watch, client, options)
    if ready_timeout is not None and (
        isinstance(ready_timeout, bool)
        or not isinstance(ready_timeout, int | float)
        or ready_timeout < 0
    ):
        raise ConfigurationError(
            f"ready_timeout must be None or seconds >= 0, not {ready_timeout!r}"
        )
    if lifespan is not None and not callable(lifespan):
        raise ConfigurationError(f"lifespan must be a lifespan function, not {lifespan!r}")

    @asynccontextmanager
    async def run(app: Starlette) -> AsyncIterator[Any]:
        # A client's constructor may read a file or fetch the flags (lazy and manual
        # modes): a worker thread keeps that off the event loop.
        vexil = await asyncio.to_thread(make)
        app.state.vexil = vexil
        try:
            if ready_timeout != 0 and not await vexil.wait_until_ready_async(ready_timeout):
                log.warning(
                    "no flags after %ss (status %s): serving defaults until they arrive",
                    ready_timeout,
                    vexil.status,
                )
            if lifespan is None:
                yield None
            else:
                async with lifespan(app) as state:
                    yield state
        finally:
            del app.state.vexil
            if owned:
                await vexil.aclose()

    return run


def _client_maker(
    sdk_key: str | None,
    url: str | None,
    file: str | os.PathLike[str] | None,
    watch: bool,
    client: Client | Callable[[], Client] | None,
    options: Mapping[str, Any],
) -> tuple[Callable[[], Client], bool]:
    """How to make the client at startup, and whether the lifespan closes it."""
    given = [name for name, value in (("client", client), ("file", file)) if value is not None]
    if sdk_key is not None or url is not None or options:
        given.append("sdk_key, url and Client options")
    if len(given) > 1:
        raise ConfigurationError(f"vexil_lifespan: pass one of {' or '.join(given)}, not both")
    if watch and file is None:
        raise ConfigurationError("watch: applies to file only")
    for name in options:
        if name == "init_timeout":
            raise ConfigurationError("init_timeout: vexil_lifespan waits with ready_timeout")
        if name not in _CLIENT_OPTIONS:
            raise ConfigurationError(
                f"{name}: not a Client option (options: {', '.join(sorted(_CLIENT_OPTIONS))})"
            )
    if isinstance(client, Client):
        ready = client
        return (lambda: ready), False
    if client is not None:
        if not callable(client):
            raise ConfigurationError(f"client must be a Client or a function, not {client!r}")
        factory = client

        def made() -> Client:
            value = factory()
            if not isinstance(value, Client):
                raise ConfigurationError(f"client: the function returned {value!r}, not a Client")
            return value

        return made, True
    if file is not None:
        path = file
        return (lambda: client_from_settings("file", file=path, watch=watch)), True
    # init_timeout=0: the constructor returns at once, and the lifespan awaits instead.
    server = {**options, "init_timeout": 0}
    return (lambda: client_from_settings("server", sdk_key=sdk_key, url=url, options=server)), True


# ------------------------------------------------------------------ contexts


def context_from_request(
    *, header: str | None = None, cookie: str | None = None
) -> Callable[[HTTPConnection], Awaitable[dict[str, Any]]]:
    """A context dependency for visitors: ``{"key": ..., "anonymous": True, "ip": ...}``.

    The key is the request's ``header`` when given and present, else its ``cookie``,
    else the client's address, else ``"anonymous"``. ``ip`` is the client's address
    (behind a proxy, run Uvicorn with ``--proxy-headers``). Either may be set by the
    visitor: for decisions that matter, take the context from your authentication.
    """

    async def context(connection: HTTPConnection) -> dict[str, Any]:
        ip = connection.client.host if connection.client else None
        key = (
            (connection.headers.get(header) if header else None)
            or (connection.cookies.get(cookie) if cookie else None)
            or ip
            or "anonymous"
        )
        found: dict[str, Any] = {"key": key, "anonymous": True}
        if ip:
            found["ip"] = ip
        return found

    return context


#: The default context dependency: an anonymous visitor keyed by the client's address.
request_context = context_from_request()


# -------------------------------------------------------------- dependencies


def get_client(connection: HTTPConnection) -> Client:
    """Dependency: the application's client (``app.state.vexil``), or the test override."""
    client = current_client(getattr(connection.app.state, "vexil", None))
    if client is None:
        raise RuntimeError(
            "no Vexil client on app.state.vexil: create the application with"
            " FastAPI(lifespan=vexil_lifespan(...)), or set app.state.vexil yourself"
        )
    return client


class RequestFlags:
    """The flags of one request: every method evaluates for its ``context``; none raises."""

    __slots__ = ("client", "context")

    def __init__(self, client: Client, context: Mapping[str, Any]) -> None:
        self.client = client
        self.context = context

    def value(self, key: str, default: Any = None) -> Any:
        """The value of flag ``key``; ``default`` on any error."""
        return self.client.variation(key, self.context, default)

    def is_on(self, key: str) -> bool:
        """True if the boolean flag ``key`` is true."""
        return self.client.variation(key, self.context, False) is True

    def detail(self, key: str, default: Any = None) -> EvaluationDetail[Any]:
        """The value with its variant, reason and error."""
        return self.client.variation_detail(key, self.context, default)

    def all(self) -> dict[str, Any]:
        """Every flag's value."""
        return self.client.all_flags(self.context)

    def __repr__(self) -> str:
        return f"<RequestFlags {self.context!r}>"


def flags_for(
    context: ContextDependency = request_context,
) -> Callable[..., Awaitable[RequestFlags]]:
    """A dependency giving :class:`RequestFlags` for the context of ``context``.

    ``UserFlags = Annotated[RequestFlags, Depends(flags_for(user_context))]``
    """

    async def dependency(
        connection: HTTPConnection, found: Annotated[Mapping[str, Any], Depends(context)]
    ) -> RequestFlags:
        return RequestFlags(get_client(connection), found)

    return dependency


#: A handler's parameter ``flags: Flags`` gets the request's :class:`RequestFlags`.
Flags = Annotated[RequestFlags, Depends(flags_for())]


def flag(
    key: str,
    *,
    required: bool = True,
    status_code: int = 404,
    context: ContextDependency = request_context,
) -> Callable[..., Awaitable[bool]]:
    """A dependency on the boolean flag ``key``.

    ``Depends(flag("new-ui"))`` answers ``status_code`` (404) while the flag is not true
    for the request's context; with ``required=False`` it gives the flag's value as a
    ``bool`` instead, and never refuses.
    """

    async def dependency(
        connection: HTTPConnection, found: Annotated[Mapping[str, Any], Depends(context)]
    ) -> bool:
        on = get_client(connection).variation(key, found, False) is True
        if required and not on:
            raise HTTPException(status_code=status_code)
        return on

    return dependency
