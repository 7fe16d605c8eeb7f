"""Small helpers for the admin API tests: clients with tokens, URLs and checks.

The admin tests talk to the session servers through API tokens rather than HTTP
Basic: Basic runs an argon2 check on every request (about a tenth of a second),
which would dominate the suite.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from _services import VexilServer

BOOL = {"on": True, "off": False}
API = "/api/v1"

#: An admin token per server (by database, which no two servers share).
_root_tokens: dict[str, str] = {}


def create_token(client: httpx.Client, role: str, project: str | None = None) -> str:
    body: dict[str, Any] = {"name": f"t-{uuid.uuid4().hex[:8]}", "role": role}
    if project is not None:
        body["project"] = project
    response = client.post(f"{API}/tokens", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


def bearer(server: VexilServer, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15
    )


def root_client(server: VexilServer) -> httpx.Client:
    """An admin client for ``server``, with one admin token per server for the session."""
    token = _root_tokens.get(server.database_url)
    if token is None:
        with server.admin() as basic:
            token = create_token(basic, "admin")
        _root_tokens[server.database_url] = token
    return bearer(server, token)


def new_project(client: httpx.Client) -> str:
    key = f"p-{uuid.uuid4().hex[:10]}"
    response = client.post(f"{API}/projects", json={"key": key})
    assert response.status_code == 201, response.text
    return key


def flags_url(project: str, key: str = "") -> str:
    return f"{API}/projects/{project}/flags" + (f"/{key}" if key else "")


def targeting_url(project: str, key: str, env: str = "development") -> str:
    return f"{API}/projects/{project}/environments/{env}/flags/{key}"


def segments_url(project: str, env: str = "development", key: str = "") -> str:
    return f"{API}/projects/{project}/environments/{env}/segments" + (f"/{key}" if key else "")


def create_flag(
    client: httpx.Client, project: str, key: str = "f", **fields: Any
) -> dict[str, Any]:
    body = {"key": key, "variations": BOOL, **fields}
    response = client.post(flags_url(project), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def create_on(
    client: httpx.Client,
    project: str,
    key: str,
    variations: dict[str, Any],
    *,
    client_side: bool = False,
    metadata: dict[str, Any] | None = None,
    **targeting: Any,
) -> None:
    """A flag, on in every environment unless ``targeting`` says otherwise."""
    body = {
        "key": key,
        "variations": variations,
        "client_side": client_side,
        "metadata": metadata or {},
        "targeting": {"on": True, **targeting},
    }
    response = client.post(flags_url(project), json=body)
    assert response.status_code == 201, response.text


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error object of a JSON error response, after checking its status and shape."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert {"code", "message", "field"} <= set(error), error
    assert isinstance(error["message"], str)
    assert error["message"]
    return dict(error)


def etag(response: httpx.Response) -> int:
    """The version an ``ETag`` header names; it must equal the body's ``version``."""
    value = int(response.headers["ETag"].strip('"'))
    assert value == response.json()["version"]
    return value
