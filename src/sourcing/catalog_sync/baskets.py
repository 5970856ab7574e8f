"""Imports order baskets from files (docs/baskets.md) and builds the stored co-purchase stats."""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.db import transaction
from sourcing.domain.repositories.copurchase import CoPurchaseRepository
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.retrieval.copurchase import CoPurchase

# Accepted order-lines CSV headers, matched case-insensitively after trimming.
PRODUCT_COLUMNS = ("product_id", "product", "item_id", "item", "offer_id", "商品id")
ORDER_COLUMNS = ("order_id", "order", "order_no", "订单号", "订单id")
BUYER_COLUMNS = ("buyer_id", "buyer", "customer_id", "买家id")
DATE_COLUMNS = ("ordered_at", "order_date", "date", "day", "下单时间", "日期")

BasketFormat = Literal["baskets", "order_lines"]


class BasketProblem(BaseModel):
    """A line of a basket file that was skipped or trimmed, and why."""

    file: str
    line: int
    reason: str


class BasketFileReport(BaseModel):
    path: Path
    format: BasketFormat
    lines: int  # data lines read (comments and blank lines excluded)
    baskets: list[list[str]]  # distinct known product ids per basket, in file order
    problems: list[BasketProblem] = []


class CoPurchaseReport(BaseModel):
    order_baskets: int
    file_baskets: int
    basket_count: int  # every basket counted, single-product ones included
    products: int  # products seen in a basket
    product_pairs: int  # stored rules, both directions
    category_pairs: int
    min_pair_count: int
    problems: list[BasketProblem] = []


def _header(columns: list[str], names: Iterable[str]) -> int | None:
    lowered = [c.strip().lower().lstrip("\ufeff") for c in columns]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _data_lines(text: str) -> list[tuple[int, str]]:
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


class _Reader:
    """Collects baskets and per-line problems for one file."""

    def __init__(self, path: Path, known: Collection[str] | None) -> None:
        self.path = path
        self.known = known
        self.problems: list[BasketProblem] = []

    def problem(self, line: int, reason: str) -> None:
        self.problems.append(BasketProblem(file=str(self.path), line=line, reason=reason))

    def keep(self, line: int, product_id: str) -> bool:
        if self.known is not None and product_id not in self.known:
            self.problem(line, f"unknown product id {product_id!r}")
            return False
        return True

    def plain(self, lines: list[tuple[int, str]]) -> list[list[str]]:
        baskets: list[list[str]] = []
        for number, line in lines:
            items = [item.strip() for item in line.split(",")]
            if any(not item for item in items):
                self.problem(number, "empty item between commas")
            kept = [i for i in dict.fromkeys(items) if i and self.keep(number, i)]
            if kept:
                baskets.append(kept)
        return baskets

    def order_lines(self, lines: list[tuple[int, str]], header: list[str]) -> list[list[str]]:
        product = _header(header, PRODUCT_COLUMNS)
        order = _header(header, ORDER_COLUMNS)
        buyer, day = _header(header, BUYER_COLUMNS), _header(header, DATE_COLUMNS)
        if product is None or (order is None and (buyer is None or day is None)):
            self.problem(
                lines[0][0],
                "header needs a product column and an order column or a buyer and a date column",
            )
            return []
        grouped: dict[tuple[str, ...], list[str]] = {}
        for number, line in lines[1:]:
            row = next(csv.reader(io.StringIO(line)))
            key = self._key(number, row, order, buyer, day)
            if key is None or product >= len(row) or not row[product].strip():
                if key is not None:
                    self.problem(number, "missing product id")
                continue
            product_id = row[product].strip()
            if self.keep(number, product_id):
                basket = grouped.setdefault(key, [])
                if product_id not in basket:
                    basket.append(product_id)
        return list(grouped.values())

    def _key(
        self, number: int, row: list[str], order: int | None, buyer: int | None, day: int | None
    ) -> tuple[str, ...] | None:
        if order is not None:
            value = row[order].strip() if order < len(row) else ""
            if not value:
                self.problem(number, "missing order id")
                return None
            return (value,)
        assert buyer is not None
        assert day is not None
        who = row[buyer].strip() if buyer < len(row) else ""
        when = _day(row[day] if day < len(row) else "")
        if not who or when is None:
            self.problem(number, "missing buyer id or unreadable date")
            return None
        return (who, when.isoformat())


def _day(value: str) -> date | None:
    text = value.strip()
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        try:
            return date.fromisoformat(text[:10])
        except ValueError:
            return None


def _is_order_lines(first: str) -> bool:
    columns = next(csv.reader(io.StringIO(first)))
    return _header(columns, PRODUCT_COLUMNS) is not None and (
        _header(columns, ORDER_COLUMNS) is not None
        or _header(columns, BUYER_COLUMNS) is not None
        or _header(columns, DATE_COLUMNS) is not None
    )


def read_baskets(path: Path, known: Collection[str] | None = None) -> BasketFileReport:
    """A plain basket file or an order-lines CSV (told apart by its first line). With `known`,
    product ids outside it are reported with their line and left out of the basket."""
    lines = _data_lines(path.read_text(encoding="utf-8-sig"))
    reader = _Reader(path, known)
    if lines and _is_order_lines(lines[0][1]):
        header = next(csv.reader(io.StringIO(lines[0][1])))
        baskets = reader.order_lines(lines, header)
        return BasketFileReport(
            path=path,
            format="order_lines",
            lines=len(lines) - 1,
            baskets=baskets,
            problems=reader.problems,
        )
    baskets = reader.plain(lines)
    return BasketFileReport(
        path=path, format="baskets", lines=len(lines), baskets=baskets, problems=reader.problems
    )


def build_copurchase(
    engine: Engine,
    *,
    basket_file: Path | None = None,
    use_orders: bool = True,
    min_pair_count: int = 2,
) -> CoPurchaseReport:
    """Count baskets from orders in the database and/or a basket file; replace the stored stats."""
    with Session(engine) as session:
        repo = OrderRepository(session)
        category_of = repo.all_product_categories()
        orders = [list(b.product_ids) for b in repo.baskets()] if use_orders else []
    report = read_baskets(basket_file, category_of.keys()) if basket_file else None
    from_file = report.baskets if report else []
    stats = CoPurchase.build([*orders, *from_file], category_of, min_pair_count=min_pair_count)
    pairs, items = stats.to_rows()
    with transaction(engine) as session:
        CoPurchaseRepository(session).replace(pairs, items)
    return CoPurchaseReport(
        order_baskets=len(orders),
        file_baskets=len(from_file),
        basket_count=stats.basket_count,
        products=sum(1 for i in items if i.level == "product" and i.item),
        product_pairs=sum(1 for p in pairs if p.level == "product"),
        category_pairs=sum(1 for p in pairs if p.level == "category"),
        min_pair_count=min_pair_count,
        problems=report.problems if report else [],
    )


def load_copurchase(engine: Engine) -> CoPurchase:
    """The stored statistics, for start-up; empty when the build job has not run yet."""
    with Session(engine) as session:
        pairs, items = CoPurchaseRepository(session).load()
        category_of = OrderRepository(session).all_product_categories()
    return CoPurchase.from_rows(pairs, items, category_of)
