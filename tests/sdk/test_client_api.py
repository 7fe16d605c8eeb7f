"""The client's API: configuration errors, evaluation forms, sharing, closing, asyncio."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
from types import MappingProxyType
from typing import Any

import pytest
from _sdk import Env

from _services import free_port, wait_for
from vexil import (
    Client,
    ConfigurationError,
    ErrorKind,
    Manual,
    Offline,
    Polling,
    Reason,
    Ruleset,
    Streaming,
)

COLORS = {"red": "#f00", "green": "#0f0"}


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sdk_key": "nope"}, "sdk_key"),
        ({"sdk_key": "vx-cli-abcdefghijklmnop"}, "client key"),
        ({"url": "ftp://example.com"}, "url"),
        ({"url": "not a url at all"}, "url"),
        ({"mode": "sometimes"}, "mode"),
        ({"init_timeout": -1}, "init_timeout"),
        ({"flush_interval": 0}, "flush_interval"),
        ({"events_capacity": 0}, "events_capacity"),
        ({"mode": "daemon"}, "store"),
        ({"store": object()}, "store"),
    ],
)
def test_malformed_options_raise_at_once_naming_the_option(
    kwargs: dict[str, object], field: str
) -> None:
    options: dict[str, object] = {"sdk_key": "vx-srv-abcdefghijklmnop", "init_timeout": 0}
    options.update(kwargs)
    with pytest.raises(ConfigurationError, match=field):
        Client(**options)  # type: ignore[arg-type]


def test_modes_validate_their_fields() -> None:
    with pytest.raises(ConfigurationError, match=r"Streaming\.max_backoff"):
        Streaming(max_backoff=float("nan"))
    with pytest.raises(ConfigurationError, match="fallback_after"):
        Streaming(fallback_after=0)
    with pytest.raises(ConfigurationError, match=r"Polling\.interval"):
        Polling(interval=0)


def test_a_missing_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VEXIL_SDK_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="VEXIL_SDK_KEY"):
        Client()


def test_key_and_url_come_from_the_environment(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.flag_on("f")
    monkeypatch.setenv("VEXIL_SDK_KEY", env.key)
    monkeypatch.setenv("VEXIL_URL", env.url)
    with Client() as client:
        assert client.variation("f", {"key": "u"}, False) is True


def test_typed_variations_give_the_default_on_a_type_mismatch(env: Env) -> None:
    env.create_flag("color", COLORS)
    env.targeting("color", on=True, default="green")
    user = {"key": "u-1"}
    with Client(env.key, url=env.url) as client:
        assert client.string_variation("color", user, "none") == "#0f0"
        assert client.bool_variation("color", user, False) is False
        assert client.number_variation("color", user, 3) == 3
        assert client.json_variation("color", user, {"x": 1}) == {"x": 1}
        detail = client.variation_detail("color", user, True)
        assert (detail.value, detail.reason, detail.error) == (
            True,
            Reason.ERROR,
            ErrorKind.TYPE_MISMATCH,
        )
        missing = client.variation_detail("nope", user, "fallback")
        assert (missing.value, missing.error) == ("fallback", ErrorKind.FLAG_NOT_FOUND)


def test_evaluation_never_raises_whatever_it_is_given(env: Env) -> None:
    env.create_flag("f")
    with Client(env.key, url=env.url) as client:
        assert client.variation("f", None, True) is True  # type: ignore[arg-type]
        assert client.variation("f", ["not", "a", "mapping"], True) is True  # type: ignore[arg-type]
        assert client.variation(None, {"key": "u"}, "d") == "d"  # type: ignore[arg-type]
        assert client.variation({"unhashable": 1}, {"key": "u"}, "d") == "d"  # type: ignore[arg-type]
        detail = client.variation_detail("f", 42, True)  # type: ignore[arg-type]
        assert detail.error is ErrorKind.INVALID_CONTEXT
        assert client.all_flags(None) == {"f": None}  # type: ignore[arg-type]


def test_all_flags_and_the_bootstrap_state(env: Env) -> None:
    env.create_flag("server-only")
    env.create_flag("browser", COLORS, client_side=True)
    env.targeting("browser", on=True, default="red")
    user = {"key": "u-1"}
    with Client(env.key, url=env.url) as client:
        assert client.all_flags(user) == {"server-only": False, "browser": "#f00"}
        state = client.all_flags_state(user, client_side_only=True)
        assert state["flags"] == {
            "browser": {"value": "#f00", "variant": "red", "reason": "STATIC"}
        }
        assert state["ready"] is True
        assert state["revision"] == client.revision is not None


def test_explain_shows_the_checks(env: Env) -> None:
    env.create_flag("f")
    rule = {"id": "pro", "clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}]}
    env.targeting("f", on=True, rules=[{**rule, "serve": "on"}], default="off")
    with Client(env.key, url=env.url) as client:
        explanation = client.explain("f", {"key": "u", "plan": "pro"})
        assert explanation.detail.rule_id == "pro"
        assert explanation.detail.value is True
        broken = client.explain({"unhashable": 1}, {"key": "u"})  # type: ignore[arg-type]
        assert broken.detail.error is ErrorKind.GENERAL


def test_secure_mode_hash_is_the_hmac_of_the_context_key(env: Env) -> None:
    with Client(env.key, url=env.url, mode=Manual()) as client:
        # Keyed with the key's SHA-256, which is what the server stores and checks with.
        secret = hashlib.sha256(env.key.encode()).hexdigest().encode()
        expected = hmac.new(secret, b"u-42", hashlib.sha256).hexdigest()
        assert client.secure_mode_hash({"key": "u-42"}) == expected
        with pytest.raises(TypeError, match="context"):
            client.secure_mode_hash({"plan": "pro"})


def test_clients_with_one_key_and_url_share_one_stream(env: Env) -> None:
    first = Client(env.key, url=env.url)
    second = Client(env.key, url=env.url)
    streams = [t for t in threading.enumerate() if t.name == "vexil-streaming"]
    assert len(streams) == 1
    first.close()
    first.close()  # twice is fine
    env.flag_on("late")
    # The second handle still works: the core lives until its last handle closes.
    wait_for(lambda: second.variation("late", {"key": "u"}, False), what="the shared stream")
    second.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("vexil")]
    # A new client after the last close starts afresh.
    with Client(env.key, url=env.url) as third:
        assert third.variation("late", {"key": "u"}, False) is True


def test_before_any_flags_evaluations_get_the_default_with_provider_not_ready() -> None:
    port = free_port()  # nothing listens here
    client = Client(
        "vx-srv-abcdefghijklmnop",
        url=f"http://127.0.0.1:{port}",
        init_timeout=0,
        mode=Streaming(initial_backoff=0.05, max_backoff=0.1),
        send_events=False,
    )
    try:
        assert not client.is_initialized
        detail = client.variation_detail("f", {"key": "u"}, "d")
        assert (detail.value, detail.error) == ("d", ErrorKind.PROVIDER_NOT_READY)
        assert client.variation("f", {"key": "u"}, "d") == "d"
        assert client.all_flags_state({"key": "u"}) == {
            "flags": {},
            "revision": None,
            "ready": False,
        }
        assert client.wait_until_ready(0.01) is False
    finally:
        client.close()


def test_asyncio_applications_await_readiness_and_close(env: Env) -> None:
    env.flag_on("f")

    async def main() -> bool:
        async with Client(env.key, url=env.url, init_timeout=0) as client:
            assert await client.wait_until_ready_async(10)
            return bool(client.variation("f", {"key": "u"}, False))

    assert asyncio.run(main()) is True


def test_offline_serves_defaults_and_sends_nothing() -> None:
    with Client(mode="offline") as client:
        assert client.variation("f", {"key": "u"}, 7) == 7
        assert client.status == "idle"
        client.track("e", {"key": "u"})
        client.flush()
        assert not [t for t in threading.enumerate() if t.name.startswith("vexil")]


def test_repr_names_the_mode_and_place() -> None:
    with Client(mode=Offline()) as client:
        assert repr(client) == "<Client offline offline idle>"


def test_debug_logging_traces_evaluations_and_info_logs_nothing_per_evaluation(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.create_flag("f")
    with caplog.at_level(logging.INFO, logger="vexil"), Client(env.key, url=env.url) as client:
        caplog.clear()
        for _ in range(100):
            client.variation("f", {"key": "u"}, True)
        assert [r for r in caplog.records if r.name.startswith("vexil")] == []
    with (
        caplog.at_level(logging.DEBUG, logger="vexil.evaluation"),
        Client(env.key, url=env.url) as client,
    ):
        client.variation("f", {"key": "u-7"}, True)
        traces = [r.getMessage() for r in caplog.records if r.name == "vexil.evaluation"]
        assert len(traces) == 1
        assert "u-7" in traces[0]
        assert "DISABLED" in traces[0]


def test_debug_traces_can_be_turned_on_while_running(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.create_flag("f")
    with (
        Client(env.key, url=env.url, flush_interval=0.05) as client,
        caplog.at_level(logging.DEBUG, logger="vexil.evaluation"),
    ):

        def traced() -> bool:
            client.variation("f", {"key": "u-8"}, True)
            return any(r.name == "vexil.evaluation" for r in caplog.records)

        wait_for(traced, what="traces after DEBUG was turned on")


_EDGE_FLAGS = {
    "flags": {
        "plain": {"variations": {"on": True, "off": False}, "default": "on"},
        "nothing": {"variations": {"a": "A", "b": "B"}, "on": False},  # serves no value
        "split": {
            "variations": {"a": "A", "b": "B"},
            "default": {
                "rollout": [{"variation": "a", "weight": 50}, {"variation": "b", "weight": 50}]
            },
        },
        "rule": {
            "variations": {"a": 1, "b": 2},
            "rules": [
                {"clauses": [{"attribute": "plan", "op": "in", "values": ["pro"]}], "serve": "b"}
            ],
            "default": "a",
        },
    }
}


@pytest.mark.parametrize("key", ["plain", "nothing", "split", "rule", "missing"])
@pytest.mark.parametrize("default", [None, False, "x", 7, {"k": 1}])
@pytest.mark.parametrize(
    "context",
    [{"key": "u-1"}, {"key": "u-2", "plan": "pro"}, {}, MappingProxyType({"key": "u-3"}), "bad"],
    ids=["dict", "pro", "empty", "mapping", "not-a-mapping"],
)
def test_variation_gives_what_the_engine_and_variation_detail_give(
    key: str, default: Any, context: Any
) -> None:
    # variation inlines the engine's common case; every other case must agree with it.
    ruleset = Ruleset.from_data(_EDGE_FLAGS)
    client = Client.for_testing()
    client.load(_EDGE_FLAGS)
    expected = ruleset.evaluate(key, context, default)
    assert client.variation(key, context, default) == expected.value
    assert client.variation_detail(key, context, default) == expected
    variants = [e.detail.variant for e in client.evaluations]
    assert variants == [expected.variant, expected.variant]
