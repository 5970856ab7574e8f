"""plan_replenishment (AI补货): per buyer × SKU forecast, reorder point, MOQ/tier-aware quantity.

The policy is a periodic review (every `review_days`) with a reorder point:

* protection interval P = lead time + review period, in weeks (the plan is looked at once per
  review, so stock must last until the next review's order arrives; review_days=0 gives the
  textbook lead-time-only formula);
* lead-time demand = weekly forecast × lead weeks; safety stock = z × sigma × √P;
* reorder point = forecast × P + safety stock; reorder now when stock on hand ≤ reorder point;
* order-up-to level = reorder point + one cycle (max(review, 7) days) of demand; the order is the
  gap to it, at least the MOQ, then moved to a higher price tier when that costs no more in
  total (e.g. 95 × ¥12.50 = ¥1187.50 → 100 × ¥11.00 = ¥1100.00); see `choose_quantity`.

Stock on hand not given by the caller is estimated: the buyer is assumed to have reordered when
nearly out, so stock after the last order is its quantity, less the forecast consumption since.

MOQ and price tiers apply per SKU line, as the demo's orders do. Money is Decimal yuan quantized
to 0.01 (ROUND_HALF_UP) built from integer cents, so totals are exact.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib.resources import files
from statistics import NormalDist
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.fields import SERVICE
from sourcing.agents.skills.forecasting import (
    DemandClass,
    Forecast,
    Method,
    forecast,
    weekly_series,
)
from sourcing.domain.errors import NotFoundError
from sourcing.domain.kinds import ProductStatus
from sourcing.domain.money import PriceTier, unit_price_at
from sourcing.domain.numbers import MAX_BUDGET_YUAN
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.orders import OrderedLine, OrderRepository
from sourcing.domain.tables import Product, Supplier
from sourcing.prompts.loader import Language

DEFAULT_LEAD_DAYS = 7
ACTIVE_MIN_ORDERS = 2  # a single order is a trial, not a series to replenish
ACTIVE_DAYS = 180  # a series whose last order is older has been dropped by the buyer
MAX_WEEKS = 156
CENT = Decimal("0.01")

Action = Literal["order", "deferred", "hold"]


class PlanReplenishmentInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    buyer_id: Annotated[str, SERVICE] = Field(min_length=1, max_length=64)
    product_ids: list[str] | None = Field(
        default=None, max_length=200, description="default: every active series of the buyer"
    )
    service_level: float = Field(default=0.95, ge=0.5, le=0.999)
    budget: Decimal | None = Field(
        default=None, ge=0, le=MAX_BUDGET_YUAN, description="yuan, for this reorder"
    )
    on_hand: dict[str, int] | None = Field(
        default=None, description="stock per SKU id or product id; missing ones are estimated"
    )
    review_days: int = Field(default=7, ge=0, le=90)
    today: Annotated[date | None, SERVICE] = None
    language: Annotated[Language, SERVICE] = "zh"


class ReplenishmentLine(BaseModel):
    product_id: str
    sku_id: str | None
    title: str
    unit: str
    supplier_id: str | None
    supplier_name: str
    demand_class: DemandClass
    method: Method
    forecast_per_week: float
    sigma_per_week: float
    lead_time_days: int
    lead_time_demand: float
    safety_stock: float
    reorder_point: int
    on_hand: int
    on_hand_estimated: bool
    days_of_cover: float | None  # None: no demand expected
    reorder_now: bool
    reorder_on: date | None  # when stock reaches the reorder point, if not now
    action: Action
    order_quantity: int  # 0 unless reorder_now
    moq: int
    unit_price: Decimal | None  # yuan at order_quantity; None when negotiable or no order
    line_total: Decimal | None
    why: str


class DeferredLine(BaseModel):
    product_id: str
    sku_id: str | None
    days_of_cover: float | None
    line_total: Decimal | None
    reason: str


class ReplenishmentPlan(BaseModel):
    buyer_id: str
    today: date
    service_level: float
    budget: Decimal | None
    lines: list[ReplenishmentLine]  # reorder-now lines first, most urgent first
    total: Decimal  # of the lines to order now
    deferred: list[DeferredLine]
    notes: list[str]


@dataclass(frozen=True, slots=True)
class StockPolicy:
    lead_time_demand: float
    safety_stock: float
    reorder_point: int
    order_up_to: int


@cache
def _phrases() -> dict[str, dict[str, str]]:
    text = files("sourcing.agents").joinpath("data/replenishment.json").read_text("utf-8")
    phrases: dict[str, dict[str, str]] = json.loads(text)
    return phrases


def _say(language: Language, key: str, **values: object) -> str:
    return _phrases()[language][key].format(**values)


def yuan(cents: int) -> Decimal:
    """Integer cents as Decimal yuan, exact."""
    return (Decimal(cents) / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def line_total(quantity: int, unit_price_cents: int) -> Decimal:
    return yuan(quantity * unit_price_cents)


def stock_policy(
    weekly: float, sigma: float, lead_time_days: int, review_days: int, service_level: float
) -> StockPolicy:
    """Reorder point and order-up-to level (see the module docstring)."""
    z = NormalDist().inv_cdf(service_level)
    protection = (lead_time_days + review_days) / 7
    safety = max(z, 0.0) * sigma * math.sqrt(protection) if weekly > 0 else 0.0
    reorder_point = math.ceil(weekly * protection + safety) if weekly > 0 else 0
    cycle = weekly * max(review_days, 7) / 7
    return StockPolicy(
        lead_time_demand=round(weekly * lead_time_days / 7, 2),
        safety_stock=round(safety, 2),
        reorder_point=reorder_point,
        order_up_to=math.ceil(reorder_point + cycle),
    )


def product_tiers(product: Product) -> list[PriceTier]:
    tiers = [PriceTier.model_validate(tier) for tier in product.price_tiers]
    if not tiers and product.price_cents is not None:
        tiers = [PriceTier(min_quantity=max(product.moq, 1), unit_price_cents=product.price_cents)]
    return sorted(tiers, key=lambda t: t.min_quantity)


def choose_quantity(need: int, moq: int, tiers: Sequence[PriceTier]) -> tuple[int, int | None]:
    """(quantity, unit price in cents) for at least `need` units.

    Rounds up to the MOQ (and the first tier's minimum), then moves to a higher tier's minimum
    quantity when that costs no more in total: more goods for the same or less money. A higher
    tier that costs more in total is never chosen, so the buyer never pays extra for a discount.
    Price None: no tiers (面议).
    """
    ordered = sorted(tiers, key=lambda t: t.min_quantity)
    floor = max(need, moq, 1, ordered[0].min_quantity if ordered else 1)
    price = unit_price_at(ordered, floor)
    if price is None:
        return floor, None
    best_quantity, best_price = floor, price
    for tier in ordered:
        if tier.min_quantity <= floor:
            continue
        if tier.min_quantity * tier.unit_price_cents <= best_quantity * best_price:
            best_quantity, best_price = tier.min_quantity, tier.unit_price_cents
    return best_quantity, best_price


def estimate_on_hand(last_day: date, last_quantity: int, weekly: float, today: date) -> int:
    """Last order's quantity less the forecast consumption since (never below zero)."""
    consumed = weekly * max((today - last_day).days, 0) / 7
    return max(0, math.floor(last_quantity - consumed))


def series_weeks(first_day: date, today: date) -> int:
    return min(MAX_WEEKS, (today - first_day).days // 7 + 1)


@dataclass(frozen=True, slots=True)
class _Series:
    product_id: str
    sku_id: str | None
    days: tuple[tuple[date, int], ...]  # (day, quantity) per order day, oldest first


def _group(lines: Sequence[OrderedLine], today: date) -> list[_Series]:
    per_key: dict[tuple[str, str | None], dict[date, int]] = defaultdict(dict)
    for line in lines:
        if line.day > today:
            continue
        days = per_key[(line.product_id, line.sku_id)]
        days[line.day] = days.get(line.day, 0) + line.quantity
    return [
        _Series(product_id, sku_id, tuple(sorted(days.items())))
        for (product_id, sku_id), days in sorted(per_key.items(), key=lambda kv: str(kv[0]))
    ]


def _active(series: _Series, today: date) -> bool:
    recent = (today - series.days[-1][0]).days <= ACTIVE_DAYS
    return len(series.days) >= ACTIVE_MIN_ORDERS and recent


def forecast_series(days: Sequence[tuple[date, int]], today: date) -> Forecast:
    """One-week-ahead forecast of a buyer × SKU series of (day, quantity) up to `today`."""
    weeks = series_weeks(days[0][0], today)
    return forecast(weekly_series(days, today, weeks), horizon=1)


class _Planner:
    def __init__(self, request: PlanReplenishmentInput, today: date) -> None:
        self.request = request
        self.today = today
        self.language = request.language
        self.notes: list[str] = []

    def on_hand(self, series: _Series, weekly: float, product_series: int) -> tuple[int, bool]:
        given = self.request.on_hand or {}
        if series.sku_id is not None and series.sku_id in given:
            return max(0, given[series.sku_id]), False
        if series.product_id in given:
            if product_series == 1:
                return max(0, given[series.product_id]), False
            self.notes.append(
                _say(self.language, "on_hand_ambiguous", product_id=series.product_id)
            )
        last_day, last_quantity = series.days[-1]
        return estimate_on_hand(last_day, last_quantity, weekly, self.today), True

    def line(
        self,
        series: _Series,
        product: Product,
        supplier: Supplier | None,
        product_series: int,
    ) -> ReplenishmentLine:
        result = forecast_series(series.days, self.today)
        weekly = result.mean[0]
        lead = product.lead_time_days or DEFAULT_LEAD_DAYS
        policy = stock_policy(
            weekly, result.sigma, lead, self.request.review_days, self.request.service_level
        )
        on_hand, estimated = self.on_hand(series, weekly, product_series)
        daily = weekly / 7
        cover = round(on_hand / daily, 1) if daily > 0 else None
        reorder_now = weekly > 0 and on_hand <= policy.reorder_point
        quantity, price = 0, None
        if reorder_now:
            quantity, price = choose_quantity(
                policy.order_up_to - on_hand, product.moq, product_tiers(product)
            )
        reorder_on = None
        if not reorder_now and daily > 0:
            reorder_on = self.today + timedelta(days=int((on_hand - policy.reorder_point) / daily))
        values = {
            "weekly": f"{weekly:.1f}",
            "unit": product.unit,
            "on_hand": on_hand,
            "days": f"{cover:.0f}" if cover is not None else "∞",
            "reorder_point": policy.reorder_point,
            "lead": lead,
            "level": f"{self.request.service_level:.0%}",
            "reorder_on": reorder_on.isoformat() if reorder_on else "",
        }
        key = "why_order" if reorder_now else ("why_hold" if daily > 0 else "why_idle")
        return ReplenishmentLine(
            product_id=series.product_id,
            sku_id=series.sku_id,
            title=product.title,
            unit=product.unit,
            supplier_id=product.supplier_id,
            supplier_name=supplier.name if supplier else "",
            demand_class=result.demand_class,
            method=result.method,
            forecast_per_week=round(weekly, 2),
            sigma_per_week=round(result.sigma, 2),
            lead_time_days=lead,
            lead_time_demand=policy.lead_time_demand,
            safety_stock=policy.safety_stock,
            reorder_point=policy.reorder_point,
            on_hand=on_hand,
            on_hand_estimated=estimated,
            days_of_cover=cover,
            reorder_now=reorder_now,
            reorder_on=reorder_on,
            action="order" if reorder_now else "hold",
            order_quantity=quantity,
            moq=product.moq,
            unit_price=yuan(price) if price is not None else None,
            line_total=line_total(quantity, price) if price is not None else None,
            why=_say(self.language, key, **values),
        )

    def apply_budget(self, lines: list[ReplenishmentLine]) -> list[DeferredLine]:
        """Keep the most urgent lines that fit the budget, in order; defer the rest."""
        budget = self.request.budget
        if budget is None:
            return []
        left = budget.quantize(CENT, rounding=ROUND_HALF_UP)
        deferred: list[DeferredLine] = []
        for index, line in enumerate(lines):
            if not line.reorder_now:
                continue
            if line.line_total is not None and line.line_total <= left:
                left -= line.line_total
                continue
            reason = (
                _say(self.language, "deferred_price")
                if line.line_total is None
                else _say(self.language, "deferred", needed=line.line_total, left=left)
            )
            lines[index] = line.model_copy(update={"action": "deferred"})
            deferred.append(
                DeferredLine(
                    product_id=line.product_id,
                    sku_id=line.sku_id,
                    days_of_cover=line.days_of_cover,
                    line_total=line.line_total,
                    reason=reason,
                )
            )
        if deferred:
            self.notes.append(
                _say(self.language, "over_budget", budget=budget, count=len(deferred))
            )
        return deferred


def _urgency(line: ReplenishmentLine) -> tuple[int, float, str, str]:
    cover = line.days_of_cover if line.days_of_cover is not None else math.inf
    return (0 if line.reorder_now else 1, cover, line.product_id, line.sku_id or "")


def _select(
    planner: _Planner,
    series: list[_Series],
    listings: Mapping[str, tuple[Product, Supplier | None]],
) -> list[_Series]:
    request = planner.request
    if request.product_ids is None:
        chosen = [s for s in series if _active(s, planner.today)]
    else:
        wanted = list(dict.fromkeys(request.product_ids))
        chosen = [s for s in series if s.product_id in wanted]
        ordered = {s.product_id for s in series}
        for product_id in wanted:
            if product_id not in ordered:
                planner.notes.append(_say(planner.language, "no_history", product_id=product_id))
    kept: list[_Series] = []
    for item in chosen:
        listing = listings.get(item.product_id)
        if listing is None or listing[0].status != ProductStatus.ACTIVE:
            note = _say(planner.language, "delisted", product_id=item.product_id)
            if note not in planner.notes:
                planner.notes.append(note)
            continue
        kept.append(item)
    return kept


def plan_replenishment(engine: Engine, request: PlanReplenishmentInput) -> ReplenishmentPlan:
    """The buyer's replenishment plan as of `request.today` (default: today, UTC)."""
    today = request.today or datetime.now(UTC).date()
    planner = _Planner(request, today)
    with Session(engine) as session:
        orders = OrderRepository(session)
        if not orders.buyer_exists(request.buyer_id):
            raise NotFoundError(f"no buyer {request.buyer_id!r}", buyer_id=request.buyer_id)
        series = _group(orders.ordered_lines(request.buyer_id), today)
        product_ids = sorted({s.product_id for s in series})
        listings = {p.id: (p, s) for p, s in CatalogRepository(session).listings(product_ids)}
    empty = ReplenishmentPlan(
        buyer_id=request.buyer_id,
        today=today,
        service_level=request.service_level,
        budget=request.budget,
        lines=[],
        total=Decimal("0.00"),
        deferred=[],
        notes=planner.notes,
    )
    if not series:
        note = _say(request.language, "no_orders", buyer_id=request.buyer_id)
        return empty.model_copy(update={"notes": [note]})
    chosen = _select(planner, series, listings)
    per_product: dict[str, int] = defaultdict(int)
    for item in chosen:
        per_product[item.product_id] += 1
    lines = sorted(
        (
            planner.line(item, *listings[item.product_id], per_product[item.product_id])
            for item in chosen
        ),
        key=_urgency,
    )
    deferred = planner.apply_budget(lines)
    ordering = [line for line in lines if line.action == "order"]
    if any(line.on_hand_estimated for line in lines):
        planner.notes.append(_say(request.language, "estimated"))
    unpriced = [line for line in ordering if line.line_total is None]
    if unpriced:
        planner.notes.append(_say(request.language, "negotiable", count=len(unpriced)))
    total = sum((line.line_total or Decimal(0) for line in ordering), Decimal("0.00"))
    return empty.model_copy(
        update={
            "lines": lines,
            "total": total.quantize(CENT, rounding=ROUND_HALF_UP),
            "deferred": deferred,
            "notes": list(dict.fromkeys(planner.notes)),
        }
    )
