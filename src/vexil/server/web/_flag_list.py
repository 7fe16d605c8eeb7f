"""The home page and each project's list of flags: search, filters, every environment's state.

A flag is marked stale when the selected environment has not evaluated it for
``stale_days`` days (7 unless the URL says otherwise), or when it was never evaluated
there and is older than that; ``state=stale`` shows only those.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vexil.server._flags import list_flags
from vexil.server._projects import list_environments, list_projects
from vexil.server.web._common import SessionDep, redirect, render, store_of
from vexil.server.web._forms import MAX_PAGE, clamped_number

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
#: A flag not evaluated for this many days (``?stale_days=N``) is marked stale.
STALE_DAYS = 7
MAX_STALE_DAYS = 3650


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
    page: str = "",
    stale_days: str = "",
) -> Response:
    """Filtered and paged by the database: a page costs about the same with 10,000 flags."""
    store = store_of(request)
    keys = [e["key"] for e in list_environments(store, project)]
    env_key = env if env in keys else (keys[0] if keys else "")
    days = clamped_number(stale_days, low=1, high=MAX_STALE_DAYS, default=STALE_DAYS)
    filters = {
        "q": q,
        "tag": tag,
        "state": state,
        "temporary": temporary,
        "env": env_key,
        "stale_days": str(days) if days != STALE_DAYS else "",
    }
    criteria: dict[str, Any] = {
        "query": q.strip() or None,
        "tag": tag.strip() or None,
        "search_tags": True,
        "env": env_key or None,
        "on": {"on": True, "off": False}.get(state),
        "temporary": {"yes": True, "no": False}.get(temporary),
        "stale_days": days,
        "stale_only": state == "stale",
    }
    number = clamped_number(page, low=1, high=MAX_PAGE, default=1)
    found = list_flags(store, project, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, **criteria)
    total: int = found["total"]
    pages = max(1, -(-total // PAGE_SIZE))
    if number > pages:  # past the end (the list shrank, or a hand-made URL): the last page
        number = pages
        found = list_flags(
            store, project, limit=PAGE_SIZE, offset=(number - 1) * PAGE_SIZE, **criteria
        )
        total = found["total"]

    def page_url(number: int) -> str:
        return f"?{urlencode({**{k: v for k, v in filters.items() if v}, 'page': number})}"

    return render(
        request,
        "flag_list.html",
        project=project,
        env=env_key,
        flags=found["items"],
        total=total,
        page=number,
        pages=pages,
        filters=filters,
        page_url=page_url,
        stale_days=days,
    )
