"""The OpenAPI document, completed from what each route depends on.

FastAPI documents a route's success and the 422 of its own validation, and no
more: not the 401 of a missing credential, the 404 of a path naming nothing, the
409 of a stale ``If-Match``, nor how a request authenticates. All of these follow
from a route's dependencies, so they are read from there, once, when the document
is built, rather than repeated in each route's decorator (where they would drift):

- ``principal`` and ``require(role)``: 401, 403 and 429; bearer or basic security;
- ``sdk_key``: 401; ``server_key``: 403 too (a client key); SDK key security;
- ``if_match``: 400 (unreadable) and 409 (stale);
- a write of the admin API: 409 (a key taken, a change racing another);
- path parameters: 404; a request body: 413, and 400 (not JSON) if FastAPI reads it;
- any parameter or body: 422.

Every error answers the one ``Error`` shape of ``_errors`` (and of the app's
handlers), except where a route declares content of its own: OFREP answers its
protocol's shapes (``OFREP_SCHEMAS``, which the OFREP routes refer to) where it
has one, and Vexil's otherwise (401, 403). An operation without credential dependencies declares
``security: []``, so that every operation says how it authenticates.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts

from vexil.flags import Reason

from . import _deps
from ._ofrep import FAILURE_CODES

__all__ = [
    "ADMIN_SECURITY",
    "OFREP_SCHEMAS",
    "SECURITY_SCHEMES",
    "etag",
    "install",
    "ofrep_content",
    "retry_after",
]

REF = "#/components/schemas/"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`vx-api-...`), with a role and maybe a project scope.",
    },
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "A user's name and password (an argon2 check per request).",
    },
    "sdkKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "An SDK key (`vx-srv-...` or `vx-cli-...`), bare or after `Bearer `.",
    },
    "sdkKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "An SDK key, for clients that cannot set `Authorization`.",
    },
}

Security = list[dict[str, list[str]]]
#: Any one of the schemes will do (OpenAPI's list of alternatives).
ADMIN_SECURITY: Security = [{"bearerAuth": []}, {"basicAuth": []}]
_SDK_SECURITY: Security = [{"sdkKey": []}, {"sdkKeyHeader": []}]

_TEXT = {"type": "string"}
_ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "description": "Every error of the admin and SDK APIs, and OFREP's 401 and 403.",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "field"],
                "properties": {
                    "code": {
                        **_TEXT,
                        "description": "bad_request, unauthorized, forbidden, not_found, "
                        "method_not_allowed, conflict, too_large, invalid, rate_limited...",
                    },
                    "message": _TEXT,
                    "field": {
                        "type": ["string", "null"],
                        "description": "What was wrong: a body field, a header, query.NAME, "
                        "a path in the flag document, or the kind of thing not found.",
                    },
                    "current_version": {
                        "type": "integer",
                        "description": "With a stale If-Match (409): the version now.",
                    },
                    "problems": {
                        "type": "array",
                        "description": "Every problem the flag engine found (422).",
                        "items": {"$ref": REF + "Problem"},
                    },
                },
            }
        },
    },
    "Problem": {
        "type": "object",
        "required": ["field", "message"],
        "properties": {"field": _TEXT, "message": _TEXT, "environment": _TEXT},
    },
}


def _header(description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {"description": description, "required": required, "schema": schema or _TEXT}


_RETRY_AFTER = _header("Seconds to wait", required=True, type="integer", minimum=1)

_FAILURE_CODES = sorted(FAILURE_CODES)


def _failure(code: dict[str, Any]) -> dict[str, Any]:
    """An OFREP failure of one flag, with an error code that fits ``code``."""
    return {
        "type": "object",
        "required": ["key", "errorCode", "errorDetails"],
        "properties": {"key": _TEXT, "errorCode": code, "errorDetails": _TEXT},
    }


#: OFREP's own answers (https://openfeature.dev/specification/appendix-c), as Vexil gives them.
OFREP_SCHEMAS: dict[str, dict[str, Any]] = {
    "OfrepEvaluationSuccess": {
        "type": "object",
        "required": ["key", "reason", "metadata"],
        "properties": {
            "key": _TEXT,
            "value": {"description": "Left out when the application's default applies."},
            "reason": {"enum": [reason.value for reason in Reason]},
            "variant": _TEXT,
            "metadata": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
        },
    },
    "OfrepEvaluationFailure": _failure({"enum": _FAILURE_CODES}),
    "OfrepFlagNotFound": _failure({"const": "FLAG_NOT_FOUND"}),
    "OfrepBulkEvaluationSuccess": {
        "type": "object",
        "required": ["flags"],
        "properties": {
            "flags": {
                "type": "array",
                "items": {
                    "oneOf": [
                        {"$ref": REF + "OfrepEvaluationSuccess"},
                        {"$ref": REF + "OfrepEvaluationFailure"},
                    ]
                },
            }
        },
    },
    "OfrepBulkEvaluationFailure": {
        "type": "object",
        "required": ["errorCode", "errorDetails"],
        "properties": {"errorCode": {"enum": _FAILURE_CODES}, "errorDetails": _TEXT},
    },
}


def ofrep_content(schema: str) -> dict[str, Any]:
    """A response's ``content``: JSON in the shape of one of ``OFREP_SCHEMAS``."""
    if schema not in OFREP_SCHEMAS:
        raise ValueError(f"no OFREP schema {schema!r}")
    return {"content": {"application/json": {"schema": {"$ref": REF + schema}}}}


