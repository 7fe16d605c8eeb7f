"""The database: engine creation, SQLite tuning, migrations.

SQLite runs in WAL mode (readers never wait for the writer) with foreign keys on,
and every write transaction starts with ``BEGIN IMMEDIATE``: two writers then
queue on the lock instead of failing with "database is locked" halfway.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

from ._settings import Settings

MIGRATIONS = Path(__file__).parent / "_migrations"


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url()
    if settings.is_sqlite:
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        # Writers take the lock at once; readers never wait (WAL).
        write = conn.get_execution_options().get("vexil_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url())
    return config


def upgrade(settings: Settings, engine: Engine | None = None) -> None:
    """Bring the schema up to date (what ``vexil db upgrade`` and start-up run)."""
    config = alembic_config(settings)
    if engine is not None:
        with engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    else:
        command.upgrade(config, "head")
