"""SDK endpoints (``/sdk/v1``): the ruleset, the live stream, events.

The wire format is specified in ``docs/protocol.md``.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from vexil.server._deps import ServerKeyDep, StoreDep

router = APIRouter(prefix="/sdk/v1", tags=["sdk"])


def ruleset_etag(environment_id: int, revision: int) -> str:
    return f'"{environment_id}-{revision}"'


@router.get(
    "/ruleset",
    summary="The environment's whole ruleset, in the flag document format",
    responses={304: {"description": "Not modified since the ETag in If-None-Match"}},
)
def ruleset(request: Request, store: StoreDep, credential: ServerKeyDep) -> Response:
    env_id = credential.environment_id
    with store.read() as conn:
        current, ruleset = store.rulesets.load(conn, env_id)
    etag = ruleset_etag(env_id, current)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Vexil-Revision": str(current)}
    if etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    body = store.rulesets.document_bytes(
        env_id, current, lambda: json.dumps(ruleset.to_data(), separators=(",", ":")).encode()
    )
    return Response(body, media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
