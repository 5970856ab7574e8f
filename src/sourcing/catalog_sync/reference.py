"""Loads reference data (buyers, orders, trends, festivals, knowledge) from a folder of files."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Engine

from sourcing.catalog_sync.feeds import read_feed
from sourcing.catalog_sync.sync import RejectedRow
from sourcing.domain.db import transaction
from sourcing.domain.kinds import BuyerChannel, KnowledgeKind, TrendSource
from sourcing.domain.money import parse_price_cents
from sourcing.domain.repositories.reference import ReferenceRepository
from sourcing.domain.tables import KnowledgeDoc

RowT = TypeVar("RowT", bound=BaseModel)


class _Row(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


def _cents(value: Any) -> int | None:
    return None if value in (None, "") else parse_price_cents(str(value))


class BuyerRow(_Row):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1)
    channel: BuyerChannel
    region: str = ""
    preferred_categories: list[str] = []
    price_min: int | None = None
    price_max: int | None = None
    follows: list[str] = []
    watches: list[str] = []

    _price_cents = field_validator("price_min", "price_max", mode="before")(_cents)


class OrderLineRow(_Row):
    product_id: str
    sku_id: str | None = None
    quantity: int = Field(ge=1)
    unit_price: int

    _price_cents = field_validator("unit_price", mode="before")(_cents)


class OrderRow(_Row):
    id: str = Field(min_length=1, max_length=64)
    buyer_id: str
    supplier_id: str | None = None
    ordered_at: datetime
    lines: list[OrderLineRow] = Field(min_length=1)

    @field_validator("ordered_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("ordered_at needs a UTC offset, e.g. +08:00")
        return value


class TrendRow(_Row):
    keyword: str = Field(min_length=1)
    category: str = ""
    source: TrendSource
    day: date
    value: float = Field(ge=0)


class FestivalRow(_Row):
    name: str = Field(min_length=1)
    day: date
    related_categories: list[str] = []
    lead_days: int = Field(default=30, ge=0, le=365)


class KnowledgeRow(_Row):
    id: str = Field(min_length=1, max_length=64)
    kind: KnowledgeKind
    title: str = Field(min_length=1)
    body: str = Field(min_length=1)
    language: str = "zh"
    tags: list[str] = []
    effective_from: date | None = None


class ReferenceReport(BaseModel):
    loaded: dict[str, int] = {}
    rejected: list[RejectedRow] = []


def _parse(path: Path, model: type[RowT], report: ReferenceReport) -> list[RowT]:
    rows: list[RowT] = []
    for raw in read_feed(path):
        if raw.error:
            report.rejected.append(
                RejectedRow(file=path.name, line=raw.line, field="row", reason=raw.error)
            )
            continue
        try:
            rows.append(model.model_validate(raw.data))
        except ValidationError as exc:
            for error in exc.errors():
                field = ".".join(str(part) for part in error["loc"]) or "row"
                report.rejected.append(
                    RejectedRow(
                        file=path.name,
                        line=raw.line,
                        id=str(raw.data.get("id", "")),
                        field=field,
                        reason=error["msg"],
                    )
                )
    return rows


def _load_buyers(repo: ReferenceRepository, rows: list[BuyerRow]) -> int:
    added = repo.add_buyers(
        [
            row.model_dump(include={"id", "name", "channel", "region", "preferred_categories"})
            | {"price_min_cents": row.price_min, "price_max_cents": row.price_max}
            for row in rows
        ]
    )
    repo.add_follows([{"buyer_id": r.id, "supplier_id": s} for r in rows for s in r.follows])
    repo.add_watches([{"buyer_id": r.id, "product_id": p} for r in rows for p in r.watches])
    return added


def _load_orders(repo: ReferenceRepository, rows: list[OrderRow]) -> int:
    orders = [
        {
            "id": row.id,
            "buyer_id": row.buyer_id,
            "supplier_id": row.supplier_id,
            "ordered_at": row.ordered_at,
            "total_cents": sum(line.quantity * line.unit_price for line in row.lines),
        }
        for row in rows
    ]
    lines = [
        line.model_dump() | {"order_id": row.id, "unit_price_cents": line.unit_price}
        for row in rows
        for line in row.lines
    ]
    for line in lines:
        del line["unit_price"]
    return repo.add_orders(orders, lines)


_LOADERS: list[tuple[str, type[BaseModel], Callable[[ReferenceRepository, Any], int]]] = [
    ("buyers.jsonl", BuyerRow, _load_buyers),
    ("orders.jsonl", OrderRow, _load_orders),
    (
        "trends.csv",
        TrendRow,
        lambda repo, rows: repo.add_trend_signals([row.model_dump() for row in rows]),
    ),
    (
        "festivals.jsonl",
        FestivalRow,
        lambda repo, rows: repo.add_festivals([row.model_dump() for row in rows]),
    ),
    (
        "knowledge.jsonl",
        KnowledgeRow,
        lambda repo, rows: repo.upsert_knowledge(
            [KnowledgeDoc(**row.model_dump()) for row in rows]
        ),
    ),
]


def load_reference(engine: Engine, folder: Path) -> ReferenceReport:
    """Load each known file present in `folder`, in dependency order, one transaction each."""
    report = ReferenceReport()
    for name, model, load in _LOADERS:
        path = folder / name
        if not path.exists():
            continue
        rows = _parse(path, model, report)
        with transaction(engine) as session:
            report.loaded[name] = load(ReferenceRepository(session), rows)
    return report
