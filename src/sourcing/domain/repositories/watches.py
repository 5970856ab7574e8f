"""A buyer's watched products: what the source watch and its alerts follow besides orders."""

from __future__ import annotations

from sqlmodel import Session, col, select

from sourcing.domain.errors import NotFoundError
from sourcing.domain.tables import Buyer, Product, Watch


class WatchRepository:
    """Every method is scoped by buyer; callers commit."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def for_buyer(self, buyer_id: str) -> list[Watch]:
        query = select(Watch).where(Watch.buyer_id == buyer_id).order_by(col(Watch.id).desc())
        return list(self.session.exec(query))

    def add(self, buyer_id: str, product_id: str) -> tuple[Watch, bool]:
        """The watch, and whether it is new; watching twice keeps one."""
        if self.session.get(Buyer, buyer_id) is None:
            raise NotFoundError(f"no buyer {buyer_id!r}", buyer_id=buyer_id)
        if self.session.get(Product, product_id) is None:
            raise NotFoundError(f"no product {product_id!r}", product_id=product_id)
        found = self._find(buyer_id, product_id)
        if found is not None:
            return found, False
        watch = Watch(buyer_id=buyer_id, product_id=product_id)
        self.session.add(watch)
        self.session.flush()
        return watch, True

    def remove(self, buyer_id: str, product_id: str) -> None:
        found = self._find(buyer_id, product_id)
        if found is None:
            raise NotFoundError(f"not watching {product_id!r}", product_id=product_id)
        self.session.delete(found)
        self.session.flush()

    def _find(self, buyer_id: str, product_id: str) -> Watch | None:
        query = select(Watch).where(
            Watch.buyer_id == buyer_id,
            Watch.product_id == product_id,
            col(Watch.sku_id).is_(None),
        )
        return self.session.exec(query).first()
