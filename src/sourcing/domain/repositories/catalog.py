"""SQL for products, SKUs, suppliers, catalog events and sync runs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col, select

from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import ProductStatus, SkuStatus, SupplierStatus, SyncMode, SyncStatus
from sourcing.domain.records import ProductState, SkuState, SupplierSummary
from sourcing.domain.tables import CatalogEvent, FeedColumnMap, Product, Sku, Supplier, SyncRun
from sourcing.domain.types import utcnow

_IN_CHUNK = 900  # SQLite allows 999 bound parameters per statement


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(model: type[SQLModel]) -> Table:
    """The Core table of a model: Core executemany skips the ORM's per-row bookkeeping."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


class CatalogRepository:
    """Reads and writes the catalog inside the caller's session; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # sync runs

    def start_sync_run(self, *, source: str, path: str, kind: str, mode: SyncMode) -> SyncRun:
        run = SyncRun(feed_source=source, feed_path=path, feed_kind=kind, mode=mode)
        self.session.add(run)
        self.session.flush()
        return run

    def reopen_sync_run(self, run_id: int) -> SyncRun:
        run = self.session.get(SyncRun, run_id)
        if run is None:
            raise NotFoundError(f"no sync run {run_id}")
        run.status, run.error, run.finished_at = SyncStatus.RUNNING, "", None
        self.session.add(run)
        self.session.flush()
        return run

    def finish_sync_run(
        self, run_id: int, *, status: SyncStatus, counts: dict[str, int], error: str = ""
    ) -> None:
        self.session.execute(
            update(SyncRun)
            .where(col(SyncRun.id) == run_id)
            .values(status=status, counts=counts, error=error, finished_at=utcnow())
        )

    def sync_runs(self, limit: int = 20) -> list[SyncRun]:
        query = select(SyncRun).order_by(col(SyncRun.id).desc()).limit(limit)
        return list(self.session.exec(query))

    # column mappings

    def column_map(self, source: str, kind: str) -> dict[str, str]:
        query = select(FeedColumnMap).where(
            col(FeedColumnMap.feed_source) == source, col(FeedColumnMap.feed_kind) == kind
        )
        return {row.header: row.column for row in self.session.exec(query)}

    def save_column_map(self, source: str, kind: str, mapping: dict[str, str]) -> None:
        """Add or replace these headers' columns for the source (the rest stay saved)."""
        for header, column in mapping.items():
            self.session.merge(
                FeedColumnMap(feed_source=source, feed_kind=kind, header=header, column=column)
            )

    # suppliers

    def supplier_hashes(self, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(ids):
            rows = self.session.exec(
                select(Supplier.id, Supplier.content_hash).where(col(Supplier.id).in_(chunk))
            )
            found.update(dict(rows.all()))
        return found

    def insert_suppliers(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(_table(Supplier)), rows)

    def update_suppliers(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(update(Supplier), rows)

    def active_supplier_ids(self, source: str) -> set[str]:
        query = select(Supplier.id).where(
            Supplier.feed_source == source, Supplier.status == SupplierStatus.ACTIVE
        )
        return set(self.session.exec(query))

    def suspend_suppliers(self, ids: Collection[str], at: datetime) -> None:
        for chunk in _chunks(sorted(ids)):
            self.session.execute(
                update(Supplier)
                .where(col(Supplier.id).in_(chunk))
                .values(status=SupplierStatus.SUSPENDED, updated_at=at, content_hash="")
            )

    def existing_supplier_ids(self, ids: Collection[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(ids)):
            found.update(self.session.exec(select(Supplier.id).where(col(Supplier.id).in_(chunk))))
        return found

    def get_supplier(self, supplier_id: str) -> Supplier:
        supplier = self.session.get(Supplier, supplier_id)
        if supplier is None:
            raise NotFoundError(f"no supplier {supplier_id!r}", supplier_id=supplier_id)
        return supplier

    # products and SKUs

    def product_states(self, ids: Sequence[str]) -> dict[str, ProductState]:
        """The stored state of each of `ids` that exists, with its SKUs."""
        products: dict[str, Any] = {}
        skus: dict[str, dict[str, SkuState]] = defaultdict(dict)
        for chunk in _chunks(ids):
            product_rows = self.session.execute(
                sa_select(
                    col(Product.id),
                    col(Product.content_hash),
                    col(Product.status),
                    col(Product.price_cents),
                    col(Product.stock),
                ).where(col(Product.id).in_(chunk))
            )
            for row in product_rows:
                products[row[0]] = row
            sku_rows = self.session.execute(
                sa_select(
                    col(Sku.product_id),
                    col(Sku.id),
                    col(Sku.price_cents),
                    col(Sku.stock),
                    col(Sku.status),
                ).where(col(Sku.product_id).in_(chunk))
            )
            for product_id, sku_id, price, stock, status in sku_rows:
                skus[product_id][sku_id] = SkuState(price_cents=price, stock=stock, status=status)
        return {
            product_id: ProductState(
                id=product_id,
                content_hash=content_hash,
                status=status,
                price_cents=price,
                stock=stock,
                skus=skus.get(product_id, {}),
            )
            for product_id, (_, content_hash, status, price, stock) in products.items()
        }

    def insert_products(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(_table(Product)), rows)

    def update_products(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(update(Product), rows)

    def insert_skus(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(_table(Sku)), rows)

    def update_skus(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(update(Sku), rows)

    def active_product_ids(self, source: str) -> set[str]:
        query = select(Product.id).where(
            Product.feed_source == source, Product.status == ProductStatus.ACTIVE
        )
        return set(self.session.exec(query))

    def delist_products(self, ids: Collection[str], at: datetime) -> None:
        for chunk in _chunks(sorted(ids)):
            # The empty hash makes the next feed row that names the product count as a change.
            self.session.execute(
                update(Product)
                .where(col(Product.id).in_(chunk))
                .values(status=ProductStatus.DELISTED, updated_at=at, content_hash="")
            )

    def get_product(self, product_id: str) -> Product:
        product = self.session.get(Product, product_id)
        if product is None:
            raise NotFoundError(f"no product {product_id!r}", product_id=product_id)
        return product

    def skus_of(self, product_id: str) -> list[Sku]:
        query = (
            select(Sku)
            .where(Sku.product_id == product_id, Sku.status == SkuStatus.ACTIVE)
            .order_by(col(Sku.id))
        )
        return list(self.session.exec(query))

    def listings(self, product_ids: Sequence[str]) -> list[tuple[Product, Supplier | None]]:
        """Products with their suppliers, in the order of `product_ids` (missing ids skipped)."""
        found: dict[str, tuple[Product, Supplier | None]] = {}
        for chunk in _chunks(product_ids):
            query = (
                select(Product, Supplier)
                .join(Supplier, col(Product.supplier_id) == col(Supplier.id), isouter=True)
                .where(col(Product.id).in_(chunk))
            )
            for product, supplier in self.session.exec(query):
                found[product.id] = (product, supplier)
        return [found[pid] for pid in product_ids if pid in found]

    def active_listing_versions(self) -> dict[str, str]:
        """For every searchable product: its content hash joined with its supplier's."""
        query = (
            sa_select(col(Product.id), col(Product.content_hash), col(Supplier.content_hash))
            .join(Supplier, col(Product.supplier_id) == col(Supplier.id), isouter=True)
            .where(col(Product.status) == ProductStatus.ACTIVE)
            .where(
                or_(
                    col(Supplier.status) == SupplierStatus.ACTIVE,
                    col(Product.supplier_id).is_(None),
                )
            )
        )
        return {
            product_id: f"{product_hash}:{supplier_hash or ''}"
            for product_id, product_hash, supplier_hash in self.session.execute(query)
        }

    def supplier_summary(self, supplier_id: str) -> SupplierSummary:
        """What a supplier sells now: counts, MOQ price range, categories."""
        active = (
            col(Product.supplier_id) == supplier_id,
            col(Product.status) == ProductStatus.ACTIVE,
        )
        row = self.session.execute(
            sa_select(
                func.count(),
                func.count().filter(col(Product.stock) > 0),
                func.count().filter(col(Product.customisable)),
                func.min(col(Product.price_cents)),
                func.max(col(Product.price_cents)),
            ).where(*active)
        ).one()
        categories = self.session.execute(
            sa_select(col(Product.category), func.count())
            .where(*active)
            .group_by(col(Product.category))
            .order_by(func.count().desc(), col(Product.category))
        ).all()
        return SupplierSummary(
            active_products=row[0],
            in_stock_products=row[1],
            customisable_products=row[2],
            price_min_cents=row[3],
            price_max_cents=row[4],
            categories={str(category): int(count) for category, count in categories},
        )

    # events

    def add_events(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.execute(insert(_table(CatalogEvent)), rows)

    def events(
        self, *, product_id: str | None = None, sync_run_id: int | None = None, limit: int = 1000
    ) -> list[CatalogEvent]:
        query = select(CatalogEvent).order_by(col(CatalogEvent.id)).limit(limit)
        if product_id is not None:
            query = query.where(CatalogEvent.product_id == product_id)
        if sync_run_id is not None:
            query = query.where(CatalogEvent.sync_run_id == sync_run_id)
        return list(self.session.exec(query))

    # summaries

    def counts(self) -> dict[str, int]:
        def count(model: Any, *where: Any) -> int:
            query = select(func.count()).select_from(model).where(*where)
            return int(self.session.exec(query).one())

        return {
            "suppliers": count(Supplier),
            "products": count(Product),
            "active_products": count(Product, Product.status == ProductStatus.ACTIVE),
            "skus": count(Sku),
            "catalog_events": count(CatalogEvent),
        }

    def active_products_by_category(self) -> dict[str, int]:
        query = (
            select(Product.category, func.count())
            .where(Product.status == ProductStatus.ACTIVE)
            .group_by(Product.category)
            .order_by(Product.category)
        )
        return {category: int(n) for category, n in self.session.exec(query)}
