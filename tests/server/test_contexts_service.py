"""Contexts seen are upserted: one row per context, the newest attributes, a widening window."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from vexil.server._contexts import record_contexts
from vexil.server._projects import environment_row, project_row
from vexil.server._store import Store
from vexil.server._tables import contexts


def _rows(store: Store, env_id: int) -> dict[str, dict[str, object]]:
    with store.read() as conn:
        found = conn.execute(select(contexts).where(contexts.c.environment_id == env_id))
        return {row.key: dict(row._mapping) for row in found}


def _env_id(store: Store, project: str) -> int:
    with store.read() as conn:
        return int(environment_row(conn, project_row(conn, project).id, "development").id)


def test_a_context_is_one_row_with_its_newest_attributes(
    store: Store, api: httpx.Client, project: str
) -> None:
    env_id = _env_id(store, project)
    with store.write() as tx:
        record_contexts(
            tx.conn,
            env_id,
            [
                ("u-1", {"key": "u-1", "plan": "free"}, 1_700_000_100.0),
                ("u-1", {"key": "u-1", "plan": "pro"}, 1_700_000_200.0),
                ("u-2", {"key": "u-2", "anonymous": True}, 1_700_000_150.0),
            ],
        )
    with store.write() as tx:  # an older batch arriving late changes only first_seen
        record_contexts(tx.conn, env_id, [("u-1", {"key": "u-1", "plan": "old"}, 1_700_000_000.0)])
    rows = _rows(store, env_id)
    assert set(rows) == {"u-1", "u-2"}
    assert rows["u-1"]["attributes"] == {"plan": "pro"}
    assert rows["u-1"]["anonymous"] is False
    assert rows["u-1"]["first_seen"] == datetime.fromtimestamp(1_700_000_000.0, UTC)
    assert rows["u-1"]["last_seen"] == datetime.fromtimestamp(1_700_000_200.0, UTC)
    assert rows["u-2"]["anonymous"] is True
    with store.write() as tx:  # a newer sighting replaces the attributes
        record_contexts(tx.conn, env_id, [("u-1", {"key": "u-1", "plan": "team"}, 1_700_000_300.0)])
    rows = _rows(store, env_id)
    assert rows["u-1"]["attributes"] == {"plan": "team"}
    assert rows["u-1"]["last_seen"] == datetime.fromtimestamp(1_700_000_300.0, UTC)
    assert rows["u-1"]["first_seen"] == datetime.fromtimestamp(1_700_000_000.0, UTC)
