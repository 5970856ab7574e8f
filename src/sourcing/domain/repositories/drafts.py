"""Reorder drafts: a buyer's reorder prepared from an alert, not yet placed."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from sourcing.domain.tables import ReorderDraft


class ReorderDraftRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        buyer_id: str,
        *,
        product_id: str,
        supplier_id: str,
        lines: list[dict[str, Any]],
        alert_id: int | None,
    ) -> ReorderDraft:
        total = sum(int(line["quantity"]) * int(line["unit_price_cents"] or 0) for line in lines)
        draft = ReorderDraft(
            buyer_id=buyer_id,
            product_id=product_id,
            supplier_id=supplier_id,
            lines=lines,
            total_cents=total,
            alert_id=alert_id,
        )
        self.session.add(draft)
        self.session.flush()
        return draft

    def for_buyer(self, buyer_id: str, limit: int = 50) -> list[ReorderDraft]:
        query = (
            select(ReorderDraft)
            .where(col(ReorderDraft.buyer_id) == buyer_id)
            .order_by(col(ReorderDraft.id).desc())
            .limit(limit)
        )
        return list(self.session.exec(query))
