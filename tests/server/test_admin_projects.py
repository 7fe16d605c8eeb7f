"""The admin API for projects, environments and SDK keys, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import httpx
import pytest
from _admin_api import API, create_flag, error_of, etag, targeting_url

from _services import sdk_key


def ruleset_status(anon: httpx.Client, key: str) -> int:
    return anon.get("/sdk/v1/ruleset", headers={"Authorization": key}).status_code


# ------------------------------------------------------------------ projects


def test_a_project_is_created_with_development_and_production(api: httpx.Client) -> None:
    key = f"p-{uuid.uuid4().hex[:10]}"
    body = {"key": key, "name": "Shop", "description": "The web shop"}
    created = api.post(f"{API}/projects", json=body)
    assert created.status_code == 201, created.text
    assert etag(created) == 1
    assert created.json() | {"created_at": None} == {
        "key": key,
        "name": "Shop",
        "description": "The web shop",
        "version": 1,
        "created_at": None,
    }
    envs = api.get(f"{API}/projects/{key}/environments").json()
    assert [(e["key"], e["production"]) for e in envs] == [
        ("development", False),
        ("production", True),
    ]
    assert key in [p["key"] for p in api.get(f"{API}/projects").json()]


def test_a_project_is_read_changed_and_deleted(api: httpx.Client, project: str) -> None:
    url = f"{API}/projects/{project}"
    got = api.get(url)
    assert got.json()["name"] == project
    assert etag(got) == 1
    changed = api.patch(url, json={"name": "Renamed"}, headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["description"]) == ("Renamed", "")
    assert etag(changed) == 2
    assert api.get(url).json()["name"] == "Renamed"
    deleted = api.delete(url)
    assert deleted.status_code == 204
    error_of(api.get(url), 404)
    assert project not in [p["key"] for p in api.get(f"{API}/projects").json()]


def test_deleting_a_project_takes_its_flags_and_sdk_keys_with_it(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flag(api, project)
    key = sdk_key(api, project)
    assert ruleset_status(anon, key) == 200
    assert api.delete(f"{API}/projects/{project}").status_code == 204
    assert ruleset_status(anon, key) == 401
    error_of(api.get(f"{API}/projects/{project}/flags/f"), 404)


def test_a_project_key_is_unique(api: httpx.Client, project: str) -> None:
    error = error_of(api.post(f"{API}/projects", json={"key": project}), 409)
    assert (error["code"], error["field"]) == ("conflict", "key")


@pytest.mark.parametrize("key", ["has space", "-leading-dash", "a/b", "ü"])
def test_an_invalid_project_key_is_refused_with_its_field(api: httpx.Client, key: str) -> None:
    error = error_of(api.post(f"{API}/projects", json={"key": key}), 400)
    assert error["field"] == "key"
    assert repr(key) in error["message"]


def test_an_unknown_project_is_404(api: httpx.Client) -> None:
    error = error_of(api.get(f"{API}/projects/no-such-project"), 404)
    assert (error["code"], error["field"]) == ("not_found", "project")


# -------------------------------------------------------------- environments


def test_an_environment_is_created_changed_and_deleted(api: httpx.Client, project: str) -> None:
    envs = f"{API}/projects/{project}/environments"
    body = {"key": "staging", "name": "Staging"}
    created = api.post(envs, json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["key"], created.json()["production"]) == ("staging", False)
    assert etag(created) == 1
    assert [e["key"] for e in api.get(envs).json()] == ["development", "production", "staging"]
    changed = api.patch(f"{envs}/staging", json={"production": True}, headers={"If-Match": "1"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["production"], changed.json()["name"]) == (True, "Staging")
    assert etag(api.get(f"{envs}/staging")) == 2
    assert api.delete(f"{envs}/staging").status_code == 204
    error_of(api.get(f"{envs}/staging"), 404)
    error_of(api.post(envs, json={"key": "development"}), 409)


def test_a_new_environment_has_every_flag_off(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flag(api, project, "f", targeting={"on": True})
    assert api.post(f"{API}/projects/{project}/environments", json={"key": "qa"}).status_code == 201
    targeting = api.get(targeting_url(project, "f", "qa")).json()
    assert (targeting["on"], targeting["off_variation"], targeting["default"]) == (
        False,
        "off",
        "on",
    )
    ruleset = anon.get(
        "/sdk/v1/ruleset", headers={"Authorization": sdk_key(api, project, "qa")}
    ).json()
    assert ruleset["flags"]["f"]["on"] is False
    assert set(api.get(f"{API}/projects/{project}/flags/f").json()["environments"]) == {
        "development",
        "production",
        "qa",
    }


def test_a_project_keeps_one_environment(api: httpx.Client, project: str) -> None:
    envs = f"{API}/projects/{project}/environments"
    assert api.delete(f"{envs}/development").status_code == 204
    error = error_of(api.delete(f"{envs}/production"), 409)
    assert error["field"] == "environment"
    assert [e["key"] for e in api.get(envs).json()] == ["production"]


# ------------------------------------------------------------------ SDK keys


def test_each_environment_has_a_server_and_a_client_key(api: httpx.Client, project: str) -> None:
    keys = api.get(f"{API}/projects/{project}/environments/development/keys").json()
    assert sorted(k["kind"] for k in keys) == ["client", "server"]
    server = next(k["key"] for k in keys if k["kind"] == "server")
    client = next(k["key"] for k in keys if k["kind"] == "client")
    assert server.startswith("vx-srv-")
    assert client.startswith("vx-cli-")
    assert all(k["expires_at"] is None for k in keys)
    production = api.get(f"{API}/projects/{project}/environments/production/keys").json()
    assert {k["key"] for k in production}.isdisjoint({server, client})


def rotate(api: httpx.Client, project: str, overlap: int, kind: str = "server") -> httpx.Response:
    return api.post(
        f"{API}/projects/{project}/environments/development/keys/rotate",
        json={"kind": kind, "overlap_seconds": overlap},
    )


def test_rotating_with_no_overlap_refuses_the_old_key_at_once(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    old = sdk_key(api, project)
    rotated = rotate(api, project, 0)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["key"]
    assert new.startswith("vx-srv-")
    assert new != old
    assert ruleset_status(anon, old) == 401
    assert ruleset_status(anon, new) == 200
    keys = api.get(f"{API}/projects/{project}/environments/development/keys").json()
    assert [k["key"] for k in keys if k["kind"] == "server"] == [new]


def test_rotating_with_an_overlap_keeps_both_keys_working(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    old = sdk_key(api, project)
    new = rotate(api, project, 3600).json()["key"]
    assert ruleset_status(anon, old) == 200
    assert ruleset_status(anon, new) == 200
    keys = api.get(f"{API}/projects/{project}/environments/development/keys").json()
    servers = {k["key"]: k["expires_at"] for k in keys if k["kind"] == "server"}
    assert set(servers) == {old, new}
    assert servers[new] is None
    assert servers[old] is not None
    # A second rotation without overlap ends both earlier keys.
    newest = rotate(api, project, 0).json()["key"]
    assert (ruleset_status(anon, old), ruleset_status(anon, new)) == (401, 401)
    assert ruleset_status(anon, newest) == 200


def test_rotating_a_client_key_leaves_the_server_key_alone(
    api: httpx.Client, anon: httpx.Client, project: str
) -> None:
    server_key = sdk_key(api, project)
    client_key = sdk_key(api, project, kind="client")
    new_client = rotate(api, project, 0, kind="client").json()["key"]
    assert new_client.startswith("vx-cli-")
    assert ruleset_status(anon, server_key) == 200
    assert sdk_key(api, project, kind="client") == new_client
    assert ruleset_status(anon, client_key) == 401  # expired: no longer a key at all


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "browser"}, "kind"),
        ({"kind": "server", "overlap_seconds": -1}, "overlap_seconds"),
        ({"kind": "server", "overlap_seconds": 10**9}, "overlap_seconds"),
    ],
)
def test_a_bad_rotation_is_refused(
    api: httpx.Client, project: str, body: dict[str, object], field: str
) -> None:
    old = sdk_key(api, project)
    url = f"{API}/projects/{project}/environments/development/keys/rotate"
    error = error_of(api.post(url, json=body), 422)
    assert error["field"] == field
    assert sdk_key(api, project) == old