def etag(what: str = "The resource's version, for If-Match") -> dict[str, Any]:
    """A response's ``headers``: the ``ETag`` its route always sets."""
    return {"headers": {"ETag": _header(what, required=True)}}


def retry_after() -> dict[str, Any]:
    """A response's ``headers``: the ``Retry-After`` of a 429 (``TooManyRequests``)."""
    return {"headers": {"Retry-After": _RETRY_AFTER}}


# ------------------------------------------------------------------ causes


@dataclass(frozen=True, slots=True)
class Cause:
    """Why an operation may answer ``status``, and the headers it then sends."""

    status: int
    why: str
    headers: dict[str, Any] = field(default_factory=dict)


_PRINCIPAL = (
    Cause(
        401,
        "no credentials, or invalid ones",
        {"WWW-Authenticate": _header("Sent when no credentials were given")},
    ),
    Cause(403, "beyond the caller's role or project"),
    Cause(
        429,
        "too many sign-in attempts, or passwords waiting to be checked",
        retry_after()["headers"],
    ),
)
_SDK_KEY = (Cause(401, "no SDK key, or an invalid or expired one"),)
_SERVER_KEY = (Cause(403, "a client key, where a server key is needed"),)
_IF_MATCH = (
    Cause(400, "If-Match does not name a version"),
    Cause(
        409,
        "If-Match names a version that is not the current one (in current_version)",
        {"ETag": _header("The current version")},
    ),
)
#: The spellings ``_deps.if_match`` reads: ``"3"``, ``3``, ``W/"3"`` or ``*``.
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"?[0-9]+"?)\s*$'
_IF_MATCH_SCHEMA = {"type": "string", "pattern": IF_MATCH_PATTERN}
_WRITE = Cause(409, "a key that exists already, or a change that raced another")
_PATH = Cause(404, "nothing exists at this path")
_SENT_BODY = Cause(413, "the body is larger than the server accepts")
_READ_BODY = Cause(400, "the body is not valid JSON")
_INVALID = Cause(422, "the request does not fit the schema, or the flag engine refuses it")

# The dependencies of ``_deps`` as the functions they are: routes may depend on them
# through a wrapper (``_routes.credential``), which unwrapping sees through.
_PRINCIPAL_CALL = inspect.unwrap(_deps.principal)
_SDK_KEY_CALL = inspect.unwrap(_deps.sdk_key)
_IF_MATCH_CALL = inspect.unwrap(_deps.if_match)
_DEPENDENCIES: dict[Callable[..., Any], tuple[Cause, ...]] = {
    _PRINCIPAL_CALL: _PRINCIPAL,
    _SDK_KEY_CALL: _SDK_KEY,
    inspect.unwrap(_deps.server_key): _SERVER_KEY,
    _IF_MATCH_CALL: _IF_MATCH,
}
_SAFE = {"GET", "HEAD", "OPTIONS"}


