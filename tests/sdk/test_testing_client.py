"""``Client.for_testing``: flags set at run time, evaluations recorded, no network or threads."""

from __future__ import annotations

import threading

import pytest

from vexil import Client, ConfigurationError, ErrorKind, FlagChange, Reason, ValidationError
from vexil.testing import TestClient, Tracked, flag_for_value

USER = {"key": "u-1", "plan": "pro"}


def test_values_are_served_to_everyone_and_can_change() -> None:
    before = set(threading.enumerate())
    client = Client.for_testing({"new-checkout": True, "color": "red", "limit": 3, "cfg": {"a": 1}})
    assert isinstance(client, TestClient)
    assert set(threading.enumerate()) == before  # no threads at all
    assert client.bool_variation("new-checkout", USER, False) is True
    assert client.string_variation("color", USER, "") == "red"
    assert client.number_variation("limit", USER, 0) == 3
    assert client.json_variation("cfg", USER, {}) == {"a": 1}
    client.set("new-checkout", False)
    assert client.variation("new-checkout", USER, True) is False
    client.remove("color")
    assert client.variation_detail("color", USER, "x").error is ErrorKind.FLAG_NOT_FOUND
    client.close()


def test_whole_flags_with_rules_and_segments_evaluate_as_in_production() -> None:
    client = Client.for_testing()
    client.set_segment("beta", {"included": ["u-1"]})
    client.set_flag(
        "new-checkout",
        {
            "type": "boolean",
            "variations": {"on": True, "off": False},
            "rules": [
                {
                    "id": "beta",
                    "clauses": [{"attribute": "key", "op": "segment", "values": ["beta"]}],
                    "serve": "on",
                }
            ],
            "default": "off",
        },
    )
    detail = client.variation_detail("new-checkout", USER, False)
    assert (detail.value, detail.reason, detail.rule_id) == (True, Reason.TARGETING_MATCH, "beta")
    assert client.variation("new-checkout", {"key": "u-2"}, True) is False
    with pytest.raises(ValidationError):
        client.set_flag("broken", {"type": "boolean", "variations": {"on": True}, "default": "x"})
    assert "broken" not in client.all_flags(USER)  # a refused change leaves all as it was


def test_evaluations_and_events_are_recorded() -> None:
    client = Client.for_testing({"f": True})
    client.variation("f", USER, False)
    client.variation_detail("g", {"key": "u-2"}, "d")
    client.all_flags(USER)  # not an evaluation of one flag: not recorded
    assert [(e.key, e.context["key"], e.value) for e in client.evaluations] == [
        ("f", "u-1", True),
        ("g", "u-2", "d"),
    ]
    assert [e.value for e in client.evaluated("f")] == [True]
    client.track("bought", USER, value=9.5, data={"items": 2})
    client.identify({"key": "u-3"})
    assert client.tracked == [
        Tracked("bought", USER, 9.5, {"items": 2}),
        Tracked(None, {"key": "u-3"}),
    ]
    client.clear()
    assert client.evaluations == []
    assert client.tracked == []


def test_recorded_contexts_are_copies() -> None:
    client = Client.for_testing({"f": True})
    context = {"key": "u-1"}
    client.variation("f", context)
    context["key"] = "changed"
    assert client.evaluations[0].context == {"key": "u-1"}


def test_change_callbacks_run_at_once_on_the_callers_thread() -> None:
    client = Client.for_testing({"f": True, "g": 1})
    changes: list[tuple[FlagChange, str]] = []
    client.on_change(lambda change: changes.append((change, threading.current_thread().name)))
    client.set("f", False)
    assert changes == [(FlagChange("f", None), threading.current_thread().name)]
    remove = client.on_change(lambda change: changes.append((change, "second")), flag_key="g")
    client.set("g", 2)
    assert [c.key for c, _ in changes] == ["f", "g", "g"]
    remove()
    client.set("g", 3)
    assert len(changes) == 4


def test_a_prerequisite_change_is_reported_for_its_dependents() -> None:
    client = Client.for_testing({"base": True})
    client.set_flag(
        "child",
        {
            "type": "boolean",
            "variations": {"on": True, "off": False},
            "prerequisites": [{"flag": "base", "variation": "on"}],
            "off_variation": "off",
            "default": "on",
        },
    )
    seen: list[str] = []
    client.on_change(lambda change: seen.append(change.key))
    client.set("base", False)
    assert seen == ["base", "child"]
    assert client.variation("child", USER, True) is False


def test_a_load_replaces_everything() -> None:
    client = Client.for_testing({"old": True})
    client.load({"flags": {"new": flag_for_value("new", "x")}})
    assert client.all_flags(USER) == {"new": "x"}


def test_values_of_other_types_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="weird"):
        Client.for_testing({"weird": object()})


def test_a_segment_change_is_reported_for_the_flags_using_it() -> None:
    client = Client.for_testing({"unrelated": True})
    client.set_segment("beta", {"included": ["u-1"]})
    rule = {
        "id": "beta",
        "clauses": [{"attribute": "key", "op": "segment", "values": ["beta"]}],
        "serve": "on",
    }
    client.set_flag(
        "uses-beta",
        {
            "type": "boolean",
            "variations": {"on": True, "off": False},
            "rules": [rule],
            "default": "off",
        },
    )
    seen: list[str] = []
    client.on_change(lambda change: seen.append(change.key))
    client.set_segment("beta", {"included": ["u-2"]})
    assert seen == ["uses-beta"]
