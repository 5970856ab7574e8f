"""SQL for alerts and for what alert jobs watch: watches, follows, purchases, events, snapshots."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Table, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import AlertSeverity, CatalogEventKind, ProductStatus
from sourcing.domain.tables import (
    Alert,
    Buyer,
    CatalogEvent,
    Follow,
    OrderLine,
    Product,
    PurchaseOrder,
    Supplier,
    SupplierSnapshot,
    SyncRun,
    Watch,
)
from sourcing.domain.types import utcnow

_INSERT_CHUNK = 60  # 13 columns a row stays under SQLite's 999 bound parameters
_IN_CHUNK = 900


def _table(model: type[SQLModel]) -> Table:
    return SQLModel.metadata.tables[str(model.__tablename__)]


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AlertDraft(BaseModel):
    """An alert before it is stored; (buyer_id, dedup_key) says whether it is new."""

    model_config = ConfigDict(frozen=True)

    buyer_id: str
    kind: str
    severity: AlertSeverity = AlertSeverity.INFO
    title: str
    dedup_key: str = Field(min_length=1)
    payload: dict[str, Any] = {}
    action: dict[str, Any] = {}
    product_id: str | None = None
    supplier_id: str | None = None
    source_event_id: int | None = None


class AlertRepository:
    """A buyer's alerts; every read and write is scoped by buyer. Never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_many(self, drafts: Sequence[AlertDraft]) -> list[Alert]:
        """Stores the drafts whose (buyer_id, dedup_key) is new, and returns those only.

        ON CONFLICT DO NOTHING (both dialects) lets a concurrent job insert the same key
        without either run failing on the unique constraint."""
        unique = list({(d.buyer_id, d.dedup_key): d for d in drafts}.values())
        if not unique:
            return []
        now = utcnow()
        rows = [{**draft.model_dump(), "created_at": now, "read_at": None} for draft in unique]
        dialect = self.session.get_bind().dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        table = _table(Alert)
        ids: list[int] = []
        for chunk in _chunks(rows, _INSERT_CHUNK):
            statement = (
                insert_fn(table)
                .values(list(chunk))
                .on_conflict_do_nothing(index_elements=["buyer_id", "dedup_key"])
                .returning(table.c.id)
            )
            ids.extend(int(row[0]) for row in self.session.execute(statement))
        if not ids:
            return []
        query = select(Alert).where(col(Alert.id).in_(ids)).order_by(col(Alert.id))
        return list(self.session.exec(query))

    def for_buyer(
        self,
        buyer_id: str,
        *,
        unread_only: bool = False,
        kinds: Sequence[str] = (),
        severity: AlertSeverity | None = None,
        after_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[Alert]:
        """The buyer's alerts, newest first."""
        query = select(Alert).where(Alert.buyer_id == buyer_id)
        if unread_only:
            query = query.where(col(Alert.read_at).is_(None))
        if kinds:
            query = query.where(col(Alert.kind).in_(list(kinds)))
        if severity is not None:
            query = query.where(Alert.severity == severity)
        if after_id is not None:
            query = query.where(col(Alert.id) > after_id)
        query = query.order_by(col(Alert.id).desc()).offset(offset).limit(limit)
        return list(self.session.exec(query))

    def get(self, buyer_id: str, alert_id: int) -> Alert:
        alert = self.session.get(Alert, alert_id)
        # Another buyer's alert is reported exactly like a missing one: ids leak nothing.
        if alert is None or alert.buyer_id != buyer_id:
            raise NotFoundError(f"no alert {alert_id}", alert_id=alert_id)
        return alert

    def ack(self, buyer_id: str, alert_id: int) -> Alert:
        """Marks the buyer's alert read (acking twice keeps the first time)."""
        alert = self.get(buyer_id, alert_id)
        if alert.read_at is None:
            alert.read_at = utcnow()
            self.session.add(alert)
            self.session.flush()
        return alert

    def since(self, buyer_id: str, after_id: int = 0, limit: int = 100) -> list[Alert]:
        """The buyer's alerts with an id above `after_id`, oldest first: the live stream."""
        query = (
            select(Alert)
            .where(Alert.buyer_id == buyer_id, col(Alert.id) > after_id)
            .order_by(col(Alert.id))
            .limit(limit)
        )
        return list(self.session.exec(query))

    def count_unread(self, buyer_id: str) -> int:
        query = (
            select(func.count())
            .select_from(Alert)
            .where(Alert.buyer_id == buyer_id, col(Alert.read_at).is_(None))
        )
        return int(self.session.exec(query).one())

    def last_id(self, buyer_id: str) -> int:
        """The buyer's newest alert id, 0 when none: where a new live stream starts."""
        query = select(func.max(Alert.id)).where(Alert.buyer_id == buyer_id)
        return int(self.session.exec(query).one() or 0)

    def mark_all_read(self, buyer_id: str) -> int:
        result = self.session.execute(
            update(Alert)
            .where(col(Alert.buyer_id) == buyer_id, col(Alert.read_at).is_(None))
            .values(read_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)


class SourceRepository:
    """What a buyer's sources are (watches, follows, purchases) and what happened to them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def buyer_exists(self, buyer_id: str) -> bool:
        return self.session.get(Buyer, buyer_id) is not None

    def buyer_ids(self) -> list[str]:
        return list(self.session.exec(select(Buyer.id).order_by(col(Buyer.id))))

    def watched(self, buyer_id: str | None = None) -> dict[str, set[str]]:
        """Buyer id → watched product ids."""
        query = sa_select(col(Watch.buyer_id), col(Watch.product_id))
        if buyer_id is not None:
            query = query.where(col(Watch.buyer_id) == buyer_id)
        return _grouped(self.session.execute(query))

    def followed(self, buyer_id: str | None = None) -> dict[str, set[str]]:
        """Buyer id → followed supplier ids."""
        query = sa_select(col(Follow.buyer_id), col(Follow.supplier_id))
        if buyer_id is not None:
            query = query.where(col(Follow.buyer_id) == buyer_id)
        return _grouped(self.session.execute(query))

    def bought(self, buyer_id: str | None = None) -> dict[str, set[str]]:
        """Buyer id → product ids on any of the buyer's order lines."""
        query = sa_select(col(PurchaseOrder.buyer_id), col(OrderLine.product_id)).join(
            OrderLine, col(OrderLine.order_id) == col(PurchaseOrder.id)
        )
        if buyer_id is not None:
            query = query.where(col(PurchaseOrder.buyer_id) == buyer_id)
        return _grouped(self.session.execute(query.distinct()))

    def events(
        self,
        *,
        product_ids: Sequence[str],
        after_id: int | None = None,
        since: datetime | None = None,
        sync_run_id: int | None = None,
    ) -> list[CatalogEvent]:
        """Changes to `product_ids` in the window (every filter given applies), oldest first;
        their additions are left to `added_events`."""
        query = _window(
            select(CatalogEvent).where(col(CatalogEvent.kind) != CatalogEventKind.PRODUCT_ADDED),
            after_id,
            since,
            sync_run_id,
        )
        found: list[CatalogEvent] = []
        for chunk in _chunks(sorted(set(product_ids)), _IN_CHUNK):
            found.extend(self.session.exec(query.where(col(CatalogEvent.product_id).in_(chunk))))
        return sorted(found, key=lambda event: event.id or 0)

    def added_events(
        self,
        *,
        supplier_ids: Sequence[str],
        after_id: int | None = None,
        since: datetime | None = None,
        sync_run_id: int | None = None,
        exclude_runs: Collection[int] = (),
    ) -> list[CatalogEvent]:
        """product_added events of products of `supplier_ids` in the window, oldest first."""
        query = _window(
            select(CatalogEvent)
            .join(Product, col(Product.id) == col(CatalogEvent.product_id))
            .where(col(CatalogEvent.kind) == CatalogEventKind.PRODUCT_ADDED),
            after_id,
            since,
            sync_run_id,
        )
        if exclude_runs:
            query = query.where(col(CatalogEvent.sync_run_id).not_in(sorted(exclude_runs)))
        found: list[CatalogEvent] = []
        for chunk in _chunks(sorted(set(supplier_ids)), _IN_CHUNK):
            found.extend(self.session.exec(query.where(col(Product.supplier_id).in_(chunk))))
        return sorted(found, key=lambda event: event.id or 0)

    def first_run_ids(self) -> set[int]:
        """The first sync run of every feed source: its import, whose additions are not news."""
        query = sa_select(func.min(col(SyncRun.id))).group_by(col(SyncRun.feed_source))
        return {int(run_id) for run_id in self.session.scalars(query) if run_id is not None}

    def suppliers_of(self, product_ids: Sequence[str]) -> dict[str, str]:
        """Product id → supplier id, for the products that have one."""
        found: dict[str, str] = {}
        for chunk in _chunks(sorted(set(product_ids)), _IN_CHUNK):
            query = sa_select(col(Product.id), col(Product.supplier_id)).where(
                col(Product.id).in_(chunk), col(Product.supplier_id).is_not(None)
            )
            found.update({str(pid): str(sid) for pid, sid in self.session.execute(query)})
        return found

    def suppliers(self, ids: Sequence[str]) -> dict[str, Supplier]:
        found: dict[str, Supplier] = {}
        for chunk in _chunks(sorted(set(ids)), _IN_CHUNK):
            query = select(Supplier).where(col(Supplier.id).in_(chunk))
            found.update({supplier.id: supplier for supplier in self.session.exec(query)})
        return found

    # supplier snapshots

    def current_signals(self, day: date) -> list[SupplierSnapshot]:
        """Every supplier's signals now, as the snapshot `day` would store them."""
        active = col(Product.status) == ProductStatus.ACTIVE
        counts = {
            str(sid): (int(total), int(stocked))
            for sid, total, stocked in self.session.execute(
                sa_select(
                    col(Product.supplier_id),
                    func.count(),
                    func.count().filter(col(Product.stock) > 0),
                )
                .where(active, col(Product.supplier_id).is_not(None))
                .group_by(col(Product.supplier_id))
            )
        }
        rows = self.session.execute(
            sa_select(
                col(Supplier.id), col(Supplier.integrity_score), col(Supplier.quality_refund_rate)
            ).order_by(col(Supplier.id))
        )
        return [
            SupplierSnapshot(
                supplier_id=sid,
                day=day,
                integrity_score=integrity,
                quality_refund_rate=refund_rate,
                active_products=counts.get(sid, (0, 0))[0],
                in_stock_products=counts.get(sid, (0, 0))[1],
            )
            for sid, integrity, refund_rate in rows
        ]

    def previous_snapshots(self, before: date) -> dict[str, SupplierSnapshot]:
        """Each supplier's latest snapshot from a day before `before`."""
        latest = (
            sa_select(
                col(SupplierSnapshot.supplier_id),
                func.max(col(SupplierSnapshot.day)).label("latest_day"),
            )
            .where(col(SupplierSnapshot.day) < before)
            .group_by(col(SupplierSnapshot.supplier_id))
            .subquery()
        )
        query = select(SupplierSnapshot).join(
            latest,
            (col(SupplierSnapshot.supplier_id) == latest.c.supplier_id)
            & (col(SupplierSnapshot.day) == latest.c.latest_day),
        )
        return {snapshot.supplier_id: snapshot for snapshot in self.session.exec(query)}

    def add_snapshots(self, snapshots: Sequence[SupplierSnapshot]) -> int:
        """Stores the snapshots whose (supplier, day) is new; a rerun the same day adds none."""
        rows = [snapshot.model_dump() for snapshot in snapshots]
        if not rows:
            return 0
        dialect = self.session.get_bind().dialect.name
        insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
        table = _table(SupplierSnapshot)
        added = 0
        for chunk in _chunks(rows, 150):
            statement = (
                insert_fn(table)
                .values(list(chunk))
                .on_conflict_do_nothing(index_elements=["supplier_id", "day"])
                .returning(table.c.supplier_id)
            )
            added += len(self.session.execute(statement).all())
        return added


def _window(
    query: SelectOfScalar[CatalogEvent],
    after_id: int | None,
    since: datetime | None,
    sync_run_id: int | None,
) -> SelectOfScalar[CatalogEvent]:
    if after_id is not None:
        query = query.where(col(CatalogEvent.id) > after_id)
    if since is not None:
        query = query.where(col(CatalogEvent.created_at) >= since)
    if sync_run_id is not None:
        query = query.where(col(CatalogEvent.sync_run_id) == sync_run_id)
    return query.order_by(col(CatalogEvent.id))


def _grouped(rows: Iterable[Any]) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = defaultdict(set)
    for key, value in rows:
        grouped[str(key)].add(str(value))
    return dict(grouped)
