"""``INSERT ... ON CONFLICT`` on both databases, and the two-value ``least``/``greatest``.

SQLAlchemy spells an upsert per dialect; the rows written this way (contexts seen,
first exposures) arrive from many SDKs at once, so a read-then-write would race.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import ColumnElement


def insert_for(conn: Connection, table: Table) -> Any:
    """The dialect's ``insert(table)``, which has ``on_conflict_do_update/nothing``."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def least(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """The smaller of two values (SQLite's two-argument ``min``, PostgreSQL's ``least``)."""
    return func.least(a, b) if conn.dialect.name == "postgresql" else func.min(a, b)


def greatest(conn: Connection, a: Any, b: Any) -> ColumnElement[Any]:
    """The larger of two values."""
    return func.greatest(a, b) if conn.dialect.name == "postgresql" else func.max(a, b)
