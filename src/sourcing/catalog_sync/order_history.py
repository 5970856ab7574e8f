"""Imports a buyer's order history from a plain CSV (docs/order-history.md), idempotently."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.catalog_sync.feeds import read_feed
from sourcing.catalog_sync.sync import RejectedRow
from sourcing.domain.db import transaction
from sourcing.domain.errors import BadInputError, FeedError
from sourcing.domain.money import PriceTier, parse_price_cents, unit_price_at
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.orders import OrderRepository
from sourcing.domain.repositories.reference import ReferenceRepository
from sourcing.domain.tables import Product

# Orders are placed in China: a bare date is taken as noon China time (same UTC calendar day).
CHINA = timezone(timedelta(hours=8))
ORDER_TIME = time(12, 0)
ID_PREFIX = "imp-"

ALIASES: dict[str, tuple[str, ...]] = {
    "buyer": ("buyer", "buyer_id", "买家"),
    "sku": ("sku", "sku_id"),
    "product": ("product", "product_id", "商品"),
    "date": ("date", "day", "ordered_at", "order_date", "日期"),
    "quantity": ("quantity", "qty", "数量"),
    "unit_price": ("unit price", "unit_price", "price", "单价"),
}
_DATE_SEPARATORS = re.compile(r"[/.]")


class OrderImportReport(BaseModel):
    file: str
    rows: int  # data rows read
    imported_rows: int  # rows that became order lines in new orders
    orders_added: int
    orders_already_present: int
    rejected: list[RejectedRow]


@dataclass(frozen=True, slots=True)
class _Line:
    buyer_id: str
    supplier_id: str | None
    day: date
    product_id: str
    sku_id: str | None
    quantity: int
    unit_price_cents: int


def _field(data: dict[str, Any], name: str) -> str:
    for alias in ALIASES[name]:
        value = data.get(alias)
        if value not in (None, ""):
            return str(value).strip()
    return ""


def _parse_date(text: str) -> date:
    cleaned = _DATE_SEPARATORS.sub("-", text.strip())
    try:
        if "T" in cleaned or " " in cleaned:
            return datetime.fromisoformat(cleaned).date()
        year, month, day = (int(part) for part in cleaned.split("-"))
        return date(year, month, day)
    except ValueError:
        raise BadInputError(f"date {text!r} is not YYYY-MM-DD") from None


def _parse_quantity(text: str) -> int:
    try:
        quantity = int(text)
    except ValueError:
        raise BadInputError(f"quantity {text!r} is not a whole number") from None
    if quantity <= 0:
        raise BadInputError(f"quantity {quantity} must be positive")
    return quantity


class _Catalog:
    """Buyer, product and SKU lookups for the file's ids, fetched once."""

    def __init__(self, session: Session, rows: list[dict[str, Any]]) -> None:
        orders = OrderRepository(session)
        self.buyers = orders.existing_buyer_ids([_field(r, "buyer") for r in rows])
        self.sku_products = orders.products_of_skus(
            [sku for r in rows if (sku := _field(r, "sku"))]
        )
        product_ids = {_field(r, "product") for r in rows} | {
            pid for pids in self.sku_products.values() for pid in pids
        }
        listings = CatalogRepository(session).listings(sorted(product_ids - {""}))
        self.products: dict[str, Product] = {product.id: product for product, _ in listings}

    def resolve(self, data: dict[str, Any]) -> tuple[Product, str | None]:
        product_id, sku_id = _field(data, "product"), _field(data, "sku") or None
        if not product_id and sku_id is None:
            raise BadInputError("give a sku or a product")
        if not product_id:
            assert sku_id is not None
            candidates = self.sku_products.get(sku_id, [])
            if not candidates:
                raise BadInputError(f"unknown sku {sku_id!r}")
            if len(candidates) > 1:
                raise BadInputError(f"sku {sku_id!r} belongs to several products; give product")
            product_id = candidates[0]
        product = self.products.get(product_id)
        if product is None:
            raise BadInputError(f"unknown product {product_id!r}")
        if sku_id is not None and product_id not in self.sku_products.get(sku_id, []):
            raise BadInputError(f"product {product_id!r} has no sku {sku_id!r}")
        return product, sku_id


