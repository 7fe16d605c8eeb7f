"""A refused key with a persistent store: the store's flags never stand in for the server.

A client that starts with a store loads it first (flags at once, even with the server
down). If the server's first answer is a 401 or 403, what came from the store is
dropped: evaluations get the caller's defaults, ``is_initialized`` is False. A client
that the server did accept, and that is refused later (its key revoked while it
runs), keeps the flags it holds, as through any other outage.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from _sdk import API, Env, new_env

from _services import Redis, VexilServer, sdk_key, wait_for
from vexil import Client, ErrorKind, FileStore, Store, Streaming
from vexil.integrations.redis import RedisStore

USER = {"key": "u-1"}
FAST = Streaming(initial_backoff=0.05, max_backoff=0.2)


@pytest.fixture(params=["file", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "file":
        yield FileStore(tmp_path)
        return
    redis_service: Redis = request.getfixturevalue("redis_service")
    redis_store = RedisStore(redis_service.url(), prefix=f"test-{uuid.uuid4().hex[:10]}:")
    yield redis_store
    redis_store.close()


def fill(store: Store, env: Env) -> bytes:
    """Run a client until it saved the server's flags in ``store``; what it saved."""
    with Client(env.key, url=env.url, store=store, send_events=False) as client:
        namespace = client._core.config.namespace
        saved: bytes = wait_for(
            lambda: (data := store.load(namespace)) and json.loads(data)["revision"] and data,
            what="the save",
        )
    return saved


def revoke(editor: httpx.Client, env: Env) -> str:
    """Rotate the server key with no overlap: the old one is refused from now on."""
    url = f"{API}/projects/{env.project}/environments/development/keys/rotate"
    rotated = editor.post(url, json={"kind": "server", "overlap_seconds": 0})
    assert rotated.status_code == 200, rotated.text
    new = sdk_key(editor, env.project)
    assert new != env.key
    return new


def assert_refused(client: Client) -> None:
    assert client.status == "unauthorized"
    assert not client.is_initialized
    detail = client.variation_detail("f", USER, False)
    assert (detail.value, detail.error) == (False, ErrorKind.PROVIDER_NOT_READY)
    assert "refused the SDK key" in (detail.error_message or "")
    assert client.variation("f", USER, "default") == "default"
    assert client.all_flags(USER) == {}


@pytest.mark.parametrize("mode", [FAST, "polling"], ids=["streaming", "polling"])
def test_a_key_refused_at_start_never_serves_the_stores_flags(
    env: Env, store: Store, mode: Streaming | str
) -> None:
    env.flag_on("f")
    saved = fill(store, env)
    revoke(env.editor, env)

    with Client(env.key, url=env.url, store=store, mode=mode, init_timeout=10) as client:
        assert_refused(client)
        namespace = client._core.config.namespace
    assert store.load(namespace) == saved  # there all along, and left as it was


@pytest.mark.slow
def test_flags_loaded_while_the_server_was_down_go_when_it_refuses_the_key(
    new_server: Callable[..., VexilServer], tmp_path: Path
) -> None:
    server = new_server("sqlite")
    store = FileStore(tmp_path)
    with new_env(server, "down-then-refused") as env:
        env.flag_on("f")
        fill(store, env)
        revoke(env.editor, env)
    server.stop()

    with Client(env.key, url=server.base_url, store=store, mode=FAST, init_timeout=0.5) as client:
        # The server is out of reach: the store's flags serve, for a fast boot.
        assert client.is_initialized
        assert client.variation("f", USER, False) is True
        server.start()
        wait_for(lambda: client.status == "unauthorized", what="the refusal")
        assert_refused(client)


@pytest.mark.slow
def test_a_running_client_refused_later_keeps_its_flags_and_its_store(
    new_server: Callable[..., VexilServer], store: Store
) -> None:
    server = new_server("sqlite")
    with new_env(server, "refused-later") as env:
        env.flag_on("f")
        with Client(env.key, url=server.base_url, store=store, mode=FAST) as client:
            namespace = client._core.config.namespace
            saved = wait_for(lambda: store.load(namespace), what="the save")
            revoke(env.editor, env)
            # An open stream outlives its key; a restart ends it, and the next
            # connection is refused.
            server.stop()
            server.start()
            wait_for(lambda: client.status == "unauthorized", what="the refusal")
            assert client.is_initialized
            assert client.variation("f", USER, False) is True
            assert client.variation_detail("f", USER, False).error is None
    assert store.load(namespace) == saved
