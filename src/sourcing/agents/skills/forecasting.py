"""Weekly demand forecasting in numpy: series classification and a method chosen per series.

Classification follows Syntetos–Boylan (2005): ADI (average inter-demand interval, in weeks)
against 1.32 and CV² of the non-zero demand sizes against 0.49 give smooth, erratic,
intermittent and lumpy series; "short" is a history too brief to classify.

Methods, chosen by `choose_method`:

* short (fewer than MIN_DEMANDS orders or MIN_WEEKS weeks since the first): ``mean``, the
  later orders' quantity over the weeks since the first (the first order stocks those weeks;
  with a single order, that order over its weeks). Plain naive (last week) would forecast zero
  for most sporadic series and never trigger a reorder.
* intermittent and lumpy: ``sba`` (Croston with the Syntetos–Boylan bias correction).
* erratic: ``moving_average`` over the last MA_WEEKS weeks, robust to the size swings.
* smooth: ``ses`` (simple exponential smoothing); ``holt`` (additive trend, damped) when the
  second half of the history is clearly above or below the first.
* any class with at least two full seasons of weekly history (2 × 52 weeks): ``seasonal``,
  i.e. classical multiplicative decomposition (per-week-of-year index from the full years)
  with SES on the deseasonalised series. The demo holds one year of orders, so its monthly
  and festival seasonality is not learnable per series and this branch stays unused there;
  one season cannot separate a seasonal swing from a trend.

Each forecast carries a per-period sigma from the method's one-step-ahead in-sample residuals
(RMSE), used for safety stock; with too few residuals it falls back to the series' std.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

DemandClass = Literal["short", "smooth", "erratic", "intermittent", "lumpy"]
Method = Literal["mean", "naive", "ses", "holt", "moving_average", "croston", "sba", "seasonal"]
Series = NDArray[np.float64]

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
MIN_DEMANDS = 3
MIN_WEEKS = 8
MA_WEEKS = 8
SEASON = 52
SES_ALPHA = 0.2
CROSTON_ALPHA = 0.15
HOLT_BETA = 0.1
HOLT_DAMPING = 0.9
TREND_RATIO = 1.5  # second-half mean this many times the first (or its inverse) means a trend
MIN_RESIDUALS = 4


class Forecast(BaseModel):
    """Per-period (weekly) mean demand and its one-step-ahead standard deviation."""

    model_config = ConfigDict(frozen=True)

    method: Method
    demand_class: DemandClass
    mean: list[float]  # one value per future period
    sigma: float


def weekly_series(quantities: Iterable[tuple[date, int]], end: date, weeks: int) -> Series:
    """`weeks` weekly totals, oldest first; the last bucket is the 7 days ending on `end`."""
    series = np.zeros(weeks, dtype=np.float64)
    for day, quantity in quantities:
        back = (end - day).days
        if 0 <= back < weeks * 7:
            series[weeks - 1 - back // 7] += quantity
    return series


def trim_leading_zeros(series: Series) -> Series:
    """The series from its first demand on: weeks before a buyer took a product on say nothing."""
    nonzero = np.flatnonzero(series)
    return series[nonzero[0] :] if nonzero.size else series[:0]


def classify(series: Series) -> DemandClass:
    """Syntetos–Boylan class of a series that starts at its first demand."""
    sizes = series[series > 0]
    if sizes.size < MIN_DEMANDS or series.size < MIN_WEEKS:
        return "short"
    adi = series.size / sizes.size
    cv2 = float(np.var(sizes) / np.mean(sizes) ** 2)
    if adi < ADI_CUTOFF:
        return "smooth" if cv2 < CV2_CUTOFF else "erratic"
    return "intermittent" if cv2 < CV2_CUTOFF else "lumpy"


def _has_trend(series: Series) -> bool:
    half = series.size // 2
    first, second = float(series[:half].mean()), float(series[half:].mean())
    if min(first, second) <= 0:
        return False
    return max(first, second) / min(first, second) >= TREND_RATIO


def choose_method(series: Series) -> Method:
    """The method for a series that starts at its first demand (see the module docstring)."""
    demand_class = classify(series)
    if series.size >= 2 * SEASON and demand_class != "short":
        return "seasonal"
    if demand_class == "short":
        return "mean"
    if demand_class in ("intermittent", "lumpy"):
        return "sba"
    if demand_class == "erratic":
        return "moving_average"
    return "holt" if _has_trend(series) else "ses"


def _ses_fit(series: Series, alpha: float) -> tuple[Series, float]:
    """One-step-ahead fitted values and the final level."""
    fitted = np.empty_like(series)
    level = float(series[0])
    for index, value in enumerate(series):
        fitted[index] = level
        level += alpha * (float(value) - level)
    return fitted, level


def _holt_fit(series: Series) -> tuple[Series, float, float]:
    fitted = np.empty_like(series)
    level, trend = float(series[0]), 0.0
    for index, value in enumerate(series):
        fitted[index] = level + HOLT_DAMPING * trend
        previous = level
        level = SES_ALPHA * float(value) + (1 - SES_ALPHA) * (level + HOLT_DAMPING * trend)
        trend = HOLT_BETA * (level - previous) + (1 - HOLT_BETA) * HOLT_DAMPING * trend
    return fitted, level, trend


def _croston_fit(series: Series, debias: float) -> tuple[Series, float]:
    """Croston's size/interval smoothing; `debias` 1 − α/2 gives SBA, 1 gives Croston."""
    fitted = np.full_like(series, np.nan)
    demands = np.flatnonzero(series)
    if demands.size == 0:
        return np.zeros_like(series), 0.0
    # Start from the history's mean size and interval: starting at the first demand with an
    # interval of one week overstates the rate for many periods.
    size = float(series[demands].mean())
    interval = float(np.diff(demands).mean()) if demands.size > 1 else float(series.size)
    since = 0
    for index, value in enumerate(series):
        if index > demands[0]:
            fitted[index] = debias * size / interval
        since += 1
        if value > 0 and index > demands[0]:
            size += CROSTON_ALPHA * (float(value) - size)
            interval += CROSTON_ALPHA * (since - interval)
        if value > 0:
            since = 0
    if demands.size == 1:
        interval = float(series.size)
    return fitted, debias * size / interval


