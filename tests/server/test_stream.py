"""The SDK stream (``/sdk/v1/stream``) end to end, on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from _services import VexilServer, sdk_key, wait_for
from _sse import Comment, Event, open_stream
from vexil.server._stream import BACKLOG, Batch, Subscriber, sse

BOOL = {"on": True, "off": False}


@pytest.fixture(scope="module")
def editor(server: VexilServer) -> Iterator[httpx.Client]:
    """An admin API client that signs in with a token: no password hashing per request."""
    with server.admin() as admin:
        body = {"name": f"stream-tests-{uuid.uuid4().hex[:8]}", "role": "admin"}
        token = admin.post("/api/v1/tokens", json=body).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        yield client


def flags_url(project: str) -> str:
    return f"/api/v1/projects/{project}/flags"


def toggle(admin: httpx.Client, project: str, key: str, on: bool) -> None:
    url = f"/api/v1/projects/{project}/environments/development/flags/{key}/toggle"
    response = admin.post(url, json={"on": on})
    assert response.status_code == 200, response.text


def create_flags(admin: httpx.Client, project: str, *keys: str) -> None:
    for key in keys:
        response = admin.post(flags_url(project), json={"key": key, "variations": BOOL})
        assert response.status_code == 201, response.text


def current_ruleset(client: httpx.Client, key: str) -> httpx.Response:
    response = client.get("/sdk/v1/ruleset", headers={"Authorization": key})
    assert response.status_code == 200
    return response


def metric(client: httpx.Client, name: str) -> float:
    """A sample of the server's /metrics (0 when it has none yet)."""
    text = client.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def test_a_stream_starts_with_the_whole_ruleset(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flags(editor, project, "f")
    key = sdk_key(editor, project)
    ruleset = current_ruleset(anon, key)
    with open_stream(anon, key) as events:
        put = events.event()
    assert put.event == "put"
    assert put.json() == ruleset.json()
    assert put.id == ruleset.headers["X-Vexil-Revision"]


def test_a_toggle_arrives_as_a_patch_with_the_next_revision(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flags(editor, project, "f", "g")
    key = sdk_key(editor, project)
    with open_stream(anon, key) as events:
        put = events.event()
        toggle(editor, project, "f", True)
        patch = events.event()
    ruleset = current_ruleset(anon, key).json()
    assert patch.event == "patch"
    assert patch.json() == {"kind": "flag", "key": "f", "object": ruleset["flags"]["f"]}
    assert patch.json()["object"]["on"] is True
    assert int(patch.id or "") == int(put.id or "") + 1


def test_a_deleted_flag_arrives_as_a_delete(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flags(editor, project, "f", "g")
    key = sdk_key(editor, project)
    with open_stream(anon, key) as events:
        put = events.event()
        assert editor.delete(f"{flags_url(project)}/g").status_code == 204
        deleted = events.event()
    assert (deleted.event, deleted.json()) == ("delete", {"kind": "flag", "key": "g"})
    assert int(deleted.id or "") == int(put.id or "") + 1


def test_segment_changes_arrive_as_patches_and_deletes(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    key = sdk_key(editor, project)
    url = f"/api/v1/projects/{project}/environments/development/segments/beta"
    with open_stream(anon, key) as events:
        events.event()  # the put
        created = editor.put(url, json={"included": ["u-1"], "description": "testers"})
        assert created.status_code == 201, created.text
        patch = events.event()
        segment = current_ruleset(anon, key).json()["segments"]["beta"]
        assert editor.delete(url).status_code == 204
        deleted = events.event()
    assert patch.event == "patch"
    assert patch.json() == {"kind": "segment", "key": "beta", "object": segment}
    assert segment["included"] == ["u-1"]
    assert (deleted.event, deleted.json()) == ("delete", {"kind": "segment", "key": "beta"})


def apply(document: dict[str, Any], event: Event) -> dict[str, Any]:
    """What an SDK does with an event: change its copy of the document."""
    if event.event == "put":
        return dict(event.json())
    change = event.json()
    objects = document[change["kind"] + "s"]
    if event.event == "patch":
        objects[change["key"]] = change["object"]
    else:
        objects.pop(change["key"], None)
    return document


def test_last_event_id_replays_only_the_missed_changes_in_order(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flags(editor, project, "a", "b", "c")
    key = sdk_key(editor, project)
    env = f"/api/v1/projects/{project}/environments/development"
    with open_stream(anon, key) as events:
        put = events.event()
    seen, document = int(put.id or ""), apply({}, put)
    uses_beta = {"clauses": [{"op": "segment", "values": ["beta"]}], "serve": "on"}
    changes = [
        editor.put(f"{env}/segments/beta", json={"included": ["u-1"]}),  # seen + 1
        editor.put(f"{env}/flags/a", json={"on": True, "rules": [uses_beta]}),  # seen + 2
        editor.post(f"{env}/flags/b/toggle", json={"on": True}),  # seen + 3
        editor.put(f"{env}/segments/beta", json={"included": ["u-2"]}),  # seen + 4
        editor.delete(f"{flags_url(project)}/c"),  # seen + 5
    ]
    assert [r.status_code for r in changes] == [201, 200, 200, 200, 204]
    with open_stream(anon, key, last_event_id=str(seen)) as events:
        replayed = [events.event() for _ in range(4)]
        toggle(editor, project, "b", False)  # a live change right after the replay
        live = events.event()
    # One event per object, in the order of their last change, each in its current
    # state. Flag a uses segment beta, which comes after it: only the last event of
    # the group carries an id, where the document is whole again.
    assert [(e.event, e.json()["key"], e.id) for e in replayed] == [
        ("patch", "a", None),
        ("patch", "b", None),
        ("patch", "beta", None),
        ("delete", "c", str(seen + 5)),
    ]
    assert (live.event, live.json()["key"], live.id) == ("patch", "b", str(seen + 6))
    for event in [*replayed, live]:
        document = apply(document, event)
    assert document == current_ruleset(anon, key).json()


def test_an_up_to_date_client_gets_a_heartbeat_then_the_next_change(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    create_flags(editor, project, "f")
    key = sdk_key(editor, project)
    revision = current_ruleset(anon, key).headers["X-Vexil-Revision"]
    with open_stream(anon, key, last_event_id=revision) as events:
        first = events.next()
        toggle(editor, project, "f", True)
        change = events.next()
    assert isinstance(first, Comment)
    assert isinstance(change, Event)
    assert (change.event, change.json()["key"]) == ("patch", "f")


@pytest.mark.parametrize("last_event_id", ["not-a-revision", "-1", "999999999"])
def test_an_unusable_last_event_id_gets_a_fresh_put(
    editor: httpx.Client, anon: httpx.Client, project: str, last_event_id: str
) -> None:
    key = sdk_key(editor, project)
    revision = current_ruleset(anon, key).headers["X-Vexil-Revision"]
    with open_stream(anon, key, last_event_id=last_event_id) as events:
        put = events.event()
    assert (put.event, put.id) == ("put", revision)


@pytest.mark.slow
def test_a_client_older_than_the_change_log_gets_a_fresh_put(
    new_server: Callable[..., VexilServer],
) -> None:
    instance = new_server(VEXIL_CHANGE_LOG_SIZE="2")
    with instance.admin() as admin, httpx.Client(base_url=instance.base_url, timeout=10) as sdk:
        create_flags(admin, "default", "f")
        key = sdk_key(admin, "default")
        old = int(current_ruleset(sdk, key).headers["X-Vexil-Revision"])
        for on in (True, False, True):
            toggle(admin, "default", "f", on)
        with open_stream(sdk, key, last_event_id=str(old + 1)) as events:
            replay = events.event()  # old + 2 and old + 3 are still in the log
        with open_stream(sdk, key, last_event_id=str(old)) as events:
            put = events.event()  # old + 1 is not
        ruleset = current_ruleset(sdk, key).json()
    assert (replay.event, replay.id) == ("patch", str(old + 3))
    assert (put.event, put.id) == ("put", str(old + 3))
    assert put.json() == ruleset


@pytest.mark.slow
def test_an_idle_stream_gets_heartbeats(new_server: Callable[..., VexilServer]) -> None:
    instance = new_server(VEXIL_HEARTBEAT_SECONDS="0.2")
    with instance.admin() as admin:
        key = sdk_key(admin, "default")
    with (
        httpx.Client(base_url=instance.base_url, timeout=httpx.Timeout(10, read=2)) as sdk,
        open_stream(sdk, key) as events,
    ):
        first = events.next()
        start = time.monotonic()
        beats = [events.next() for _ in range(3)]
        elapsed = time.monotonic() - start
    assert isinstance(first, Event)
    assert beats == [Comment("heartbeat")] * 3
    assert elapsed >= 0.4  # paced by the setting, not sent in a burst


@pytest.mark.parametrize("headers", [{}, {"Authorization": "vx-srv-not-a-key"}])
def test_the_stream_needs_a_valid_key(anon: httpx.Client, headers: dict[str, str]) -> None:
    response = anon.get("/sdk/v1/stream", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_client_key_cannot_open_a_stream(
    editor: httpx.Client, anon: httpx.Client, project: str
) -> None:
    client_key = sdk_key(editor, project, kind="client")
    response = anon.get("/sdk/v1/stream", headers={"Authorization": client_key})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


@pytest.mark.slow
def test_open_streams_and_propagation_are_measured(
    new_server: Callable[..., VexilServer],
) -> None:
    instance = new_server()  # its own server: no other test's stream is counted
    with instance.admin() as admin, httpx.Client(base_url=instance.base_url, timeout=10) as sdk:
        create_flags(admin, "default", "f")
        key = sdk_key(admin, "default")
        with open_stream(sdk, key) as events:
            events.event()
            assert metric(sdk, "vexil_open_streams") == 1
            toggle(admin, "default", "f", True)
            events.event()
            assert metric(sdk, "vexil_change_propagation_seconds_count") == 1
        # The server notices that the client left, without waiting for a heartbeat.
        wait_for(lambda: metric(sdk, "vexil_open_streams") == 0, what="the stream to close")


@pytest.mark.slow
def test_sigterm_ends_open_streams_and_the_server_exits(
    new_server: Callable[..., VexilServer],
) -> None:
    instance = new_server()
    with instance.admin() as admin:
        key = sdk_key(admin, "default")
    with (
        httpx.Client(base_url=instance.base_url, timeout=10) as sdk,
        open_stream(sdk, key) as events,
    ):
        assert events.event().event == "put"
        start = time.monotonic()
        code = instance.stop(signal.SIGTERM)
        stopped_in = time.monotonic() - start
        rest = events.rest()  # ends, rather than waiting for the read timeout
    assert code in (0, -signal.SIGTERM)
    assert stopped_in < 5, "the shutdown waited for the stream"
    assert all(isinstance(item, Comment) for item in rest)
    log = instance.log.read_text()
    assert "Application shutdown complete." in log
    assert "timeout graceful shutdown exceeded" not in log


# ---------------------------------------------- the fan-out's bookkeeping, on its own


def test_a_client_in_the_middle_of_a_group_gets_the_rest_with_the_id_last() -> None:
    batch = Batch(
        3, 6, ((4, sse("patch", b"a")), (5, sse("patch", b"b")), (6, sse("delete", b"c")))
    )
    assert batch.after(3) == (
        b"event: patch\ndata: a\n\nevent: patch\ndata: b\n\nevent: delete\nid: 6\ndata: c\n\n"
    )
    assert batch.after(4) == b"event: patch\ndata: b\n\nevent: delete\nid: 6\ndata: c\n\n"
    assert batch.after(6) == b""


def test_a_client_whose_backlog_overflowed_catches_up_from_the_database() -> None:
    subscriber = Subscriber()
    subscriber.revision = 10
    batches = [Batch(r, r + 1, ((r + 1, sse("patch", b"{}")),)) for r in range(10, 11 + BACKLOG)]
    for batch in batches[:BACKLOG]:
        subscriber.offer(batch)
    assert not subscriber.has_gap(feed_revision=10 + BACKLOG)
    subscriber.offer(batches[BACKLOG])  # the oldest waiting batch is dropped
    assert subscriber.has_gap(feed_revision=11 + BACKLOG)
