"""Segments, per environment.

Segments live in an environment rather than a project: the people in them differ
between environments (test accounts in development, customers in production), and
an SDK receives exactly one environment's document.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ._errors import Conflict, NotFound
from ._projects import check_key, check_version, could_exist, environment_row, project_row
from ._store import Store, now
from ._tables import segments

FIELDS = ("name", "description", "included", "excluded", "rules")


def segment_row(conn: Connection, env_id: int, key: str) -> Any:
    row = None
    if could_exist(key):
        row = conn.execute(
            select(segments).where(segments.c.environment_id == env_id, segments.c.key == key)
        ).first()
    if row is None:
        raise NotFound(f"no segment {key!r}", field="segment")
    return row


def segment_json(row: Any) -> dict[str, Any]:
    return {
        "key": row.key,
        **row.body,
        "version": row.version,
        "updated_at": row.updated_at.isoformat(),
    }


def _body(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in FIELDS if k in data}


def list_segments(store: Store, project: str, env: str) -> list[dict[str, Any]]:
    with store.read() as conn:
        erow = environment_row(conn, project_row(conn, project).id, env)
        rows = conn.execute(
            select(segments).where(segments.c.environment_id == erow.id).order_by(segments.c.key)
        )
        return [segment_json(r) for r in rows]


def get_segment(store: Store, project: str, env: str, key: str) -> dict[str, Any]:
    with store.read() as conn:
        erow = environment_row(conn, project_row(conn, project).id, env)
        return segment_json(segment_row(conn, erow.id, key))


def put_segment(
    store: Store,
    actor: str,
    project: str,
    env: str,
    key: str,
    data: dict[str, Any],
    if_version: int | None,
    *,
    create_only: bool = False,
    comment: str = "",
) -> tuple[dict[str, Any], bool]:
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
        tx.audit(
            actor,
            "segment.create" if row is None else "segment.update",
            "segment",
            key,
            project_id=prow.id,
            env_id=erow.id,
            before=None if row is None else segment_json(row),
            after=after,
            comment=comment,
        )
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
        tx.audit(
            actor,
            "segment.delete",
            "segment",
            key,
            project_id=prow.id,
            env_id=erow.id,
            before=segment_json(row),
        )
