"""AI商机 (discover_opportunities): what to stock now from trends, festivals, category growth."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
from sourcing.agents.skills.select_products import SelectProductsInput, select_products
from sourcing.domain.errors import BadInputError, NotFoundError
from sourcing.domain.kinds import TrendSource
from sourcing.domain.repositories.signals import LeafPrices, SignalsRepository, TrendSeries
from sourcing.domain.tables import Buyer, Festival, Supplier
from sourcing.domain.types import utcnow
from sourcing.retrieval.constraints import Constraints
from sourcing.retrieval.ranking import SupplierSignals, supplier_quality
from sourcing.retrieval.search import ProductSearch

Language = Literal["zh", "en"]
OpportunityKind = Literal["trend", "festival", "category_growth"]
ALL_KINDS: tuple[OpportunityKind, ...] = ("trend", "festival", "category_growth")
HISTORY_DAYS = 56  # two 28-day windows
YEAR = 364  # a whole number of weeks, so last year's window starts on the same weekday


@dataclass(frozen=True)
class OpportunityTuning:
    """Thresholds and weights; the opportunity eval suite measures the trend ones."""

    min_growth_28d: float = 0.02  # below this a keyword is flat
    min_growth_7d: float = -0.05  # a week this far down means the rise has turned
    # Shops restock what shoppers search for: a rise in searches alone is not yet demand.
    min_purchase_growth_28d: float = 0.02
    min_purchase_growth_7d: float = -0.08  # restocking dropping this fast: the season is over
    window_coverage: float = 0.7  # share of days a window needs to be measured
    strength_scale: float = 0.15  # trend strength giving a score of 1 - 1/e
    default_sourcing_days: int = 7  # when no supply says how long sourcing takes
    category_weeks: int = 4
    min_category_growth: float = 0.10
    min_category_units: int = 20
    preferred_boost: float = 1.25
    channel_boost: float = 1.1
    supply_per_opportunity: int = 3


@dataclass(frozen=True)
class OpportunityVocabulary:
    """agents/data/opportunities.json: channel → fitting categories, and the phrases."""

    channel_categories: dict[str, tuple[str, ...]]
    phrases: dict[str, dict[str, str]]


@cache
def load_opportunity_vocabulary() -> OpportunityVocabulary:
    raw = json.loads(
        resources.files("sourcing.agents").joinpath("data/opportunities.json").read_text("utf-8")
    )
    return OpportunityVocabulary(
        channel_categories={k: tuple(v) for k, v in raw["channel_categories"].items()},
        phrases=raw["phrases"],
    )


class DiscoverOpportunitiesInput(BaseModel):
    """Whose opportunities (a buyer, or categories, or everyone) as of which day."""

    model_config = ConfigDict(frozen=True)

    buyer_id: Annotated[str | None, SERVICE] = Field(
        default=None, description="tailor to this buyer's categories"
    )
    categories: list[str] | None = Field(
        default=None, description="first-level categories; default the buyer's or all"
    )
    today: Annotated[date | None, SERVICE] = Field(
        default=None, description="as-of day; default today (UTC)"
    )
    horizon_days: int = Field(default=60, ge=1, le=365, description="how far ahead to look")
    limit: int = Field(default=10, ge=1, le=50)
    with_supply: Annotated[bool, SERVICE] = Field(
        default=True, description="attach matching products"
    )
    kinds: Annotated[tuple[OpportunityKind, ...], SERVICE] = ALL_KINDS
    language: Annotated[Language, SERVICE] = "zh"


class SupplyPick(BaseModel):
    product_id: str
    title: str
    price_cents: int | None
    unit: str
    moq: int
    lead_time_days: int | None
    supplier_id: str | None
    supplier_name: str | None


class Opportunity(BaseModel):
    """One thing to stock now, with the numbers behind it."""

    kind: OpportunityKind
    keyword: str | None = None
    category: str
    festival: str | None = None
    festival_day: date | None = None
    score: float
    growth_7d: float | None = None  # last 7 days vs the 7 before, search
    growth_28d: float | None = None  # last 28 days vs the 28 before (search; orders for growth)
    acceleration: float | None = None  # growth_7d minus the weekly pace implied by growth_28d
    yoy: float | None = None  # last 28 days vs the same 28 days a year earlier; None if unknown
    purchase_growth_28d: float | None = None
    confirmed_by_purchase: bool | None = None
    days_to_festival: int | None = None
    lead_time_days: int | None = None  # the festival's stocking lead time
    sourcing_days: int | None = None  # order to dispatch, from the supply (or a default)
    stock_by: date | None = None  # order by this day to be stocked in time
    why: list[str]
    supply: list[SupplyPick] = []


class DiscoverOpportunitiesResult(BaseModel):
    today: date
    buyer_id: str | None
    channel: str | None
    categories: list[str]  # the categories considered; empty means all
    opportunities: list[Opportunity]


@dataclass(frozen=True, slots=True)
class TrendEvidence:
    keyword: str
    category: str
    growth_7d: float
    growth_28d: float
    acceleration: float
    yoy: float | None
    purchase_growth_28d: float | None
    purchase_growth_7d: float | None

    @property
    def confirmed(self) -> bool | None:
        return None if self.purchase_growth_28d is None else self.purchase_growth_28d > 0


@dataclass(frozen=True, slots=True)
class _Scope:
    today: date
    buyer: Buyer | None
    categories: tuple[str, ...]  # empty: all
    channel_categories: frozenset[str]
    constraints: Constraints


def window_mean(
    values: Mapping[date, float], last: date, days: int, coverage: float
) -> float | None:
    """Mean of the days from last-days+1 to last, or None when too few of them are known."""
    seen = [values[d] for i in range(days) if (d := last - timedelta(days=i)) in values]
    return sum(seen) / len(seen) if seen and len(seen) >= math.ceil(days * coverage) else None


def growth(values: Mapping[date, float], last: date, days: int, coverage: float) -> float | None:
    """Mean of the `days` ending at `last` over the mean of the `days` before, minus 1."""
    now = window_mean(values, last, days, coverage)
    before = window_mean(values, last - timedelta(days=days), days, coverage)
    return None if now is None or not before else now / before - 1


def trend_evidence(
    search: TrendSeries, purchase: TrendSeries | None, today: date, coverage: float = 0.7
) -> TrendEvidence | None:
    """Growth over 7 and 28 days, acceleration and year-on-year of one keyword's searches."""
    g7 = growth(search.values, today, 7, coverage)
    g28 = growth(search.values, today, 28, coverage)
    if g7 is None or g28 is None:
        return None
    now = window_mean(search.values, today, 28, coverage)
    last_year = window_mean(search.values, today - timedelta(days=YEAR), 28, coverage)
    weekly_pace = math.copysign(abs(1 + g28) ** 0.25, 1 + g28) - 1
    return TrendEvidence(
        keyword=search.keyword,
        category=search.category,
        growth_7d=g7,
        growth_28d=g28,
        acceleration=g7 - weekly_pace,
        yoy=None if now is None or not last_year else now / last_year - 1,
        purchase_growth_28d=None
        if purchase is None
        else growth(purchase.values, today, 28, coverage),
        purchase_growth_7d=None
        if purchase is None
        else growth(purchase.values, today, 7, coverage),
    )


