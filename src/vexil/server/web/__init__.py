"""The dashboard, served by ``vexil serve`` at ``/``."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp

from vexil.server.web import (
    _access_pages,
    _audit_pages,
    _auth_pages,
    _environment_pages,
    _flag_list,
    _flag_pages,
    _history_pages,
    _insights_pages,
    _new_flag_pages,
    _project_pages,
    _segment_pages,
)
from vexil.server.web._common import (
    STATIC,
    SignInRequired,
    api_error_page,
    error_page,
    sign_in_redirect,
    wants_html,
)
from vexil.server.web._forms import refuse_nul
from vexil.server.web._headers import SecurityHeaders

__all__ = ["api_error_page", "error_page", "install", "secured", "wants_html"]

#: The dashboard's pages, in the order their routes are matched: ``/flags/new``
#: before ``/flags/{key}``.
PAGES = (
    _auth_pages,
    _flag_list,
    _new_flag_pages,
    _flag_pages,
    _project_pages,
    _history_pages,
    _audit_pages,
    _segment_pages,
    _environment_pages,
    _access_pages,
    _insights_pages,
)


def secured(app: FastAPI, inner: ASGIApp) -> ASGIApp:
    """``inner`` (the whole application, error handling included) with the security
    headers on every answer, the last-resort 500 too (``app.state.settings`` is set)."""
    docs = (app.docs_url, app.swagger_ui_oauth2_redirect_url)
    return SecurityHeaders(
        inner,
        hsts_seconds=app.state.settings.hsts_seconds,
        docs_paths=[path for path in docs if path],
    )


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and static files to the server's application."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in PAGES:
        app.include_router(module.router, dependencies=[Depends(refuse_nul)])

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc.next_url)
