"""The migrations build the schema the code declares, on both databases, and go back down."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect

from _services import database_for
from vexil.server._db import alembic_config, upgrade
from vexil.server._settings import Settings
from vexil.server._tables import metadata


def _settings(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    return Settings(database_url=database_for(backend, request, tmp_path, "vexil_migrations"))


@contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    engine = create_engine(settings.sqlalchemy_url())
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migrated_schema_is_the_declared_one(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = _settings(backend, request, tmp_path)
    with _engine(settings) as engine:
        upgrade(settings, engine)
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert differences == []


def test_the_latest_migration_goes_down_and_up_again(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = _settings("sqlite", request, tmp_path)
    with _engine(settings) as engine:
        upgrade(settings, engine)
        with engine.connect() as conn:
            config = alembic_config(settings)
            config.attributes["connection"] = conn
            command.downgrade(config, "-1")
        assert "experiments" not in inspect(engine).get_table_names()
        upgrade(settings, engine)
        assert "experiments" in inspect(engine).get_table_names()
