"""Secure mode: with it on, a client key evaluates only for targeting keys your server vouched for.

End to end on SQLite and PostgreSQL: the hash comes from the SDK's own
``Client.secure_mode_hash`` with the environment's server key, and OFREP checks it.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from _services import VexilServer, sdk_key, wait_for
from vexil import Client, Manual

BOOL = {"on": True, "off": False}
HEADER = "X-Vexil-Secure-Hash"
SINGLE = "/ofrep/v1/evaluate/flags/beta"
BULK = "/ofrep/v1/evaluate/flags"


def env_url(project: str) -> str:
    return f"/api/v1/projects/{project}/environments/development"


@pytest.fixture
def flag(admin: httpx.Client, project: str) -> None:
    made = admin.post(
        f"/api/v1/projects/{project}/flags",
        json={"key": "beta", "variations": BOOL, "client_side": True},
    )
    assert made.status_code == 201, made.text


def secure_hash(server: VexilServer, server_key: str, key: str) -> str:
    with Client(server_key, url=server.base_url, mode=Manual()) as client:
        return client.secure_mode_hash({"key": key})


def turn_on(admin: httpx.Client, project: str) -> None:
    answer = admin.patch(env_url(project), json={"secure_mode": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["secure_mode"] is True


def ask(
    anon: httpx.Client, client_key: str, key: str | None, hash_: str | None, path: str = SINGLE
) -> httpx.Response:
    headers = {"Authorization": client_key}
    if hash_ is not None:
        headers[HEADER] = hash_
    context = {} if key is None else {"targetingKey": key}
    return anon.post(path, json={"context": context}, headers=headers)


@pytest.mark.usefixtures("flag")
def test_secure_mode_is_off_by_default_and_shown_on_the_environment(
    admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    assert admin.get(env_url(project)).json()["secure_mode"] is False
    client_key = sdk_key(admin, project, kind="client")
    assert ask(anon, client_key, "u-1", None).status_code == 200


@pytest.mark.usefixtures("flag")
@pytest.mark.parametrize("path", [SINGLE, BULK])
def test_with_secure_mode_a_client_key_needs_the_right_hash(
    server: VexilServer, admin: httpx.Client, anon: httpx.Client, project: str, path: str
) -> None:
    client_key = sdk_key(admin, project, kind="client")
    server_key = sdk_key(admin, project)
    turn_on(admin, project)
    good = secure_hash(server, server_key, "u-1")

    missing = ask(anon, client_key, "u-1", None, path)
    assert missing.status_code == 403, missing.text
    assert missing.json()["error"]["field"] == HEADER
    assert ask(anon, client_key, "u-1", "0" * 64, path).status_code == 403
    # A hash proves one targeting key, not another.
    assert ask(anon, client_key, "u-2", good, path).status_code == 403
    assert ask(anon, client_key, None, good, path).status_code == 403
    assert ask(anon, client_key, "u-1", good, path).status_code == 200
    assert ask(anon, client_key, "u-1", good.upper(), path).status_code == 200


@pytest.mark.usefixtures("flag")
def test_server_keys_need_no_hash(admin: httpx.Client, anon: httpx.Client, project: str) -> None:
    turn_on(admin, project)
    server_key = sdk_key(admin, project)
    assert ask(anon, server_key, "u-1", None).status_code == 200


@pytest.mark.usefixtures("flag")
def test_turning_secure_mode_off_again_lifts_the_check(
    admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    client_key = sdk_key(admin, project, kind="client")
    turn_on(admin, project)
    assert ask(anon, client_key, "u-1", None).status_code == 403
    assert admin.patch(env_url(project), json={"secure_mode": False}).status_code == 200
    assert ask(anon, client_key, "u-1", None).status_code == 200


@pytest.mark.usefixtures("flag")
def test_during_a_rotation_hashes_of_the_old_and_the_new_server_key_both_pass(
    server: VexilServer, admin: httpx.Client, anon: httpx.Client, project: str
) -> None:
    client_key = sdk_key(admin, project, kind="client")
    old_key = sdk_key(admin, project)
    turn_on(admin, project)
    rotated = admin.post(
        f"{env_url(project)}/keys/rotate", json={"kind": "server", "overlap_seconds": 3600}
    )
    assert rotated.status_code in (200, 201), rotated.text
    new_key = rotated.json()["key"]
    for key in (old_key, new_key):
        assert ask(anon, client_key, "u-1", secure_hash(server, key, "u-1")).status_code == 200


@pytest.mark.slow
@pytest.mark.usefixtures("flag")
def test_another_replica_follows_the_setting(
    server: VexilServer,
    admin: httpx.Client,
    project: str,
    new_server: Callable[..., VexilServer],
) -> None:
    replica = new_server(database_url=server.database_url)
    client_key = sdk_key(admin, project, kind="client")
    with httpx.Client(base_url=replica.base_url, timeout=10) as other:
        assert ask(other, client_key, "u-1", None).status_code == 200
        turn_on(admin, project)
        wait_for(
            lambda: ask(other, client_key, "u-1", None).status_code == 403,
            timeout=15,
            what="the replica to require the hash",
        )