def _moving_average_fit(series: Series, window: int) -> tuple[Series, float]:
    fitted = np.full_like(series, np.nan)
    cumulative = np.concatenate([[0.0], np.cumsum(series)])
    for index in range(1, series.size):
        start = max(0, index - window)
        fitted[index] = (cumulative[index] - cumulative[start]) / (index - start)
    tail = series[-window:]
    return fitted, float(tail.mean()) if tail.size else 0.0


def _mean_fit(series: Series) -> tuple[Series, float]:
    fitted = np.full_like(series, np.nan)
    cumulative = np.cumsum(series)
    fitted[1:] = cumulative[:-1] / np.arange(1, series.size)
    if np.count_nonzero(series) < 2:
        return fitted, float(series.mean()) if series.size else 0.0
    # The first order stocks the weeks after it, so counting it over a short span overstates
    # the rate: later orders over the weeks after the first is the renewal-process estimate.
    return fitted, float(series[1:].sum() / (series.size - 1))


def _seasonal_indices(series: Series) -> Series:
    """Per week-of-season multiplicative index from the last full seasons, mean 1."""
    seasons = series.size // SEASON
    years = series[-seasons * SEASON :].reshape(seasons, SEASON)
    means = years.mean(axis=1, keepdims=True)
    ratios = np.divide(years, means, out=np.ones_like(years), where=means > 0)
    indices = ratios.mean(axis=0)
    # Weeks without demand in every season would zero out the forecast; keep a floor.
    indices = np.maximum(indices, 0.1)
    return np.asarray(indices / indices.mean(), dtype=np.float64)


def _point(series: Series, method: Method, horizon: int) -> tuple[Series, Series]:
    """(future means over `horizon`, in-sample one-step fitted values)."""
    future = np.zeros(horizon, dtype=np.float64)
    if series.size == 0:
        return future, np.zeros(0, dtype=np.float64)
    if method == "naive":
        fitted = np.concatenate([[np.nan], series[:-1]])
        future[:] = series[-1]
    elif method == "mean":
        fitted, value = _mean_fit(series)
        future[:] = value
    elif method == "ses":
        fitted, value = _ses_fit(series, SES_ALPHA)
        future[:] = value
    elif method == "holt":
        fitted, level, trend = _holt_fit(series)
        damping = np.cumsum(HOLT_DAMPING ** np.arange(1, horizon + 1))
        future[:] = level + damping * trend
    elif method == "moving_average":
        fitted, value = _moving_average_fit(series, MA_WEEKS)
        future[:] = value
    elif method in ("croston", "sba"):
        debias = 1 - CROSTON_ALPHA / 2 if method == "sba" else 1.0
        fitted, value = _croston_fit(series, debias)
        future[:] = value
    else:
        indices = _seasonal_indices(series)
        phase = np.arange(series.size) % SEASON
        offset = SEASON - series.size % SEASON
        adjusted = series / indices[(phase + offset) % SEASON]
        smoothed, value = _ses_fit(adjusted, SES_ALPHA)
        fitted = smoothed * indices[(phase + offset) % SEASON]
        ahead = (np.arange(series.size, series.size + horizon) + offset) % SEASON
        future[:] = value * indices[ahead]
    return np.maximum(future, 0.0), fitted


def _sigma(series: Series, fitted: Series) -> float:
    residuals = (series - fitted)[~np.isnan(fitted)]
    if residuals.size >= MIN_RESIDUALS:
        return float(np.sqrt(np.mean(residuals**2)))
    return float(series.std()) if series.size else 0.0


def forecast(series: Series, horizon: int, method: Method | None = None) -> Forecast:
    """Forecast `horizon` weeks of a series from its first demand on; `method` overrides."""
    trimmed = trim_leading_zeros(np.asarray(series, dtype=np.float64))
    chosen = method or choose_method(trimmed)
    future, fitted = _point(trimmed, chosen, horizon)
    return Forecast(
        method=chosen,
        demand_class=classify(trimmed),
        mean=[round(float(value), 4) for value in future],
        sigma=round(_sigma(trimmed, fitted), 4) if trimmed.size else 0.0,
    )
