"""The admin API (``/api/v1``): projects, environments, flags, targeting, segments,
SDK keys, API tokens, users and the audit log.

Reads need the viewer role, changes the editor role, and tokens, users, SDK keys
and environments the admin role. Responses carry the resource's version as an
``ETag``; a write with a stale ``If-Match`` gets 409 with the current version.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from vexil.server import _access, _flags, _projects, _segments
from vexil.server._access import AuditPage, NewToken, Token, User
from vexil.server._api._answers import Answer
from vexil.server._deps import (
    KEY,
    Admin,
    Editor,
    IfMatchDep,
    Key,
    ScopedProject,
    StoreDep,
    Viewer,
    check_scope,
    check_storable,
    check_unscoped,
)
from vexil.server._flags import FlagPage, FlagWithTargeting, Targeting
from vexil.server._openapi import etag
from vexil.server._projects import Environment, Project, RotatedKey, SdkKey
from vexil.server._routes import AdminRoute
from vexil.server._segments import Segment

#: Credentials are checked before bodies are read, and no NUL is taken (``_routes``);
#: bodies are bounded by ``_limits``.
router = APIRouter(prefix="/api/v1", tags=["admin"], route_class=AdminRoute)

NO_NUL = r"^[^\x00]*$"
#: A filter on text: PostgreSQL refuses NUL characters in a query, so they are refused here.
TextFilter = Annotated[str | None, Query(max_length=300, pattern=NO_NUL)]
#: Row ids (PostgreSQL's INTEGER); beyond, nothing could be found.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Offset = Annotated[int, Query(ge=0, le=2**31 - 1)]
Name = Annotated[str | None, Field(max_length=200)]

#: The key of a new project, environment, flag or segment.
NewKey = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": KEY})]
#: A key naming an existing project or environment.
KeyRef = Annotated[str, Field(json_schema_extra={"pattern": KEY})]

#: How a time in a query starts: a date. Text only, from year 1 to 9999, as ISO 8601 can
#: spell it; a bare number (which the lax parser would take for a Unix time) is refused.
TIME_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME_START = re.compile(TIME_PATTERN)


def _iso_time(value: Any) -> Any:
    if isinstance(value, str) and not _TIME_START.match(value):
        raise ValueError("a time is ISO 8601 text, such as 2026-11-22T04:13:38Z")
    return value


Time = Annotated[datetime | None, BeforeValidator(_iso_time)]
ISO: dict[str, Any] = {"json_schema_extra": {"pattern": TIME_PATTERN}}

#: The responses of routes that answer a versioned resource: its version in the ETag.
VERSIONED: dict[int | str, Any] = {200: etag()}
CREATED: dict[int | str, Any] = {201: etag()}
#: A segment's PUT creates it (201) or replaces it (200).
PUT: dict[int | str, Any] = {**VERSIONED, **CREATED}
#: A project named in a body or a filter, that does not exist.
NO_PROJECT: dict[int | str, Any] = {404: {"description": "No such project (project)"}}


class Body(BaseModel):
    # Strict: 0 is not false, nor 5 a description; unknown fields are mistakes.
    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        check_storable(data)
        return data


class ProjectIn(Body):
    key: NewKey
    name: Name = None
    description: str = ""


class ProjectPatch(Body):
    name: Name = None
    description: str | None = None


class EnvironmentIn(Body):
    key: NewKey
    name: Name = None
    production: bool = False
    #: OFREP with a client key must send the targeting key's HMAC (docs/server.md).
    secure_mode: bool = False


class EnvironmentPatch(Body):
    name: Name = None
    production: bool | None = None
    secure_mode: bool | None = None


class FlagIn(Body):
    key: NewKey
    name: Name = None
    description: str = ""
    tags: list[str] = []
    temporary: bool = True
    client_side: bool = False
    metadata: dict[str, str | int | float | bool] = {}
    type: str | None = None
    variations: dict[str, Any]
    targeting: dict[str, Any] | None = None
    comment: str = ""


class FlagPatch(Body):
    name: Name = None
    description: str | None = None
    tags: list[str] | None = None
    temporary: bool | None = None
    client_side: bool | None = None
    metadata: dict[str, str | int | float | bool] | None = None
    type: str | None = None
    variations: dict[str, Any] | None = None
    comment: str = ""


class TargetingIn(Body):
    on: bool = False
    off_variation: str | None = None
    default: Any = None
    targets: dict[str, list[str]] | None = None
    rules: list[dict[str, Any]] | None = None
    prerequisites: list[dict[str, Any]] | None = None
    comment: str = ""


class ToggleIn(Body):
    on: bool
    comment: str = ""


class PromoteIn(Body):
    source: KeyRef
    target: KeyRef
    comment: str = ""


class SegmentIn(Body):
    name: str | None = None
    description: str | None = None
    included: list[str] | None = None
    excluded: list[str] | None = None
    rules: list[dict[str, Any]] | None = None
    comment: str = ""


class SegmentCreate(SegmentIn):
    key: NewKey


class RotateIn(Body):
    kind: str = Field(pattern="^(server|client)$")
    overlap_seconds: int = Field(default=3600, ge=0, le=2_592_000)


class TokenIn(Body):
    name: str = Field(min_length=1, max_length=_access.MAX_NAME)
    role: str = Field(pattern="^(viewer|editor|admin)$")
    project: KeyRef | None = None


class UserIn(Body):
    username: str = Field(min_length=1, max_length=_access.MAX_NAME)
    password: str = Field(min_length=8, max_length=1000)
    role: str = Field(pattern="^(viewer|editor|admin)$")


class UserPatch(Body):
    role: str | None = Field(default=None, pattern="^(viewer|editor|admin)$")
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    disabled: bool | None = None


V = TypeVar("V", Project, Environment, FlagWithTargeting, Targeting, Segment)


def _versioned(response: Response, body: V) -> V:
    response.headers["ETag"] = f'"{body["version"]}"'
    return body


def _set(model: BaseModel) -> dict[str, Any]:
    """The fields the caller sent (so that null can clear and absent can keep)."""
    return {
        k: v
        for k, v in model.model_dump(exclude={"comment"}).items()
        if k in model.model_fields_set
    }


# The role comes before the project in every signature: FastAPI solves dependencies
# in order, so a role too low is 403 before a project that does not exist is 404.

# ------------------------------------------------------------------ projects


@router.get("/projects", summary="List projects")
def list_projects(store: StoreDep, who: Viewer) -> Answer[list[Project]]:
    return _projects.list_projects(store, who.project_id)


@router.post(
    "/projects",
    status_code=201,
    summary="Create a project with its environments",
    responses=CREATED,
)
def create_project(
    body: ProjectIn, store: StoreDep, response: Response, who: Admin
) -> Answer[Project]:
    check_unscoped(who, "create projects")
    return _versioned(
        response, _projects.create_project(store, who.actor, body.key, body.name, body.description)
    )


@router.get("/projects/{project}", summary="Get a project", responses=VERSIONED)
def get_project(
    store: StoreDep, response: Response, who: Viewer, project: ScopedProject
) -> Answer[Project]:
    return _versioned(response, _projects.get_project(store, project))


@router.patch(
    "/projects/{project}", summary="Change a project's name or description", responses=VERSIONED
)
def update_project(
    body: ProjectPatch,
    store: StoreDep,
    response: Response,
    version: IfMatchDep,
    who: Admin,
    project: ScopedProject,
) -> Answer[Project]:
    return _versioned(
        response, _projects.update_project(store, who.actor, project, _set(body), version)
    )


@router.delete("/projects/{project}", status_code=204, summary="Delete a project and all it holds")
def delete_project(store: StoreDep, who: Admin, project: ScopedProject) -> Response:
    _projects.delete_project(store, who.actor, project)
    return Response(status_code=204)


# -------------------------------------------------------------- environments


@router.get("/projects/{project}/environments", summary="List a project's environments")
def list_environments(
    store: StoreDep, who: Viewer, project: ScopedProject
) -> Answer[list[Environment]]:
    return _projects.list_environments(store, project)


@router.post(
    "/projects/{project}/environments",
    status_code=201,
    summary="Create an environment",
    responses=CREATED,
)
def create_environment(
    body: EnvironmentIn, store: StoreDep, response: Response, who: Admin, project: ScopedProject
) -> Answer[Environment]:
    return _versioned(
        response, _projects.create_environment(store, who.actor, project, body.model_dump())
    )


@router.get(
    "/projects/{project}/environments/{env}", summary="Get an environment", responses=VERSIONED
)
def get_environment(
    env: Key, store: StoreDep, response: Response, who: Viewer, project: ScopedProject
) -> Answer[Environment]:
    return _versioned(response, _projects.get_environment(store, project, env))


@router.patch(
    "/projects/{project}/environments/{env}",
    summary="Rename, (un)mark production, turn secure mode on or off",
    responses=VERSIONED,
)
def update_environment(
    env: Key,
    body: EnvironmentPatch,
    store: StoreDep,
    response: Response,
    version: IfMatchDep,
    who: Admin,
    project: ScopedProject,
) -> Answer[Environment]:
    result = _projects.update_environment(store, who.actor, project, env, _set(body), version)
    return _versioned(response, result)


@router.delete(
    "/projects/{project}/environments/{env}", status_code=204, summary="Delete an environment"
)
def delete_environment(env: Key, store: StoreDep, who: Admin, project: ScopedProject) -> Response:
    _projects.delete_environment(store, who.actor, project, env)
    return Response(status_code=204)


@router.get("/projects/{project}/environments/{env}/keys", summary="The environment's SDK keys")
def list_keys(
    env: Key, store: StoreDep, who: Admin, project: ScopedProject
) -> Answer[list[SdkKey]]:
    return _projects.list_keys(store, project, env)


@router.post(
    "/projects/{project}/environments/{env}/keys/rotate",
    summary="A new SDK key; the old ones keep working for the overlap",
)
def rotate_key(
    env: Key, body: RotateIn, store: StoreDep, who: Admin, project: ScopedProject
) -> Answer[RotatedKey]:
    return _projects.rotate_key(store, who.actor, project, env, body.kind, body.overlap_seconds)


# --------------------------------------------------------------------- flags


@router.get(
    "/projects/{project}/flags", summary="List flags, with their on/off in each environment"
)
def list_flags(
    store: StoreDep,
    who: Viewer,
    project: ScopedProject,
    q: str | None = Query(
        None, description="Search in keys and names", max_length=300, pattern=NO_NUL
    ),
    tag: TextFilter = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> Answer[FlagPage]:
    return _flags.list_flags(store, project, query=q, tag=tag, limit=limit, offset=offset)


@router.post(
    "/projects/{project}/flags",
    status_code=201,
    summary="Create a flag (off everywhere)",
    responses=CREATED,
)
def create_flag(
    body: FlagIn, store: StoreDep, response: Response, who: Editor, project: ScopedProject
) -> Answer[FlagWithTargeting]:
    data = body.model_dump(exclude_none=True)
    return _versioned(response, _flags.create_flag(store, who.actor, project, data))


@router.get(
    "/projects/{project}/flags/{key}",
    summary="Get a flag with its targeting everywhere",
    responses=VERSIONED,
)
def get_flag(
    key: Key, store: StoreDep, response: Response, who: Viewer, project: ScopedProject
) -> Answer[FlagWithTargeting]:
    return _versioned(response, _flags.get_flag(store, project, key))


@router.patch(
    "/projects/{project}/flags/{key}", summary="Change a flag's shared fields", responses=VERSIONED
)
def update_flag(
    key: Key,
    body: FlagPatch,
    store: StoreDep,
    response: Response,
    version: IfMatchDep,
    who: Editor,
    project: ScopedProject,
) -> Answer[FlagWithTargeting]:
    result = _flags.update_flag(store, who.actor, project, key, _set(body), version, body.comment)
    return _versioned(response, result)


@router.delete("/projects/{project}/flags/{key}", status_code=204, summary="Delete a flag")
def delete_flag(key: Key, store: StoreDep, who: Editor, project: ScopedProject) -> Response:
    _flags.delete_flag(store, who.actor, project, key)
    return Response(status_code=204)


@router.post(
    "/projects/{project}/flags/{key}/promote",
    summary="Copy a flag's targeting from one environment to another",
    responses=VERSIONED,
)
def promote(
    key: Key,
    body: PromoteIn,
    store: StoreDep,
    response: Response,
    who: Editor,
    project: ScopedProject,
) -> Answer[Targeting]:
    result = _flags.promote(store, who.actor, project, key, body.source, body.target, body.comment)
    return _versioned(response, result)


@router.get(
    "/projects/{project}/environments/{env}/flags/{key}",
    summary="A flag's targeting",
    responses=VERSIONED,
)
def get_targeting(
    env: Key, key: Key, store: StoreDep, response: Response, who: Viewer, project: ScopedProject
) -> Answer[Targeting]:
    return _versioned(response, _flags.get_targeting(store, project, env, key))


@router.put(
    "/projects/{project}/environments/{env}/flags/{key}",
    summary="Replace a flag's targeting",
    responses=VERSIONED,
)
def replace_targeting(
    env: Key,
    key: Key,
    body: TargetingIn,
    store: StoreDep,
    response: Response,
    version: IfMatchDep,
    who: Editor,
    project: ScopedProject,
) -> Answer[Targeting]:
    data = body.model_dump(exclude={"comment"}, exclude_none=True)
    result = _flags.replace_targeting(
        store, who.actor, project, env, key, data, version, body.comment
    )
    return _versioned(response, result)


@router.post(
    "/projects/{project}/environments/{env}/flags/{key}/toggle",
    summary="Turn a flag on or off",
    responses=VERSIONED,
)
def toggle(
    env: Key,
    key: Key,
    body: ToggleIn,
    store: StoreDep,
    response: Response,
    version: IfMatchDep,
    who: Editor,
    project: ScopedProject,
) -> Answer[Targeting]:
    result = _flags.toggle(store, who.actor, project, env, key, body.on, version, body.comment)
    return _versioned(response, result)


# ------------------------------------------------------------------ segments


@router.get("/projects/{project}/environments/{env}/segments", summary="List segments")
def list_segments(
    env: Key, store: StoreDep, who: Viewer, project: ScopedProject
) -> Answer[list[Segment]]:
    return _segments.list_segments(store, project, env)


@router.post(
    "/projects/{project}/environments/{env}/segments",
    status_code=201,
    summary="Create a segment",
    responses=CREATED,
)
def create_segment(
    env: Key,
    body: SegmentCreate,
    store: StoreDep,
    response: Response,
    who: Editor,
    project: ScopedProject,
) -> Answer[Segment]:
    data = body.model_dump(exclude={"key", "comment"}, exclude_none=True)
    result, _ = _segments.put_segment(
        store, who.actor, project, env, body.key, data, None, create_only=True, comment=body.comment
    )
    return _versioned(response, result)


@router.get(
    "/projects/{project}/environments/{env}/segments/{key}",
    summary="Get a segment",
    responses=VERSIONED,
)
def get_segment(
    env: Key, key: Key, store: StoreDep, response: Response, who: Viewer, project: ScopedProject
) -> Answer[Segment]:
    return _versioned(response, _segments.get_segment(store, project, env, key))


@router.put(
    "/projects/{project}/environments/{env}/segments/{key}",
    summary="Create or replace a segment",
    responses=PUT,
)
def put_segment(
    env: Key,
    key: Key,
    body: SegmentIn,
    store: StoreDep,
    response: Response,
    version: IfMatchDep,
    who: Editor,
    project: ScopedProject,
) -> Answer[Segment]:
    data = body.model_dump(exclude={"comment"}, exclude_none=True)
    result, created = _segments.put_segment(
        store, who.actor, project, env, key, data, version, comment=body.comment
    )
    response.status_code = 201 if created else 200
    return _versioned(response, result)


@router.delete(
    "/projects/{project}/environments/{env}/segments/{key}",
    status_code=204,
    summary="Delete a segment no flag uses",
)
def delete_segment(
    env: Key, key: Key, store: StoreDep, who: Editor, project: ScopedProject
) -> Response:
    _segments.delete_segment(store, who.actor, project, env, key)
    return Response(status_code=204)


# ----------------------------------------------------- tokens, users, audit


@router.get("/tokens", summary="List API tokens (never their secrets)")
def list_tokens(store: StoreDep, who: Admin) -> Answer[list[Token]]:
    return _access.list_tokens(store, who.project_id)


@router.post(
    "/tokens",
    status_code=201,
    summary="Create an API token; its secret is shown once",
    responses=NO_PROJECT,
)
def create_token(body: TokenIn, store: StoreDep, who: Admin) -> Answer[NewToken]:
    if body.project is None:
        check_unscoped(who, "create tokens for every project")
    else:
        check_scope(store, who, body.project)
    return _access.create_token(store, who.actor, body.name, body.role, body.project)


@router.delete("/tokens/{token_id}", status_code=204, summary="Revoke an API token")
def revoke_token(token_id: RowId, store: StoreDep, who: Admin) -> Response:
    _access.revoke_token(store, who.actor, token_id, who.project_id)
    return Response(status_code=204)


@router.get("/users", summary="List users")
def list_users(store: StoreDep, who: Admin) -> Answer[list[User]]:
    check_unscoped(who, "manage users")
    return _access.list_users(store)


@router.post("/users", status_code=201, summary="Create a user")
def create_user(body: UserIn, store: StoreDep, who: Admin) -> Answer[User]:
    check_unscoped(who, "manage users")
    return _access.create_user(store, who.actor, body.username, body.password, body.role)


@router.patch("/users/{user_id}", summary="Change a user's role or password, or disable them")
def update_user(user_id: RowId, body: UserPatch, store: StoreDep, who: Admin) -> Answer[User]:
    check_unscoped(who, "manage users")
    return _access.update_user(store, who.actor, user_id, _set(body))


@router.delete("/users/{user_id}", status_code=204, summary="Delete a user")
def delete_user(user_id: RowId, store: StoreDep, who: Admin) -> Response:
    check_unscoped(who, "manage users")
    _access.delete_user(store, who.actor, user_id)
    return Response(status_code=204)


@router.get("/audit", summary="The audit log, newest first", responses=NO_PROJECT)
def audit(
    store: StoreDep,
    who: Viewer,
    project: TextFilter = None,
    flag: TextFilter = None,
    environment: TextFilter = None,
    actor: TextFilter = None,
    since: Annotated[Time, Query(description="From this time (UTC if naive)", **ISO)] = None,
    until: Annotated[Time, Query(description="Before this time (UTC if naive)", **ISO)] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: Offset = 0,
) -> Answer[AuditPage]:
    return _access.list_audit(
        store,
        # A token limited to a project sees that project's entries, whatever it asks.
        project=project if who.project_id is None else None,
        project_id=who.project_id,
        flag=flag,
        environment=environment,
        actor=actor,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
