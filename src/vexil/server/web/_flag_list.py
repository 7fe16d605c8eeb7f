"""The home page and each project's list of flags: search, filters, every environment's state."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vexil.server._flags import list_flags
from vexil.server._projects import list_environments, list_projects
from vexil.server.web._common import SessionDep, redirect, render, store_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/")
def home(request: Request, session: SessionDep) -> Response:
    projects = list_projects(store_of(request))
    if not projects:
        return render(request, "no_projects.html")
    return redirect(f"/projects/{projects[0]['key']}/flags")


@router.get("/go")
def go(session: SessionDep, project: str = "") -> Response:
    """The project picker's target (it submits itself when JavaScript runs)."""
    return redirect(f"/projects/{quote(project, safe='')}/flags" if project else "/")


@router.get("/projects/{project}/flags")
def flag_list(
    request: Request,
    session: SessionDep,
    project: str,
    q: str = "",
    tag: str = "",
    state: str = "",
    temporary: str = "",
    env: str = "",
    page: int = 1,
) -> Response:
    store = store_of(request)
    environments = list_environments(store, project)
    env_key = env or (environments[0]["key"] if environments else "")
    page = max(page, 1)
    # The state and temporary filters need every match: filter, then page.
    found = list_flags(
        store, project, query=q.strip() or None, tag=tag.strip() or None, limit=10**9
    )
    items: list[dict[str, Any]] = found["items"]
    if state in ("on", "off") and env_key:
        items = [f for f in items if f["on"].get(env_key, False) == (state == "on")]
    if temporary in ("yes", "no"):
        items = [f for f in items if f["temporary"] == (temporary == "yes")]
    total = len(items)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(page, pages)
    shown = items[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    filters = {"q": q, "tag": tag, "state": state, "temporary": temporary, "env": env_key}

    def page_url(number: int) -> str:
        return f"?{urlencode({**{k: v for k, v in filters.items() if v}, 'page': number})}"

    return render(
        request,
        "flag_list.html",
        project=project,
        env=env_key,
        flags=shown,
        total=total,
        page=page,
        pages=pages,
        filters=filters,
        page_url=page_url,
    )
