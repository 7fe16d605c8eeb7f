"""``Client`` in its default mode, streaming, against a real ``vexil serve``."""

from __future__ import annotations

import threading

from _sdk import Env

from _services import wait_for
from vexil import Client, FlagChange, Reason


def test_a_client_starts_with_the_servers_flags_and_follows_changes(env: Env) -> None:
    env.create_flag("new-checkout")
    with Client(env.key, url=env.url) as client:
        assert client.is_initialized
        assert client.status == "streaming"
        user = {"key": "u-1"}
        assert client.variation("new-checkout", user, True) is False  # off: first variation
        env.toggle("new-checkout", True)
        wait_for(lambda: client.variation("new-checkout", user, False) is True, what="the toggle")
        detail = client.variation_detail("new-checkout", user, False)
        assert detail.reason is Reason.STATIC


def test_on_change_tells_which_flag_changed(env: Env) -> None:
    env.create_flag("a")
    env.create_flag("b")
    seen: list[FlagChange] = []
    only_b: list[FlagChange] = []
    arrived = threading.Event()

    def on_any_change(change: FlagChange) -> None:
        seen.append(change)
        arrived.set()

    with Client(env.key, url=env.url) as client:
        client.on_change(on_any_change)
        client.on_change(only_b.append, flag_key="b")
        env.toggle("a", True)
        assert arrived.wait(10)
        assert [c.key for c in seen] == ["a"]
        assert seen[0].revision == client.revision
        assert only_b == []
