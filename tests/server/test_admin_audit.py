"""Every write leaves one audit entry (who, when, comment, before, after); filters find them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from _admin_api import (
    API,
    BOOL,
    bearer,
    create_token,
    error_of,
    flags_url,
    segments_url,
    targeting_url,
)

from _services import VexilServer


def audit(api: httpx.Client, project: str, **filters: Any) -> list[dict[str, Any]]:
    response = api.get(f"{API}/audit", params={"project": project, **filters})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def actor_of(api: httpx.Client, client: httpx.Client) -> str:
    """The actor name a token client's writes are recorded under."""
    token = client.headers["Authorization"].removeprefix("Bearer ")
    with_prefix = [t for t in api.get(f"{API}/tokens").json() if token.startswith(t["prefix"])]
    assert len(with_prefix) == 1
    return f"token:{with_prefix[0]['name']}"


def test_each_flag_write_is_one_entry_with_before_and_after(
    api: httpx.Client, project: str
) -> None:
    started = datetime.now().astimezone()
    body = {"key": "f", "variations": BOOL, "comment": "for the launch"}
    assert api.post(flags_url(project), json=body).status_code == 201
    toggled = api.post(
        f"{targeting_url(project, 'f')}/toggle", json={"on": True, "comment": "go"}
    ).json()
    api.patch(flags_url(project, "f"), json={"description": "described", "comment": "docs"})
    entries = audit(api, project)
    assert [e["action"] for e in entries] == [
        "flag.update",
        "targeting.toggle",
        "flag.create",
        "project.create",
    ]
    update, toggle, create, _ = entries
    actor = actor_of(api, api)
    assert {e["actor"] for e in entries} == {actor}
    for entry in entries:
        at = datetime.fromisoformat(entry["at"])
        assert abs((at - started).total_seconds()) < 60
    assert (create["comment"], create["before"], create["after"]["key"]) == (
        "for the launch",
        None,
        "f",
    )
    assert create["after"]["environments"]["development"]["on"] is False
    assert (toggle["resource"], toggle["key"], toggle["environment"]) == (
        "targeting",
        "f",
        "development",
    )
    assert (toggle["comment"], toggle["before"]["on"], toggle["after"]) == ("go", False, toggled)
    assert toggle["after"]["version"] == toggle["before"]["version"] + 1
    assert (update["before"]["description"], update["after"]["description"]) == ("", "described")
    assert (update["before"]["version"], update["after"]["version"]) == (1, 2)
    assert update["comment"] == "docs"


def test_a_refused_write_leaves_no_entry(api: httpx.Client, project: str) -> None:
    api.post(flags_url(project), json={"key": "f", "variations": BOOL})
    before = audit(api, project)
    error_of(api.put(targeting_url(project, "f"), json={"default": "nope"}), 422)
    error_of(api.patch(flags_url(project, "f"), json={"variations": {"a": 1}}), 422)
    stale = api.post(
        f"{targeting_url(project, 'f')}/toggle", json={"on": True}, headers={"If-Match": "7"}
    )
    error_of(stale, 409)
    assert audit(api, project) == before


def test_segments_keys_tokens_and_users_are_audited_without_secrets(
    api: httpx.Client, project: str
) -> None:
    api.post(segments_url(project), json={"key": "beta", "included": ["u-1"], "comment": "c"})
    api.put(segments_url(project, key="beta"), json={"included": ["u-2"]})
    api.delete(segments_url(project, key="beta"))
    rotate = f"{API}/projects/{project}/environments/production/keys/rotate"
    new_key = api.post(rotate, json={"kind": "server", "overlap_seconds": 0}).json()["key"]
    secret = create_token(api, "viewer", project)
    entries = audit(api, project)
    assert [e["action"] for e in entries[:5]] == [
        "token.create",
        "sdk_key.rotate",
        "segment.delete",
        "segment.update",
        "segment.create",
    ]
    token, rotation, deleted, updated, created = entries[:5]
    assert (created["environment"], created["comment"], created["after"]["included"]) == (
        "development",
        "c",
        ["u-1"],
    )
    assert (updated["before"]["included"], updated["after"]["included"]) == (["u-1"], ["u-2"])
    assert (deleted["before"]["key"], deleted["after"]) == ("beta", None)
    assert (rotation["environment"], rotation["after"]["kind"]) == ("production", "server")
    assert token["after"]["role"] == "viewer"
    text = str(entries)
    assert new_key not in text
    assert secret not in text
    everyone = api.get(f"{API}/audit", params={"limit": 1000}).text
    assert secret not in everyone


