"""Typed view of the demo marketplace's data files (categories, market, signals, knowledge)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sourcing.domain.kinds import BuyerChannel, KnowledgeKind, SupplierKind

PACKAGE = "sourcing.catalog_sync.demo"

Range = tuple[float, float]
IntRange = tuple[int, int]
Options = tuple[str, ...]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeafSpec(_Spec):
    """A third-level category; fields left out inherit from the top-level category.

    `attributes` override the inherited ones key by key (an empty list drops the key);
    `sku_axes` replace the inherited axes as a whole.
    """

    name: str
    nouns: Options = Field(min_length=1)
    price: Range | None = None
    unit: str | None = None
    moq: tuple[int, ...] | None = None
    lead_days: IntRange | None = None
    attributes: dict[str, Options] = {}
    sku_axes: dict[str, Options] | None = None
    selling_points: Options | None = None
    dupes: Options = ()


class SubCategorySpec(_Spec):
    name: str
    children: tuple[LeafSpec, ...] = Field(min_length=1)


class TopCategorySpec(_Spec):
    name: str
    unit: str
    price: Range
    moq: tuple[int, ...] = Field(min_length=1)
    lead_days: IntRange
    styles: Options = Field(min_length=1)
    selling_points: Options = Field(min_length=1)
    attributes: dict[str, Options]
    sku_axes: dict[str, Options] = Field(min_length=1)
    children: tuple[SubCategorySpec, ...] = Field(min_length=2, max_length=4)


class DescriptionSpec(_Spec):
    intro: Options
    material: Options
    supply: Options
    custom: Options
    dupe: Options
    service: Options


class ListingSpec(_Spec):
    """Parts that titles, descriptions, images and price tiers are assembled from."""

    generic_prefixes: Options
    trader_prefixes: Options
    new_season: Options
    seasons: tuple[str, str]
    tails: Options
    custom_tails: Options
    dupe_prefixes: Options
    image_url: str
    tier_ladders: tuple[tuple[int, ...], ...]
    descriptions: DescriptionSpec


class BeltSpec(_Spec):
    """An industrial belt (产业带): where suppliers of some categories cluster."""

    name: str
    province: str
    cities: Options = Field(min_length=1)
    weight: float = Field(gt=0)
    categories: Options = Field(min_length=1)
    title_prefixes: Options = Field(min_length=1)
    trade_words: Options = Field(min_length=1)


class SupplierProfileSpec(_Spec):
    """A band of trust signals; `share` of suppliers get it, at least `minimum` of them."""

    name: str
    share: float = Field(ge=0, le=1)
    minimum: int = Field(ge=0)
    all_stock_out: bool = False
    integrity: IntRange
    fulfilment_48h: Range
    quality_refund: Range
    response: Range
    sales_factor: float
    repurchase_shift: float


class BadgeSpec(_Spec):
    specialist: str
    brand_oem: str
    first_hand: str
    strong_merchant: str


class RegionSpec(_Spec):
    province: str
    cities: Options = Field(min_length=1)


class ChannelSpec(_Spec):
    """How buyers of one sales channel buy: cadence, quantities, price bands, categories."""

    name: BuyerChannel
    weight: float = Field(gt=0)
    interval_days: Range
    quantity_multiplier: IntRange
    price_bands: tuple[IntRange, ...] = Field(min_length=1)
    series: IntRange
    one_off_share: float = Field(ge=0)
    affinity: Options = Field(min_length=1)
    name_patterns: Options = Field(min_length=1)


class MarketSpec(_Spec):
    belts: tuple[BeltSpec, ...] = Field(min_length=1)
    supplier_name_words: Options = Field(min_length=2)
    supplier_suffixes: dict[SupplierKind, Options]
    supplier_kind_weights: dict[SupplierKind, float]
    supplier_profiles: tuple[SupplierProfileSpec, ...] = Field(min_length=1)
    badges: BadgeSpec
    regions: tuple[RegionSpec, ...] = Field(min_length=1)
    buyer_name_words: Options = Field(min_length=2)
    channels: tuple[ChannelSpec, ...]

    @model_validator(mode="after")
    def _every_channel_once(self) -> MarketSpec:
        if sorted(c.name for c in self.channels) != sorted(BuyerChannel):
            raise ValueError("market.json must describe every buyer channel exactly once")
        return self


class OrderEffectSpec(_Spec):
    """Demand multiplier from `from_days` to `to_days` around each occurrence of a festival."""

    festival: str
    from_days: int
    to_days: int
    factor: float = Field(gt=0)


class FestivalSpec(_Spec):
    name: str
    rule: Literal["fixed", "lunar", "nth_weekday"]
    lead_days: int = Field(ge=0)
    related_categories: Options
    month: int | None = None
    day: int | None = None
    weekday: int | None = Field(default=None, ge=0, le=6)
    nth: int | None = Field(default=None, ge=1, le=5)
    dates: tuple[date, ...] = ()

    @model_validator(mode="after")
    def _rule_has_its_fields(self) -> FestivalSpec:
        needed = {
            "fixed": (self.month, self.day),
            "nth_weekday": (self.month, self.weekday, self.nth),
            "lunar": (self.dates or None,),
        }[self.rule]
        if any(value is None for value in needed):
            raise ValueError(f"festival {self.name}: rule {self.rule} lacks its fields")
        return self


TrendShape = Literal["rising", "falling", "seasonal", "flat"]


class TrendKeywordSpec(_Spec):
    keyword: str
    category: str
    shape: TrendShape
    base: float = Field(gt=0)
    peak_month: int | None = Field(default=None, ge=1, le=12)


class SignalsSpec(_Spec):
    monthly_demand: dict[str, tuple[float, ...]]
    order_effects: tuple[OrderEffectSpec, ...]
    festivals: tuple[FestivalSpec, ...]
    trend_keywords: tuple[TrendKeywordSpec, ...]

    def months_for(self, category: str) -> tuple[float, ...]:
        return self.monthly_demand.get(category, self.monthly_demand["default"])


class KnowledgeEntry(_Spec):
    id: str = Field(max_length=64)
    kind: KnowledgeKind
    title: str
    body: str
    language: Literal["zh", "en"]
    tags: Options
    effective_from: date


@dataclass(frozen=True, slots=True)
class Leaf:
    """A third-level category with every inherited default resolved; prices in cents."""

    top: str
    path: str
    unit: str
    price_cents: IntRange
    moq: tuple[int, ...]
    lead_days: IntRange
    styles: Options
    selling_points: Options
    attributes: tuple[tuple[str, Options], ...]
    sku_axes: tuple[tuple[str, Options], ...]
    nouns: Options
    dupes: Options


@dataclass(frozen=True, slots=True)
class Vocabulary:
    leaves: tuple[Leaf, ...]
    listing: ListingSpec
    market: MarketSpec
    signals: SignalsSpec
    knowledge: tuple[KnowledgeEntry, ...]

    @property
    def top_categories(self) -> Options:
        return tuple(dict.fromkeys(leaf.top for leaf in self.leaves))


def _read_json(name: str) -> Any:
    return json.loads(files(PACKAGE).joinpath(name).read_text(encoding="utf-8"))


def _cents(yuan: float) -> int:
    return int(Decimal(str(yuan)) * 100)


def _resolve(top: TopCategorySpec, sub: SubCategorySpec, leaf: LeafSpec) -> Leaf:
    low, high = leaf.price or top.price
    return Leaf(
        top=top.name,
        path=f"{top.name}/{sub.name}/{leaf.name}",
        unit=leaf.unit or top.unit,
        price_cents=(_cents(low), _cents(high)),
        moq=leaf.moq or top.moq,
        lead_days=leaf.lead_days or top.lead_days,
        styles=top.styles,
        selling_points=leaf.selling_points or top.selling_points,
        attributes=tuple((k, v) for k, v in (top.attributes | leaf.attributes).items() if v),
        sku_axes=tuple((leaf.sku_axes or top.sku_axes).items()),
        nouns=leaf.nouns,
        dupes=leaf.dupes,
    )


def _check_references(vocabulary: Vocabulary) -> None:
    known = set(vocabulary.top_categories)
    named = [c for belt in vocabulary.market.belts for c in belt.categories]
    named += [c for channel in vocabulary.market.channels for c in channel.affinity]
    named += [c for f in vocabulary.signals.festivals for c in f.related_categories]
    named += [k.category for k in vocabulary.signals.trend_keywords]
    unknown = sorted(set(named) - known)
    if unknown:
        raise ValueError(f"demo vocabulary names unknown categories: {unknown}")
    orphans = known - {c for belt in vocabulary.market.belts for c in belt.categories}
    if orphans:
        raise ValueError(f"no industrial belt supplies {sorted(orphans)}")


def load_vocabulary() -> Vocabulary:
    """Parse and cross-check the JSON files shipped in this package."""
    tops = [
        TopCategorySpec.model_validate(raw) for raw in _read_json("categories.json")["categories"]
    ]
    vocabulary = Vocabulary(
        leaves=tuple(
            _resolve(top, sub, leaf)
            for top in tops
            for sub in top.children
            for leaf in sub.children
        ),
        listing=ListingSpec.model_validate(_read_json("listing.json")),
        market=MarketSpec.model_validate(_read_json("market.json")),
        signals=SignalsSpec.model_validate(_read_json("signals.json")),
        knowledge=tuple(KnowledgeEntry.model_validate(raw) for raw in _read_json("knowledge.json")),
    )
    _check_references(vocabulary)
    return vocabulary
