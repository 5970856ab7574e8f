"""The composition root: builds every long-lived client once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from sourcing.app.settings import Settings
from sourcing.domain.db import make_engine, migrate


@dataclass(frozen=True)
class Container:
    settings: Settings
    engine: Engine

    def close(self) -> None:
        self.engine.dispose()


def build_container(settings: Settings, *, run_migrations: bool = True) -> Container:
    engine = make_engine(settings.resolved_database_url)
    if run_migrations:
        migrate(engine)
    return Container(settings=settings, engine=engine)
