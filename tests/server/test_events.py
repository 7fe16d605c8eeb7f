"""SDK events (``/sdk/v1/events``) end to end, on SQLite and on PostgreSQL."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

from _services import VexilServer, sdk_key

LIMIT = 1_048_576  # the default max_event_bytes
NOW = 1700000000


@pytest.fixture
def key(admin: httpx.Client, project: str) -> str:
    return sdk_key(admin, project)


def post(client: httpx.Client, key: str, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post(
        "/sdk/v1/events",
        content=content,
        headers={"Authorization": key, "Content-Type": "application/json", **headers},
    )


def query(server: VexilServer, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows straight from the server's database."""
    url = server.database_url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def summary(flag: str, *counters: tuple[str | None, int]) -> dict[str, Any]:
    now = time.time()
    return {
        "kind": "summary",
        "start": now - 60,
        "end": now,
        "counters": [{"flag": flag, "variant": v, "count": n} for v, n in counters],
    }


def counts(server: VexilServer, flag: str) -> list[tuple[Any, ...]]:
    return query(
        server,
        "SELECT variant, count FROM evaluation_counts WHERE flag_key = :flag ORDER BY variant",
        flag=flag,
    )


def test_summaries_are_stored_and_counted(
    server: VexilServer, anon: httpx.Client, key: str
) -> None:
    flag = f"f-{uuid.uuid4().hex[:8]}"
    evaluations = metric(anon, "vexil_evaluations_reported_total")
    summaries = metric(anon, "vexil_events_ingested_total", kind="summary")
    batch = [summary(flag, ("on", 300), ("off", 700)), summary(flag, (None, 5))]
    response = post(anon, key, batch)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2}
    assert sorted(counts(server, flag), key=repr) == sorted(
        [("on", 300), ("off", 700), (None, 5)], key=repr
    )
    stored = query(
        server,
        "SELECT period_start, period_end FROM evaluation_counts WHERE flag_key = :flag",
        flag=flag,
    )
    assert {round(end - start) for start, end in stored} == {60}
    assert metric(anon, "vexil_evaluations_reported_total") == evaluations + 1005
    assert metric(anon, "vexil_events_ingested_total", kind="summary") == summaries + 2


def test_track_and_identify_events_are_stored(
    server: VexilServer, anon: httpx.Client, key: str
) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    context = {"key": user, "plan": "pro"}
    batch = [
        {"kind": "identify", "context": context, "at": 1700000000.5},
        {
            "kind": "track",
            "name": "checkout",
            "context": context,
            "value": 42.5,
            "data": {"items": 3},
            "at": 1700000001,
        },
        {"kind": "track", "name": "visit", "context": {"key": user}, "at": 1700000002},
    ]
    response = post(anon, key, batch)
    assert response.status_code == 202, response.text
    rows = query(
        server,
        "SELECT kind, name, value, at FROM custom_events WHERE context_key = :user ORDER BY at",
        user=user,
    )
    assert rows == [
        ("identify", None, None, 1700000000.5),
        ("track", "checkout", 42.5, 1700000001.0),
        ("track", "visit", None, 1700000002.0),
    ]
    sql = "SELECT context, data FROM custom_events WHERE name = 'checkout' AND context_key = :u"
    stored = query(server, sql, u=user)
    decoded = [tuple(json.loads(v) if isinstance(v, str) else v for v in row) for row in stored]
    assert decoded == [(context, {"items": 3})]


