"""The server end to end, on SQLite and on PostgreSQL: start, flags, the ruleset, auth."""

from __future__ import annotations

import signal
from collections.abc import Callable

import httpx
import pytest

from _services import VexilServer, sdk_key

BOOL = {"on": True, "off": False}


def test_health_and_readiness(server: VexilServer) -> None:
    assert httpx.get(f"{server.base_url}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.base_url}/readyz").json() == {"status": "ready"}


def test_a_new_flag_is_off_and_appears_in_the_ruleset(
    admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    created = admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    assert created.status_code == 201, created.text
    assert created.json()["environments"]["production"]["on"] is False
    key = sdk_key(admin, project)
    ruleset = anon.get("/sdk/v1/ruleset", headers={"Authorization": key}).json()
    assert ruleset["flags"]["f"]["on"] is False
    assert ruleset["flags"]["f"]["variations"] == BOOL


def test_the_ruleset_has_an_etag_and_answers_304_until_a_change(
    admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    headers = {"Authorization": sdk_key(admin, project)}
    first = anon.get("/sdk/v1/ruleset", headers=headers)
    etag = first.headers["ETag"]
    again = anon.get("/sdk/v1/ruleset", headers={**headers, "If-None-Match": etag})
    assert again.status_code == 304
    toggled = admin.post(
        f"/api/v1/projects/{project}/environments/development/flags/f/toggle", json={"on": True}
    )
    assert toggled.status_code == 200, toggled.text
    changed = anon.get("/sdk/v1/ruleset", headers={**headers, "If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert changed.json()["flags"]["f"]["on"] is True


def test_an_sdk_key_reads_only_its_own_environment(
    admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    admin.post(
        f"/api/v1/projects/{project}/environments/production/flags/f/toggle", json={"on": True}
    )
    dev = anon.get("/sdk/v1/ruleset", headers={"Authorization": sdk_key(admin, project)}).json()
    prod_key = sdk_key(admin, project, "production")
    prod = anon.get("/sdk/v1/ruleset", headers={"X-API-Key": prod_key}).json()
    assert (dev["flags"]["f"]["on"], prod["flags"]["f"]["on"]) == (False, True)


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "vx-srv-not-a-key"}, {"X-API-Key": "nope"}]
)
def test_the_ruleset_needs_a_valid_server_key(server: VexilServer, headers: dict[str, str]) -> None:
    response = httpx.get(f"{server.base_url}/sdk/v1/ruleset", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_client_key_cannot_read_the_ruleset(
    admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    client_key = sdk_key(admin, project, kind="client")
    response = anon.get("/sdk/v1/ruleset", headers={"Authorization": client_key})
    assert response.status_code == 403


def test_the_admin_api_needs_credentials(server: VexilServer) -> None:
    assert httpx.get(f"{server.base_url}/api/v1/projects").status_code == 401
    wrong = httpx.get(f"{server.base_url}/api/v1/projects", auth=("admin", "wrong-password"))
    assert wrong.status_code == 401


def test_a_stale_if_match_gets_409_with_the_current_version(
    admin: httpx.Client, project: str
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    url = f"/api/v1/projects/{project}/environments/development/flags/f"
    version = admin.get(url).headers["ETag"]
    ok = admin.post(f"{url}/toggle", json={"on": True}, headers={"If-Match": version})
    assert ok.status_code == 200
    stale = admin.post(f"{url}/toggle", json={"on": False}, headers={"If-Match": version})
    assert stale.status_code == 409
    assert stale.json()["error"]["current_version"] == 2
    assert admin.get(url).json()["on"] is True  # nothing was written


def test_a_rejected_change_names_the_field_and_writes_nothing(
    admin: httpx.Client, project: str
) -> None:
    admin.post(f"/api/v1/projects/{project}/flags", json={"key": "f", "variations": BOOL})
    url = f"/api/v1/projects/{project}/environments/development/flags/f"
    before = admin.get(url).json()
    rule = {"clauses": [{"attribute": "email", "op": "startswith", "values": ["a"]}], "serve": "on"}
    response = admin.put(url, json={"on": True, "rules": [rule]})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "flags.f.rules[0].clauses[0].op"
    assert "did you mean 'starts_with'" in error["message"]
    assert admin.get(url).json() == before


@pytest.mark.slow
def test_sigterm_shuts_down_cleanly_and_exits_0(new_server: Callable[..., VexilServer]) -> None:
    instance = new_server()
    # A drained, clean stop is a success: status 0, not death by the signal
    # (-15, or 143 in a shell), which supervisors report as a failure.
    assert instance.stop(signal.SIGTERM) == 0
    log = instance.log.read_text()
    assert "Application shutdown complete." in log
    assert "Traceback" not in log