def is_rising(evidence: TrendEvidence, tuning: OpportunityTuning) -> bool:
    """Searches up over 28 days and not turned down this week; where a purchase index exists,
    it confirms the rise and is not collapsing (the end of a season)."""
    p28, p7 = evidence.purchase_growth_28d, evidence.purchase_growth_7d
    return (
        evidence.growth_28d >= tuning.min_growth_28d
        and evidence.growth_7d >= tuning.min_growth_7d
        and (p28 is None or p28 >= tuning.min_purchase_growth_28d)
        and (p7 is None or p7 >= tuning.min_purchase_growth_7d)
    )


def trend_strength(evidence: TrendEvidence) -> float:
    """Growth over 28 days, plus this week's momentum, plus half the purchase confirmation."""
    purchase = max(evidence.purchase_growth_28d or 0.0, 0.0)
    return evidence.growth_28d + max(evidence.acceleration, 0.0) + 0.5 * purchase


def _squash(value: float, scale: float) -> float:
    return 1 - math.exp(-max(value, 0.0) / scale)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.0%}"


def _trend_why(evidence: TrendEvidence, phrases: Mapping[str, str]) -> list[str]:
    why = [
        phrases["trend_rising"].format(
            keyword=evidence.keyword,
            growth_28d=_pct(evidence.growth_28d),
            growth_7d=_pct(evidence.growth_7d),
        )
    ]
    pace = "accelerating" if evidence.acceleration >= 0 else "slowing"
    why.append(phrases[pace].format(acceleration=f"{abs(evidence.acceleration):.1%}"))
    if evidence.purchase_growth_28d is not None:
        key = "purchase_confirms" if evidence.confirmed else "purchase_lags"
        why.append(phrases[key].format(purchase_growth_28d=_pct(evidence.purchase_growth_28d)))
    why.append(
        phrases["yoy"].format(yoy=_pct(evidence.yoy))
        if evidence.yoy is not None
        else phrases["no_yoy"]
    )
    return why


