"""Typed value objects that cross layers: normalised catalog records and their stored state."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sourcing.domain.kinds import ProductStatus, SupplierKind, SupplierStatus
from sourcing.domain.money import PriceTier


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def content_hash(self) -> str:
        """A stable hash of every normalised field: equal hashes mean nothing changed."""
        canonical = json.dumps(
            self.model_dump(mode="json"), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


class SkuRecord(_Record):
    id: str
    spec: dict[str, str] = Field(default_factory=dict)
    price_cents: int | None = None
    stock: int | None = None


class ProductRecord(_Record):
    """One product as a feed row says it should be, after validation and normalisation."""

    id: str
    title: str
    supplier_id: str | None = None
    category_path: str = ""
    attributes: dict[str, str] = Field(default_factory=dict)
    description: str = ""
    image_url: str = ""
    unit: str = "件"
    moq: int = 1
    price_cents: int | None = None
    price_tiers: tuple[PriceTier, ...] = ()
    lead_time_days: int | None = None
    stock: int | None = None
    sales_30d: int = 0
    repurchase_rate: float = 0.0
    customisable: bool = False
    status: ProductStatus = ProductStatus.ACTIVE
    skus: tuple[SkuRecord, ...] = ()

    @property
    def category(self) -> str:
        return self.category_path.split("/", 1)[0]

    def table_values(self) -> dict[str, Any]:
        """Column values for the product table (SKUs go to their own table)."""
        values = self.model_dump(exclude={"skus"})
        values["price_tiers"] = [tier.model_dump() for tier in self.price_tiers]
        values["category"] = self.category
        return values


class SupplierRecord(_Record):
    id: str
    name: str
    kind: SupplierKind = SupplierKind.TRADER
    province: str = ""
    city: str = ""
    industrial_belt: str = ""
    integrity_score: int = 0
    fulfilment_48h_rate: float = 0.0
    quality_refund_rate: float = 0.0
    response_rate: float = 0.0
    years_on_platform: int = 0
    badges: tuple[str, ...] = ()
    customisable: bool = False
    status: SupplierStatus = SupplierStatus.ACTIVE

    def table_values(self) -> dict[str, Any]:
        values = self.model_dump()
        values["badges"] = list(self.badges)
        return values


class SkuState(BaseModel):
    model_config = ConfigDict(frozen=True)

    price_cents: int | None
    stock: int | None
    status: str


class ProductState(BaseModel):
    """What the database holds for a product, as much as diffing needs."""

    model_config = ConfigDict(frozen=True)

    id: str
    content_hash: str
    status: str
    price_cents: int | None
    stock: int | None
    skus: dict[str, SkuState] = Field(default_factory=dict)


class SupplierSummary(BaseModel):
    """A supplier's live catalog in numbers."""

    model_config = ConfigDict(frozen=True)

    active_products: int
    in_stock_products: int
    customisable_products: int
    price_min_cents: int | None
    price_max_cents: int | None
    categories: dict[str, int]
