"""OpenFeature Remote Evaluation Protocol (``/ofrep/v1``): flags evaluated on the server.

For OpenFeature's OFREP providers, which know nothing of Vexil: a server SDK key
evaluates any flag, a public client key only client-side ones. Handlers stay lean
for throughput: one query (the environment's revision) beyond the key check, then
the cached compiled ruleset. The protocol's rules are in ``vexil.server._ofrep``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response

from vexil.server import _ofrep, _secure_mode
from vexil.server._deps import SdkKeyDep, StoreDep
from vexil.server._openapi import etag, ofrep_content
from vexil.server._routes import GuardedRoute

router = APIRouter(prefix="/ofrep/v1", tags=["ofrep"], route_class=GuardedRoute)


async def raw_body(request: Request) -> bytes:
    """The body unparsed: OFREP answers a malformed body in its own error shape, not
    in the one FastAPI's validation would give."""
    return await request.body()


BodyDep = Annotated[bytes, Depends(raw_body)]

_CONTEXT = {
    "type": "object",
    "description": "The evaluation context; targetingKey is Vexil's context key",
}
_REQUEST = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"context": _CONTEXT}},
                "example": {"context": {"targetingKey": "user-123", "plan": "pro"}},
            }
        },
    }
}
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No SDK key, or an invalid one (Vexil's error body)"},
    403: {
        "description": "Secure mode: a client key without the targeting key's HMAC in "
        "X-Vexil-Secure-Hash, or with a wrong one (Vexil's error body)"
    },
}

#: The targeting key's HMAC, which secure mode requires of client keys (``_secure_mode``).
SecureHashDep = Annotated[
    str | None,
    Header(
        alias=_secure_mode.HEADER,
        description="HMAC-SHA256 of the targeting key (Client.secure_mode_hash); "
        "required with a client key when the environment is in secure mode",
    ),
]


def _answer(
    status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    return Response(
        _ofrep.to_json(payload), status_code=status, media_type="application/json", headers=headers
    )


@router.post(
    "/evaluate/flags/{key}",
    summary="Evaluate one flag for a context (OFREP)",
    openapi_extra=_REQUEST,
    responses={
        200: {
            "description": "serverEvaluationSuccess: key, value, reason, variant, metadata",
            **ofrep_content("OfrepEvaluationSuccess"),
        },
        400: {
            "description": "evaluationFailure: PARSE_ERROR, INVALID_CONTEXT, ...",
            **ofrep_content("OfrepEvaluationFailure"),
        },
        404: {
            "description": "flagNotFound (also a server-side flag asked with a client key)",
            **ofrep_content("OfrepFlagNotFound"),
        },
        **_AUTH,
    },
)
async def evaluate_flag(
    key: str,
    body: BodyDep,
    store: StoreDep,
    credential: SdkKeyDep,
    secure_hash: SecureHashDep = None,
) -> Response:
    # Async: evaluating one flag takes microseconds, far less than a thread hop.
    try:
        context = _ofrep.read_context(body)
    except _ofrep.RequestError as exc:
        return _answer(400, exc.body(key))
    if credential.secure_mode is not None:
        _secure_mode.check(credential.secure_mode, secure_hash, context)
    env_id = credential.environment_id
    _, ruleset = await store.latest(env_id)
    status, payload = _ofrep.evaluate_one(ruleset, key, context, credential.kind)
    return _answer(status, payload)


@router.post(
    "/evaluate/flags",
    summary="Evaluate every flag the key may see for a context (OFREP bulk)",
    openapi_extra=_REQUEST,
    responses={
        200: {
            "description": "bulkEvaluationSuccess, with an ETag",
            **ofrep_content("OfrepBulkEvaluationSuccess"),
            **etag("The ruleset, key kind and context answered, for If-None-Match"),
        },
        304: {
            "description": "Same ruleset and context as the ETag in If-None-Match",
            **etag("The ruleset, key kind and context answered, for If-None-Match"),
        },
        400: {
            "description": "bulkEvaluationFailure: PARSE_ERROR or INVALID_CONTEXT",
            **ofrep_content("OfrepBulkEvaluationFailure"),
        },
        **_AUTH,
    },
)
def evaluate_flags(
    body: BodyDep,
    store: StoreDep,
    credential: SdkKeyDep,
    if_none_match: Annotated[str | None, Header()] = None,
    secure_hash: SecureHashDep = None,
) -> Response:
    try:
        context = _ofrep.read_context(body)
    except _ofrep.RequestError as exc:
        return _answer(400, exc.body())
    if credential.secure_mode is not None:
        _secure_mode.check(credential.secure_mode, secure_hash, context)
    env_id = credential.environment_id
    revision, ruleset = store.current(env_id)
    etag = _ofrep.bulk_etag(env_id, revision, credential.kind, context)
    if _ofrep.etag_matches(etag, if_none_match):
        return Response(status_code=304, headers={"ETag": etag})
    return _answer(200, _ofrep.evaluate_all(ruleset, context, credential.kind), {"ETag": etag})
