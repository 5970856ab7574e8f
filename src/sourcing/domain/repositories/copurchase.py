"""SQL for stored co-purchase statistics: replaced wholesale by the build job, read at start-up."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, insert
from sqlmodel import Session, col, select

from sourcing.domain.tables import CoPurchaseItem, CoPurchasePair

_BATCH = 2000


class CoPurchaseRepository:
    """Reads and writes co-purchase rows inside the caller's session; never commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def replace(self, pairs: Sequence[CoPurchasePair], items: Sequence[CoPurchaseItem]) -> None:
        """Drop every stored statistic and store these instead."""
        self.session.execute(delete(CoPurchasePair))
        self.session.execute(delete(CoPurchaseItem))
        for model, rows in ((CoPurchasePair, pairs), (CoPurchaseItem, items)):
            dumped = [row.model_dump() for row in rows]
            for start in range(0, len(dumped), _BATCH):
                self.session.execute(insert(model), dumped[start : start + _BATCH])

    def load(self) -> tuple[list[CoPurchasePair], list[CoPurchaseItem]]:
        pairs = self.session.exec(
            select(CoPurchasePair).order_by(
                col(CoPurchasePair.level), col(CoPurchasePair.item_a), col(CoPurchasePair.item_b)
            )
        )
        items = self.session.exec(
            select(CoPurchaseItem).order_by(col(CoPurchaseItem.level), col(CoPurchaseItem.item))
        )
        return list(pairs), list(items)
