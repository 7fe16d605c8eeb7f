"""A project's environments with their SDK keys: creating one, revealing and rotating keys.

SDK keys are shown to admins only, as the admin API does, masked until revealed;
a page that shows a key is never cached. Rotating a key asks for confirmation and
says until when the old key keeps working.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vexil.server import _projects
from vexil.server._errors import ApiError, BadRequest
from vexil.server.web._common import AdminDep, AdminPost, FormDep, SessionDep, store_of
from vexil.server.web._forms import whole_number
from vexil.server.web._page_helpers import (
    Filled,
    FilledDep,
    check_length,
    done,
    fields,
    form_page,
    path,
    problem,
    show,
    when,
)

router = APIRouter(include_in_schema=False)

#: How long the old SDK key may keep working after a rotation: seconds and words.
OVERLAPS = (
    (0, "Immediately: the old key stops working now"),
    (3600, "After 1 hour"),
    (86400, "After 24 hours"),
    (7 * 86400, "After 7 days"),
)


def _mask(key: str) -> str:
    prefix = key[:7] if key.startswith("vx-") else ""
    return f"{prefix}{'•' * 12}{key[-4:]}"


@router.get("/projects/{project}/environments")
def environments_page(
    request: Request, session: SessionDep, project: str, filled: FilledDep, reveal: str = ""
) -> HTMLResponse:
    store = store_of(request)
    envs = _projects.list_environments(store, project)
    show_keys = session.can("admin")  # the admin API shows SDK keys to admins only
    rows = []
    for env in envs:
        keys: dict[str, Any] = {"server": None, "client": None}
        old: list[dict[str, Any]] = []
        if show_keys:
            for item in _projects.list_keys(store, project, env["key"]):
                view = {
                    **item,
                    "masked": _mask(item["key"]),
                    "expires": when(item["expires_at"]),
                    "ref": f"{env['key']}:{item['kind']}",
                    "revealed": reveal == f"{env['key']}:{item['kind']}",
                }
                if item["expires_at"] is None:
                    keys[item["kind"]] = view
                else:
                    old.append(view)
        rows.append({**env, "keys": keys, "old": old})
    context = {"project": project, "rows": rows, "show_keys": show_keys}
    return form_page(request, "environments.html", "environments", filled, secret=True, **context)


@router.post("/projects/{project}/environments")
def create_environment(
    request: Request, session: AdminPost, project: str, form: FormDep
) -> Response:
    key, name, production = fields(form, "key", "name", "production")
    values = {"key": key.strip(), "name": name.strip(), "production": production}
    try:
        check_length(values["name"], "name", 200)
        _projects.create_environment(
            store_of(request),
            session.principal.actor,
            project,
            {
                "key": values["key"],
                "name": values["name"] or None,
                "production": production == "yes",
            },
        )
    except ApiError as exc:
        filled = Filled.refused(values, exc)
        return environments_page(request, session, project, filled)
    return done(
        request,
        f"/projects/{path(project)}/environments",
        f"Environment {values['key']} created, with its own SDK keys; every flag is off in it.",
    )


@router.get("/projects/{project}/environments/{env}/rotate")
def rotate_page(
    request: Request, session: AdminDep, project: str, env: str, kind: str = "server"
) -> Response:
    return _rotate_page(request, project, env, kind, 3600, {})


def _rotate_page(
    request: Request,
    project: str,
    env: str,
    kind: str,
    overlap: int,
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    if kind not in ("server", "client"):
        raise BadRequest("there are server and client keys only", field="kind")
    environment = _projects.get_environment(store_of(request), project, env)
    return show(
        request,
        "admin_rotate.html",
        status=status,
        section="environments",
        project=project,
        environment=environment,
        kind=kind,
        overlap=overlap,
        overlaps=OVERLAPS,
        errors=errors,
    )


@router.post("/projects/{project}/environments/{env}/rotate")
def rotate_key(
    request: Request, session: AdminPost, project: str, env: str, form: FormDep
) -> Response:
    kind, overlap, confirm = fields(form, "kind", "overlap", "confirm")
    seconds = whole_number(overlap)
    if confirm != "yes":
        errors = {"confirm": "Tick the box to confirm the rotation."}
        return _rotate_page(request, project, env, kind, seconds or 0, errors, 400)
    try:
        if seconds is None:
            raise BadRequest("the overlap is not a number of seconds", field="overlap")
        _projects.rotate_key(
            store_of(request), session.principal.actor, project, env, kind, seconds
        )
    except ApiError as exc:
        errors = problem(exc, ("overlap", "kind"), {"overlap_seconds": "overlap"})
        if "overlap" in errors:
            errors["overlap"] = "Choose when the old key stops working: now, or up to 30 days."
        return _rotate_page(request, project, env, kind, seconds or 0, errors, exc.status)
    if seconds == 0:
        old = "The old key has stopped working."
    else:
        until = datetime.now(UTC) + timedelta(seconds=seconds)
        old = f"The old key keeps working until {when(until.isoformat())}."
    return done(
        request,
        f"/projects/{path(project)}/environments?reveal={path(env)}:{kind}#env-{path(env)}",
        f"New {kind} key for {env}: it is shown below. {old}",
    )
