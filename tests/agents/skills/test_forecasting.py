"""Forecasting: classes and methods per series, Croston/SBA arithmetic, fallbacks, sigma."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from sourcing.agents.skills.forecasting import (
    SEASON,
    choose_method,
    classify,
    forecast,
    trim_leading_zeros,
    weekly_series,
)


def _series(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


SMOOTH = _series([10, 11, 9, 10, 12, 10, 9, 11, 10, 10, 11, 9])
ERRATIC = _series([2, 30, 5, 1, 25, 3, 40, 2, 1, 35, 4, 20])
INTERMITTENT = _series([10, 0, 0, 10, 0, 0, 12, 0, 0, 10, 0, 0, 9, 0, 0, 10])
LUMPY = _series([5, 0, 0, 60, 0, 0, 2, 0, 0, 80, 0, 0, 1, 0, 0, 50])


@pytest.mark.parametrize(
    ("series", "demand_class", "method"),
    [
        (SMOOTH, "smooth", "ses"),
        (ERRATIC, "erratic", "moving_average"),
        (INTERMITTENT, "intermittent", "sba"),
        (LUMPY, "lumpy", "sba"),
        (_series([10, 0, 0, 10]), "short", "mean"),
    ],
)
def test_each_class_gets_its_method(series: np.ndarray, demand_class: str, method: str) -> None:
    assert classify(series) == demand_class
    assert choose_method(series) == method
    assert forecast(series, 4).method == method


def test_a_clear_trend_on_a_smooth_series_uses_holt() -> None:
    rising = _series([10 + 2 * week for week in range(16)])
    assert choose_method(rising) == "holt"
    assert forecast(rising, 2).mean[1] > rising.mean()


def test_two_seasons_of_history_use_the_seasonal_method() -> None:
    weeks = np.arange(2 * SEASON + 4)
    series = 20 + 10 * np.sin(2 * np.pi * weeks / SEASON)
    result = forecast(series, SEASON)
    assert result.method == "seasonal"
    peak, trough = int(np.argmax(result.mean)), int(np.argmin(result.mean))
    assert result.mean[peak] > 25 > 15 > result.mean[trough]


def test_croston_and_sba_on_a_known_intermittent_series() -> None:
    # Every third week exactly 9 units: size 9, interval 3, rate 3 per week.
    series = _series([9, 0, 0] * 6)
    croston = forecast(series, 3, method="croston")
    sba = forecast(series, 3, method="sba")
    assert croston.mean == pytest.approx([3.0, 3.0, 3.0])
    assert sba.mean == pytest.approx([3.0 * (1 - 0.15 / 2)] * 3)


def test_forecasts_are_never_negative() -> None:
    falling = _series([50 - 5 * week for week in range(10)] + [0, 0])
    for method in ("holt", "ses", "naive", "moving_average", "sba", "mean"):
        assert min(forecast(falling, 12, method=method).mean) >= 0  # type: ignore[arg-type]


def test_short_history_falls_back_to_the_mean_since_the_first_order() -> None:
    result = forecast(_series([0, 0, 0, 12, 0, 0]), 2)
    assert result.method == "mean"
    assert result.demand_class == "short"
    assert result.mean == pytest.approx([4.0, 4.0])


def test_empty_history_forecasts_zero() -> None:
    result = forecast(_series([0, 0, 0]), 2)
    assert result.mean == [0.0, 0.0]
    assert result.sigma == 0.0


def test_sigma_comes_from_residuals() -> None:
    assert forecast(_series([10.0] * 12), 1).sigma == pytest.approx(0.0)
    assert forecast(ERRATIC, 1).sigma > forecast(SMOOTH, 1).sigma


def test_weekly_buckets_end_on_the_given_day() -> None:
    end = date(2026, 3, 31)
    series = weekly_series(
        [(date(2026, 3, 31), 5), (date(2026, 3, 25), 2), (date(2026, 3, 24), 3), (end, 1)],
        end,
        3,
    )
    assert series.tolist() == [0.0, 3.0, 8.0]
    assert trim_leading_zeros(series).tolist() == [3.0, 8.0]
