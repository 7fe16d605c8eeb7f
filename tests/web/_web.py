"""Helpers for the dashboard tests: signing in through the page, users with roles."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from playwright.sync_api import Page

from _services import ADMIN_PASSWORD, VexilServer

API = "/api/v1"
BOOL = {"on": True, "off": False}
#: The session's CSRF token, as every form of a page carries it.
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(page: Page, server: VexilServer, username: str = "admin", password: str = "") -> None:
    """Sign in through the sign-in form, as a person would."""
    page.goto(f"{server.base_url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password or ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login" not in url)


def admin_api(server: VexilServer) -> httpx.Client:
    """The admin API as the bootstrap admin (HTTP Basic)."""
    return server.admin()


def create_user(server: VexilServer, role: str) -> tuple[str, str]:
    """A new user with ``role``; returns (username, password)."""
    username, password = f"{role}-{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    with admin_api(server) as api:
        response = api.post(
            f"{API}/users", json={"username": username, "password": password, "role": role}
        )
        assert response.status_code == 201, response.text
    return username, password


def create_project(server: VexilServer) -> str:
    key = f"web-{uuid.uuid4().hex[:8]}"
    with admin_api(server) as api:
        response = api.post(f"{API}/projects", json={"key": key})
        assert response.status_code == 201, response.text
    return key


def create_flag(server: VexilServer, project: str, key: str, **fields: Any) -> None:
    with admin_api(server) as api:
        body = {"key": key, "variations": fields.pop("variations", BOOL), **fields}
        response = api.post(f"{API}/projects/{project}/flags", json=body)
        assert response.status_code == 201, response.text


@contextmanager
def dashboard(
    server: VexilServer, username: str = "admin", password: str = ""
) -> Iterator[tuple[httpx.Client, str]]:
    """An HTTP client signed in to the dashboard, and its session's CSRF token."""
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        form = client.get("/login")
        token = CSRF.search(form.text)
        assert token is not None
        response = client.post(
            "/login",
            data={
                "username": username,
                "password": password or ADMIN_PASSWORD,
                "csrf": token.group(1),
                "next": "/projects",
            },
        )
        assert response.status_code == 303, response.text
        page = client.get("/projects")
        csrf = CSRF.search(page.text)
        assert csrf is not None
        yield client, csrf.group(1)
