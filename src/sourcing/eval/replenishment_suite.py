"""The replenishment suite: hold-out backtest of demand forecasts and of the reorder policy.

On the demo order history, the last TEST_WEEKS weeks are held out. Every buyer × SKU series
the skill would plan by default at the cutoff (ACTIVE_MIN_ORDERS+ orders, the last within
ACTIVE_DAYS) is forecast TEST_WEEKS weeks ahead by:

* ``chosen``: the method `forecasting.choose_method` picks for the series;
* ``naive``: the last training week repeated;
* ``seasonal_naive``: the last SEASON_WEEKS weeks repeated. One year of history holds a
  single 52-week season, so "the same week a year ago" does not exist for the held-out weeks;
  four weeks (about a month, the order cycle of most buyers) is the longest season available;
* ``moving_average``: the mean of the last 8 weeks; plus fixed ``sba`` and ``ses`` for contrast.

WAPE is Σ|y − ŷ| / Σy over all series-weeks; MASE is each series' test MAE over its in-sample
naive (lag-1) MAE, averaged over series with a non-zero scale. Both also per demand class. On
lumpy weekly demand an all-zero forecast scores WAPE 1.0 (absolute error rewards the median,
which is zero), so the table adds horizon WAPE: the error of each series' held-out total,
which is what a reorder quantity depends on.

The reorder policy is then simulated week by week over the held-out weeks with the forecast
fixed at the cutoff: stock starts at the skill's estimate, each week's review orders
`choose_quantity(order_up_to − position)` when the position (on hand + on order) is at or
below the reorder point, the order arrives ceil(lead time / 7) weeks later, and the week's
demand is the held-out ordered quantity. Stock-out rate: share of series-weeks with unmet
demand. Overstock rate: share of series-weeks ending with more than OVERSTOCK_WEEKS weeks of
forecast demand on hand. Fill rate: share of demand met from stock.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from sourcing.agents.skills.forecasting import (
    Forecast,
    Method,
    Series,
    classify,
    forecast,
    trim_leading_zeros,
    weekly_series,
)
from sourcing.agents.skills.plan_replenishment import (
    ACTIVE_DAYS,
    ACTIVE_MIN_ORDERS,
    DEFAULT_LEAD_DAYS,
    choose_quantity,
    estimate_on_hand,
    product_tiers,
    stock_policy,
)
from sourcing.domain.money import PriceTier
from sourcing.domain.repositories.catalog import CatalogRepository
from sourcing.domain.repositories.orders import OrderedLine, OrderRepository
from sourcing.eval.machine import describe_machine
from sourcing.eval.retrieval_suite import DEMO_PRODUCTS, DEMO_SEED, DEMO_TODAY, load_demo_catalog
from sourcing.eval.suite_cli import GatedSuite, baseline_file

TEST_WEEKS = 8
SEASON_WEEKS = 4
MA_WEEKS = 8
OVERSTOCK_WEEKS = 8
SERVICE_LEVEL = 0.95
REVIEW_DAYS = 7
TOLERANCE = 0.02
GATED = "chosen"
BASELINES: tuple[str, ...] = ("naive", "seasonal_naive", "moving_average", "sba", "ses")
SIMULATED: tuple[str, ...] = ("chosen", "moving_average", "ses")


class Scores(BaseModel):
    model_config = ConfigDict(frozen=True)

    series: int
    wape: float
    mase: float
    horizon_wape: float  # on each series' held-out total: what an order quantity needs


class PolicyScores(BaseModel):
    model_config = ConfigDict(frozen=True)

    series_weeks: int
    stockout_rate: float
    overstock_rate: float
    fill_rate: float


class ReplenishmentReport(BaseModel):
    catalog: dict[str, object]
    machine: str
    seconds: float
    cutoff: date
    test_weeks: int
    series: int
    classes: dict[str, int]
    chosen_methods: dict[str, int]
    methods: dict[str, Scores]
    by_class: dict[str, dict[str, Scores]]
    policy: dict[str, PolicyScores]


class ReplenishmentBaseline(BaseModel):
    catalog: dict[str, object]
    wape: float
    stockout_rate: float


@dataclass(frozen=True, slots=True)
class Terms:
    lead_time_days: int
    moq: int
    tiers: tuple[PriceTier, ...]


@dataclass(frozen=True, slots=True)
class Case:
    """One buyer × SKU series: training weeks from its first demand, held-out weeks."""

    train: Series
    test: Series
    demand_class: str
    last_day: date
    last_quantity: int
    terms: Terms


def default_baseline_path() -> Path:
    return baseline_file("replenishment.json")


def demo_history(workdir: Path, products: int) -> tuple[list[OrderedLine], dict[str, Terms]]:
    """Generate and load the demo marketplace; every order line and each product's terms."""
    engine, _ = load_demo_catalog(workdir, products=products, reference=True)
    try:
        with Session(engine) as session:
            lines = OrderRepository(session).ordered_lines()
            ids = sorted({line.product_id for line in lines})
            terms = {
                product.id: Terms(
                    lead_time_days=product.lead_time_days or DEFAULT_LEAD_DAYS,
                    moq=product.moq,
                    tiers=tuple(product_tiers(product)),
                )
                for product, _ in CatalogRepository(session).listings(ids)
            }
        return lines, terms
    finally:
        engine.dispose()


