"""A sync run: read a feed, validate rows, diff by content hash and upsert in batches."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine

from sourcing.catalog_sync.columns import ColumnReader, FeedKind
from sourcing.catalog_sync.diff import EventDraft, product_events
from sourcing.catalog_sync.feeds import RawRow, read_feed
from sourcing.catalog_sync.normalise import (
    PRODUCT_COLUMNS,
    SUPPLIER_COLUMNS,
    RowError,
    clean_text,
    normalise_product,
    normalise_supplier,
)
from sourcing.domain.db import transaction
from sourcing.domain.errors import BadInputError
from sourcing.domain.kinds import CatalogEventKind, SkuStatus, SyncMode, SyncStatus
from sourcing.domain.records import ProductRecord, ProductState, SupplierRecord
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.types import utcnow
from sourcing.retrieval.indexer import Indexer

ProgressCallback = Callable[[int], None]
DEFAULT_BATCH_SIZE = 500


class RejectedRow(BaseModel):
    file: str
    line: int
    id: str = ""
    field: str
    reason: str


class SyncReport(BaseModel):
    """What a run did; `changed_ids` are the products whose index entry must be refreshed."""

    run_id: int
    source: str
    kind: FeedKind
    mode: SyncMode
    rows_read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    delisted: int = 0
    rejected_rows: int = 0
    rejected: list[RejectedRow] = []
    events_by_kind: dict[str, int] = {}
    changed_ids: list[str] = []
    indexed: int = 0  # products re-embedded into the search index after the run
    unknown_columns: list[str] = []
    read_as: dict[str, str] = {}  # a feed's own header → the column it was read as
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0

    def counts(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "delisted": self.delisted,
            "rejected_rows": self.rejected_rows,
            **{f"events.{kind}": n for kind, n in self.events_by_kind.items()},
        }


@dataclass
class _RunState:
    file: str
    report: SyncReport
    seen: dict[str, int] = field(default_factory=dict)  # id -> first line
    events: Counter[str] = field(default_factory=Counter)
    rejected_lines: set[int] = field(default_factory=set)
    only_supplier: str | None = None  # a merchant's feed: its own supplier's rows only

    def reject(self, line: int, row_id: str, field_name: str, reason: str) -> None:
        self.report.rejected.append(
            RejectedRow(file=self.file, line=line, id=row_id, field=field_name, reason=reason)
        )
        self.rejected_lines.add(line)


def sync_feed(
    engine: Engine,
    path: Path,
    *,
    kind: FeedKind = "products",
    mode: SyncMode = SyncMode.SNAPSHOT,
    source: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    indexer: Indexer | None = None,
    column_map: Mapping[str, str] | None = None,
    only_supplier: str | None = None,
    run_id: int | None = None,
) -> SyncReport:
    """Sync the feed file at `path`; the source defaults to the file name without extension.
    `column_map` ({header: column}) is saved for the source and read with its later feeds;
    with `only_supplier`, a row of another supplier is rejected (a merchant's own feed);
    with `run_id`, the events go to that run, opened again (a redone job's first attempt
    started it), so one feed is one run however often it was interrupted.

    With an `indexer`, the products the run changed are re-embedded (only those); a crash
    before that leaves work for `Indexer.catch_up`, which the server runs at start.
    """
    report = sync_rows(
        engine,
        read_feed(path),
        file=path.name,
        kind=kind,
        mode=mode,
        source=source or path.stem,
        batch_size=batch_size,
        progress=progress,
        column_map=column_map,
        only_supplier=only_supplier,
        run_id=run_id,
    )
    if indexer is not None and report.changed_ids:
        report.indexed = indexer.refresh(report.changed_ids).embedded
    return report


def sync_rows(
    engine: Engine,
    rows: Iterable[RawRow],
    *,
    file: str,
    kind: FeedKind,
    mode: SyncMode,
    source: str,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressCallback | None = None,
    column_map: Mapping[str, str] | None = None,
    only_supplier: str | None = None,
    run_id: int | None = None,
) -> SyncReport:
    if batch_size < 1:
        raise BadInputError("batch size must be at least 1")
    started = time.perf_counter()
    with transaction(engine) as session:
        catalog = CatalogRepository(session)
        if column_map:
            catalog.save_column_map(source, kind, dict(column_map))
        saved = catalog.column_map(source, kind)
        if run_id is None:
            run = catalog.start_sync_run(source=source, path=file, kind=kind, mode=mode)
        else:
            run = catalog.reopen_sync_run(run_id)
    assert run.id is not None
    state = _RunState(
        file,
        SyncReport(run_id=run.id, source=source, kind=kind, mode=mode),
        only_supplier=only_supplier,
    )
    columns = ColumnReader(kind, saved)
    state.report.read_as = columns.read_as
    apply = _ProductBatch if kind == "products" else _SupplierBatch
    try:
        pending: list[tuple[int, Any]] = []
        for raw in columns.rows(rows):
            state.report.rows_read += 1
            record = _validate(raw, kind, state)
            if record is not None:
                pending.append((raw.line, record))
            if len(pending) >= batch_size:
                apply(engine, state, run.id).write(pending)
                pending = []
            if progress is not None:
                progress(state.report.rows_read)
        apply(engine, state, run.id).write(pending)
        if mode == SyncMode.SNAPSHOT:
            apply(engine, state, run.id).retire_absent(source)
    except BaseException as exc:
        _finish(engine, state, started, SyncStatus.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    _finish(engine, state, started, SyncStatus.COMPLETED)
    return state.report


def _validate(raw: RawRow, kind: FeedKind, state: _RunState) -> Any:
    """The normalised record of a row, or None after reporting why it was rejected."""
    row_id = clean_text(raw.data.get("id", "") or "")[:64]
    if raw.error:
        state.reject(raw.line, row_id, "row", raw.error)
        return None
    known = PRODUCT_COLUMNS if kind == "products" else SUPPLIER_COLUMNS
    unknown = raw.data.keys() - known - set(state.report.unknown_columns)
    state.report.unknown_columns.extend(sorted(key for key in unknown if key))
    first_line = state.seen.get(row_id)
    if row_id and first_line is not None:
        state.reject(raw.line, row_id, "id", f"duplicate id; first seen at line {first_line}")
        return None
    if row_id:
        # Rejected rows count as seen too: a snapshot must not delist a product whose row
        # merely failed validation this time.
        state.seen[row_id] = raw.line
    if state.only_supplier is not None and not _own_row(raw, kind, state, row_id):
        return None
    try:
        return normalise_product(raw.data) if kind == "products" else normalise_supplier(raw.data)
    except RowError as exc:
        for issue in exc.issues:
            state.reject(raw.line, row_id, issue.field, issue.reason)
        return None


def _own_row(raw: RawRow, kind: FeedKind, state: _RunState, row_id: str) -> bool:
    """Whether a merchant's row is its own supplier's (a product without one becomes so)."""
    own = state.only_supplier
    field_name = "supplier_id" if kind == "products" else "id"
    found = clean_text(raw.data.get(field_name, "") or "")
    if kind == "products" and not found:
        raw.data["supplier_id"] = own
        return True
    if found != own:
        reason = f"a merchant key loads only its own supplier's rows ({own}), not {found[:64]!r}"
        state.reject(raw.line, row_id, field_name, reason)
        return False
    return True


def _finish(
    engine: Engine, state: _RunState, started: float, status: SyncStatus, error: str = ""
) -> None:
    report = state.report
    report.rejected_rows = len(state.rejected_lines)
    report.events_by_kind = dict(sorted(state.events.items()))
    report.seconds = time.perf_counter() - started
    with transaction(engine) as session:
        CatalogRepository(session).finish_sync_run(
            report.run_id, status=status, counts=report.counts(), error=error[:2000]
        )


@dataclass
class _ProductWrites:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    sku_inserts: list[dict[str, Any]] = field(default_factory=list)
    sku_updates: list[dict[str, Any]] = field(default_factory=list)
    events: list[EventDraft] = field(default_factory=list)


class _ProductBatch:
    """Writes one batch of product records, their SKUs and events in one transaction."""

    def __init__(self, engine: Engine, state: _RunState, run_id: int) -> None:
        self.engine, self.state, self.run_id = engine, state, run_id
        self.now = utcnow()

    def write(self, batch: list[tuple[int, ProductRecord]]) -> None:
        if not batch:
            return
        with transaction(self.engine) as session:
            repo = CatalogRepository(session)
            batch = self._with_known_suppliers(repo, batch)
            states = repo.product_states([record.id for _, record in batch])
            writes = _ProductWrites()
            for _, record in batch:
                content_hash = record.content_hash()
                old = states.get(record.id)
                if old is not None and old.content_hash == content_hash:
                    self.state.report.unchanged += 1
                    continue
                self._plan(writes, record, old, content_hash)
            repo.insert_products(writes.inserts)
            repo.update_products(writes.updates)
            repo.insert_skus(writes.sku_inserts)
            repo.update_skus(writes.sku_updates)
            repo.add_events(self._event_rows(writes.events))

    def _plan(
        self, writes: _ProductWrites, record: ProductRecord, old: ProductState | None, digest: str
    ) -> None:
        values = record.table_values() | {
            "content_hash": digest,
            "feed_source": self.state.report.source,
            "updated_at": self.now,
        }
        if old is None:
            writes.inserts.append(values | {"first_seen_at": self.now})
            self.state.report.added += 1
        else:
            writes.updates.append(values)
            self.state.report.updated += 1
        known_skus = set(old.skus) if old else set()
        for sku in record.skus:
            sku_values = sku.model_dump() | {"product_id": record.id, "status": SkuStatus.ACTIVE}
            (writes.sku_updates if sku.id in known_skus else writes.sku_inserts).append(sku_values)
        for gone in sorted(known_skus - {sku.id for sku in record.skus}):
            writes.sku_updates.append(
                {"product_id": record.id, "id": gone, "status": SkuStatus.REMOVED}
            )
        writes.events += product_events(old, record)
        self.state.report.changed_ids.append(record.id)

    def _with_known_suppliers(
        self, repo: CatalogRepository, batch: list[tuple[int, ProductRecord]]
    ) -> list[tuple[int, ProductRecord]]:
        wanted = {record.supplier_id for _, record in batch if record.supplier_id}
        known = repo.existing_supplier_ids(wanted)
        kept = []
        for line, record in batch:
            if record.supplier_id and record.supplier_id not in known:
                self.state.reject(
                    line, record.id, "supplier_id", f"unknown supplier {record.supplier_id!r}"
                )
            else:
                kept.append((line, record))
        return kept

    def _event_rows(self, events: list[EventDraft]) -> list[dict[str, Any]]:
        self.state.events.update(event.kind.value for event in events)
        return [
            {
                "sync_run_id": self.run_id,
                "kind": event.kind.value,
                "product_id": event.product_id,
                "sku_id": event.sku_id,
                "old_value": event.old_value,
                "new_value": event.new_value,
                "created_at": self.now,
            }
            for event in events
        ]

    def retire_absent(self, source: str) -> None:
        with transaction(self.engine) as session:
            repo = CatalogRepository(session)
            absent = repo.active_product_ids(source) - self.state.seen.keys()
            repo.delist_products(absent, self.now)
            drafts = [EventDraft(CatalogEventKind.PRODUCT_DELISTED, pid) for pid in sorted(absent)]
            repo.add_events(self._event_rows(drafts))
            self.state.report.delisted += len(absent)
            self.state.report.changed_ids.extend(sorted(absent))


class _SupplierBatch:
    """Writes one batch of supplier records in one transaction."""

    def __init__(self, engine: Engine, state: _RunState, run_id: int) -> None:
        self.engine, self.state = engine, state
        self.now: datetime = utcnow()

    def write(self, batch: list[tuple[int, SupplierRecord]]) -> None:
        if not batch:
            return
        with transaction(self.engine) as session:
            repo = CatalogRepository(session)
            hashes = repo.supplier_hashes([record.id for _, record in batch])
            inserts, updates = [], []
            for _, record in batch:
                content_hash = record.content_hash()
                if hashes.get(record.id) == content_hash:
                    self.state.report.unchanged += 1
                    continue
                values = record.table_values() | {
                    "content_hash": content_hash,
                    "feed_source": self.state.report.source,
                    "updated_at": self.now,
                }
                if record.id in hashes:
                    updates.append(values)
                    self.state.report.updated += 1
                else:
                    inserts.append(values | {"first_seen_at": self.now})
                    self.state.report.added += 1
            repo.insert_suppliers(inserts)
            repo.update_suppliers(updates)

    def retire_absent(self, source: str) -> None:
        with transaction(self.engine) as session:
            repo = CatalogRepository(session)
            absent = repo.active_supplier_ids(source) - self.state.seen.keys()
            repo.suspend_suppliers(absent, self.now)
            self.state.report.delisted += len(absent)
