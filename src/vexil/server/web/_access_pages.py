"""Who may use Vexil (admins): the API tokens in use and the dashboard's users.

A token's secret is shown once, when it is created. An admin cannot change their own
role, disable or delete themselves: another admin must, so that a dashboard always
keeps one admin who can sign in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from vexil.server import _access
from vexil.server._errors import ApiError, BadRequest, Forbidden, NotFound
from vexil.server._store import Store
from vexil.server.web._common import AdminDep, AdminPost, FormDep, store_of
from vexil.server.web._forms import whole_number
from vexil.server.web._page_helpers import (
    ROLE_CHOICES,
    Filled,
    FilledDep,
    done,
    fields,
    form_page,
    problem,
    show,
    text_field,
    when,
)
from vexil.server.web._sessions import Session

router = APIRouter(include_in_schema=False)


@router.get("/tokens")
def tokens_page(request: Request, session: AdminDep, filled: FilledDep) -> HTMLResponse:
    items = [
        {**t, "created": when(t["created_at"]), "used": when(t["last_used_at"])}
        for t in _access.list_tokens(store_of(request))
    ]
    return form_page(request, "tokens.html", "tokens", filled, items=items, roles=ROLE_CHOICES)


@router.post("/tokens")
def create_token(request: Request, session: AdminPost, form: FormDep) -> Response:
    name, role, project = fields(form, "name", "role", "project")
    values = {"name": name.strip(), "role": role, "project": project}
    try:
        created = _access.create_token(
            store_of(request), session.principal.actor, values["name"], role, project or None
        )
    except ApiError as exc:
        return tokens_page(request, session, Filled.refused(values, exc))
    return show(request, "admin_token_created.html", secret=True, section="tokens", token=created)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(request: Request, session: AdminPost, token_id: str) -> Response:
    number = whole_number(token_id)
    token = None
    if number is not None:
        with suppress(NotFound):
            token = _access.get_token(store_of(request), number)
    if number is None or token is None:
        raise NotFound("there is no such token, or it was revoked already", field="token")
    _access.revoke_token(store_of(request), session.principal.actor, number)
    return done(request, "/tokens", f"Token {token['name']} revoked: it no longer opens the API.")


@router.get("/users")
def users_page(request: Request, session: AdminDep, filled: FilledDep) -> HTMLResponse:
    items = [{**u, "created": when(u["created_at"])} for u in _access.list_users(store_of(request))]
    return form_page(request, "users.html", "users", filled, items=items, roles=ROLE_CHOICES)


@router.post("/users")
def create_user(request: Request, session: AdminPost, form: FormDep) -> Response:
    username, password, role = fields(form, "username", "password", "role")
    values = {"username": username.strip(), "password": "", "role": role}
    try:
        if len(password) > 1000:
            raise BadRequest("a password has at most 1000 characters", field="password")
        created = _access.create_user(
            store_of(request), session.principal.actor, values["username"], password, role
        )
    except ApiError as exc:
        return users_page(request, session, Filled.refused(values, exc))
    return done(
        request,
        "/users",
        f"User {created['username']} created as {created['role']}: they can sign in now.",
    )


def _user(store: Store, user_id: str) -> Mapping[str, Any]:
    number = whole_number(user_id)
    if number is not None:
        with suppress(NotFound):
            return _access.get_user(store, number)
    raise NotFound("there is no such user", field="user")


@router.get("/users/{user_id}")
def user_page(request: Request, session: AdminDep, user_id: str) -> Response:
    return _user_page(request, session, _user(store_of(request), user_id), {})


def _user_page(
    request: Request,
    session: Session,
    user: Mapping[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    return show(
        request,
        "admin_user.html",
        status=status,
        section="users",
        user={**user, "created": when(user["created_at"])},
        yourself=user["id"] == session.user_id,
        roles=ROLE_CHOICES,
        errors=errors,
    )


#: A change to a user: (store, actor, the user, the form) -> the notice it leaves.
Change = Callable[[Store, str, Mapping[str, Any], FormData], str]


def _change_user(
    request: Request, session: Session, user_id: str, form: FormData, field: str, change: Change
) -> Response:
    """Apply ``change`` to a user, refused on oneself but for a password, with its
    error beside the form's ``field``."""
    store = store_of(request)
    user = _user(store, user_id)
    try:
        if user["id"] == session.user_id and field != "password":
            raise Forbidden(
                "you cannot change your own role, disable or delete yourself: ask another admin"
            )
        notice = change(store, session.principal.actor, user, form)
    except ApiError as exc:
        errors = problem(exc, (field,))
        return _user_page(request, session, user, errors, exc.status)
    if field == "delete":
        return done(request, "/users", notice)
    return done(request, f"/users/{user['id']}", notice)


def _user_change(field: str) -> Callable[[Change], Change]:
    """Serve the change it decorates at ``POST /users/{id}/<field>``."""

    def serve(change: Change) -> Change:
        def page(request: Request, session: AdminPost, user_id: str, form: FormDep) -> Response:
            return _change_user(request, session, user_id, form, field, change)

        router.post(f"/users/{{user_id}}/{field}", name=f"user_{field}")(page)
        return change

    return serve


@_user_change("role")
def _new_role(store: Store, actor: str, user: Mapping[str, Any], form: FormData) -> str:
    role = text_field(form, "role")
    _access.update_user(store, actor, user["id"], {"role": role})
    return f"{user['username']} is now {'a' if role == 'viewer' else 'an'} {role}."


@_user_change("password")
def _new_password(store: Store, actor: str, user: Mapping[str, Any], form: FormData) -> str:
    password = text_field(form, "password")
    if len(password) > 1000:
        raise BadRequest("a password has at most 1000 characters", field="password")
    _access.update_user(store, actor, user["id"], {"password": password})
    return f"New password set for {user['username']}."


@_user_change("disabled")
def _disable(store: Store, actor: str, user: Mapping[str, Any], form: FormData) -> str:
    off = text_field(form, "disabled") == "yes"
    _access.update_user(store, actor, user["id"], {"disabled": off})
    if off:
        return f"{user['username']} is disabled: they are signed out and cannot sign in."
    return f"{user['username']} is enabled again: they can sign in."


@_user_change("delete")
def _delete(store: Store, actor: str, user: Mapping[str, Any], form: FormData) -> str:
    if text_field(form, "confirm") != "yes":
        raise BadRequest("tick the box to confirm", field="delete")
    _access.delete_user(store, actor, user["id"])
    return f"User {user['username']} deleted."