def build_cases(
    lines: Sequence[OrderedLine], terms: dict[str, Terms], weeks: int = TEST_WEEKS
) -> tuple[date, list[Case]]:
    """Split every active-at-cutoff series into training and held-out weekly demand."""
    end = max(line.day for line in lines)
    cutoff = end - timedelta(weeks=weeks)
    per_series: dict[tuple[str, str, str | None], dict[date, int]] = defaultdict(dict)
    for line in lines:
        days = per_series[(line.buyer_id, line.product_id, line.sku_id)]
        days[line.day] = days.get(line.day, 0) + line.quantity
    cases: list[Case] = []
    for (_, product_id, _), days in sorted(per_series.items(), key=lambda kv: str(kv[0])):
        train_days = sorted((d, q) for d, q in days.items() if d <= cutoff)
        if len(train_days) < ACTIVE_MIN_ORDERS or product_id not in terms:
            continue
        if (cutoff - train_days[-1][0]).days > ACTIVE_DAYS:
            continue
        history = (cutoff - train_days[0][0]).days // 7 + 1
        full = weekly_series(days.items(), end, history + weeks)
        train = trim_leading_zeros(full[:history])
        cases.append(
            Case(
                train=train,
                test=full[history:],
                demand_class=classify(train),
                last_day=train_days[-1][0],
                last_quantity=train_days[-1][1],
                terms=terms[product_id],
            )
        )
    return cutoff, cases


def _naive(train: Series, horizon: int) -> Series:
    return np.full(horizon, train[-1], dtype=np.float64)


def _seasonal_naive(train: Series, horizon: int) -> Series:
    if train.size < SEASON_WEEKS:
        return _naive(train, horizon)
    season = train[-SEASON_WEEKS:]
    return np.asarray([season[h % SEASON_WEEKS] for h in range(horizon)], dtype=np.float64)


def _fixed(method: Method | None) -> Callable[[Series, int], Series]:
    def run(train: Series, horizon: int) -> Series:
        return np.asarray(forecast(train, horizon, method).mean, dtype=np.float64)

    return run


FORECASTERS: dict[str, Callable[[Series, int], Series]] = {
    "chosen": _fixed(None),
    "naive": _naive,
    "seasonal_naive": _seasonal_naive,
    "moving_average": _fixed("moving_average"),
    "sba": _fixed("sba"),
    "ses": _fixed("ses"),
}


def _scores(cases: Sequence[Case], predictions: Sequence[Series]) -> Scores:
    errors = sum(float(np.abs(c.test - p).sum()) for c, p in zip(cases, predictions, strict=True))
    actual = sum(float(c.test.sum()) for c in cases)
    totals = sum(
        abs(float(c.test.sum()) - float(p.sum())) for c, p in zip(cases, predictions, strict=True)
    )
    scaled: list[float] = []
    for case, prediction in zip(cases, predictions, strict=True):
        scale = float(np.abs(np.diff(case.train)).mean()) if case.train.size > 1 else 0.0
        if scale > 0:
            scaled.append(float(np.abs(case.test - prediction).mean()) / scale)
    return Scores(
        series=len(cases),
        wape=round(errors / actual, 4) if actual > 0 else 0.0,
        mase=round(sum(scaled) / len(scaled), 4) if scaled else 0.0,
        horizon_wape=round(totals / actual, 4) if actual > 0 else 0.0,
    )


@dataclass(slots=True)
class _Tally:
    weeks: int = 0
    stockouts: int = 0
    overstocked: int = 0
    demand: float = 0.0
    unmet: float = 0.0


def simulate(case: Case, result: Forecast, cutoff: date, tally: _Tally) -> None:
    """Run the reorder policy over the held-out weeks (see the module docstring)."""
    weekly = result.mean[0]
    terms = case.terms
    policy = stock_policy(weekly, result.sigma, terms.lead_time_days, REVIEW_DAYS, SERVICE_LEVEL)
    on_hand = float(estimate_on_hand(case.last_day, case.last_quantity, weekly, cutoff))
    delay = max(1, math.ceil(terms.lead_time_days / 7))
    arriving = np.zeros(case.test.size + delay + 1)
    for week, demand in enumerate(case.test):
        on_hand += arriving[week]
        position = on_hand + float(arriving[week + 1 :].sum())
        if weekly > 0 and position <= policy.reorder_point:
            need = math.ceil(policy.order_up_to - position)
            quantity, _ = choose_quantity(need, terms.moq, terms.tiers)
            arriving[week + delay] += quantity
        unmet = max(0.0, float(demand) - on_hand)
        on_hand = max(0.0, on_hand - float(demand))
        tally.weeks += 1
        tally.stockouts += unmet > 0
        tally.overstocked += on_hand > OVERSTOCK_WEEKS * weekly
        tally.demand += float(demand)
        tally.unmet += unmet


