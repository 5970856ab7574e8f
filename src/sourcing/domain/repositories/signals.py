"""SQL behind opportunity discovery: trend series, festivals, category growth, price standing."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sourcing.domain.kinds import ProductStatus, TrendSource
from sourcing.domain.tables import (
    Buyer,
    Festival,
    OrderLine,
    Product,
    PurchaseOrder,
    Supplier,
    TrendSignal,
)


@dataclass(frozen=True, slots=True)
class TrendSeries:
    """One keyword's daily values from one source; days without a row are absent."""

    keyword: str
    category: str
    source: TrendSource
    values: dict[date, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LeafPrices:
    """One leaf a supplier sells in: its median price there against every active listing's."""

    category_path: str
    category: str
    supplier_products: int
    supplier_median_cents: int | None
    leaf_products: int
    leaf_median_cents: int | None
    leaf_supplier_ids: tuple[str, ...]  # every supplier with an active listing in the leaf


def _median(values: list[int]) -> int | None:
    return round(statistics.median(values)) if values else None


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class SignalsRepository:
    """Read-only queries inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def trend_series(
        self, first: date, last: date, *, categories: Collection[str] | None = None
    ) -> list[TrendSeries]:
        """Every keyword/source series with days from `first` to `last` inclusive, by keyword."""
        query = select(TrendSignal).where(
            col(TrendSignal.day) >= first, col(TrendSignal.day) <= last
        )
        if categories:
            query = query.where(col(TrendSignal.category).in_(list(categories)))
        grouped: dict[tuple[str, TrendSource], TrendSeries] = {}
        for row in self.session.exec(query):
            key = (row.keyword, TrendSource(row.source))
            series = grouped.setdefault(key, TrendSeries(row.keyword, row.category, key[1]))
            series.values[row.day] = series.values.get(row.day, 0.0) + row.value
        return [grouped[key] for key in sorted(grouped)]

    def festivals_between(self, first: date, last: date) -> list[Festival]:
        """Festivals whose day is from `first` to `last` inclusive, by day then name."""
        query = (
            select(Festival)
            .where(col(Festival.day) >= first, col(Festival.day) <= last)
            .order_by(col(Festival.day), col(Festival.name))
        )
        return list(self.session.exec(query))

    def category_weekly_units(self, last: date, weeks: int) -> dict[str, list[int]]:
        """Units ordered per first-level category in each of the `weeks` 7-day blocks ending on
        `last` (UTC days), oldest block first; categories with no units are absent."""
        first = last - timedelta(days=7 * weeks - 1)
        query = (
            sa_select(col(Product.category), col(PurchaseOrder.ordered_at), col(OrderLine.quantity))
            .join(OrderLine, col(OrderLine.order_id) == col(PurchaseOrder.id))
            .join(Product, col(Product.id) == col(OrderLine.product_id))
            .where(col(PurchaseOrder.ordered_at) >= _start_of(first))
            .where(col(PurchaseOrder.ordered_at) < _start_of(last + timedelta(days=1)))
        )
        # Dialects disagree on date arithmetic, so the UTC day and its block are taken here.
        units: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
        for category, ordered_at, quantity in self.session.execute(query):
            if not category:
                continue
            stamp = ordered_at if ordered_at.tzinfo else ordered_at.replace(tzinfo=UTC)
            block = (stamp.astimezone(UTC).date() - first).days // 7
            if 0 <= block < weeks:
                units[str(category)][block] += int(quantity)
        return dict(sorted(units.items()))

    def buyer(self, buyer_id: str) -> Buyer | None:
        return self.session.get(Buyer, buyer_id)

    def supplier(self, supplier_id: str) -> Supplier | None:
        return self.session.get(Supplier, supplier_id)

    def suppliers(self, ids: Collection[str]) -> dict[str, Supplier]:
        if not ids:
            return {}
        query = select(Supplier).where(col(Supplier.id).in_(sorted(ids)))
        return {supplier.id: supplier for supplier in self.session.exec(query)}

    def leaf_prices(self, supplier_id: str) -> list[LeafPrices]:
        """Per leaf the supplier has active listings in: its median price vs the leaf's."""
        leaves = sa_select(col(Product.category_path)).where(
            col(Product.supplier_id) == supplier_id,
            col(Product.status) == ProductStatus.ACTIVE,
        )
        query = sa_select(
            col(Product.category_path),
            col(Product.category),
            col(Product.supplier_id),
            col(Product.price_cents),
        ).where(
            col(Product.status) == ProductStatus.ACTIVE,
            col(Product.category_path).in_(leaves.distinct().scalar_subquery()),
        )
        rows: dict[str, list[tuple[str, str | None, int | None]]] = defaultdict(list)
        for path, category, owner, price in self.session.execute(query):
            rows[str(path)].append((str(category), owner, price))
        return [_leaf(path, supplier_id, listed) for path, listed in sorted(rows.items())]


def _leaf(
    path: str, supplier_id: str, listed: list[tuple[str, str | None, int | None]]
) -> LeafPrices:
    own = [price for _, owner, price in listed if owner == supplier_id]
    return LeafPrices(
        category_path=path,
        category=listed[0][0],
        supplier_products=len(own),
        supplier_median_cents=_median([p for p in own if p is not None]),
        leaf_products=len(listed),
        leaf_median_cents=_median([p for _, _, p in listed if p is not None]),
        leaf_supplier_ids=tuple(sorted({owner for _, owner, _ in listed if owner})),
    )
