"""Request dependencies: the store, who is asking, the project they may reach, and
what a body may hold (``check_storable``, which the dashboard's forms use too).

Every admin route of a project takes it through ``ScopedProject``, which refuses a
project that does not exist (404) and one beyond the caller's token (403), so that
no route can forget the check (``tests/server/test_scope.py`` walks the routes).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import Depends, Header, Path, Request
from starlette.concurrency import run_in_threadpool

from vexil.flags._parse import KEY_PATTERN

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
from ._errors import BadRequest, Forbidden, Unauthorized, Unprocessable
from ._projects import project_row
from ._routes import credential
from ._store import Store
from ._throttle import Throttle, client_address

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


async def principal(request: Request, store: StoreDep) -> Principal:
    """The caller of an admin API request: an API token, or a user with HTTP Basic.

    Async, so that a Basic request waits for its turn at the password gate on the
    event loop (``_throttle``), not in a worker thread that token requests need.
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value:
        found = await run_in_threadpool(_token_principal, store, value.strip())
    elif scheme.lower() == "basic" and value:
        pair = basic_credentials(value.strip())
        found = await _basic_principal(request, store, *pair) if pair else None
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


def _token_principal(store: Store, token: str) -> Principal | None:
    with store.read() as conn:
        return token_principal(conn, token)


async def _basic_principal(
    request: Request, store: Store, username: str, password: str
) -> Principal | None:
    def check() -> Principal | None:
        with store.read() as conn:
            return user_principal(conn, username, password)

    throttle: Throttle = request.app.state.throttle
    return await throttle.verify(client_address(request), username, check)


# Checked before the body is read (``_routes.GuardedRoute``), and once per request.
PrincipalDep = Annotated[Principal, Depends(credential(principal))]


def require(role: Role) -> Any:
    def check(who: PrincipalDep) -> Principal:
        if not who.can(role):
            raise Forbidden(f"this needs the {role} role; {who.actor} is a {who.role}")
        return who

    return Depends(check)


Viewer = Annotated[Principal, require("viewer")]
Editor = Annotated[Principal, require("editor")]
Admin = Annotated[Principal, require("admin")]


def check_project_scope(who: Principal, project_id: int) -> None:
    if who.project_id is not None and who.project_id != project_id:
        raise Forbidden("this token is limited to another project")


def check_scope(store: Store, who: Principal, project: str) -> str:
    """``project``, if it exists (else 404) and ``who`` may reach it (else 403)."""
    with store.read() as conn:
        check_project_scope(who, project_row(conn, project).id)
    return project


def check_unscoped(who: Principal, what: str) -> None:
    """Refuse a token limited to one project what reaches beyond it."""
    if who.project_id is not None:
        raise Forbidden(f"a token limited to a project cannot {what}")


#: The engine's key pattern, declared in the schema; the services check it
#: (``_projects.check_key``), so that a new key that does not match gets 400 naming
#: the field, and a path or a reference with one names nothing (404).
KEY = f"^{KEY_PATTERN}$"
#: A project, environment, flag or segment key in a path.
Key = Annotated[str, Path(json_schema_extra={"pattern": KEY})]


def scoped_project(project: Key, store: StoreDep, who: PrincipalDep) -> str:
    # Declared after the route's role, so that a role too low is still 403 before a
    # project that does not exist is 404.
    return check_scope(store, who, project)


#: The ``{project}`` of a route's path, checked against the caller's scope.
ScopedProject = Annotated[str, Depends(scoped_project)]

#: How deeply a request body may nest objects and arrays.
MAX_DEPTH = 32


def check_storable(data: Any) -> None:
    """Refuse what the databases cannot store as sent, naming the field.

    NUL characters (PostgreSQL refuses them in text and JSON), lone surrogates (not
    UTF-8), NaN and infinities (not JSON, though Python's parser reads them) and
    nesting deeper than ``MAX_DEPTH``.
    """
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise Unprocessable(f"{path}: nested more than {MAX_DEPTH} levels deep", field=path)
        if isinstance(value, str):
            _check_text(value, path)
        elif isinstance(value, float) and not math.isfinite(value):
            raise Unprocessable(f"{path}: {value} is not a JSON number", field=path)
        elif isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                _check_text(str(key), child)
                stack.append((child, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item, depth + 1) for i, item in enumerate(value))


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise Unprocessable(f"{path!r}: NUL characters are not allowed", field=path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Unprocessable(f"{path!r}: not valid Unicode text", field=path) from None


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


SdkKeyDep = Annotated[SdkCredential, Depends(credential(sdk_key))]


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
