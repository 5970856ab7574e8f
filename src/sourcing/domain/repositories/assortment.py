"""SQL for similar assortments: listings by category, suppliers' category mix, buyers' stock."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection

from sqlalchemy import ColumnElement, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import ProductStatus, SupplierStatus
from sourcing.domain.tables import Buyer, OrderLine, Product, PurchaseOrder, Supplier

# A leaf on a big marketplace can hold thousands of listings; similarity is scored on these.
DEFAULT_LISTING_CAP = 2000
_IN_CHUNK = 900  # SQLite allows 999 bound parameters per statement


def _searchable() -> tuple[ColumnElement[bool], ...]:
    """Active products of active suppliers: what buyers can order (and what is indexed)."""
    return (
        col(Product.status) == ProductStatus.ACTIVE,
        or_(col(Supplier.status) == SupplierStatus.ACTIVE, col(Product.supplier_id).is_(None)),
    )


class AssortmentRepository:
    """Read-only queries behind similar_assortment, inside the caller's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def listing_ids_in_leaves(
        self, category_paths: Collection[str], *, limit: int = DEFAULT_LISTING_CAP
    ) -> list[str]:
        """Searchable product ids whose category path is one of `category_paths`, by id."""
        if not category_paths:
            return []
        query = (
            sa_select(col(Product.id))
            .join(Supplier, col(Product.supplier_id) == col(Supplier.id), isouter=True)
            .where(col(Product.category_path).in_(sorted(category_paths)), *_searchable())
            .order_by(col(Product.id))
            .limit(limit)
        )
        return [str(row[0]) for row in self.session.execute(query)]

    def listing_ids_under(
        self, prefixes: Collection[str], *, limit: int = DEFAULT_LISTING_CAP
    ) -> list[str]:
        """Searchable product ids whose category path lies below one of `prefixes` ("a/b")."""
        if not prefixes:
            return []
        under = [col(Product.category_path).startswith(f"{prefix}/") for prefix in prefixes]
        query = (
            sa_select(col(Product.id))
            .join(Supplier, col(Product.supplier_id) == col(Supplier.id), isouter=True)
            .where(or_(*under), *_searchable())
            .order_by(col(Product.id))
            .limit(limit)
        )
        return [str(row[0]) for row in self.session.execute(query)]

    def leaf_counts_by_supplier(self) -> dict[str, dict[str, int]]:
        """For every active supplier: how many active products it lists per leaf category."""
        query = (
            sa_select(col(Product.supplier_id), col(Product.category_path), func.count())
            .join(Supplier, col(Product.supplier_id) == col(Supplier.id))
            .where(
                col(Product.status) == ProductStatus.ACTIVE,
                col(Supplier.status) == SupplierStatus.ACTIVE,
            )
            .group_by(col(Product.supplier_id), col(Product.category_path))
        )
        counts: dict[str, dict[str, int]] = defaultdict(dict)
        for supplier_id, path, count in self.session.execute(query):
            counts[str(supplier_id)][str(path)] = int(count)
        return dict(counts)

    def leaf_counts_of(self, supplier_id: str) -> dict[str, int]:
        """Active products per leaf of one supplier, whatever its status (a suspended one too)."""
        if self.session.get(Supplier, supplier_id) is None:
            raise NotFoundError(f"no supplier {supplier_id!r}", supplier_id=supplier_id)
        query = (
            sa_select(col(Product.category_path), func.count())
            .where(
                col(Product.supplier_id) == supplier_id,
                col(Product.status) == ProductStatus.ACTIVE,
            )
            .group_by(col(Product.category_path))
        )
        return {str(path): int(count) for path, count in self.session.execute(query)}

    def suppliers(self, ids: Collection[str]) -> list[Supplier]:
        """The suppliers with these ids, by id (missing ids skipped)."""
        ordered = sorted(ids)
        found: list[Supplier] = []
        for start in range(0, len(ordered), _IN_CHUNK):
            chunk = ordered[start : start + _IN_CHUNK]
            found.extend(self.session.exec(select(Supplier).where(col(Supplier.id).in_(chunk))))
        return sorted(found, key=lambda supplier: supplier.id)

    def ordered_product_ids(self, buyer_id: str) -> list[str]:
        """Distinct products the buyer has ordered, most recently ordered first."""
        if self.session.get(Buyer, buyer_id) is None:
            raise NotFoundError(f"no buyer {buyer_id!r}", buyer_id=buyer_id)
        last = func.max(col(PurchaseOrder.ordered_at))
        query = (
            sa_select(col(OrderLine.product_id), last)
            .join(PurchaseOrder, col(OrderLine.order_id) == col(PurchaseOrder.id))
            .where(col(PurchaseOrder.buyer_id) == buyer_id)
            .group_by(col(OrderLine.product_id))
            .order_by(last.desc(), col(OrderLine.product_id))
        )
        return [str(row[0]) for row in self.session.execute(query)]