def test_a_gzip_batch_is_accepted(server: VexilServer, anon: httpx.Client, key: str) -> None:
    flag = f"f-{uuid.uuid4().hex[:8]}"
    body = gzip.compress(json.dumps([summary(flag, ("on", 12))]).encode())
    response = post(anon, key, body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 202, response.text
    assert counts(server, flag) == [("on", 12)]


def test_a_batch_over_the_limit_gets_413(anon: httpx.Client, key: str) -> None:
    event = {"kind": "track", "name": "big", "context": {}, "data": "x" * LIMIT, "at": NOW}
    body = json.dumps([event]).encode()
    response = post(anon, key, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_a_streamed_body_over_the_limit_gets_413(anon: httpx.Client, key: str) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for _ in range(LIMIT // 65536 + 2):
            yield b" " * 65536

    response = anon.post("/sdk/v1/events", content=chunks(), headers={"Authorization": key})
    assert response.status_code == 413


def test_a_gzip_bomb_gets_413(anon: httpx.Client, key: str) -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * LIMIT) + b"]", compresslevel=9)
    assert len(bomb) < LIMIT // 10
    response = post(anon, key, bomb, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "decompressed" in response.json()["error"]["message"]


def counted(count: Any) -> dict[str, Any]:
    """A summary of one counter of ``count`` evaluations."""
    counter = {"flag": "f", "variant": "on", "count": count}
    return {"kind": "summary", "start": NOW, "end": NOW, "counters": [counter]}


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (b"[{", 400, None),
        ({"kind": "track"}, 422, None),
        ([{"kind": "feature"}], 422, "[0].kind"),
        ([{"name": "x"}], 422, "[0].kind"),
        ([counted(0)], 422, "[0].counters[0].count"),
        ([counted("1")], 422, "[0].counters[0].count"),
        ([counted(2**31)], 422, "[0].counters[0].count"),
        ([{"kind": "summary", "start": NOW, "end": NOW - 1, "counters": []}], 422, "[0].end"),
        ([{"kind": "identify", "at": NOW, "context": {"plan": "pro"}}], 422, "[0].context"),
        ([{"kind": "track", "name": "x", "context": {"key": "u"}, "at": "today"}], 422, "[0].at"),
        ([{"kind": "track", "name": "", "context": {}, "at": NOW}], 422, "[0].name"),
    ],
)
def test_a_malformed_batch_is_refused_naming_the_field(
    anon: httpx.Client, key: str, body: Any, status: int, field: str | None
) -> None:
    response = post(anon, key, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert error["message"]


def test_a_batch_is_stored_whole_or_not_at_all(
    server: VexilServer, anon: httpx.Client, key: str
) -> None:
    flag = f"f-{uuid.uuid4().hex[:8]}"
    batch = [summary(flag, ("on", 1)), {"kind": "track", "name": "x", "context": {}, "at": -1}]
    response = post(anon, key, batch)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "[1].at"
    assert counts(server, flag) == []


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [
        (b"not gzip at all", "gzip", 400),
        (gzip.compress(b"[]")[:-6], "gzip", 400),  # truncated
        (b"[]", "br", 415),
    ],
)
def test_a_bad_content_encoding_is_refused(
    anon: httpx.Client, key: str, body: bytes, encoding: str, status: int
) -> None:
    response = post(anon, key, body, **{"Content-Encoding": encoding})
    assert response.status_code == status
    assert response.json()["error"]["field"] == "Content-Encoding"


def test_events_need_a_server_key(admin: httpx.Client, anon: httpx.Client, project: str) -> None:
    assert post(anon, "", []).status_code == 401
    assert post(anon, "vx-srv-not-a-key", []).status_code == 401
    client_key = sdk_key(admin, project, kind="client")
    assert post(anon, client_key, []).status_code == 403


def test_identify_events_fill_the_contexts_of_their_environment(
    server: VexilServer, anon: httpx.Client, key: str
) -> None:
    user = f"u-{uuid.uuid4().hex[:8]}"
    batch = [
        {"kind": "identify", "context": {"key": user, "plan": "free"}, "at": 1700000000.0},
        {"kind": "identify", "context": {"key": user, "plan": "pro"}, "at": 1700000100.0},
        {"kind": "track", "name": "visit", "context": {"key": f"{user}-t"}, "at": 1700000002},
    ]
    response = post(anon, key, batch)
    assert response.status_code == 202, response.text
    rows = query(server, "SELECT key, attributes FROM contexts WHERE key LIKE :u", u=f"{user}%")
    decoded = [(k, json.loads(v) if isinstance(v, str) else v) for k, v in rows]
    assert decoded == [(user, {"plan": "pro"})]  # one row, the newest; track adds none