def _by_source(series: Sequence[TrendSeries]) -> dict[str, dict[TrendSource, TrendSeries]]:
    grouped: dict[str, dict[TrendSource, TrendSeries]] = {}
    for one in series:
        grouped.setdefault(one.keyword, {})[one.source] = one
    return grouped


def trend_opportunities(
    series: Sequence[TrendSeries],
    today: date,
    tuning: OpportunityTuning,
    phrases: Mapping[str, str],
) -> list[Opportunity]:
    """Rising keywords, strongest first."""
    found: list[Opportunity] = []
    for sources in _by_source(series).values():
        search = sources.get(TrendSource.DOWNSTREAM_SEARCH)
        if search is None:
            continue
        purchase = sources.get(TrendSource.PURCHASE_INDEX)
        evidence = trend_evidence(search, purchase, today, tuning.window_coverage)
        if evidence is None or not is_rising(evidence, tuning):
            continue
        found.append(
            Opportunity(
                kind="trend",
                keyword=evidence.keyword,
                category=evidence.category,
                score=round(_squash(trend_strength(evidence), tuning.strength_scale), 4),
                growth_7d=round(evidence.growth_7d, 4),
                growth_28d=round(evidence.growth_28d, 4),
                acceleration=round(evidence.acceleration, 4),
                yoy=None if evidence.yoy is None else round(evidence.yoy, 4),
                purchase_growth_28d=(
                    None
                    if evidence.purchase_growth_28d is None
                    else round(evidence.purchase_growth_28d, 4)
                ),
                confirmed_by_purchase=evidence.confirmed,
                why=_trend_why(evidence, phrases),
            )
        )
    return sorted(found, key=lambda o: (-o.score, o.keyword or ""))


def festival_stock_by(festival: Festival, sourcing_days: int) -> date:
    return festival.day - timedelta(days=festival.lead_days + sourcing_days)


def upcoming_festivals(
    festivals: Sequence[Festival], today: date, horizon_days: int, sourcing_days: int
) -> list[Festival]:
    """Festivals still ahead (strictly after today) whose stock-by day falls within the horizon;
    a stock-by day already past still counts, the festival itself has not."""
    last = today + timedelta(days=horizon_days)
    return [f for f in festivals if f.day > today and festival_stock_by(f, sourcing_days) <= last]


def festival_opportunities(
    festivals: Sequence[Festival],
    scope: _Scope,
    horizon_days: int,
    tuning: OpportunityTuning,
    phrases: Mapping[str, str],
) -> list[Opportunity]:
    """One opportunity per upcoming festival and related category, most urgent first."""
    sourcing = tuning.default_sourcing_days
    found: list[Opportunity] = []
    for festival in upcoming_festivals(festivals, scope.today, horizon_days, sourcing):
        stock_by = festival_stock_by(festival, sourcing)
        days = (festival.day - scope.today).days
        slack = (stock_by - scope.today).days
        window = festival.lead_days + sourcing
        # on time: more urgent as stock-by nears; late: less time left to sell through
        urgency = 1 - slack / (horizon_days + 1) if slack > 0 else 0.9 * days / max(window, 1)
        for rank, category in enumerate(festival.related_categories):
            if scope.categories and category not in scope.categories:
                continue
            key = "festival" if slack > 0 else "festival_late"
            why = phrases[key].format(
                festival=festival.name,
                days=days,
                category=category,
                lead_days=festival.lead_days,
                sourcing_days=sourcing,
                stock_by=stock_by.isoformat(),
            )
            found.append(
                Opportunity(
                    kind="festival",
                    category=category,
                    festival=festival.name,
                    festival_day=festival.day,
                    # related categories are listed most relevant first
                    score=round((0.5 + 0.5 * urgency) * (1 - 0.02 * rank), 4),
                    days_to_festival=days,
                    lead_time_days=festival.lead_days,
                    sourcing_days=sourcing,
                    stock_by=stock_by,
                    why=[why],
                )
            )
    return sorted(found, key=lambda o: (-o.score, o.stock_by or scope.today, o.category))


def category_opportunities(
    weekly: Mapping[str, Sequence[int]], tuning: OpportunityTuning, phrases: Mapping[str, str]
) -> list[Opportunity]:
    """First-level categories whose ordered units grew over the last weeks, fastest first."""
    found: list[Opportunity] = []
    half = tuning.category_weeks
    for category, units in weekly.items():
        before, now = sum(units[:half]), sum(units[half:])
        if before <= 0 or now < tuning.min_category_units:
            continue
        rise = now / before - 1
        if rise < tuning.min_category_growth:
            continue
        found.append(
            Opportunity(
                kind="category_growth",
                category=category,
                score=round(0.8 * _squash(rise, 0.5), 4),
                growth_28d=round(rise, 4),
                why=[
                    phrases["category_growth"].format(
                        category=category, growth=_pct(rise), units=now
                    )
                ],
            )
        )
    return sorted(found, key=lambda o: (-o.score, o.category))


