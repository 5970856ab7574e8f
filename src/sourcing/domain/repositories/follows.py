"""A buyer's followed suppliers (私域看上新) and what they have newly listed."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, col, select

from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import CatalogEventKind, ProductStatus
from sourcing.domain.repositories.alerts import SourceRepository
from sourcing.domain.tables import CatalogEvent, Follow, Product, Supplier


class FollowRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def follow(self, buyer_id: str, supplier_id: str) -> bool:
        """Follow a supplier; False when already followed (nothing changes)."""
        if self.session.get(Supplier, supplier_id) is None:
            raise NotFoundError(f"no supplier {supplier_id}", supplier_id=supplier_id)
        if self.session.get(Follow, (buyer_id, supplier_id)) is not None:
            return False
        self.session.add(Follow(buyer_id=buyer_id, supplier_id=supplier_id))
        self.session.flush()
        return True

    def unfollow(self, buyer_id: str, supplier_id: str) -> None:
        self.session.execute(
            delete(Follow).where(
                col(Follow.buyer_id) == buyer_id, col(Follow.supplier_id) == supplier_id
            )
        )

    def followed(self, buyer_id: str) -> list[tuple[Follow, Supplier]]:
        query = (
            select(Follow, Supplier)
            .join(Supplier, col(Supplier.id) == col(Follow.supplier_id))
            .where(col(Follow.buyer_id) == buyer_id)
            .order_by(col(Follow.created_at).desc(), col(Follow.supplier_id))
        )
        return list(self.session.exec(query).all())

    def new_arrivals(self, buyer_id: str, limit: int) -> list[tuple[Product, CatalogEvent]]:
        """Active products the followed suppliers added after their catalog's import (a
        feed's first sync is no news), newest first."""
        first_runs = sorted(SourceRepository(self.session).first_run_ids())
        query = (
            select(Product, CatalogEvent)
            .join(CatalogEvent, col(CatalogEvent.product_id) == col(Product.id))
            .join(Follow, col(Follow.supplier_id) == col(Product.supplier_id))
            .where(
                col(Follow.buyer_id) == buyer_id,
                col(CatalogEvent.kind) == CatalogEventKind.PRODUCT_ADDED,
                col(Product.status) == ProductStatus.ACTIVE,
            )
            .order_by(col(CatalogEvent.id).desc())
            .limit(limit)
        )
        if first_runs:
            query = query.where(col(CatalogEvent.sync_run_id).not_in(first_runs))
        return list(self.session.exec(query).all())
