"""One token or user by id, as the lists give them, from the service the pages call."""

from __future__ import annotations

import uuid

import httpx
import pytest
from _admin_api import API, create_token

from vexil.server import _access
from vexil.server._errors import NotFound
from vexil.server._store import Store


def test_get_token_is_the_listed_item(api: httpx.Client, store: Store, project: str) -> None:
    create_token(api, "viewer", project)
    listed = _access.list_tokens(store)[-1]
    assert listed["project"] == project
    assert _access.get_token(store, listed["id"]) == listed


def test_a_revoked_or_unknown_token_is_not_found(api: httpx.Client, store: Store) -> None:
    create_token(api, "viewer")
    token_id = _access.list_tokens(store)[-1]["id"]
    assert api.delete(f"{API}/tokens/{token_id}").status_code == 204
    for missing in (token_id, 2**31 - 1):
        with pytest.raises(NotFound, match=f"no token {missing}") as raised:
            _access.get_token(store, missing)
        assert raised.value.field == "token"


def test_get_user_is_the_listed_item(api: httpx.Client, store: Store) -> None:
    body = {"username": f"u-{uuid.uuid4().hex[:10]}", "role": "editor", "password": "long enough"}
    created = api.post(f"{API}/users", json=body)
    assert created.status_code == 201, created.text
    user = created.json()
    assert _access.get_user(store, user["id"]) == user
    assert user in _access.list_users(store)


def test_an_unknown_user_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound, match=f"no user {2**31 - 1}") as raised:
        _access.get_user(store, 2**31 - 1)
    assert raised.value.field == "user"
