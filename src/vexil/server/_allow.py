"""The ``Allow`` header of 405 answers: every method of every route at the path.

Each FastAPI route has one method, so a path with ``GET``, ``PATCH`` and
``DELETE`` is three routes; Starlette answers a 405 from the first route whose
path matched and lists that route's methods only (``Allow: GET``), which tells a
client that ``PATCH`` does not exist. The app's 405 is answered here instead, with
the methods of all the routes whose path matches, whatever page or JSON the
app's own handler makes of the error.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.types import Scope

__all__ = ["allowed_methods", "install"]

#: The order methods are listed in; any other comes after these, alphabetically.
ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def install(app: FastAPI) -> None:
    """Give the app's 405 answers a complete ``Allow`` (install after its error handlers)."""
    answer: Any = app.exception_handlers.get(HTTPException, http_exception_handler)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        response: Response = await answer(request, exc)
        if isinstance(exc, HTTPException) and exc.status_code == 405:
            methods = allowed_methods(app, request.scope)
            if methods:
                response.headers["Allow"] = ", ".join(methods)
        return response

    app.exception_handlers[HTTPException] = method_not_allowed


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods of every route of ``app`` whose path matches the request's."""
    path = _route_path(scope)
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        regex, route_methods = getattr(route, "path_regex", None), route.methods
        if regex is not None and route_methods and regex.match(path):
            methods |= route_methods
    return sorted(methods, key=lambda m: (ORDER.index(m) if m in ORDER else len(ORDER), m))


def _route_path(scope: Scope) -> str:
    """The path routes match: without the ``root_path`` the app is mounted at."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path
