"""Every form the dashboard accepts goes through the one form dependency (session, CSRF
token, role), so that a page added later cannot forget one of the three."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from vexil.server.web import PAGES

#: The one form that is posted before there is a session to check.
SIGN_IN = "/login"


def calls(dependant: Dependant) -> Iterator[object]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from calls(sub)


def form_checked(route: APIRoute) -> bool:
    return any(
        getattr(call, "__qualname__", "") == "form_post.<locals>.check"
        for call in calls(route.dependant)
    )


def dashboard_posts() -> list[APIRoute]:
    """The POST routes of every page module the dashboard installs."""
    return [
        route
        for module in PAGES
        for route in module.router.routes
        if isinstance(route, APIRoute) and "POST" in (route.methods or ())
    ]


def test_every_form_post_checks_session_csrf_and_role() -> None:
    posts = dashboard_posts()
    assert len(posts) >= 20
    unchecked = [route.path for route in posts if route.path != SIGN_IN and not form_checked(route)]
    assert unchecked == []


def test_the_sign_in_form_is_the_only_post_without_a_session() -> None:
    paths = {route.path for route in dashboard_posts() if not form_checked(route)}
    assert paths == {SIGN_IN}
