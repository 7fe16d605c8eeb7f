"""The dashboard, served by ``vexil serve`` at ``/``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from vexil.server.web import (
    _admin_pages,
    _auth_pages,
    _flag_list,
    _flag_pages,
    _insights_pages,
)
from vexil.server.web._common import (
    STATIC,
    SignInRequired,
    api_error_page,
    error_page,
    sign_in_redirect,
    wants_html,
)

__all__ = ["api_error_page", "error_page", "install", "wants_html"]


def install(app: FastAPI) -> None:
    """Add the dashboard's pages and static files to the server's application."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (_auth_pages, _flag_list, _flag_pages, _admin_pages, _insights_pages):
        app.include_router(module.router)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, exc: SignInRequired) -> Response:
        return sign_in_redirect(exc.next_url)
