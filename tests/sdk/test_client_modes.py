"""Every mode against a real server: polling, lazy, manual, daemon, offline files and stores."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from _sdk import Env
from prometheus_client.parser import text_string_to_metric_families

from _services import Redis, free_port, wait_for
from vexil import (
    Client,
    ConfigurationError,
    Daemon,
    ErrorKind,
    FileStore,
    Lazy,
    Manual,
    Offline,
    Polling,
    Streaming,
)
from vexil.integrations.redis import RedisStore
from vexil.sdk._sources import FileSource

USER = {"key": "u-1"}


def ruleset_requests(env: Env, status: str) -> float:
    """How many ``GET /sdk/v1/ruleset`` the server answered with ``status``."""
    text = httpx.get(f"{env.url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "vexil_http_requests_total"
                and labels.get("route") == "/sdk/v1/ruleset"
                and labels.get("status") == status
            ):
                return float(sample.value)
    return 0.0


def threads() -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.name.startswith("vexil"))


# ------------------------------------------------------------------- polling


def test_polling_follows_changes_and_revalidates_with_the_etag(env: Env) -> None:
    env.create_flag("f")
    not_modified = ruleset_requests(env, "304")
    with Client(env.key, url=env.url, mode=Polling(interval=0.1), send_events=False) as client:
        assert client.status == "polling"
        assert threads() == ["vexil-polling"]
        assert client.variation("f", USER, True) is False
        wait_for(lambda: ruleset_requests(env, "304") > not_modified, what="a 304")
        env.toggle("f", True)
        wait_for(lambda: client.variation("f", USER, False), what="the polled change")
        assert client.revision == int(env.ruleset().headers["X-Vexil-Revision"])


# ---------------------------------------------------------------------- lazy


def test_lazy_fetches_in_the_background_when_an_evaluation_finds_stale_flags(env: Env) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, mode=Lazy(ttl=0.2), send_events=False) as client:
        assert client.variation("f", USER, True) is False
        fetched = ruleset_requests(env, "200") + ruleset_requests(env, "304")
        env.toggle("f", True)
        # Evaluations serve the flags held and wake the fetcher once they are stale.
        wait_for(lambda: client.variation("f", USER, False), what="the lazy fetch")
        after = ruleset_requests(env, "200") + ruleset_requests(env, "304")
        assert after > fetched


def test_lazy_fetches_nothing_while_no_one_evaluates(env: Env) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, mode=Lazy(ttl=0.05), send_events=False) as client:
        before = ruleset_requests(env, "200") + ruleset_requests(env, "304")
        # Without evaluations, the fetcher sleeps: another client's polls come and go.
        with Client(env.key, url=env.url, mode=Manual(), send_events=False) as other:
            for _ in range(3):
                assert other.refresh()
        after = ruleset_requests(env, "200") + ruleset_requests(env, "304")
        assert after - before == 3  # only the manual client's
        assert client.status == "idle"


def test_lazy_serves_stale_flags_to_every_caller_while_one_fetch_runs(env: Env) -> None:
    """Many threads finding stale flags at once cause one fetch, not one each."""
    env.create_flag("f")
    with Client(env.key, url=env.url, mode=Lazy(ttl=0.05), send_events=False) as client:
        before = ruleset_requests(env, "200") + ruleset_requests(env, "304")
        barrier = threading.Barrier(8)
        counts: list[int] = []

        def evaluate() -> None:
            barrier.wait()
            # For ten TTLs, however fast this machine evaluates: the flags go stale
            # again and again while every thread keeps asking.
            deadline, n = time.monotonic() + 0.5, 0
            while time.monotonic() < deadline:
                client.variation("f", USER, True)
                n += 1
            counts.append(n)

        workers = [threading.Thread(target=evaluate) for _ in range(8)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        after = ruleset_requests(env, "200") + ruleset_requests(env, "304")
        # Thousands of evaluations found the flags stale; the fetches are far fewer
        # (one at a time, each taking a round trip), never one per evaluation.
        fetches, evaluations = after - before, sum(counts)
        assert 0 < fetches < evaluations / 20, (fetches, evaluations)


# -------------------------------------------------------------------- manual


def test_manual_mode_fetches_only_on_refresh(env: Env) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url, mode=Manual(), send_events=False) as client:
        assert threads() == []
        env.toggle("f", True)
        assert client.variation("f", USER, True) is False
        assert client.refresh() is True
        assert client.variation("f", USER, False) is True
        assert client.refresh() is True  # a 304: still current


# ------------------------------------------------------------------- stores


def test_every_update_is_saved_and_a_client_boots_from_the_store_when_the_server_is_down(
    env: Env, tmp_path: Path
) -> None:
    env.create_flag("f")
    store = FileStore(tmp_path)
    with Client(env.key, url=env.url, store=store, send_events=False) as client:
        env.toggle("f", True)
        wait_for(lambda: client.variation("f", USER, False), what="the change")
        saved = wait_for(
            lambda: (
                (data := store.load(client._core.config.namespace))
                and json.loads(data)["revision"] == client.revision
                and data
            ),
            what="the save",
        )
        assert json.loads(saved)["document"]["flags"]["f"]["on"] is True

    dead = f"http://127.0.0.1:{free_port()}"
    mode = Streaming(initial_backoff=0.05, max_backoff=0.1)
    with Client(env.key, url=dead, store=store, mode=mode, init_timeout=5) as client:
        assert client.is_initialized
        assert client.variation("f", USER, False) is True
        assert client.revision == json.loads(saved)["revision"]


def test_a_store_that_fails_never_reaches_the_caller(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def save(self, namespace: str, data: bytes) -> None:
            raise OSError("disk full")

        def load(self, namespace: str) -> bytes | None:
            raise OSError("disk gone")

    env.create_flag("f")
    with Client(env.key, url=env.url, store=Broken(), send_events=False) as client:
        env.toggle("f", True)
        wait_for(lambda: client.variation("f", USER, False), what="the change")
        wait_for(lambda: "could not save the flags" in caplog.text, what="the save warning")
    assert "could not read the saved flags" in caplog.text


def test_daemon_mode_reads_the_flags_another_process_keeps_in_the_store(
    env: Env, tmp_path: Path
) -> None:
    env.create_flag("f")
    store = FileStore(tmp_path)
    with Client(env.key, url=env.url, store=store, send_events=False) as writer:
        namespace = writer._core.config.namespace
        wait_for(lambda: store.load(namespace), what="the first save")
        daemon = Client(env.key, url="http://127.0.0.1:1", mode=Daemon(interval=0.05), store=store)
        with daemon:
            assert daemon.is_initialized
            assert threads() == ["vexil-daemon", "vexil-notify", "vexil-streaming"]
            assert daemon.variation("f", USER, True) is False
            env.toggle("f", True)
            wait_for(lambda: daemon.variation("f", USER, False), what="the store's update")
            assert daemon.revision == writer.revision


def test_a_daemon_with_an_empty_store_serves_defaults_until_it_fills(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    key = "vx-srv-abcdefghijklmnop"
    with Client(key, mode=Daemon(interval=0.05), store=store, init_timeout=0) as client:
        assert not client.is_initialized
        detail = client.variation_detail("f", USER, "d")
        assert detail.error is ErrorKind.PROVIDER_NOT_READY
        document = {"flags": {"f": {"type": "string", "variations": {"x": "yes"}, "default": "x"}}}
        body = {"revision": 3, "document": document}
        store.save(client._core.config.namespace, json.dumps(body).encode())
        wait_for(lambda: client.variation("f", USER, "d") == "yes", what="the filled store")
        assert client.revision == 3


# -------------------------------------------------------------------- files

FLAGS = """
flags:
  banner:
    type: string
    variations: {old: "Welcome", new: "Hello"}
    default: old
