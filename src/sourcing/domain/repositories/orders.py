"""SQL over purchase orders: buyer-day baskets, product categories and best sellers per leaf."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from sourcing.domain.kinds import ProductStatus
from sourcing.domain.tables import OrderLine, Product, PurchaseOrder

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


def _utc_day(moment: datetime) -> date:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date()