def _boosted(
    opportunity: Opportunity,
    scope: _Scope,
    tuning: OpportunityTuning,
    phrases: Mapping[str, str],
    channel: str | None,
) -> Opportunity:
    factor = 1.0
    why = list(opportunity.why)
    if scope.buyer is not None and opportunity.category in scope.buyer.preferred_categories:
        factor *= tuning.preferred_boost
        why.append(phrases["preferred"])
    if opportunity.category in scope.channel_categories and channel is not None:
        factor *= tuning.channel_boost
        why.append(phrases["channel"].format(channel=channel))
    return opportunity.model_copy(
        update={"score": round(opportunity.score * factor, 4), "why": why}
    )


def _supply_query(opportunity: Opportunity) -> str:
    return opportunity.keyword or opportunity.category


def _attach_supply(
    search: ProductSearch,
    opportunity: Opportunity,
    scope: _Scope,
    tuning: OpportunityTuning,
    language: Language,
    phrases: Mapping[str, str],
) -> Opportunity:
    constraints = scope.constraints.model_copy(update={"categories": (opportunity.category,)})
    result = select_products(
        search,
        SelectProductsInput(
            query=_supply_query(opportunity),
            constraints=constraints,
            limit=tuning.supply_per_opportunity,
            language=language,
        ),
    )
    picks = [
        SupplyPick(
            product_id=hit.product_id,
            title=hit.title,
            price_cents=hit.price_cents,
            unit=hit.unit,
            moq=hit.moq,
            lead_time_days=hit.lead_time_days,
            supplier_id=None if hit.supplier is None else hit.supplier.id,
            supplier_name=None if hit.supplier is None else hit.supplier.name,
        )
        for hit in result.picks
    ]
    update: dict[str, object] = {"supply": picks}
    if not picks:
        update["why"] = [*opportunity.why, phrases["no_supply"]]
    leads = [p.lead_time_days for p in picks if p.lead_time_days is not None]
    if opportunity.kind == "festival" and leads and opportunity.festival_day is not None:
        sourcing = round(statistics.median(leads))
        update["sourcing_days"] = sourcing
        update["stock_by"] = opportunity.festival_day - timedelta(
            days=(opportunity.lead_time_days or 0) + sourcing
        )
    return opportunity.model_copy(update=update)


def _scope(
    session: Session, request: DiscoverOpportunitiesInput, vocabulary: OpportunityVocabulary
) -> _Scope:
    buyer = None
    if request.buyer_id is not None:
        buyer = SignalsRepository(session).buyer(request.buyer_id)
        if buyer is None:
            raise NotFoundError("no such buyer", buyer_id=request.buyer_id)
    categories = request.categories or (buyer.preferred_categories if buyer is not None else [])
    constraints = Constraints()
    if buyer is not None and (
        buyer.price_min_cents is not None or buyer.price_max_cents is not None
    ):
        low, high = buyer.price_min_cents, buyer.price_max_cents
        if low is None or high is None or low <= high:
            constraints = Constraints(price_min_cents=low, price_max_cents=high)
    channel = None if buyer is None else str(buyer.channel)
    return _Scope(
        today=request.today or utcnow().date(),
        buyer=buyer,
        categories=tuple(dict.fromkeys(categories)),
        channel_categories=frozenset(vocabulary.channel_categories.get(channel or "", ())),
        constraints=constraints,
    )


