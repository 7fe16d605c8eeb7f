"""Request dependencies: the store, and who is asking."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.types import Message

from ._auth import (
    Principal,
    Role,
    SdkCredential,
    basic_credentials,
    sdk_credential,
    token_principal,
    user_principal,
)
from ._credentials import MISS
from ._errors import BadRequest, Forbidden, Unauthorized
from ._store import Store

# Trivial dependencies are async: FastAPI runs plain functions in its thread pool,
# a hop that would cost more than the dependency itself on the hot SDK paths.


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return None


def principal(request: Request, store: StoreDep) -> Principal:
    """The caller of an admin API request: an API token, or a user with HTTP Basic."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    with store.read() as conn:
        if scheme.lower() == "bearer" and value:
            found = token_principal(conn, value.strip())
        elif scheme.lower() == "basic" and value:
            pair = basic_credentials(value.strip())
            found = user_principal(conn, *pair) if pair else None
        else:
            session = getattr(request.state, "session_principal", None)
            if session is not None:
                return session  # type: ignore[no-any-return]
            error = Unauthorized("credentials required: an API token (Bearer) or a user (Basic)")
            error.headers["WWW-Authenticate"] = 'Bearer realm="vexil"'
            raise error
    if found is None:
        raise Unauthorized("invalid credentials")
    return found


PrincipalDep = Annotated[Principal, Depends(principal)]


def require(role: Role) -> Any:
    def check(who: PrincipalDep) -> Principal:
        if not who.can(role):
            raise Forbidden(f"this needs the {role} role; {who.actor} is a {who.role}")
        return who

    return Depends(check)


def check_project_scope(who: Principal, project_id: int) -> None:
    if who.project_id is not None and who.project_id != project_id:
        raise Forbidden("this token is limited to another project")


async def sdk_key(request: Request, store: StoreDep) -> SdkCredential:
    """The environment an SDK key opens (``Authorization`` or ``X-API-Key``).

    Answered from a short-lived cache when it can be (``_credentials``), and
    otherwise looked up in a worker thread, so that the event loop never waits
    for the database.
    """
    key = (
        _bearer(request) or request.headers.get("authorization") or request.headers.get("x-api-key")
    )
    if not key:
        raise Unauthorized("an SDK key is required (Authorization or X-API-Key header)")
    key = key.strip()
    found = store.credentials.get(key)
    if found is MISS:
        found = await run_in_threadpool(_look_up_key, store, key)
    if not isinstance(found, SdkCredential):
        raise Unauthorized("invalid SDK key")
    return found


def _look_up_key(store: Store, key: str) -> SdkCredential | None:
    with store.read() as conn:
        credential = sdk_credential(conn, key)
    store.credentials.put(key, credential)
    return credential


SdkKeyDep = Annotated[SdkCredential, Depends(sdk_key)]


async def server_key(credential: SdkKeyDep) -> SdkCredential:
    if credential.kind != "server":
        raise Forbidden("this endpoint needs a server SDK key, not a client key")
    return credential


ServerKeyDep = Annotated[SdkCredential, Depends(server_key)]


def if_match(if_match: Annotated[str | None, Header()] = None) -> int | None:
    """The version an ``If-Match`` header names (``"3"``, ``3`` or ``W/"3"``)."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        message = f'If-Match must name a version, such as "3", not {if_match!r}'
        raise BadRequest(message, field="If-Match") from None


IfMatchDep = Annotated[int | None, Depends(if_match)]


class BodyLimitRoute(APIRoute):
    """A route that refuses request bodies over ``max_body_bytes`` with 413, as JSON.

    Checked before the body is read: a declared ``Content-Length`` at once, a
    streamed body as it arrives. (FastAPI's own ``max_body_size`` answers an
    oversized ``Content-Length`` in plain text, whatever the handlers say.)
    """

    max_body_bytes = 2 * 1024 * 1024

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        limit = self.max_body_bytes
        too_large = f"the request body is larger than {limit} bytes"

        async def limited(request: Request) -> Response:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise HTTPException(413, too_large)
            received = 0

            async def receive() -> Message:
                nonlocal received
                message = await request.receive()
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, too_large)
                return message

            return await handler(Request(request.scope, receive))

        return limited
