"""Database engine and session helpers, and schema migration through Alembic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from sourcing.domain.errors import ConfigurationError, ServiceUnavailableError

# The driver errors that mean "the database is there but not now", not a bug in a query.
UNAVAILABLE_ERRORS = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)


def make_engine(
    url: str, *, echo: bool = False, timeout_s: float = 30.0, max_connections: int = 50
) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout of `timeout_s`,
    PostgreSQL a connect timeout; both a pool wait of `timeout_s`.

    A request holds one connection while a service it calls takes a second: with fewer
    connections than worker threads (anyio's 40) every one can end up held by a thread
    waiting for another, and all wait out the pool timeout. So `max_connections` stays above
    the thread count."""
    pool: dict[str, Any] = {
        "pool_size": min(10, max_connections),
        "max_overflow": max(0, max_connections - 10),
        "pool_timeout": timeout_s,
    }
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(f"database URL {url!r} is not valid: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        if parsed.database in (None, "", ":memory:"):
            pool = {}  # one in-memory database per connection: SQLAlchemy pins a single one
        connect_args = {"timeout": timeout_s}
        engine = create_engine(url, echo=echo, connect_args=connect_args, **pool)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    postgres = parsed.get_backend_name() == "postgresql"
    connect_args = {"connect_timeout": max(1, round(timeout_s))} if postgres else {}
    return create_engine(url, echo=echo, pool_pre_ping=True, connect_args=connect_args, **pool)


def database_unavailable(exc: sa_exc.SQLAlchemyError) -> ServiceUnavailableError:
    """The 503 for one of UNAVAILABLE_ERRORS: the database locked, unreachable or out of
    connections."""
    if isinstance(exc, sa_exc.TimeoutError):
        return ServiceUnavailableError(
            "the database has no free connection; try again shortly", retry_after_s=2
        )
    reason = str(getattr(exc, "orig", exc)).lower()
    if "locked" in reason or "busy" in reason:
        return ServiceUnavailableError(
            "the database is locked by another writer; try again shortly", retry_after_s=2
        )
    # The driver's text names hosts and ports: it goes to the log, not to the caller.
    return ServiceUnavailableError(
        "the database is unreachable; try again shortly", retry_after_s=5
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("sourcing.domain") / "migrations")
    )
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision` (idempotent)."""
    command.upgrade(alembic_config(engine), revision)