def _price(text: str, product: Product, quantity: int) -> int:
    if text:
        return parse_price_cents(text)
    tiers = [PriceTier.model_validate(tier) for tier in product.price_tiers]
    price = unit_price_at(tiers, quantity) if tiers else product.price_cents
    if price is None:
        raise BadInputError("no unit price given and the product's price is negotiable (面议)")
    return price


def _line(catalog: _Catalog, data: dict[str, Any]) -> _Line:
    buyer_id = _field(data, "buyer")
    if not buyer_id:
        raise BadInputError("buyer is missing")
    if buyer_id not in catalog.buyers:
        raise BadInputError(f"unknown buyer {buyer_id!r}")
    product, sku_id = catalog.resolve(data)
    day = _parse_date(_field(data, "date"))
    quantity = _parse_quantity(_field(data, "quantity"))
    return _Line(
        buyer_id=buyer_id,
        supplier_id=product.supplier_id,
        day=day,
        product_id=product.id,
        sku_id=sku_id,
        quantity=quantity,
        unit_price_cents=_price(_field(data, "unit_price"), product, quantity),
    )


def _order_id(key: tuple[str, str | None, date], lines: list[_Line]) -> str:
    """Stable id from the order's content, so the same rows always make the same order."""
    contents = sorted(
        f"{line.product_id}|{line.sku_id or ''}|{line.quantity}|{line.unit_price_cents}"
        for line in lines
    )
    parts = [key[0], key[1] or "", key[2].isoformat(), *contents]
    return ID_PREFIX + hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:24]


def import_order_history(engine: Engine, path: Path) -> OrderImportReport:
    """Load the CSV's good rows as orders (one per buyer × supplier × day); report the rest."""
    raw_rows = list(read_feed(path))
    rejected: list[RejectedRow] = []
    good: list[_Line] = []
    with Session(engine) as session:
        catalog = _Catalog(session, [raw.data for raw in raw_rows if not raw.error])
    for raw in raw_rows:
        if raw.error:
            rejected.append(
                RejectedRow(file=path.name, line=raw.line, field="row", reason=raw.error)
            )
            continue
        try:
            good.append(_line(catalog, raw.data))
        except (BadInputError, FeedError) as exc:
            rejected.append(
                RejectedRow(
                    file=path.name,
                    line=raw.line,
                    id=_field(raw.data, "buyer"),
                    field="row",
                    reason=exc.message,
                )
            )
    groups: dict[tuple[str, str | None, date], list[_Line]] = defaultdict(list)
    for line in good:
        groups[(line.buyer_id, line.supplier_id, line.day)].append(line)
    orders: list[dict[str, Any]] = []
    order_lines: list[dict[str, Any]] = []
    for key, lines in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])):
        order_id = _order_id(key, lines)
        orders.append(
            {
                "id": order_id,
                "buyer_id": key[0],
                "supplier_id": key[1],
                "ordered_at": datetime.combine(key[2], ORDER_TIME, tzinfo=CHINA),
                "total_cents": sum(line.quantity * line.unit_price_cents for line in lines),
            }
        )
        order_lines += [
            {
                "order_id": order_id,
                "product_id": line.product_id,
                "sku_id": line.sku_id,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
            }
            for line in lines
        ]
    with transaction(engine) as session:
        present = OrderRepository(session).existing_order_ids([order["id"] for order in orders])
        added = ReferenceRepository(session).add_orders(orders, order_lines)
    return OrderImportReport(
        file=path.name,
        rows=len(raw_rows),
        imported_rows=sum(1 for line in order_lines if line["order_id"] not in present),
        orders_added=added,
        orders_already_present=len(present),
        rejected=rejected,
    )
