"""Alembic migrations build exactly the schema the tables declare, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import sourcing.domain.tables  # noqa: F401  (registers the tables)
from sourcing.domain.db import alembic_config, migrate


def _schema_drift(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_migrated_schema_matches_the_tables(engine: Engine) -> None:
    assert _schema_drift(engine) == []


def test_downgrade_then_upgrade_round_trips(engine: Engine) -> None:
    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    migrate(engine)  # a second upgrade is a no-op
    assert _schema_drift(engine) == []
    assert "product" in inspect(engine).get_table_names()