@dataclass(frozen=True, slots=True)
class _Route:
    """What the document needs to know of one route, from its dependency tree."""

    calls: frozenset[Callable[..., Any]]
    path_params: bool
    read_body: bool

    @classmethod
    def of(cls, route: Any) -> _Route:
        root: Dependant = route.dependant
        tree = [root, *_sub_dependants(root)]
        return cls(
            calls=frozenset(inspect.unwrap(d.call) for d in tree[1:] if d.call is not None),
            path_params=any(d.path_params for d in tree),
            read_body=any(d.body_params for d in tree),
        )

    def causes(self, method: str, operation: dict[str, Any]) -> Iterator[Cause]:
        for call in self.calls:
            yield from _DEPENDENCIES.get(call, ())
        if _PRINCIPAL_CALL in self.calls and method not in _SAFE:
            yield _WRITE
        if self.path_params:
            yield _PATH
        if "requestBody" in operation:
            yield _SENT_BODY
        if self.read_body:
            yield _READ_BODY
        if self.read_body or operation.get("parameters"):
            yield _INVALID

    def security(self) -> Security:
        if _PRINCIPAL_CALL in self.calls:
            return ADMIN_SECURITY
        if _SDK_KEY_CALL in self.calls:
            return _SDK_SECURITY
        return []


def _sub_dependants(dependant: Dependant) -> Iterator[Dependant]:
    """Every dependency of ``dependant``, however deep."""
    for sub in dependant.dependencies:
        yield sub
        yield from _sub_dependants(sub)


# ------------------------------------------------------------------ the document


def install(app: FastAPI) -> None:
    """Serve ``document(app)`` at the app's ``openapi_url``, built on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document of ``app``, with every error response and security requirement."""
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
        servers=app.servers,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas.update(_ERROR_SCHEMAS)
    schemas.update(OFREP_SCHEMAS)
    components["securitySchemes"] = SECURITY_SCHEMES
    for context in iter_route_contexts(app.routes):
        if not isinstance(context.original_route, APIRoute) or not context.include_in_schema:
            continue
        route = _Route.of(context)
        for method in context.methods or ():
            operation = doc["paths"][context.path_format][method.lower()]
            _complete(operation, route, method, context.responses)
    return doc


def _complete(
    operation: dict[str, Any], route: _Route, method: str, declared: dict[int | str, Any]
) -> None:
    """Add what ``route`` may answer to ``operation``, keeping what its decorator declared."""
    operation.setdefault("security", route.security())
    if _IF_MATCH_CALL in route.calls:
        for parameter in operation.get("parameters", []):
            if (parameter["in"], parameter["name"].lower()) == ("header", "if-match"):
                parameter["schema"] = _IF_MATCH_SCHEMA
    responses: dict[str, Any] = operation["responses"]
    whys: dict[str, list[str]] = {}
    for cause in route.causes(method, operation):
        status = str(cause.status)
        entry = responses.setdefault(status, {})
        if _is_fastapi_422(entry):
            entry.clear()
        if cause.why not in whys.setdefault(status, []):
            whys[status].append(cause.why)
        for name, header in cause.headers.items():
            entry.setdefault("headers", {}).setdefault(name, header)
    for status, entry in responses.items():
        if not status.isdigit() or int(status) < 400:
            continue
        entry.setdefault("content", {"application/json": {"schema": {"$ref": REF + "Error"}}})
        own = declared.get(int(status), declared.get(status, {})).get("description")
        if status in whys and not own:
            text = "; ".join(whys[status])
            entry["description"] = text[0].upper() + text[1:]
    operation["responses"] = dict(sorted(responses.items()))


def _is_fastapi_422(entry: dict[str, Any]) -> bool:
    content = entry.get("content", {}).get("application/json", {})
    return bool(content.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"))
