"""Every admin route of a project takes it through the scope dependency, so that a token
limited to one project can reach no other, even through a route added later."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from vexil.server._app import create_app
from vexil.server._deps import scoped_project
from vexil.server._settings import Settings

PROJECT_ROUTES = "/api/v1/projects/{project}"


def calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from calls(sub)


def test_every_route_of_a_project_depends_on_its_scope() -> None:
    app = create_app(Settings.load({}, environ={}))
    # The routers' routes, with the paths the app serves them at (prefix included).
    routes = [
        (context.path or "", context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute)
    ]
    scoped = [(path, route) for path, route in routes if path.startswith(PROJECT_ROUTES)]
    assert len(scoped) >= 25
    unscoped = [
        f"{sorted(route.methods or ())} {path}"
        for path, route in scoped
        if scoped_project not in set(calls(route.dependant))
    ]
    assert unscoped == []
