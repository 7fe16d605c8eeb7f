"""Signing in and out."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from vexil.server._errors import TooManyRequests
from vexil.server._throttle import Throttle, client_address
from vexil.server.web._common import ViewerPost, redirect, render, store_of
from vexil.server.web._sessions import (
    COOKIE,
    LIFETIME,
    check_user,
    lookup,
    open_session,
    same_token,
    sign_out,
)

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


def _login_form(
    request: Request, next_url: str | None, error: str | None, status: int | None = None
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status or (401 if error else 200),
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
async def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Async, so that a sign-in waits for the password gate on the event loop (``_throttle``)."""
    expected = request.cookies.get(LOGIN_CSRF, "")
    if not expected or not same_token(expected, csrf):
        return _login_form(request, next, error="The form expired: please sign in again.")
    store, name = store_of(request), username.strip()
    throttle: Throttle = request.app.state.throttle
    try:
        user_id = await throttle.verify(
            client_address(request), name, lambda: check_user(store, name, password)
        )
    except TooManyRequests as exc:
        return _too_many(request, next, exc)
    if user_id is None:
        return _login_form(request, next, error="Wrong username or password.")
    token = await run_in_threadpool(open_session, store, user_id)
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


def _too_many(request: Request, next_url: str, exc: TooManyRequests) -> HTMLResponse:
    seconds = exc.headers["Retry-After"]
    error = f"Too many attempts to sign in: please try again in {seconds} seconds."
    response = _login_form(request, next_url, error=error, status=exc.status)
    response.headers.update(exc.headers)
    return response


@router.post("/logout")
def logout(request: Request, session: ViewerPost) -> Response:
    sign_out(store_of(request), request.cookies.get(COOKIE))
    response = redirect("/login")
    response.delete_cookie(COOKIE, path="/")
    return response
