"""SQL over purchase orders: buyer-day baskets, product categories and best sellers per leaf."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from sourcing.domain.kinds import ProductStatus
from sourcing.domain.tables import Buyer, OrderLine, Product, PurchaseOrder, Sku

_IN_CHUNK = 900  # SQLite allows 999 bound parameters per statement


def _chunks(items: Sequence[str], size: int = _IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True, slots=True)
class Basket:
    """The distinct products one buyer ordered on one calendar day (UTC), sorted by id."""

    buyer_id: str
    day: date
    product_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderedLine:
    """One order line with its order's buyer, supplier and calendar day (UTC)."""

    buyer_id: str
    supplier_id: str | None
    day: date
    product_id: str
    sku_id: str | None
    quantity: int
    unit_price_cents: int


class OrderRepository:
    """Reads orders inside the caller's session; never writes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def baskets(self, since: datetime | None = None) -> list[Basket]:
        """Every buyer-day basket, oldest first, from orders at or after `since`."""
        query = sa_select(
            col(PurchaseOrder.buyer_id), col(PurchaseOrder.ordered_at), col(OrderLine.product_id)
        ).join(OrderLine, col(OrderLine.order_id) == col(PurchaseOrder.id))
        if since is not None:
            query = query.where(col(PurchaseOrder.ordered_at) >= since)
        grouped: dict[tuple[date, str], set[str]] = {}
        for buyer_id, ordered_at, product_id in self.session.execute(query):
            day = _utc_day(ordered_at)
            grouped.setdefault((day, buyer_id), set()).add(product_id)
        return [
            Basket(buyer_id=buyer_id, day=day, product_ids=tuple(sorted(ids)))
            for (day, buyer_id), ids in sorted(grouped.items())
        ]

    def product_categories(self, ids: Sequence[str]) -> dict[str, str]:
        """Product id → leaf category path, for the ids that exist (delisted included)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(ids))):
            query = sa_select(col(Product.id), col(Product.category_path)).where(
                col(Product.id).in_(chunk)
            )
            found.update({str(pid): str(path) for pid, path in self.session.execute(query)})
        return found

    def all_product_categories(self) -> dict[str, str]:
        """Every product id → leaf category path."""
        query = sa_select(col(Product.id), col(Product.category_path))
        return {str(pid): str(path) for pid, path in self.session.execute(query)}

    def best_sellers(self, category_path: str, limit: int) -> list[str]:
        """Active products of one leaf category, most-ordered first, then by id."""
        orders = func.count(col(OrderLine.id))
        query = (
            sa_select(col(Product.id))
            .join(OrderLine, col(OrderLine.product_id) == col(Product.id), isouter=True)
            .where(col(Product.category_path) == category_path)
            .where(col(Product.status) == ProductStatus.ACTIVE)
            .group_by(col(Product.id))
            .order_by(orders.desc(), col(Product.id))
            .limit(limit)
        )
        return list(self.session.scalars(query))

    def buyer_exists(self, buyer_id: str) -> bool:
        return self.session.get(Buyer, buyer_id) is not None

    def existing_buyer_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            query = sa_select(col(Buyer.id)).where(col(Buyer.id).in_(chunk))
            found.update(str(bid) for bid in self.session.scalars(query))
        return found

    def existing_order_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(ids))):
            query = sa_select(col(PurchaseOrder.id)).where(col(PurchaseOrder.id).in_(chunk))
            found.update(str(oid) for oid in self.session.scalars(query))
        return found

    def ordered_lines(self, buyer_id: str | None = None) -> list[OrderedLine]:
        """Order lines, of one buyer or of everyone, oldest first."""
        query = sa_select(
            col(PurchaseOrder.buyer_id),
            col(PurchaseOrder.supplier_id),
            col(PurchaseOrder.ordered_at),
            col(OrderLine.product_id),
            col(OrderLine.sku_id),
            col(OrderLine.quantity),
            col(OrderLine.unit_price_cents),
        ).join(OrderLine, col(OrderLine.order_id) == col(PurchaseOrder.id))
        if buyer_id is not None:
            query = query.where(col(PurchaseOrder.buyer_id) == buyer_id)
        query = query.order_by(col(PurchaseOrder.ordered_at), col(OrderLine.id))
        return [
            OrderedLine(
                buyer_id=str(buyer),
                supplier_id=supplier,
                day=_utc_day(ordered_at),
                product_id=str(product_id),
                sku_id=sku_id,
                quantity=int(quantity),
                unit_price_cents=int(price),
            )
            for buyer, supplier, ordered_at, product_id, sku_id, quantity, price in (
                self.session.execute(query)
            )
        ]

    def products_of_skus(self, sku_ids: Sequence[str]) -> dict[str, list[str]]:
        """SKU id → the products that have a SKU of that id (ids are unique per product only)."""
        found: dict[str, list[str]] = {}
        for chunk in _chunks(list(dict.fromkeys(sku_ids))):
            query = (
                sa_select(col(Sku.id), col(Sku.product_id))
                .where(col(Sku.id).in_(chunk))
                .order_by(col(Sku.product_id))
            )
            for sku_id, product_id in self.session.execute(query):
                found.setdefault(str(sku_id), []).append(str(product_id))
        return found


def _utc_day(moment: datetime) -> date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date()
