"""SQL for reference data: buyers, orders, follows, watches, trends, festivals, knowledge."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, tuple_
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, func, select

from sourcing.domain.tables import (
    Buyer,
    Festival,
    Follow,
    KnowledgeDoc,
    OrderLine,
    PurchaseOrder,
    TrendSignal,
    Watch,
)

_CHUNK = 400


class ReferenceRepository:
    """Idempotent bulk loads: rows whose key already exists are left as they are."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _existing(
        self, columns: Sequence[Any], keys: list[tuple[Any, ...]]
    ) -> set[tuple[Any, ...]]:
        found: set[tuple[Any, ...]] = set()
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            condition = (
                columns[0].in_([key[0] for key in chunk])
                if len(columns) == 1
                else tuple_(*columns).in_(chunk)
            )
            found.update(
                tuple(row) for row in self.session.execute(sa_select(*columns).where(condition))
            )
        return found

    def _insert_missing(
        self, model: type[SQLModel], key_names: Sequence[str], rows: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        columns = [getattr(model, name) for name in key_names]
        keys = [tuple(row[name] for name in key_names) for row in rows]
        existing = self._existing(columns, keys)
        fresh = [row for row, key in zip(rows, keys, strict=True) if key not in existing]
        if fresh:
            self.session.execute(insert(model), fresh)
        return fresh

    def add_buyers(self, rows: list[dict[str, Any]]) -> int:
        return len(self._insert_missing(Buyer, ["id"], rows))

    def add_follows(self, rows: list[dict[str, Any]]) -> int:
        return len(self._insert_missing(Follow, ["buyer_id", "supplier_id"], rows))

    def add_watches(self, rows: list[dict[str, Any]]) -> int:
        return len(self._insert_missing(Watch, ["buyer_id", "product_id"], rows))

    def add_orders(self, orders: list[dict[str, Any]], lines: list[dict[str, Any]]) -> int:
        fresh_ids = {order["id"] for order in self._insert_missing(PurchaseOrder, ["id"], orders)}
        fresh_lines = [line for line in lines if line["order_id"] in fresh_ids]
        if fresh_lines:
            self.session.execute(insert(OrderLine), fresh_lines)
        return len(fresh_ids)

    def add_trend_signals(self, rows: list[dict[str, Any]]) -> int:
        return len(self._insert_missing(TrendSignal, ["keyword", "source", "day"], rows))

    def add_festivals(self, rows: list[dict[str, Any]]) -> int:
        return len(self._insert_missing(Festival, ["name", "day"], rows))

    def upsert_knowledge(self, docs: list[KnowledgeDoc]) -> int:
        for doc in docs:
            self.session.merge(doc)
        return len(docs)

    def knowledge_docs(self) -> list[KnowledgeDoc]:
        return list(self.session.exec(select(KnowledgeDoc).order_by(KnowledgeDoc.id)))

    def count(self, model: type[SQLModel]) -> int:
        return int(self.session.exec(select(func.count()).select_from(model)).one())
