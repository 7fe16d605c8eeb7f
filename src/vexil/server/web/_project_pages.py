"""The projects page: every project, and a form to create one (admins)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from vexil.server import _projects
from vexil.server._errors import ApiError
from vexil.server.web._common import AdminPost, FormDep, SessionDep, store_of
from vexil.server.web._page_helpers import (
    Filled,
    FilledDep,
    check_length,
    done,
    environment_keys,
    fields,
    form_page,
)

router = APIRouter(include_in_schema=False)


@router.get("/projects")
def projects_page(request: Request, session: SessionDep, filled: FilledDep) -> HTMLResponse:
    items = _projects.list_projects(store_of(request))
    return form_page(request, "projects.html", "projects", filled, items=items)


@router.post("/projects")
def create_project(request: Request, session: AdminPost, form: FormDep) -> Response:
    key, name, description = fields(form, "key", "name", "description")
    values = {"key": key.strip(), "name": name.strip(), "description": description.strip()}
    try:
        check_length(values["name"], "name", 200)
        created = _projects.create_project(
            store_of(request),
            session.principal.actor,
            values["key"],
            values["name"] or None,
            values["description"],
        )
    except ApiError as exc:
        return projects_page(request, session, Filled.refused(values, exc))
    envs = ", ".join(environment_keys(store_of(request), created["key"]))
    return done(request, "/projects", f"Project {created['key']} created, with {envs}.")
