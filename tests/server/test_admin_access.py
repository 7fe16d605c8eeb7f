"""API tokens, users, roles and project scopes, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _admin_api import (
    API,
    BOOL,
    bearer,
    create_flag,
    create_token,
    error_of,
    flags_url,
    new_project,
    segments_url,
    targeting_url,
)

from _services import VexilServer, sdk_key

PUBLIC = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture
def as_role(server: VexilServer, api: httpx.Client) -> Iterator[Callable[..., httpx.Client]]:
    """Clients with a token of a role (and optionally a project), closed after the test."""
    clients: list[httpx.Client] = []

    def make(role: str, project: str | None = None) -> httpx.Client:
        client = bearer(server, create_token(api, role, project))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def username() -> str:
    return f"u-{uuid.uuid4().hex[:8]}"


# -------------------------------------------------------------------- tokens


def test_a_created_token_works_as_bearer(server: VexilServer, api: httpx.Client) -> None:
    created = api.post(f"{API}/tokens", json={"name": "ci deploys", "role": "editor"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["token"].startswith("vx-api-")
    assert (body["name"], body["role"], body["project"]) == ("ci deploys", "editor", None)
    assert body["token"].startswith(body["prefix"])
    with bearer(server, body["token"]) as client:
        assert client.get(f"{API}/projects").status_code == 200
    listed = next(t for t in api.get(f"{API}/tokens").json() if t["id"] == body["id"])
    assert listed["last_used_at"] is not None


def test_the_token_list_never_holds_a_secret(api: httpx.Client) -> None:
    secret = create_token(api, "viewer")
    response = api.get(f"{API}/tokens")
    assert response.status_code == 200
    assert secret not in response.text
    assert all("token" not in t for t in response.json())
    assert all(len(t["prefix"]) < len(secret) for t in response.json())


def test_a_revoked_token_gets_401(server: VexilServer, api: httpx.Client) -> None:
    created = api.post(f"{API}/tokens", json={"name": "short-lived", "role": "admin"}).json()
    with bearer(server, created["token"]) as client:
        assert client.get(f"{API}/tokens").status_code == 200
        assert api.delete(f"{API}/tokens/{created['id']}").status_code == 204
        error = error_of(client.get(f"{API}/projects"), 401)
        assert error["code"] == "unauthorized"
    assert created["id"] not in [t["id"] for t in api.get(f"{API}/tokens").json()]
    assert error_of(api.delete(f"{API}/tokens/{created['id']}"), 404)["field"] == "token"


@pytest.mark.parametrize(
    "header", ["Bearer vx-api-not-a-token", "Bearer", "Basic !!!", "Token abc", "Basic YWRtaW4="]
)
def test_bad_credentials_get_401(server: VexilServer, header: str) -> None:
    response = httpx.get(f"{server.base_url}{API}/projects", headers={"Authorization": header})
    assert error_of(response, 401)["code"] == "unauthorized"


@pytest.mark.slow
def test_tokens_and_secrets_are_stored_hashed(new_server: Callable[..., VexilServer]) -> None:
    """Read the SQLite files themselves: the secret is nowhere, its SHA-256 is."""
    import hashlib

    instance = new_server()
    with instance.admin() as basic:
        secret = create_token(basic, "admin")
        assert basic.get(f"{API}/tokens").is_success
    instance.stop()
    path = Path(instance.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as conn:
        dump = "\n".join(conn.iterdump())
        hashes = [row[0] for row in conn.execute("SELECT token_hash FROM api_tokens")]
    conn.close()
    assert secret not in dump
    assert hashlib.sha256(secret.encode()).hexdigest() in hashes
    files = [p for p in path.parent.glob(path.name + "*") if p.is_file()]
    assert path in files
    for file in files:
        assert secret.encode() not in file.read_bytes(), file


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "role": "owner"}, "role"),
        ({"name": "", "role": "viewer"}, "name"),
        ({"role": "viewer"}, "name"),
        ({"name": "x", "role": "viewer", "expires": 1}, "expires"),
    ],
)
def test_a_bad_token_request_is_refused(
    api: httpx.Client, body: dict[str, Any], field: str
) -> None:
    before = len(api.get(f"{API}/tokens").json())
    assert error_of(api.post(f"{API}/tokens", json=body), 422)["field"] == field
    assert len(api.get(f"{API}/tokens").json()) == before


def test_a_token_for_an_unknown_project_is_refused(api: httpx.Client) -> None:
    body = {"name": "x", "role": "viewer", "project": "no-such-project"}
    assert error_of(api.post(f"{API}/tokens", json=body), 404)["field"] == "project"


def test_a_token_name_fits_in_the_audit_trail(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    """Writes are recorded as by "token:" and the name, which must fit the audit log."""
    error = error_of(api.post(f"{API}/tokens", json={"name": "n" * 101, "role": "editor"}), 422)
    assert error["field"] == "name"
    created = api.post(f"{API}/tokens", json={"name": "n" * 100, "role": "editor"})
    assert created.status_code == 201, created.text
    with bearer(server, created.json()["token"]) as client:
        response = client.post(flags_url(project), json={"key": "f", "variations": BOOL})
    assert response.status_code == 201, response.text
    entry = api.get(f"{API}/audit", params={"project": project, "flag": "f"}).json()["items"][0]
    assert entry["actor"] == "token:" + "n" * 100


# --------------------------------------------------------------------- users


def test_a_user_is_created_and_signs_in_with_basic(server: VexilServer, api: httpx.Client) -> None:
    name = username()
    created = api.post(
        f"{API}/users", json={"username": name, "password": "correct horse", "role": "viewer"}
    )
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["username"], user["role"], user["disabled"]) == (name, "viewer", False)
    assert "password" not in created.text
    assert name in [u["username"] for u in api.get(f"{API}/users").json()]
    with httpx.Client(base_url=server.base_url, auth=(name, "correct horse")) as client:
        assert client.get(f"{API}/projects").status_code == 200
        assert error_of(client.post(f"{API}/projects", json={"key": "nope"}), 403)
    wrong = httpx.get(f"{server.base_url}{API}/projects", auth=(name, "wrong horse"))
    assert error_of(wrong, 401)["code"] == "unauthorized"
    again = {"username": name, "password": "another one", "role": "admin"}
    assert error_of(api.post(f"{API}/users", json=again), 409)["field"] == "username"


def test_a_user_is_changed_disabled_and_deleted(server: VexilServer, api: httpx.Client) -> None:
    name = username()
    user = api.post(
        f"{API}/users", json={"username": name, "password": "first password", "role": "viewer"}
    ).json()
    url = f"{API}/users/{user['id']}"
    changed = api.patch(url, json={"role": "editor", "password": "second password"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "editor"
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        old = client.get(f"{API}/projects", auth=(name, "first password"))
        assert old.status_code == 401
        new = client.get(f"{API}/projects", auth=(name, "second password"))
        assert new.status_code == 200
        assert api.patch(url, json={"disabled": True}).json()["disabled"] is True
        disabled = client.get(f"{API}/projects", auth=(name, "second password"))
        assert disabled.status_code == 401
        assert api.delete(url).status_code == 204
        assert name not in [u["username"] for u in api.get(f"{API}/users").json()]
        assert error_of(api.delete(url), 404)["field"] == "user"
        assert error_of(api.patch(url, json={"role": "viewer"}), 404)["field"] == "user"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": "short", "role": "viewer"}, "password"),
        ({"password": "long enough", "role": "root"}, "role"),
        ({"password": "long enough"}, "role"),
    ],
)
def test_a_bad_user_is_refused(api: httpx.Client, body: dict[str, Any], field: str) -> None:
    name = username()
    error = error_of(api.post(f"{API}/users", json={"username": name, **body}), 422)
    assert error["field"] == field
    assert name not in [u["username"] for u in api.get(f"{API}/users").json()]


# --------------------------------------------------------------------- roles


def writes(project: str) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """One request for each kind of write, all valid for an admin on ``project`` in this
    order, with whether it needs the admin role."""
    env = f"{API}/projects/{project}/environments"
    user = {"username": username(), "password": "12345678", "role": "viewer"}
    promotion = {"source": "development", "target": "qa"}
    return [
        ("POST", f"{API}/projects", {"key": f"p-{uuid.uuid4().hex[:10]}"}, True),
        ("PATCH", f"{API}/projects/{project}", {"name": "renamed"}, True),
        ("POST", env, {"key": "qa"}, True),
        ("PATCH", f"{env}/development", {"name": "Dev"}, True),
        ("POST", f"{env}/development/keys/rotate", {"kind": "server"}, True),
        ("POST", flags_url(project), {"key": "g", "variations": BOOL}, False),
        ("PATCH", flags_url(project, "f"), {"description": "changed"}, False),
        ("PUT", targeting_url(project, "f"), {"on": True}, False),
        ("POST", f"{targeting_url(project, 'f')}/toggle", {"on": False}, False),
        ("POST", f"{flags_url(project, 'f')}/promote", promotion, False),
        ("POST", segments_url(project), {"key": "s2", "included": ["u-1"]}, False),
        ("PUT", segments_url(project, key="s"), {"excluded": ["u-2"]}, False),
        ("DELETE", segments_url(project, key="s"), None, False),
        ("DELETE", flags_url(project, "f"), None, False),
        ("POST", f"{API}/tokens", {"name": "t", "role": "viewer"}, True),
        ("POST", f"{API}/users", user, True),
        ("DELETE", f"{env}/qa", None, True),
        ("DELETE", f"{API}/projects/{project}", None, True),
    ]


def seed(api: httpx.Client, project: str) -> None:
    create_flag(api, project, "f")
    assert api.post(segments_url(project), json={"key": "s"}).status_code == 201


def reads(project: str) -> list[str]:
    env = f"{API}/projects/{project}/environments/development"
    return [
        f"{API}/projects",
        f"{API}/projects/{project}",
        f"{API}/projects/{project}/environments",
        env,
        flags_url(project),
        flags_url(project, "f"),
        targeting_url(project, "f"),
        segments_url(project),
        segments_url(project, key="s"),
        f"{API}/audit",
    ]


def test_a_viewer_reads_everything_and_changes_nothing(
    api: httpx.Client, as_role: Callable[..., httpx.Client], project: str
) -> None:
    seed(api, project)
    viewer = as_role("viewer")
    for url in reads(project):
        assert viewer.get(url).status_code == 200, url
    before = api.get(flags_url(project, "f")).json()
    for method, url, body, _ in writes(project):
        error = error_of(viewer.request(method, url, json=body), 403)
        assert error["code"] == "forbidden", (method, url)
        assert "viewer" in error["message"]
    assert api.get(flags_url(project, "f")).json() == before
    assert api.get(f"{API}/projects/{project}").json()["name"] == project
    # Secrets are for admins: SDK keys, tokens and users.
    for secret in ("/tokens", "/users", f"/projects/{project}/environments/development/keys"):
        error_of(viewer.get(f"{API}{secret}"), 403)


def test_an_editor_changes_flags_but_not_access(
    api: httpx.Client, as_role: Callable[..., httpx.Client], project: str
) -> None:
    seed(api, project)
    # The promotion's target environment; only an admin can create it.
    assert api.post(f"{API}/projects/{project}/environments", json={"key": "qa"}).is_success
    editor = as_role("editor")
    tokens = len(api.get(f"{API}/tokens").json())
    for method, url, body, needs_admin in writes(project):
        response = editor.request(method, url, json=body)
        if needs_admin:
            assert error_of(response, 403)["code"] == "forbidden", (method, url)
        else:
            assert response.is_success, (method, url, response.text)
    assert api.get(flags_url(project, "g")).json()["key"] == "g"
    assert api.get(f"{API}/projects/{project}").json()["name"] == project
    assert len(api.get(f"{API}/tokens").json()) == tokens


def test_an_admin_does_everything(
    api: httpx.Client, as_role: Callable[..., httpx.Client], project: str
) -> None:
    seed(api, project)
    admin = as_role("admin")
    for method, url, body, _ in writes(project):
        response = admin.request(method, url, json=body)
        assert response.is_success, (method, url, response.text)
    error_of(api.get(f"{API}/projects/{project}"), 404)


def test_a_project_token_sees_and_changes_only_its_project(
    api: httpx.Client, as_role: Callable[..., httpx.Client], project: str
) -> None:
    other = new_project(api)
    seed(api, project)
    seed(api, other)
    scoped = as_role("admin", project)
    assert [p["key"] for p in scoped.get(f"{API}/projects").json()] == [project]
    for url in reads(project):
        assert scoped.get(url).status_code == 200, url
    for url in reads(other)[1:-1]:
        assert error_of(scoped.get(url), 403)["code"] == "forbidden", url
    before = api.get(flags_url(other, "f")).json()
    for method, url, body, _ in writes(other):
        if f"/projects/{other}" in url:
            assert error_of(scoped.request(method, url, json=body), 403), (method, url)
    assert api.get(flags_url(other, "f")).json() == before
    assert api.get(f"{API}/projects/{other}").json()["name"] == other
    assert scoped.put(targeting_url(project, "f"), json={"on": True}).is_success
    audit = scoped.get(f"{API}/audit").json()["items"]
    assert "f" in {entry["key"] for entry in audit}
    assert other not in str(audit)
    assert scoped.get(f"{API}/audit", params={"project": other}).json()["items"] == audit


def test_a_project_token_cannot_reach_beyond_its_project(
    server: VexilServer, api: httpx.Client, as_role: Callable[..., httpx.Client], project: str
) -> None:
    """An admin limited to a project creates no projects, global tokens or users."""
    scoped = as_role("admin", project)
    error_of(scoped.post(f"{API}/projects", json={"key": f"p-{uuid.uuid4().hex[:8]}"}), 403)
    error_of(scoped.post(f"{API}/tokens", json={"name": "escape", "role": "admin"}), 403)
    other = new_project(api)
    body = {"name": "escape", "role": "admin", "project": other}
    error_of(scoped.post(f"{API}/tokens", json=body), 403)
    user = {"username": username(), "password": "12345678", "role": "admin"}
    error_of(scoped.post(f"{API}/users", json=user), 403)
    error_of(scoped.get(f"{API}/users"), 403)
    # Its own project's tokens it may manage, and it sees no others.
    own = scoped.post(f"{API}/tokens", json={"name": "mine", "role": "viewer", "project": project})
    assert own.status_code == 201, own.text
    listed = scoped.get(f"{API}/tokens").json()
    assert {t["project"] for t in listed} == {project}
    global_token = next(t for t in api.get(f"{API}/tokens").json() if t["project"] is None)
    error_of(scoped.delete(f"{API}/tokens/{global_token['id']}"), 403)
    assert global_token in api.get(f"{API}/tokens").json()
    with bearer(server, own.json()["token"]) as client:
        assert [p["key"] for p in client.get(f"{API}/projects").json()] == [project]
    assert scoped.delete(f"{API}/tokens/{own.json()['id']}").status_code == 204


@pytest.mark.slow
def test_every_api_route_needs_credentials(server: VexilServer, project: str) -> None:
    """Enumerate the routes from the OpenAPI document: each /api/v1 one answers 401 bare."""
    schema = httpx.get(f"{server.base_url}/api/openapi.json").json()
    assert httpx.get(f"{server.base_url}/api/docs").status_code == 200
    checked = 0
    for path, operations in schema["paths"].items():
        if path in PUBLIC:
            continue
        url = re.sub(r"\{[^}]+\}", "1", path).replace("/projects/1", f"/projects/{project}")
        for method in operations:
            body: dict[str, Any] | None = {} if method in ("post", "put", "patch") else None
            response = httpx.request(method, f"{server.base_url}{url}", json=body)
            if path.startswith(API):
                assert response.status_code == 401, (method, path, response.text)
                assert response.json()["error"]["code"] == "unauthorized"
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                checked += 1
    assert checked >= 34
    for path in PUBLIC:
        assert httpx.get(f"{server.base_url}{path}").status_code == 200, path


def test_sdk_keys_are_not_admin_credentials(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    key = sdk_key(api, project)
    response = httpx.get(
        f"{server.base_url}{API}/projects", headers={"Authorization": f"Bearer {key}"}
    )
    error_of(response, 401)
