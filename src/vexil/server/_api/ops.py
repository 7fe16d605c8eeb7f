"""Health, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from vexil.server._deps import principal
from vexil.server._errors import ApiError

router = APIRouter(tags=["operations"])


class Unavailable(ApiError):
    status, code = 503, "unavailable"


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The server can take traffic: started and its database answers")
def readyz(request: Request) -> dict[str, str]:
    if not request.app.state.ready:
        raise Unavailable("starting or shutting down")
    with request.app.state.store.read() as conn:
        conn.execute(text("SELECT 1"))
    return {"status": "ready"}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    if not request.app.state.settings.public_metrics:
        _require_credentials(request)
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _require_credentials(request: Request) -> None:
    principal(request, request.app.state.store)
