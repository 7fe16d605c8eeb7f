"""SDK endpoints (``/sdk/v1``): the ruleset, the live stream, events.

The wire format is specified in ``docs/protocol.md``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from vexil.server._deps import ServerKeyDep, StoreDep
from vexil.server._events import decode, parse, read_limited, store_batch
from vexil.server._json import JSONResponse
from vexil.server._openapi import etag, retry_after
from vexil.server._routes import GuardedRoute
from vexil.server._stream import Broadcaster, compact_json

router = APIRouter(prefix="/sdk/v1", tags=["sdk"], route_class=GuardedRoute)


_RULESET_ETAG = "The environment and revision of the ruleset, for If-None-Match"


def ruleset_etag(environment_id: int, revision: int) -> str:
    return f'"{environment_id}-{revision}"'


@router.get(
    "/ruleset",
    summary="The environment's whole ruleset, in the flag document format",
    responses={
        200: etag(_RULESET_ETAG),
        304: {"description": "Not modified since the ETag in If-None-Match", **etag(_RULESET_ETAG)},
    },
)
async def ruleset(request: Request, store: StoreDep, credential: ServerKeyDep) -> Response:
    env_id = credential.environment_id
    current, ruleset = await store.latest(env_id)
    etag = ruleset_etag(env_id, current)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Vexil-Revision": str(current)}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    body = store.rulesets.document_bytes(env_id, current, lambda: compact_json(ruleset.to_data()))
    return Response(body, media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}


@router.get(
    "/stream",
    summary="Server-Sent Events: the whole ruleset (put), then each change (patch, delete)",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}},
        429: {
            "description": "The key holds max_streams_per_key open streams already",
            **retry_after(),
        },
    },
)
async def stream(
    request: Request,
    credential: ServerKeyDep,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    broadcaster: Broadcaster = request.app.state.broadcaster
    # no-cache and X-Accel-Buffering: proxies must pass each event on at once.
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return broadcaster.response(credential, _revision(last_event_id), headers)


def _revision(last_event_id: str | None) -> int | None:
    """The revision a reconnecting client has; None (a fresh put) for anything unusable."""
    value = (last_event_id or "").strip()
    return int(value) if value.isdigit() and value.isascii() else None


@router.post(
    "/events",
    status_code=202,
    summary="A batch of evaluation summaries, track and identify events (JSON, maybe gzip)",
    responses={
        400: {"description": "The body is not valid JSON, or not valid gzip"},
        413: {"description": "The body, as sent or decompressed, is over max_event_bytes"},
        415: {"description": "A Content-Encoding other than gzip or none"},
        422: {"description": "An event that does not fit the format (field names it)"},
    },
)
async def events(request: Request, store: StoreDep, credential: ServerKeyDep) -> Response:
    limit: int = request.app.state.settings.max_event_bytes
    body = await read_limited(request.stream(), request.headers.get("content-length"), limit)
    batch = await run_in_threadpool(
        lambda: parse(decode(body, request.headers.get("content-encoding"), limit))
    )
    ingested = await run_in_threadpool(store_batch, store, credential.environment_id, batch)
    ingested.count(request.app.state.metrics)
    return JSONResponse({"accepted": len(batch)}, status_code=202)
