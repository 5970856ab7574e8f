"""An engine-neutral logical dump of every table: JSON-safe rows out, a transactional load in."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, Engine, Table, func, inspect, select, text
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

import sourcing.domain.tables  # noqa: F401  (registers the tables on the metadata)
from sourcing.domain.db import alembic_config
from sourcing.domain.errors import BadInputError, ConfigurationError, ConflictError

_BATCH = 1000
_ALEMBIC_TABLE = "alembic_version"


class BadBackupError(BadInputError):
    """A backup that is incomplete, corrupted or does not fit this schema."""

    code = "bad_backup"


class TargetNotEmptyError(ConflictError):
    code = "target_not_empty"


def schema_tables() -> list[Table]:
    """Every table of the schema, parents before children (the order a load must follow)."""
    return list(SQLModel.metadata.sorted_tables)


def head_revision(engine: Engine) -> str | None:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _check_schema(connection: Connection) -> None:
    found = set(inspect(connection).get_table_names()) - {_ALEMBIC_TABLE}
    declared = {table.name for table in schema_tables()}
    if found != declared:
        raise ConfigurationError(
            "the database schema does not match this version's tables; run `sourcing db upgrade`",
            unknown=sorted(found - declared),
            missing=sorted(declared - found),
        )


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One connection that sees a single consistent state of the database while it reads."""
    if engine.dialect.name == "sqlite":
        # pysqlite runs SELECTs outside a transaction; an explicit BEGIN pins one WAL snapshot.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("BEGIN")
            try:
                _check_schema(connection)
                yield connection
            finally:
                connection.exec_driver_sql("ROLLBACK")
        return
    options = {"isolation_level": "REPEATABLE READ"}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        _check_schema(connection)
        yield connection


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def table_rows(connection: Connection, table: Table) -> Iterator[dict[str, Any]]:
    """The rows of `table` as JSON-safe dicts, in primary-key order, streamed."""
    query = select(table).order_by(*table.primary_key.columns)
    result = connection.execution_options(yield_per=_BATCH).execute(query)
    for row in result.mappings():
        yield {key: _encode(value) for key, value in row.items()}


def row_counts(connection: Connection) -> dict[str, int]:
    return {
        table.name: int(connection.execute(select(func.count()).select_from(table)).scalar_one())
        for table in schema_tables()
    }


def _python_type(column: Column[Any]) -> type | None:
    kind: Any = column.type
    if isinstance(kind, TypeDecorator):  # UTCDateTime says `object`; what it stores decides
        kind = kind.impl_instance
    try:
        python_type: type = kind.python_type
    except NotImplementedError:
        return None
    return python_type


def _decoder(table: Table) -> Any:
    kinds = {column.name: _python_type(column) for column in table.columns}

    def decode(row: dict[str, Any], where: str) -> dict[str, Any]:
        unknown = row.keys() - kinds.keys()
        if unknown:
            raise BadBackupError(f"{where}: unknown columns {sorted(unknown)} for {table.name}")
        decoded: dict[str, Any] = {}
        for key, value in row.items():
            kind = kinds[key]
            try:
                if value is not None and kind is datetime:
                    value = datetime.fromisoformat(value)
                elif value is not None and kind is date:
                    value = date.fromisoformat(value)
            except (TypeError, ValueError) as exc:
                raise BadBackupError(f"{where}: {key}: {exc}") from exc
            decoded[key] = value
        return decoded

    return decode


def _reset_sequences(connection: Connection, table: Table) -> None:
    """PostgreSQL serials do not move on explicit ids; the next insert must not collide."""
    column = table.autoincrement_column
    if connection.dialect.name != "postgresql" or column is None:
        return
    connection.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence(:table, :column), "
            f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'
        ),
        {"table": table.name, "column": column.name},
    )


def load_tables(
    engine: Engine,
    sources: Iterable[tuple[str, Iterable[tuple[str, dict[str, Any]]]]],
    *,
    revision: str | None,
    replace: bool = False,
) -> dict[str, int]:
    """Load dumped rows, table by table in the given order, in one transaction.

    `sources` yields (table name, (where, row) pairs), `where` naming the row for errors. The
    target must be at `revision` and empty unless `replace`, which first deletes every row.
    Any failure rolls everything back.
    """
    tables = {table.name: table for table in schema_tables()}
    loaded: dict[str, int] = {}
    with engine.begin() as connection:
        _check_schema(connection)
        found = current_revision(connection)
        if found != revision:
            raise ConfigurationError(
                f"the backup is at schema revision {revision} but this database is at {found}; "
                "restore it with the version of the service that made it",
                backup_revision=revision,
                database_revision=found,
            )
        counts = {name: count for name, count in row_counts(connection).items() if count}
        if counts and not replace:
            raise TargetNotEmptyError(
                "the target database is not empty; restore into an empty one, or pass --force "
                "to replace its contents",
                rows=counts,
            )
        for table in reversed(schema_tables()):
            if counts.get(table.name):
                connection.execute(table.delete())
        for name, rows in sources:
            table = tables.get(name)
            if table is None:
                raise BadBackupError(f"the backup has a table {name!r} this schema lacks")
            loaded[name] = _insert(connection, table, rows)
            _reset_sequences(connection, table)
    return loaded


def _insert(
    connection: Connection, table: Table, rows: Iterable[tuple[str, dict[str, Any]]]
) -> int:
    decode = _decoder(table)
    batch: list[dict[str, Any]] = []
    total = 0
    last_where = table.name
    for where, row in rows:
        batch.append(decode(row, where))
        last_where = where
        if len(batch) == _BATCH:
            total += _flush(connection, table, batch, last_where)
    return total + _flush(connection, table, batch, last_where)


def _flush(connection: Connection, table: Table, batch: list[dict[str, Any]], where: str) -> int:
    if not batch:
        return 0
    try:
        connection.execute(table.insert(), batch)
    except (DBAPIError, StatementError) as exc:
        raise BadBackupError(
            f"rows of {table.name} up to {where} do not load: {exc.orig or exc}"
        ) from exc
    count = len(batch)
    batch.clear()
    return count
