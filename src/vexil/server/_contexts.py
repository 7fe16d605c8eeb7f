"""The contexts SDKs identified or exposed: one row each per environment, updated.

Written from the events service (``identify`` events and experiment exposures), read
by the contexts API and page. A row holds the latest attributes seen, and when the
context was first and last seen; contexts marked ``anonymous`` are stored so that
they can be counted, and never listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, case

from ._tables import contexts
from ._upsert import greatest, insert_for, least


def record_contexts(
    conn: Connection, env_id: int, seen: Iterable[tuple[str, Mapping[str, Any], float]]
) -> None:
    """Upsert the contexts ``seen`` as ``(key, context, at)``, ``at`` in Unix seconds.

    The newest attributes win; ``first_seen`` and ``last_seen`` only widen, so that
    batches arriving out of order leave the same rows. The strings are already
    storable (``_events.storable``).
    """
    rows: dict[str, dict[str, Any]] = {}
    for key, context, at in seen:
        when = datetime.fromtimestamp(at, UTC)
        row = rows.get(key)
        if row is None or when >= row["last_seen"]:
            first = when if row is None else min(row["first_seen"], when)
            rows[key] = {
                "environment_id": env_id,
                "key": key,
                "attributes": {k: v for k, v in context.items() if k != "key"},
                "anonymous": context.get("anonymous") is True,
                "first_seen": first,
                "last_seen": when,
            }
        else:
            row["first_seen"] = min(row["first_seen"], when)
    if not rows:
        return
    # Sorted by key, so that two writers upserting overlapping batches on PostgreSQL
    # take the rows' locks in the same order and cannot deadlock.
    values = [rows[k] for k in sorted(rows)]
    statement = insert_for(conn, contexts)
    new = statement.excluded
    newer = new.last_seen >= contexts.c.last_seen
    statement = statement.on_conflict_do_update(
        index_elements=[contexts.c.environment_id, contexts.c.key],
        set_={
            "attributes": case((newer, new.attributes), else_=contexts.c.attributes),
            "anonymous": case((newer, new.anonymous), else_=contexts.c.anonymous),
            "first_seen": least(conn, contexts.c.first_seen, new.first_seen),
            "last_seen": greatest(conn, contexts.c.last_seen, new.last_seen),
        },
    )
    conn.execute(statement, values)
