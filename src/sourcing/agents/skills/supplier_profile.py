"""supplier_profile: a supplier's trust signals and what it sells, with risk warnings."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.domain.kinds import SupplierStatus
from sourcing.domain.money import format_cents
from sourcing.domain.records import SupplierSummary
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.tables import Supplier
from sourcing.prompts.loader import Language, PromptLibrary
from sourcing.retrieval.ranking import (
    QUALITY_REFUND_ALARM,
    SupplierSignals,
    supplier_quality,
)

SLOW_DISPATCH = 0.8


class SupplierProfileInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    supplier_id: str = Field(min_length=1, max_length=64)
    language: Language = "zh"


class SupplierProfile(BaseModel):
    supplier: Supplier
    quality: float  # 0–1 trust score used in ranking
    summary: SupplierSummary
    warnings: list[str]  # codes: suspended, high_quality_refunds, no_stock, slow_dispatch
    text: str


def risk_warnings(supplier: Supplier, summary: SupplierSummary) -> list[str]:
    warnings = []
    if supplier.status == SupplierStatus.SUSPENDED:
        warnings.append("suspended")
    if supplier.quality_refund_rate > QUALITY_REFUND_ALARM:
        warnings.append("high_quality_refunds")
    if summary.active_products and not summary.in_stock_products:
        warnings.append("no_stock")
    if supplier.fulfilment_48h_rate < SLOW_DISPATCH:
        warnings.append("slow_dispatch")
    return warnings


def supplier_profile(
    engine: Engine, prompts: PromptLibrary, request: SupplierProfileInput
) -> SupplierProfile:
    with Session(engine) as session:
        repo = CatalogRepository(session)
        supplier = repo.get_supplier(request.supplier_id)
        summary = repo.supplier_summary(request.supplier_id)
    quality = supplier_quality(SupplierSignals.of(supplier))
    warnings = risk_warnings(supplier, summary)
    text = prompts.render(
        "supplier_profile",
        request.language,
        supplier=supplier,
        summary=summary,
        price_min=format_cents(summary.price_min_cents or 0),
        price_max=format_cents(summary.price_max_cents or 0),
        warnings=warnings,
    )
    return SupplierProfile(
        supplier=supplier, quality=round(quality, 3), summary=summary, warnings=warnings, text=text
    )