def test_the_log_is_filtered_by_flag_environment_and_actor(
    server: VexilServer, api: httpx.Client, project: str
) -> None:
    for key in ("a", "b"):
        api.post(flags_url(project), json={"key": key, "variations": BOOL})
    api.post(f"{targeting_url(project, 'a', 'production')}/toggle", json={"on": True})
    with bearer(server, create_token(api, "editor")) as editor:
        editor.post(f"{targeting_url(project, 'b')}/toggle", json={"on": True})
        other = actor_of(api, editor)
    by_flag = audit(api, project, flag="a")
    assert [(e["action"], e["key"]) for e in by_flag] == [
        ("targeting.toggle", "a"),
        ("flag.create", "a"),
    ]
    production = audit(api, project, environment="production")
    assert [(e["key"], e["environment"]) for e in production] == [("a", "production")]
    by_other = audit(api, project, actor=other)
    assert [(e["action"], e["key"], e["environment"]) for e in by_other] == [
        ("targeting.toggle", "b", "development")
    ]
    assert audit(api, project, actor="user:nobody") == []
    assert audit(api, project, flag="a", environment="development") == []


def test_the_log_is_filtered_by_time_and_paged_newest_first(
    api: httpx.Client, project: str
) -> None:
    for key in ("a", "b", "c", "d"):
        api.post(flags_url(project), json={"key": key, "variations": BOOL})
    entries = audit(api, project)
    assert [e["key"] for e in entries] == ["d", "c", "b", "a", project]
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    middle = entries[2]["at"]  # flag b
    assert [e["key"] for e in audit(api, project, since=middle)] == ["d", "c", "b"]
    assert [e["key"] for e in audit(api, project, until=middle)] == ["a", project]
    window = audit(api, project, since=entries[3]["at"], until=entries[1]["at"])
    assert [e["key"] for e in window] == ["b", "a"]
    page = api.get(f"{API}/audit", params={"project": project, "limit": 2, "offset": 1}).json()
    assert [e["key"] for e in page["items"]] == ["c", "b"]
    assert (page["limit"], page["offset"]) == (2, 1)
    # The same moment written with another offset, or without one (taken as UTC), agrees.
    at = datetime.fromisoformat(middle)
    local = at.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert [e["key"] for e in audit(api, project, since=local)] == ["d", "c", "b"]
    naive = at.replace(tzinfo=None).isoformat()
    assert [e["key"] for e in audit(api, project, since=naive)] == ["d", "c", "b"]


@pytest.mark.parametrize(
    "params",
    [{"since": "yesterday"}, {"limit": 0}, {"limit": 100_000}, {"offset": -1}],
)
def test_bad_filters_are_refused(api: httpx.Client, params: dict[str, Any]) -> None:
    error = error_of(api.get(f"{API}/audit", params=params), 422)
    assert error["field"] == f"query.{next(iter(params))}"


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_extreme_times_are_answered(api: httpx.Client, project: str, when: str) -> None:
    since = api.get(f"{API}/audit", params={"project": project, "since": when})
    until = api.get(f"{API}/audit", params={"project": project, "until": when})
    assert (since.status_code, until.status_code) == (200, 200), (since.text, until.text)
    assert len(since.json()["items"]) + len(until.json()["items"]) == 1
