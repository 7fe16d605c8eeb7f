"""Signing in and out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from vexil.server.web._common import SessionDep, check_csrf, redirect, render, store_of
from vexil.server.web._sessions import COOKIE, LIFETIME, lookup, sign_in, sign_out

router = APIRouter(include_in_schema=False)

#: Signing in has no session yet: a double-submit token guards the form instead.
LOGIN_CSRF = "vexil_login_csrf"


def _safe_next(next_url: str | None) -> str:
    """Only paths on this server: never an open redirect to another site."""
    if next_url and next_url.startswith("/") and not next_url.startswith("//"):
        return next_url
    return "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    if lookup(store_of(request), request.cookies.get(COOKIE)) is not None:
        return redirect(_safe_next(next))
    return _login_form(request, next, error=None)


def _login_form(request: Request, next_url: str | None, error: str | None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=401 if error else 200,
        login_csrf=token,
        next=_safe_next(next_url),
        error=error,
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=_https(request), path="/login"
    )
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not secrets.compare_digest(expected, csrf):
        return _login_form(request, next, error="The form expired: please sign in again.")
    token = sign_in(store_of(request), username.strip(), password)
    if token is None:
        return _login_form(request, next, error="Wrong username or password.")
    response = redirect(_safe_next(next))
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_https(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(session, csrf)
    sign_out(store_of(request), request.cookies.get(COOKIE))
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response
