"""The opportunity suite: planted rising keywords recovered, vs raw volume; no passed festival.

Ground truth, from signals.json's planted shapes, as of a day D: a keyword is rising when its
shape is "rising" (it rises all year), or when it is "seasonal" and the next 15th of its peak
month is 7 to 60 days after D (the demo curve climbs for about two months before the peak and
is flat within a week of it). Flat, falling and off-season keywords are not rising.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine
from sqlmodel import Session

from sourcing.agents.skills.discover_opportunities import (
    DiscoverOpportunitiesInput,
    discover_opportunities,
)
from sourcing.catalog_sync.demo.vocabulary import TrendKeywordSpec, load_vocabulary
from sourcing.domain.kinds import TrendSource
from sourcing.domain.repositories.signals import SignalsRepository
from sourcing.eval.machine import describe_machine
from sourcing.eval.metrics import mean
from sourcing.eval.retrieval_suite import DEMO_PRODUCTS, DEMO_SEED, DEMO_TODAY, load_demo_catalog
from sourcing.eval.suite_cli import GatedSuite, baseline_file

K = 10
TOLERANCE = 0.02
GATED = "discover_opportunities"
RISING_AHEAD = (7, 60)  # days before a seasonal peak that count as rising
HISTORY_DAYS = 56  # two 28-day windows: days with less history are not scored on trends


class MethodResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    days: int
    precision_at_10: float
    recall_at_10: float
    recall: float  # of everything the method proposed (a ranking proposes its top K)


class OpportunityReport(BaseModel):
    catalog: dict[str, object]
    machine: str
    seconds: float
    scored_days: list[date]
    festival_days_checked: int
    festivals_proposed: int
    passed_festivals: int  # proposed festivals on or before the day asked: must be 0
    methods: dict[str, MethodResult]


class OpportunityBaseline(BaseModel):
    catalog: dict[str, object]
    methods: dict[str, MethodResult]


def default_baseline_path() -> Path:
    return baseline_file("opportunities.json")


def load_default_baseline() -> OpportunityBaseline:
    return OpportunityBaseline.model_validate_json(default_baseline_path().read_text("utf-8"))


def next_peak(spec: TrendKeywordSpec, day: date) -> date:
    assert spec.peak_month is not None
    peak = date(day.year, spec.peak_month, 15)
    return peak if peak >= day else date(day.year + 1, spec.peak_month, 15)


def planted_rising(keywords: Sequence[TrendKeywordSpec], day: date) -> set[str]:
    """The ground truth of the module docstring."""
    low, high = RISING_AHEAD
    return {
        spec.keyword
        for spec in keywords
        if spec.shape == "rising"
        or (spec.shape == "seasonal" and low <= (next_peak(spec, day) - day).days <= high)
    }


def month_starts(today: date, count: int = 12) -> list[date]:
    """The first day of each of the `count` months up to `today`, oldest first."""
    starts: list[date] = []
    year, month = today.year, today.month
    for _ in range(count):
        starts.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return sorted(starts)


def demo_engine(workdir: Path, products: int) -> Engine:
    """The demo marketplace in SQLite with reference data; the index is not needed here."""
    engine, _ = load_demo_catalog(workdir, products=products, reference=True)
    return engine


def proposed_trends(engine: Engine, day: date) -> list[str]:
    request = DiscoverOpportunitiesInput(
        today=day, with_supply=False, kinds=("trend",), limit=50, horizon_days=60
    )
    result = discover_opportunities(engine, None, request)
    return [o.keyword for o in result.opportunities if o.keyword is not None]


def loudest(engine: Engine, day: date) -> list[str]:
    """Baseline: the K keywords with the highest search volume over the last 7 days."""
    with Session(engine) as session:
        series = SignalsRepository(session).trend_series(day - timedelta(days=6), day)
    volume = {
        s.keyword: sum(s.values.values())
        for s in series
        if s.source is TrendSource.DOWNSTREAM_SEARCH
    }
    return sorted(volume, key=lambda k: (-volume[k], k))[:K]


def score(ranked_by_day: dict[date, list[str]], truth_by_day: dict[date, set[str]]) -> MethodResult:
    precision, recall_k, recall = [], [], []
    for day, ranked in ranked_by_day.items():
        truth = truth_by_day[day]
        top = ranked[:K]
        precision.append(len(set(top) & truth) / K)
        recall_k.append(len(set(top) & truth) / len(truth) if truth else 1.0)
        recall.append(len(set(ranked) & truth) / len(truth) if truth else 1.0)
    return MethodResult(
        days=len(ranked_by_day),
        precision_at_10=round(mean(precision), 4),
        recall_at_10=round(mean(recall_k), 4),
        recall=round(mean(recall), 4),
    )


def passed_festivals(engine: Engine, days: Sequence[date]) -> tuple[int, int]:
    """(festivals proposed, of which on or before the day asked) over `days`."""
    proposed = passed = 0
    for day in days:
        request = DiscoverOpportunitiesInput(
            today=day, with_supply=False, kinds=("festival",), limit=50, horizon_days=90
        )
        for opportunity in discover_opportunities(engine, None, request).opportunities:
            proposed += 1
            passed += opportunity.festival_day is None or opportunity.festival_day <= day
    return proposed, passed


def festival_days(engine: Engine, first: date, last: date) -> list[date]:
    with Session(engine) as session:
        return sorted({f.day for f in SignalsRepository(session).festivals_between(first, last)})


def run_opportunity_suite(products: int = DEMO_PRODUCTS) -> OpportunityReport:
    started = time.perf_counter()
    keywords = load_vocabulary().signals.trend_keywords
    first_signal = DEMO_TODAY - timedelta(days=364)
    days = [*month_starts(DEMO_TODAY), DEMO_TODAY]
    scored = [d for d in days if (d - first_signal).days >= HISTORY_DAYS]
    with tempfile.TemporaryDirectory(prefix="opportunity-eval-") as tmp:
        engine = demo_engine(Path(tmp), products)
        try:
            truth = {day: planted_rising(keywords, day) for day in scored}
            methods = {
                GATED: score({d: proposed_trends(engine, d) for d in scored}, truth),
                "search_volume_7d": score({d: loudest(engine, d) for d in scored}, truth),
            }
            # the day itself of every festival, as well as month starts: never proposed then
            checked = days + festival_days(engine, first_signal, DEMO_TODAY)
            proposed, passed = passed_festivals(engine, checked)
        finally:
            engine.dispose()
    return OpportunityReport(
        catalog={"products": products, "seed": DEMO_SEED, "today": DEMO_TODAY.isoformat()},
        machine=describe_machine(),
        seconds=round(time.perf_counter() - started, 2),
        scored_days=scored,
        festival_days_checked=len(checked),
        festivals_proposed=proposed,
        passed_festivals=passed,
        methods=methods,
    )


def table(report: OpportunityReport) -> str:
    lines = [
        f"machine: {report.machine}",
        f"trend days scored: {len(report.scored_days)} "
        f"({report.scored_days[0]} … {report.scored_days[-1]})",
        f"{'method':<24} {'days':>5} {'P@10':>6} {'R@10':>6} {'recall':>6}",
    ]
    lines += [
        f"{name:<24} {r.days:>5} {r.precision_at_10:>6.3f} {r.recall_at_10:>6.3f} {r.recall:>6.3f}"
        for name, r in report.methods.items()
    ]
    lines.append(
        f"festivals: {report.festivals_proposed} proposed over {report.festival_days_checked} "
        f"days, {report.passed_festivals} already passed"
    )
    return "\n".join(lines)


def regressions(report: OpportunityReport, baseline: OpportunityBaseline) -> list[str]:
    """Any passed festival; the gated precision or recall more than TOLERANCE below baseline."""
    found = (
        [f"{report.passed_festivals} passed festivals proposed"] if report.passed_festivals else []
    )
    if report.catalog != baseline.catalog or GATED not in baseline.methods:
        return found
    now, then = report.methods[GATED], baseline.methods[GATED]
    for metric in ("precision_at_10", "recall"):
        value, reference = getattr(now, metric), getattr(then, metric)
        if value < reference - TOLERANCE:
            found.append(f"{GATED} {metric} {value:.3f} < baseline {reference:.3f} - {TOLERANCE}")
    return found


SUITE = GatedSuite(
    prog="python -m sourcing.eval.opportunity_suite",
    description=__doc__,
    run=run_opportunity_suite,
    table=table,
    baseline_of=lambda report: OpportunityBaseline(catalog=report.catalog, methods=report.methods),
    baseline_type=OpportunityBaseline,
    baseline_path=default_baseline_path,
    regressions=regressions,
)
main = SUITE.main

if __name__ == "__main__":
    sys.exit(main())
