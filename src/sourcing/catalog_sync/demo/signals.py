"""Demo festival calendar and daily trend signals (downstream search, purchase index)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from random import Random

from sourcing.catalog_sync.demo.vocabulary import FestivalSpec, TrendKeywordSpec
from sourcing.domain.kinds import TrendSource

TREND_DAYS = 365
PURCHASE_SCALE = 0.15  # the purchase index runs on a smaller scale than search counts
NOISE = 0.06
SEARCH_WEEKDAY = (1.0, 0.98, 0.98, 1.0, 1.02, 1.08, 1.1)
PURCHASE_WEEKDAY = (1.05, 1.05, 1.02, 1.0, 0.98, 0.9, 0.75)  # wholesale buying pauses on Sunday


@dataclass(frozen=True, slots=True)
class FestivalDay:
    name: str
    day: date
    related_categories: tuple[str, ...]
    lead_days: int

    def row(self) -> dict[str, object]:
        return {
            "name": self.name,
            "day": self.day.isoformat(),
            "related_categories": list(self.related_categories),
            "lead_days": self.lead_days,
        }


def _nth_weekday(year: int, month: int, weekday: int, nth: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))


def _occurrences(spec: FestivalSpec, year: int) -> list[date]:
    if spec.rule == "lunar":
        return [d for d in spec.dates if d.year == year]
    assert spec.month is not None
    if spec.rule == "fixed":
        assert spec.day is not None
        return [date(year, spec.month, spec.day)]
    assert spec.weekday is not None
    assert spec.nth is not None
    return [_nth_weekday(year, spec.month, spec.weekday, spec.nth)]


def festival_calendar(specs: Sequence[FestivalSpec], first: date, last: date) -> list[FestivalDay]:
    """Every festival day from `first` to `last` inclusive, by date.

    Lunar festivals exist only for the years their dates are listed in signals.json.
    """
    days = [
        FestivalDay(spec.name, day, spec.related_categories, spec.lead_days)
        for spec in specs
        for year in range(first.year, last.year + 1)
        for day in _occurrences(spec, year)
        if first <= day <= last
    ]
    return sorted(days, key=lambda f: (f.day, f.name))


@dataclass(frozen=True, slots=True)
class _Curve:
    """One keyword's noiseless shape over the window, as a multiple of its base level."""

    spec: TrendKeywordSpec
    growth: float
    width: float
    peak_day_of_year: int

    def at(self, offset: int, day: date) -> float:
        progress = min(max(offset, 0), TREND_DAYS - 1) / (TREND_DAYS - 1)
        if self.spec.shape == "rising":
            return 1.0 + self.growth * math.pow(progress, 1.4)
        if self.spec.shape == "falling":
            return 1.0 - self.growth * progress
        if self.spec.shape == "seasonal":
            gap = abs(day.timetuple().tm_yday - self.peak_day_of_year)
            gap = min(gap, 365 - gap)
            return 0.3 + 1.2 * math.exp(-((gap / self.width) ** 2))
        return 1.0


def _curve(rng: Random, spec: TrendKeywordSpec, today: date) -> _Curve:
    growth = {"rising": rng.uniform(1.0, 2.5), "falling": rng.uniform(0.4, 0.65)}
    peak = date(today.year, spec.peak_month or 1, 15).timetuple().tm_yday
    return _Curve(spec, growth.get(spec.shape, 0.0), rng.uniform(30.0, 45.0), peak)


def trend_rows(
    rng: Random, keywords: Sequence[TrendKeywordSpec], today: date
) -> Iterator[tuple[str, str, str, str, float]]:
    """(keyword, category, source, day, value) for the year ending at `today`.

    Merchants stock seasonal goods ahead of shoppers, so the purchase index leads the search
    curve; for rising and falling keywords it follows search with a short delay instead.
    """
    first = today - timedelta(days=TREND_DAYS - 1)
    days = [first + timedelta(days=offset) for offset in range(TREND_DAYS)]
    for spec in keywords:
        curve = _curve(rng, spec, today)
        shift = rng.randint(14, 28) if spec.shape == "seasonal" else -rng.randint(5, 12)
        for source in TrendSource:
            purchase = source is TrendSource.PURCHASE_INDEX
            scale = spec.base * (PURCHASE_SCALE if purchase else 1.0)
            weekly = PURCHASE_WEEKDAY if purchase else SEARCH_WEEKDAY
            for offset, day in enumerate(days):
                moved = shift if purchase else 0
                level = curve.at(offset + moved, day + timedelta(days=moved))
                value = scale * level * weekly[day.weekday()] * (1.0 + rng.gauss(0.0, NOISE))
                yield (
                    spec.keyword,
                    spec.category,
                    source.value,
                    day.isoformat(),
                    round(max(0.0, value), 1),
                )
