"""Request dependencies: the store, and who is asking."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Request

from ._auth import (
    Principal,
    Role,
    SdkCredential,
    basic_credentials,
    sdk_credential,
    token_principal,
    user_principal,
)
from ._errors import BadRequest, Forbidden, Unauthorized
from ._store import Store


def get_store(request: Request) -> Store:
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


def sdk_key(request: Request, store: StoreDep) -> SdkCredential:
    """The environment an SDK key opens (``Authorization`` or ``X-API-Key``)."""
    key = (
        _bearer(request) or request.headers.get("authorization") or request.headers.get("x-api-key")
    )
    if not key:
        raise Unauthorized("an SDK key is required (Authorization or X-API-Key header)")
    with store.read() as conn:
        credential = sdk_credential(conn, key.strip())
    if credential is None:
        raise Unauthorized("invalid SDK key")
    return credential


SdkKeyDep = Annotated[SdkCredential, Depends(sdk_key)]


def server_key(credential: SdkKeyDep) -> SdkCredential:
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