"""


def test_from_file_watches_and_keeps_the_last_good_flags(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(FLAGS)
    with Client.from_file(path, watch=True, watch_interval=0.02) as client:
        assert client.variation("banner", USER, "") == "Welcome"
        assert threads() == ["vexil-file"]
        path.write_text(FLAGS.replace("default: old", "default: new"))
        wait_for(lambda: client.variation("banner", USER, "") == "Hello", what="the reload")
        path.write_text(FLAGS.replace("default: old", "default: nowhere"))
        source = client._core.source
        assert isinstance(source, FileSource)
        wait_for(lambda: source._seen == source._signature())
        assert client.variation("banner", USER, "") == "Hello"  # the broken edit was refused


def test_from_file_refuses_a_missing_or_invalid_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no flag file"):
        Client.from_file(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("flags: {f: {type: boolean, variations: {on: true}, default: nowhere}}")
    with pytest.raises(ConfigurationError, match="not a valid flag document"):
        Client.from_file(bad)
    assert threads() == []


def test_offline_mode_with_a_file(tmp_path: Path) -> None:
    path = tmp_path / "flags.yaml"
    path.write_text(FLAGS)
    with Client(mode=Offline(path=path)) as client:
        assert client.variation("banner", USER, "") == "Welcome"
        assert threads() == []


def test_a_fleet_shares_flags_through_redis(env: Env, redis_service: Redis) -> None:
    """Connected clients save to Redis; a daemon client (no server at all) reads from it."""
    env.create_flag("f")
    writer_store = RedisStore(redis_service.url(), prefix=f"{env.project}:")
    reader_store = RedisStore(redis_service.url(), prefix=f"{env.project}:")
    try:
        with Client(env.key, url=env.url, store=writer_store, send_events=False) as writer:
            namespace = writer._core.config.namespace
            wait_for(lambda: writer_store.load(namespace), what="the first save")
            mode = Daemon(interval=0.05)
            with Client(env.key, mode=mode, store=reader_store) as daemon:
                assert daemon.variation("f", USER, True) is False
                env.toggle("f", True)
                wait_for(lambda: daemon.variation("f", USER, False), what="the update via Redis")
        # The server is gone for a new process: it boots from Redis.
        dead = f"http://127.0.0.1:{free_port()}"
        streaming = Streaming(initial_backoff=0.05, max_backoff=0.1)
        with Client(env.key, url=dead, store=reader_store, mode=streaming) as booted:
            assert booted.variation("f", USER, False) is True
    finally:
        writer_store.close()
        reader_store.close()
