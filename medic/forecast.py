"""Time to exhaustion for saturating resources (disk, memory, connection pools, error budget):
a robust trend over a recent window, its uncertainty, and the forecast to the capacity.

The trend is the Theil-Sen line (the median of the slopes between pairs of points; a burst or a
gap barely moves it) with Sen's distribution-free confidence interval for the slope. The time to
exhaustion is the time the line reaches ``capacity``; its interval comes from the slope's
interval and the standard error of the line's level now, both widened for the residuals'
autocorrelation (a slope that may be 0 leaves the late end open: ``inf``). The forecast band adds the
residuals' robust spread to the slope's uncertainty. Pure: numpy only, no clock (``now`` is the
last point's time unless given).
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from medic.anomaly import AnomalySignal, ExpectedBand, ForecastPoint, TimeWindow

__all__ = ["Exhaustion", "exhaustion_signal", "theil_sen", "time_to_exhaustion"]

_MAX_POINTS = 240  # pairs grow as n^2: a longer window is thinned evenly


@dataclass(frozen=True)
class Exhaustion:
    """When the resource runs out, in seconds from ``now`` (``inf`` when it never does on this trend)."""

    now: float
    level: float  # the trend's value at ``now``
    slope: float  # per second
    slope_low: float
    slope_high: float
    capacity: float
    eta: float
    eta_early: float
    eta_late: float
    spread: float  # robust standard deviation of the residuals
    forecast: list[tuple[float, float, float, float]] = field(
        default_factory=list
    )  # (t, value, lower, upper)

    def within(self, horizon: float) -> bool:
        """Exhaustion expected within ``horizon`` seconds, on a trend that is significantly toward it."""
        toward = self.slope_low > 0 if self.capacity >= self.level else self.slope_high < 0
        return toward and self.eta <= horizon


def theil_sen(t: ArrayLike, y: ArrayLike, *, confidence: float = 0.9) -> tuple[float, float, float, float]:
    """Slope, intercept (at t = 0), and the slope's confidence interval (Sen 1968)."""
    ta = np.asarray(t, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    n = ta.shape[0]
    if n < 3:
        raise ValueError("a trend needs at least 3 points")
    i, j = np.triu_indices(n, k=1)
    dt = ta[j] - ta[i]
    ok = dt != 0
    slopes = np.sort((ya[j] - ya[i])[ok] / dt[ok])
    m = slopes.shape[0]
    if m == 0:
        raise ValueError("a trend needs points at different times")
    slope = float(np.median(slopes))
    intercept = float(np.median(ya - slope * ta))
    z = _normal_quantile(0.5 + confidence / 2.0)
    c = z * math.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo = int(max(0, math.floor((m - c) / 2.0) - 1))
    hi = int(min(m - 1, math.ceil((m + c) / 2.0)))
    return slope, intercept, float(slopes[lo]), float(slopes[hi])


def _normal_quantile(p: float) -> float:
    """The standard normal quantile, by bisection on erf (exact enough for an interval's width)."""
    lo, hi = -10.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


def time_to_exhaustion(
    times: ArrayLike,
    values: ArrayLike,
    *,
    capacity: float,
    window: float | None = None,
    now: float | None = None,
    confidence: float = 0.9,
    steps: int = 12,
) -> Exhaustion | None:
    """The exhaustion estimate from the points in the last ``window`` seconds (all when None);
    None when there are too few points. ``capacity`` may be below the level (a resource that
    runs down to it, e.g. free bytes to 0)."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.shape[0] < 3:
        return None
    end = float(t.max()) if now is None else float(now)
    if window is not None:
        recent = t >= end - window
        t, y = t[recent], y[recent]
        if t.shape[0] < 3:
            return None
    if t.shape[0] > _MAX_POINTS:
        pick = np.linspace(0, t.shape[0] - 1, _MAX_POINTS).round().astype(int)
        t, y = t[pick], y[pick]
    t0 = float(t[0])
    try:
        slope, icpt, s_lo, s_hi = theil_sen(t - t0, y, confidence=confidence)
    except ValueError:
        return None
    level = icpt + slope * (end - t0)
    spread = float(np.median(np.abs(y - (icpt + slope * (t - t0))))) * 1.4826
    gap = capacity - level
    eta = _eta(gap, slope)
    # a faster slope (toward the capacity) and a level nearer to it mean earlier exhaustion; the
    # line's value at its end has a standard error of about 2.5 spreads / sqrt(n) (2 for least squares,
    # and a median-based fit is less efficient)
    # Sen's interval assumes independent residuals; a sawtooth, a ripple or a wandering rate are
    # not: widen by the usual AR(1) factor sqrt((1 + r) / (1 - r)) of the residuals' lag-1 correlation
    widen = _autocorrelation_factor(y - (icpt + slope * (t - t0)))
    s_lo, s_hi = slope - widen * (slope - s_lo), slope + widen * (s_hi - slope)
    z = _normal_quantile(0.5 + confidence / 2.0)
    level_err = widen * z * spread * 2.5 / math.sqrt(t.shape[0])
    fast, slow = (s_hi, s_lo) if gap >= 0 else (s_lo, s_hi)
    near = math.copysign(max(abs(gap) - level_err, 0.0), gap)
    far = math.copysign(abs(gap) + level_err, gap)
    early, late = _eta(near, fast), _eta(far, slow)
    if gap == 0:
        eta = early = late = 0.0
    forecast = []
    reach = eta if math.isfinite(eta) and eta > 0 else (late if math.isfinite(late) else 0.0)
    if reach > 0:
        for k in range(1, steps + 1):
            dt = reach * k / steps
            v = level + slope * dt
            band = level_err + z * spread + max(abs(s_hi - slope), abs(slope - s_lo)) * dt
            forecast.append((end + dt, v, v - band, v + band))
    return Exhaustion(end, level, slope, s_lo, s_hi, capacity, eta, early, late, spread, forecast)


def _autocorrelation_factor(residuals: np.ndarray[Any, Any]) -> float:
    r = residuals - residuals.mean()
    denom = float((r * r).sum())
    if denom <= 0 or r.shape[0] < 4:
        return 1.0
    rho = min(max(float((r[1:] * r[:-1]).sum()) / denom, 0.0), 0.95)
    return math.sqrt((1.0 + rho) / (1.0 - rho))


def _eta(gap: float, slope: float) -> float:
    if gap == 0:
        return 0.0
    if slope == 0 or (gap > 0) != (slope > 0):
        return math.inf
    return gap / slope


def exhaustion_signal(
    est: Exhaustion, *, service: str, series: dict[str, str], value: float, source: str = "medic-forecast"
) -> AnomalySignal:
    """The predictive signal, in the anomaly webhook's shape (so it joins incidents the same way):
    the band is from now to the capacity, the window from now to the expected exhaustion."""
    at = datetime.fromtimestamp(est.now, UTC)
    until = at + timedelta(seconds=min(est.eta, 30 * 86400.0) if math.isfinite(est.eta) else 30 * 86400.0)
    lo, hi = sorted((est.level - 3 * est.spread, est.capacity))
    late = _duration(est.eta_late) if math.isfinite(est.eta_late) else "open"
    return AnomalySignal(
        source=source,
        service=service,
        series=series,
        value=value,
        expected=ExpectedBand(lower=lo, upper=hi),
        score=min(1.0, max(0.0, 1.0 - est.eta / (est.eta + 86400.0))) if math.isfinite(est.eta) else 0.0,
        window=TimeWindow(start=at, end=until),
        severity="warning",
        summary=(
            f"exhausts {est.capacity:g} in about {_duration(est.eta)} "
            f"(between {_duration(est.eta_early)} and {late})"
        ),
        forecast=[
            ForecastPoint(at=datetime.fromtimestamp(ts, UTC), value=v, lower=lo_, upper=hi_)
            for ts, v, lo_, hi_ in est.forecast
        ],
    )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
