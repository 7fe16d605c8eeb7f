"""The ASGI application: small routers over one store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp

from vexil._version import __version__

from . import _allow, _openapi, web
from ._bus import Hub, PostgresListener, RevisionPoller
from ._db import make_engine, upgrade
from ._errors import ApiError, Conflict
from ._json import JSONResponse
from ._limits import BodyLimit
from ._metrics import Metrics
from ._requests import RequestCounter
from ._settings import Settings
from ._store import Store
from ._stream import Broadcaster
from ._throttle import Throttle

log = logging.getLogger("vexil.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The Vexil server as an ASGI app; migrations run when it starts."""
    settings = settings or Settings.load()
    app = _App(
        title="Vexil",
        version=__version__,
        description="Feature flags and experimentation: admin API, SDK endpoints and OFREP.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan,
        default_response_class=JSONResponse,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.throttle = Throttle.from_settings(settings, app.state.metrics)
    app.state.ready = False
    _handle_errors(app)
    _count_requests(app)
    from ._api import admin, flagd, ofrep, ops, sdk

    for module in (ops, admin, flagd, sdk, ofrep):
        app.include_router(module.router)
    web.install(app)
    _openapi.install(app)
    _allow.install(app)
    return app


class _App(FastAPI):
    def build_middleware_stack(self) -> ASGIApp:
        # The security headers go around everything, Starlette's last-resort error
        # handler included, which runs outside every middleware added to the app.
        return web.secured(self, super().build_middleware_stack())


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings)
    upgrade(settings, engine)
    hub = Hub()
    app.state.hub = hub
    app.state.store = Store(engine, hub, settings.change_log_size)
    broadcaster = Broadcaster(app.state.store, hub, app.state.metrics, settings)
    broadcaster.start()
    app.state.broadcaster = broadcaster
    app.state.on_drain = [broadcaster.close]
    watchers: list[Any] = [RevisionPoller(engine, hub, settings.poll_seconds)]
    if not settings.is_sqlite:
        dsn = settings.database_url.replace("postgresql+psycopg://", "postgresql://")
        watchers.append(PostgresListener(dsn, hub))
    for watcher in watchers:
        watcher.start()
    app.state.ready = True
    app.state.shutting_down = False
    try:
        yield
    finally:
        app.state.ready = False
        app.state.shutting_down = True
        await drain(app)
        for callback in getattr(app.state, "on_shutdown", []):
            await callback()
        for watcher in watchers:
            watcher.stop()
        engine.dispose()


async def drain(app: FastAPI) -> None:
    """End long-lived responses (SDK streams), so that a graceful shutdown need not wait.

    uvicorn runs the lifespan shutdown only once every connection has finished, and
    a stream never finishes by itself: ``vexil serve`` drains as soon as the
    shutdown begins. Callbacks in ``app.state.on_drain`` must be idempotent.
    """
    for callback in getattr(app.state, "on_drain", []):
        await callback()


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        if web.wants_html(request):
            return await run_in_threadpool(web.error_page, request, exc.status, exc.message)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        malformed = first.get("type") == "json_invalid"
        body = {
            "error": {
                "code": "bad_request" if malformed else "invalid",
                "message": (
                    "the body is not valid JSON"
                    if malformed
                    else f"{field}: {first.get('msg', 'invalid')}"
                ),
                "field": None if malformed else field,
            }
        }
        return JSONResponse(body, status_code=400 if malformed else 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if web.wants_html(request):
            message = "There is no such page." if exc.status_code == 404 else str(exc.detail)
            return await run_in_threadpool(web.error_page, request, exc.status_code, message)
        code = HTTP_CODES.get(exc.status_code, "error")
        body = {"error": {"code": code, "message": str(exc.detail), "field": None}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(IntegrityError)
    async def integrity(request: Request, exc: IntegrityError) -> Response:
        # Two writers raced to create the same key, or to use what another deletes:
        # the database refused the second, and nothing of it was written.
        log.info("integrity error on %s %s: %s", request.method, request.url.path, exc.orig)
        error = Conflict("a concurrent change conflicts with this one; read again and retry")
        return JSONResponse(error.body(), status_code=error.status)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        if web.wants_html(request):
            message = "The server failed to do this; the error is in its log."
            return web.error_page(request, 500, message)
        body = {"error": {"code": "internal", "message": "internal error", "field": None}}
        return JSONResponse(body, status_code=500)


#: Error codes of the errors Starlette and FastAPI raise themselves.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}


def _count_requests(app: FastAPI) -> None:
    app.add_middleware(RequestCounter, metrics=app.state.metrics)
    # Added last, so it runs first: no body is read past the limit, by anything.
    app.add_middleware(BodyLimit, limit=app.state.settings.max_body_bytes)
