"""Health, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from vexil.server._deps import principal
from vexil.server._errors import Unavailable
from vexil.server._openapi import ADMIN_SECURITY, retry_after

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The server can take traffic: started and its database answers",
    responses={503: {"description": "Starting or shutting down"}},
)
def readyz(request: Request) -> dict[str, str]:
    if not request.app.state.ready:
        raise Unavailable("starting or shutting down", retry_after=None)
    with request.app.state.store.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ready"}


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}},
        401: {"description": "With VEXIL_PUBLIC_METRICS=false: no credentials, or invalid ones"},
        429: {"description": "Too many sign-in attempts", **retry_after()},
    },
    # Open unless VEXIL_PUBLIC_METRICS=false: anonymous ({}) or an admin API credential.
    openapi_extra={"security": [{}, *ADMIN_SECURITY]},
)
async def metrics(request: Request) -> Response:
    if not request.app.state.settings.public_metrics:
        await principal(request, request.app.state.store)  # raises unless credentials are valid
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
