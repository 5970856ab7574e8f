"""supplier_profile: a supplier's trust signals and what it sells, with risk warnings."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
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

    supplier_id: str = Field(min_length=1, max_length=64, description="e.g. s-0001")
    language: Annotated[Language, SERVICE] = "zh"

    @field_validator("supplier_id")
    @classmethod
    def _as_stored(cls, value: str) -> str:
        return value.strip().lower()


class TrustSignal(BaseModel):
    """One trust signal with what it means for a buyer, in plain words."""

    name: str  # integrity_score, fulfilment_48h_rate, quality_refund_rate, … or kind
    value: str  # as shown: "92", "96%", "1.5%", "8"
    level: Literal["good", "fair", "poor"] | None  # None for the supplier kind
    meaning: str


class SupplierProfile(BaseModel):
    supplier: Supplier
    quality: float  # 0–1 trust score used in ranking
    summary: SupplierSummary
    warnings: list[str]  # codes: suspended, high_quality_refunds, no_stock, slow_dispatch
    signals: list[TrustSignal] = []
    text: str


class _SignalSpec(BaseModel):
    format: Literal["score", "percent", "years"]
    higher_is_better: bool
    bands: list[tuple[float, Literal["good", "fair", "poor"]]]
    meaning: dict[str, dict[str, str]]


class _TrustVocabulary(BaseModel):
    signals: dict[str, _SignalSpec]
    kinds: dict[str, dict[str, str]]


@cache
def _trust_vocabulary() -> _TrustVocabulary:
    raw = resources.files("sourcing.agents").joinpath("data/trust_signals.json").read_text("utf-8")
    return _TrustVocabulary.model_validate(json.loads(raw))


def _shown(value: float, format: str) -> str:
    if format == "percent":
        return f"{value * 100:.1f}%".replace(".0%", "%")
    return str(int(value))


def _level(value: float, spec: _SignalSpec) -> Literal["good", "fair", "poor"]:
    # Bands are listed best first: the first bound the value reaches (or stays under) wins.
    for bound, level in spec.bands:
        if (value >= bound) if spec.higher_is_better else (value <= bound):
            return level
    return spec.bands[-1][1]


def trust_signals(supplier: Supplier, language: Language) -> list[TrustSignal]:
    """The supplier's kind and numeric trust signals, each with its plain-language meaning."""
    vocabulary = _trust_vocabulary()
    kind = str(supplier.kind)
    found = [
        TrustSignal(name="kind", value=kind, level=None, meaning=vocabulary.kinds[kind][language])
    ]
    for name, spec in vocabulary.signals.items():
        value = float(getattr(supplier, name))
        shown = _shown(value, spec.format)
        level = _level(value, spec)
        meaning = spec.meaning[language][level].format(value=shown)
        found.append(TrustSignal(name=name, value=shown, level=level, meaning=meaning))
    return found


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
        supplier=supplier,
        quality=round(quality, 3),
        summary=summary,
        warnings=warnings,
        signals=trust_signals(supplier, request.language),
        text=text,
    )
