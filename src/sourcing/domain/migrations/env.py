"""Alembic environment: runs against the engine the caller put in the config's attributes."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import sourcing.domain.tables  # noqa: F401  (registers the tables on the metadata)

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
