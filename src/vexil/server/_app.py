"""The ASGI application: small routers over one store."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from vexil import __version__

from ._bus import Hub, PostgresListener, RevisionPoller
from ._db import make_engine, upgrade
from ._errors import ApiError
from ._metrics import Metrics
from ._settings import Settings
from ._store import Store

log = logging.getLogger("vexil.server")


def create_app(settings: Settings | None = None) -> FastAPI:
    """The Vexil server as an ASGI app; migrations run when it starts."""
    settings = settings or Settings.load()
    app = FastAPI(
        title="Vexil",
        version=__version__,
        description="Feature flags and experimentation: admin API, SDK endpoints and OFREP.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.ready = False
    _handle_errors(app)
    _count_requests(app)
    from ._api import admin, ofrep, ops, sdk

    for module in (ops, admin, sdk, ofrep):
        app.include_router(module.router)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    engine = make_engine(settings)
    upgrade(settings, engine)
    hub = Hub()
    app.state.hub = hub
    app.state.store = Store(engine, hub, settings.change_log_size)
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
        for callback in getattr(app.state, "on_shutdown", []):
            await callback()
        for watcher in watchers:
            watcher.stop()
        engine.dispose()


def _handle_errors(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
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
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        body = {"error": {"code": code, "message": str(exc.detail), "field": None}}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {"error": {"code": "internal", "message": "internal error", "field": None}}
        return JSONResponse(body, status_code=500)


def _count_requests(app: FastAPI) -> None:
    metrics: Metrics = app.state.metrics

    @app.middleware("http")
    async def count(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        return response
