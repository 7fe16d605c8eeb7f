"""Segments, per environment.

Segments live in an environment rather than a project: the people in them differ
between environments (test accounts in development, customers in production), and
an SDK receives exactly one environment's document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, cast

from sqlalchemy import Connection, delete, insert, select, update
from typing_extensions import TypedDict

from ._clock import now
from ._errors import Conflict
from ._projects import check_key, check_version, environment_row, keyed_row, project_row
from ._rows import Row
from ._store import Store
from ._tables import segments

FIELDS = ("name", "description", "included", "excluded", "rules")


class Segment(TypedDict):
    """A segment: its key, the fields it was given (in the order stored), its version."""

    key: str
    name: NotRequired[str]
    description: NotRequired[str]
    included: NotRequired[list[str]]
    excluded: NotRequired[list[str]]
    rules: NotRequired[list[dict[str, Any]]]
    version: int
    updated_at: str


def segment_row(conn: Connection, env_id: int, key: str) -> Row:
    query = select(segments).where(segments.c.environment_id == env_id, segments.c.key == key)
    return keyed_row(conn, query, "segment", key)


def segment_json(row: Row) -> Segment:
    # Not from_row: the body's fields come in the order the database keeps them.
    updated_at = row.updated_at.isoformat()
    return cast(
        Segment, {"key": row.key, **row.body, "version": row.version, "updated_at": updated_at}
    )


def _body(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in FIELDS if k in data}


def list_segments(store: Store, project: str, env: str) -> list[Segment]:
    with store.read() as conn:
        erow = environment_row(conn, project_row(conn, project).id, env)
        rows = conn.execute(
            select(segments).where(segments.c.environment_id == erow.id).order_by(segments.c.key)
        )
        return [segment_json(r) for r in rows]


def get_segment(store: Store, project: str, env: str, key: str) -> Segment:
    with store.read() as conn:
        erow = environment_row(conn, project_row(conn, project).id, env)
        return segment_json(segment_row(conn, erow.id, key))


def put_segment(
    store: Store,
    actor: str,
    project: str,
    env: str,
    key: str,
    data: Mapping[str, Any],
    if_version: int | None,
    *,
    create_only: bool = False,
    comment: str = "",
) -> tuple[Segment, bool]:
    """Create or replace a segment; returns it and whether it was created."""
    check_key(key)
    body = _body(data)
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        erow = environment_row(tx.conn, prow.id, env)
        # Segments are locked through their environment, before anything is read.
        tx.lock_environment(erow.id)
        row = tx.conn.execute(
            select(segments).where(segments.c.environment_id == erow.id, segments.c.key == key)
        ).first()
        if row is not None and create_only:
            raise Conflict(f"segment {key!r} already exists", field="key")
        if row is not None:
            check_version(row.version, if_version)
        tx.validated(erow.id, lambda rs: rs.with_segment(key, body))
        t = now()
        if row is None:
            tx.conn.execute(
                insert(segments).values(
                    environment_id=erow.id,
                    key=key,
                    body=body,
                    version=1,
                    created_at=t,
                    updated_at=t,
                )
            )
        else:
            tx.conn.execute(
                update(segments)
                .where(segments.c.id == row.id)
                .values(body=body, version=row.version + 1, updated_at=t)
            )
        tx.record(erow.id, "segment", key)
        after = segment_json(segment_row(tx.conn, erow.id, key))
        action = "segment.create" if row is None else "segment.update"
        before = None if row is None else segment_json(row)
        tx.audit(actor, action, key, env=erow, before=before, after=after, comment=comment)
    return after, row is None


def delete_segment(store: Store, actor: str, project: str, env: str, key: str) -> None:
    with store.write() as tx:
        prow = project_row(tx.conn, project)
        erow = environment_row(tx.conn, prow.id, env)
        tx.lock_environment(erow.id)
        row = segment_row(tx.conn, erow.id, key)
        tx.validated(erow.id, lambda rs: rs.without_segment(key))
        tx.conn.execute(delete(segments).where(segments.c.id == row.id))
        tx.record(erow.id, "segment", key)
        tx.audit(actor, "segment.delete", key, env=erow, before=segment_json(row))