def discover_opportunities(
    engine: Engine,
    search: ProductSearch | None,
    request: DiscoverOpportunitiesInput,
    tuning: OpportunityTuning = OpportunityTuning(),
) -> DiscoverOpportunitiesResult:
    """Trend, festival and category-growth opportunities, best first, with supply attached."""
    if request.with_supply and search is None:
        raise BadInputError("with_supply needs a product search")
    vocabulary = load_opportunity_vocabulary()
    phrases = vocabulary.phrases[request.language]
    with Session(engine) as session:
        scope = _scope(session, request, vocabulary)
        repo = SignalsRepository(session)
        today, wanted = scope.today, scope.categories or None
        found: list[Opportunity] = []
        if "trend" in request.kinds:
            # enough history for two 28-day windows, and last year's window for year-on-year
            series = repo.trend_series(today - timedelta(days=YEAR + 28), today, categories=wanted)
            found += trend_opportunities(series, today, tuning, phrases)
        if "festival" in request.kinds:
            festivals = repo.festivals_between(
                today + timedelta(days=1), today + timedelta(days=request.horizon_days + 365)
            )
            found += festival_opportunities(festivals, scope, request.horizon_days, tuning, phrases)
        if "category_growth" in request.kinds:
            weekly = repo.category_weekly_units(today, 2 * tuning.category_weeks)
            if wanted:
                weekly = {c: u for c, u in weekly.items() if c in wanted}
            found += category_opportunities(weekly, tuning, phrases)
    channel = None if scope.buyer is None else str(scope.buyer.channel)
    ranked = sorted(
        (_boosted(o, scope, tuning, phrases, channel) for o in found),
        key=lambda o: (-o.score, o.kind, o.keyword or o.festival or "", o.category),
    )[: request.limit]
    if request.with_supply and search is not None:
        ranked = [
            _attach_supply(search, o, scope, tuning, request.language, phrases) for o in ranked
        ]
    return DiscoverOpportunitiesResult(
        today=today,
        buyer_id=request.buyer_id,
        channel=channel,
        categories=list(scope.categories),
        opportunities=ranked,
    )


class MerchantViewInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    supplier_id: Annotated[str, SERVICE] = Field(min_length=1)  # the merchant key's own
    today: Annotated[date | None, SERVICE] = None
    language: Annotated[Language, SERVICE] = "zh"


class LeafStanding(BaseModel):
    """How one supplier's listings in a leaf compare with the whole leaf."""

    category_path: str
    category: str
    products: int
    median_price_cents: int | None
    category_products: int
    category_median_price_cents: int | None
    price_vs_category: float | None  # supplier median / leaf median - 1
    trust: float
    category_median_trust: float
    suppliers_in_category: int
    why: list[str]


class MerchantView(BaseModel):
    supplier_id: str
    today: date
    categories: list[str]
    rising: list[Opportunity]  # trend opportunities in the supplier's first-level categories
    leaves: list[LeafStanding]


def _quality(supplier: Supplier) -> float:
    return supplier_quality(SupplierSignals.of(supplier))


def _standing(
    leaf: LeafPrices, trust: float, others: Mapping[str, Supplier], phrases: Mapping[str, str]
) -> LeafStanding:
    trusts = [_quality(others[s]) for s in leaf.leaf_supplier_ids if s in others]
    median_trust = statistics.median(trusts) if trusts else trust
    own, typical = leaf.supplier_median_cents, leaf.leaf_median_cents
    ratio = None if own is None or not typical else own / typical - 1
    why = [
        phrases["merchant_price"].format(
            category=leaf.category_path, price=_pct(ratio), products=leaf.leaf_products
        ),
        phrases["merchant_trust"].format(trust=f"{trust:.2f}", median=f"{median_trust:.2f}"),
    ]
    return LeafStanding(
        category_path=leaf.category_path,
        category=leaf.category,
        products=leaf.supplier_products,
        median_price_cents=own,
        category_products=leaf.leaf_products,
        category_median_price_cents=typical,
        price_vs_category=None if ratio is None else round(ratio, 4),
        trust=round(trust, 4),
        category_median_trust=round(median_trust, 4),
        suppliers_in_category=len(leaf.leaf_supplier_ids),
        why=why,
    )


def merchant_view(engine: Engine, request: MerchantViewInput) -> MerchantView:
    """What is rising in a supplier's categories, and its prices and trust against each leaf."""
    phrases = load_opportunity_vocabulary().phrases[request.language]
    with Session(engine) as session:
        repo = SignalsRepository(session)
        supplier = repo.supplier(request.supplier_id)
        if supplier is None:
            raise NotFoundError("no such supplier", supplier_id=request.supplier_id)
        leaves = repo.leaf_prices(supplier.id)
        others = repo.suppliers({s for leaf in leaves for s in leaf.leaf_supplier_ids})
    categories = sorted({leaf.category for leaf in leaves})
    rising = (
        discover_opportunities(
            engine,
            None,
            DiscoverOpportunitiesInput(
                categories=categories,
                today=request.today,
                kinds=("trend",),
                with_supply=False,
                language=request.language,
            ),
        ).opportunities
        if categories
        else []
    )
    trust = _quality(supplier)
    return MerchantView(
        supplier_id=supplier.id,
        today=request.today or utcnow().date(),
        categories=categories,
        rising=rising,
        leaves=[_standing(leaf, trust, others, phrases) for leaf in leaves],
    )