def _policy(cases: Sequence[Case], method: Method | None, cutoff: date) -> PolicyScores:
    tally = _Tally()
    for case in cases:
        simulate(case, forecast(case.train, 1, method), cutoff, tally)
    return PolicyScores(
        series_weeks=tally.weeks,
        stockout_rate=round(tally.stockouts / tally.weeks, 4) if tally.weeks else 0.0,
        overstock_rate=round(tally.overstocked / tally.weeks, 4) if tally.weeks else 0.0,
        fill_rate=round(1 - tally.unmet / tally.demand, 4) if tally.demand else 1.0,
    )


def _count(values: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for value in values:
        counts[value] += 1
    return dict(sorted(counts.items()))


def evaluate(cases: Sequence[Case], cutoff: date) -> dict[str, object]:
    """Scores of every forecaster overall and per class, and of the simulated policies."""
    predictions = {
        name: [run(case.train, TEST_WEEKS) for case in cases] for name, run in FORECASTERS.items()
    }
    classes = sorted({case.demand_class for case in cases})
    by_class = {
        demand_class: {
            name: _scores(
                [c for c in cases if c.demand_class == demand_class],
                [p for c, p in zip(cases, preds, strict=True) if c.demand_class == demand_class],
            )
            for name, preds in predictions.items()
        }
        for demand_class in classes
    }
    fixed: dict[str, Method | None] = {"chosen": None, "moving_average": "moving_average"}
    fixed["ses"] = "ses"
    return {
        "methods": {name: _scores(cases, preds) for name, preds in predictions.items()},
        "by_class": by_class,
        "policy": {name: _policy(cases, fixed[name], cutoff) for name in SIMULATED},
        "chosen_methods": _count([forecast(case.train, 1).method for case in cases]),
        "classes": _count([case.demand_class for case in cases]),
    }


def run_replenishment_suite(products: int = DEMO_PRODUCTS) -> ReplenishmentReport:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="replenishment-eval-") as tmp:
        lines, terms = demo_history(Path(tmp), products)
    cutoff, cases = build_cases(lines, terms)
    results = evaluate(cases, cutoff)
    return ReplenishmentReport.model_validate(
        {
            "catalog": {"products": products, "seed": DEMO_SEED, "today": DEMO_TODAY.isoformat()},
            "machine": describe_machine(),
            "seconds": round(time.perf_counter() - started, 2),
            "cutoff": cutoff,
            "test_weeks": TEST_WEEKS,
            "series": len(cases),
            **results,
        }
    )


def table(report: ReplenishmentReport) -> str:
    lines = [
        f"machine: {report.machine}",
        f"series: {report.series} buyer × SKU, cutoff {report.cutoff}, "
        f"{report.test_weeks} weeks held out; classes {report.classes}",
        f"chosen methods: {report.chosen_methods}",
        f"{'method':<16} {'WAPE':>7} {'MASE':>7} {'8wk-WAPE':>8}"
        + "".join(f" {c[:12] + ' WAPE':>17}" for c in report.by_class),
    ]
    for name, scores in report.methods.items():
        per_class = "".join(f" {report.by_class[c][name].wape:>17.3f}" for c in report.by_class)
        lines.append(
            f"{name:<16} {scores.wape:>7.3f} {scores.mase:>7.3f} {scores.horizon_wape:>8.3f}"
            f"{per_class}"
        )
    lines.append(
        f"{'policy':<16} {'stock-out':>9} {'overstock':>9} {'fill':>7}  "
        f"(service level {SERVICE_LEVEL:.0%}, weekly review)"
    )
    lines += [
        f"{name:<16} {p.stockout_rate:>9.3f} {p.overstock_rate:>9.3f} {p.fill_rate:>7.3f}"
        for name, p in report.policy.items()
    ]
    return "\n".join(lines)


def regressions(report: ReplenishmentReport, baseline: ReplenishmentBaseline) -> list[str]:
    """Chosen-method WAPE or policy stock-out rate beyond TOLERANCE of the baseline's."""
    if report.catalog != baseline.catalog:
        return []
    found: list[str] = []
    wape = report.methods[GATED].wape
    if wape > baseline.wape + TOLERANCE:
        found.append(f"{GATED} WAPE {wape:.3f} > baseline {baseline.wape:.3f} + {TOLERANCE}")
    stockout = report.policy[GATED].stockout_rate
    if stockout > baseline.stockout_rate + TOLERANCE:
        found.append(
            f"stock-out rate {stockout:.3f} > baseline {baseline.stockout_rate:.3f} + {TOLERANCE}"
        )
    return found


SUITE = GatedSuite(
    prog="python -m sourcing.eval.replenishment_suite",
    description=__doc__,
    run=run_replenishment_suite,
    table=table,
    baseline_of=lambda report: ReplenishmentBaseline(
        catalog=report.catalog,
        wape=report.methods[GATED].wape,
        stockout_rate=report.policy[GATED].stockout_rate,
    ),
    baseline_type=ReplenishmentBaseline,
    baseline_path=default_baseline_path,
    regressions=regressions,
)
main = SUITE.main

if __name__ == "__main__":
    sys.exit(main())
