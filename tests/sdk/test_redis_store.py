"""Stores against real backends: RedisStore on a real ``redis-server``, FileStore on disk."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from _services import Redis, free_port
from vexil import Client, Daemon, store_namespace
from vexil.integrations.redis import RedisStore
from vexil.sdk._stores import FileStore, Store

RULESET = b'{"version": 1, "flags": {"beta": {"on": true}}}'


@pytest.fixture
def prefix() -> str:
    """A prefix of its own for each test, so tests sharing the Redis server never collide."""
    return f"test-{uuid.uuid4().hex[:10]}:"


@pytest.fixture
def raw(redis_service: Redis) -> Iterator[redis.Redis]:
    """A plain client, to look at what the store wrote."""
    client = redis.Redis.from_url(redis_service.url())
    yield client
    client.close()


@pytest.fixture
def store(redis_service: Redis, prefix: str) -> Iterator[RedisStore]:
    instance = RedisStore(redis_service.url(), prefix=prefix)
    yield instance
    instance.close()


# RedisStore


def test_redis_round_trip(store: RedisStore) -> None:
    store.save("web", RULESET)
    assert store.load("web") == RULESET
    store.save("web", b"{}")
    assert store.load("web") == b"{}"


def test_redis_missing_namespace_is_none(store: RedisStore) -> None:
    assert store.load("never-saved") is None


def test_redis_namespaces_are_isolated(store: RedisStore) -> None:
    store.save("a", b"first")
    store.save("b", b"second")
    assert store.load("a") == b"first"
    assert store.load("b") == b"second"


def test_redis_prefix_is_the_key(
    redis_service: Redis, store: RedisStore, raw: redis.Redis, prefix: str
) -> None:
    store.save("web", RULESET)
    assert raw.get(f"{prefix}web") == RULESET
    assert raw.keys(f"{prefix}*") == [f"{prefix}web".encode()]
    other = RedisStore(redis_service.url(), prefix=f"other-{prefix}")
    try:
        assert other.load("web") is None
    finally:
        other.close()


def test_redis_default_prefix(redis_service: Redis, raw: redis.Redis) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:10]}"
    store = RedisStore(redis_service.url())
    try:
        store.save(namespace, RULESET)
        assert raw.get(f"vexil:{namespace}") == RULESET
    finally:
        raw.delete(f"vexil:{namespace}")
        store.close()


def test_redis_ttl_sets_an_expiry(redis_service: Redis, raw: redis.Redis, prefix: str) -> None:
    store = RedisStore(redis_service.url(), prefix=prefix, ttl=60)
    try:
        store.save("web", RULESET)
        assert 0 < raw.pttl(f"{prefix}web") <= 60_000
        assert store.load("web") == RULESET
    finally:
        store.close()


def test_redis_without_ttl_never_expires(store: RedisStore, raw: redis.Redis, prefix: str) -> None:
    store.save("web", RULESET)
    assert raw.pttl(f"{prefix}web") == -1  # the key exists and has no expiry


@pytest.mark.parametrize("ttl", [0, -1.5])
def test_redis_ttl_must_be_positive(ttl: float) -> None:
    with pytest.raises(ValueError, match="ttl must be a positive"):
        RedisStore(ttl=ttl)


def test_redis_passed_client_is_used_and_not_closed(
    redis_service: Redis, raw: redis.Redis, prefix: str
) -> None:
    store = RedisStore(client=raw, prefix=prefix)
    store.save("web", RULESET)
    assert raw.get(f"{prefix}web") == RULESET
    connection = raw.client_id()
    store.close()
    assert raw.client_id() == connection  # the same connection: close() left it open


def test_redis_close_closes_its_own_client(store: RedisStore) -> None:
    connection = store.client.client_id()
    store.close()
    assert store.client.client_id() != connection  # closed, so the next command reconnects


def test_redis_client_decoding_responses_still_loads_bytes(
    redis_service: Redis, prefix: str
) -> None:
    client = redis.Redis.from_url(redis_service.url(), decode_responses=True)
    try:
        store = RedisStore(client=client, prefix=prefix)
        store.save("web", RULESET)
        assert store.load("web") == RULESET
    finally:
        client.close()


def test_redis_url_timeouts_are_short() -> None:
    store = RedisStore("redis://127.0.0.1:6379/0")
    kwargs = store.client.connection_pool.connection_kwargs
    store.close()
    assert kwargs["socket_connect_timeout"] == 2
    assert kwargs["socket_timeout"] == 2
    assert kwargs["retry"].get_retries() == 1  # once, at once; not the default backoff


def test_redis_dead_server_raises_connection_error() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        with pytest.raises(redis.ConnectionError):
            store.save("web", RULESET)
        with pytest.raises(redis.ConnectionError):
            store.load("web")
    finally:
        store.close()


def test_redis_repr_hides_the_password(prefix: str) -> None:
    store = RedisStore("redis://user:s3cret@redis.internal:6380/2", prefix=prefix, ttl=30)
    text = repr(store)
    assert "s3cret" not in text
    assert "redis://user:***@redis.internal:6380/2" in text
    assert f"prefix={prefix!r}" in text
    assert "ttl=30" in text


def test_redis_repr_of_a_passed_client_hides_the_password() -> None:
    client = redis.Redis(host="redis.internal", port=6380, password="s3cret")
    text = repr(RedisStore(client=client))
    client.close()
    assert "s3cret" not in text
    assert "redis.internal:6380" in text


def test_a_daemon_reads_what_a_deploy_job_writes_to_redis_the_documented_way(
    redis_service: Redis, raw: redis.Redis
) -> None:
    """No client fills the store here: a job writes the key and the JSON that docs/sdk.md shows."""
    sdk_key = f"vx-srv-{uuid.uuid4().hex}"
    document = {"flags": {"beta": {"variations": {"on": True, "off": False}, "default": "on"}}}
    saved = {"revision": 7, "saved_at": 0, "document": document}
    raw.set("vexil:" + store_namespace(sdk_key), json.dumps(saved))
    store = RedisStore(redis_service.url())
    try:
        with Client(sdk_key, url="http://127.0.0.1:1", mode=Daemon(interval=60), store=store) as c:
            assert c.is_initialized
            assert c.variation("beta", {"key": "u"}, False) is True
            assert c.revision == 7
    finally:
        store.close()


def test_the_store_namespace_is_the_documented_recipe() -> None:
    digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # sha256("test")
    assert store_namespace("test") == f"ruleset-{digest[:20]}"


def test_redis_import_without_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes ``import redis`` fail
    monkeypatch.delitem(sys.modules, "vexil.integrations.redis")
    with pytest.raises(ImportError, match=r"pip install 'vexil\[redis\]'"):
        importlib.import_module("vexil.integrations.redis")


# FileStore


def test_file_round_trip(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save("web", RULESET)
    assert store.load("web") == RULESET
    assert FileStore(tmp_path).load("web") == RULESET  # another store on the same directory


def test_file_missing_namespace_is_none(tmp_path: Path) -> None:
    assert FileStore(tmp_path).load("never-saved") is None


def test_file_replace_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save("web", b"first")
    store.save("web", b"second")
    assert store.load("web") == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web.json"]


def test_file_failed_save_keeps_the_old_value_and_no_temporary_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.save("web", b"first")
    with pytest.raises(TypeError):
        store.save("web", "not bytes")  # type: ignore[arg-type]
    assert store.load("web") == b"first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["web.json"]


def test_file_odd_namespaces_stay_in_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "store"
    store = FileStore(directory)
    odd = "../../etc/passwd x/ü"
    store.save(odd, RULESET)
    assert store.load(odd) == RULESET
    (written,) = directory.iterdir()
    assert written.parent == directory
    assert all(c.isalnum() or c in "-_." for c in written.stem)
    assert not (tmp_path / "etc").exists()


def test_file_creates_a_missing_directory(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b" / "c"
    store = FileStore(directory)
    store.save("web", RULESET)
    assert (directory / "web.json").read_bytes() == RULESET


# The protocol


def test_stores_satisfy_the_protocol(tmp_path: Path) -> None:
    redis_store = RedisStore("redis://127.0.0.1:6379/0")
    redis_store.close()
    assert isinstance(redis_store, Store)
    assert isinstance(FileStore(tmp_path), Store)
    assert not isinstance(object(), Store)
