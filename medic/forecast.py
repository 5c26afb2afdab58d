"""Time to exhaustion for saturating resources (disk, memory, connection pools, error budget):
a robust trend over a recent window, its uncertainty, and the forecast to the capacity.

The trend is the Theil-Sen line (the median of the slopes between pairs of points; a burst or a
gap barely moves it). The time to exhaustion is the time the line reaches ``capacity``; its interval
is the time during which the capacity lies inside the series' prediction band (``confidence``,
0.9): at the early end the series is above the capacity with probability 0.05, at the late end
still below it with probability 0.05 (``inf`` when the band's lower edge never gets there).

The band's variance at a horizon h is a cubic in h, from a model of what the line leaves over:

* noise: an AR(1) process, its lag-1 correlation from the residuals' first differences (which a
  slowly changing trend barely touches), its variance estimated with the next part. It makes the
  line's level and slope uncertain (Theil-Sen's efficiency included) and is on the future value too:
  a resource runs out when its value, noise and all, reaches the capacity.
* a wandering rate: the slope drifts like a random walk (the trend is an integrated random walk,
  the model behind a cubic smoothing spline). Its diffusion against the noise is estimated by REML
  from the residuals; it makes the line's level now and its slope differ from the true ones, and
  keeps drifting after now (variance growing as h^3).

Both are fitted on the same (at most 240) points as the line; the forecast band is the same band.
Pure: numpy only, no clock (``now`` is the last point's time unless given).
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
_TS_EFFICIENCY = math.pi / 3  # Theil-Sen's variance over least squares' under normal noise (Sen 1968)
_CLIP = 4.0  # residuals beyond this many robust standard deviations count as that many
_MAX_PHI = 0.95
_RATIOS = np.geomspace(1e-3, 1e7, 101)  # wander-to-noise ratios REML picks from, per largest eigenvalue


@dataclass(frozen=True)
class Exhaustion:
    """When the resource runs out, in seconds from ``now`` (``inf`` when it never does on this trend)."""

    now: float
    level: float  # the trend's value at ``now``
    slope: float  # per second
    slope_low: float  # the current rate's interval, from the same model as the band
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
    """The exhaustion estimate from the points in the last ``window`` seconds up to ``now`` (all
    when None); None when there are too few points. ``capacity`` may be below the level (a resource
    that runs down to it, e.g. free bytes to 0)."""
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep], y[keep]
    if t.shape[0] < 3:
        return None
    end = float(t.max()) if now is None else float(now)
    recent = t <= end
    if window is not None:
        recent &= t >= end - window
    t, y = t[recent], y[recent]
    if t.shape[0] < 3:
        return None
    order = np.argsort(t, kind="stable")
    t, y = t[order], y[order]
    if t.shape[0] > _MAX_POINTS:
        pick = np.linspace(0, t.shape[0] - 1, _MAX_POINTS).round().astype(int)
        t, y = t[pick], y[pick]
    t0 = float(t[0])
    try:
        slope, icpt, _, _ = theil_sen(t - t0, y, confidence=confidence)
    except ValueError:
        return None
    level = icpt + slope * (end - t0)
    resid = y - (icpt + slope * (t - t0))
    spread = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
    span = end - t0  # > 0: the points are at different times, none after ``end``
    band = _Band.fit((t - t0) / span, resid, spread)
    z = _normal_quantile(0.5 + confidence / 2.0)
    rate_err = z * math.sqrt(band.rate_variance) / span
    s_lo, s_hi = slope - rate_err, slope + rate_err
    gap = capacity - level
    eta = _eta(gap, slope)
    if gap == 0:
        early = late = 0.0
    else:
        # in units of the window: the first horizon at which the band's near edge (early) and its
        # far edge (late) reach the capacity
        way = 1.0 if gap > 0 else -1.0
        early = band.first_reach(abs(gap), way * slope * span, z) * span
        late = band.first_reach(abs(gap), way * slope * span, -z) * span
        early, late = min(early, eta), max(late, eta)  # the band holds the line: only rounding differs
    forecast = []
    reach = eta if math.isfinite(eta) and eta > 0 else (late if math.isfinite(late) else 0.0)
    if reach > 0:
        for k in range(1, steps + 1):
            dt = reach * k / steps
            v = level + slope * dt
            half = z * band.sd(dt / span)
            forecast.append((end + dt, v, v - half, v + half))
    return Exhaustion(end, level, slope, s_lo, s_hi, capacity, eta, early, late, spread, forecast)


@dataclass(frozen=True)
class _Band:
    """The variance of the series at ``now + h`` around the line's forecast, with times in units
    of the window (0 at its first point, 1 at ``now``): ``poly`` are the cubic's coefficients,
    highest first; ``rate_variance`` is the variance of the line's slope around the current rate."""

    poly: tuple[float, float, float, float]
    rate_variance: float

    @classmethod
    def fit(cls, s: np.ndarray[Any, Any], resid: np.ndarray[Any, Any], spread: float) -> "_Band":
        n = s.shape[0]
        if spread > 0:  # a few wild points must not pass for noise or wander
            resid = np.clip(resid, -_CLIP * spread, _CLIP * spread)
        phi = _ar1(resid)
        k = _irw(s)  # the wandering trend's covariance, per unit of diffusion
        noise, wander = _reml(s, resid, phi, k)
        # the line's level (at 1) and slope as least-squares weights on the points: Theil-Sen is
        # about as efficient (pi/3 times the variance under normal noise)
        x = np.column_stack([np.ones(n), s - 1.0])
        c = np.linalg.solve(x.T @ x, x.T)
        c0, c1 = c[0], c[1]
        lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        ar = (noise / (1.0 - phi * phi) * phi ** np.arange(n))[lag]  # the noise's covariance
        a00, a01, a11 = c0 @ ar @ c0, c0 @ ar @ c1, c1 @ ar @ c1
        b00, b01, b11 = c0 @ k @ c0, c0 @ k @ c1, c1 @ k @ c1
        half, sixth = s * s / 2.0, s**3 / 6.0  # the trend at 1 + h against the points: half (1 + h) - sixth
        u0, u1, v0, v1 = float(c0 @ half), float(c1 @ half), float(c0 @ sixth), float(c1 @ sixth)
        # wander: the trend's variance at 1 + h, less twice its covariance with the forecast, plus
        # the forecast's variance; noise: the forecast's variance plus the future value's own
        rate = 1.0 - 2.0 * u1 + b11
        p3 = wander / 3.0
        p2 = wander * rate + _TS_EFFICIENCY * a11
        p1 = wander * (1.0 - 2.0 * (u0 + u1 - v1) + 2.0 * b01) + 2.0 * _TS_EFFICIENCY * a01
        p0 = wander * (1.0 / 3.0 - 2.0 * (u0 - v0) + b00) + _TS_EFFICIENCY * a00 + noise / (1.0 - phi * phi)
        return cls((float(p3), float(p2), float(p1), float(p0)), max(float(p2), 0.0))

    def variance(self, h: float) -> float:
        p3, p2, p1, p0 = self.poly
        return max(((p3 * h + p2) * h + p1) * h + p0, 0.0)

    def sd(self, h: float) -> float:
        return math.sqrt(self.variance(h))

    def first_reach(self, gap: float, toward: float, z: float) -> float:
        """The first horizon at which ``toward * h + z * sd(h)`` reaches ``gap`` (> 0); ``inf`` if
        none within a million windows."""

        def short(h: float) -> float:
            return gap - toward * h - z * self.sd(h)

        if short(0.0) <= 0:
            return 0.0
        hs = np.geomspace(1e-6, 1e6, 241)
        p3, p2, p1, p0 = self.poly
        var = np.maximum(((p3 * hs + p2) * hs + p1) * hs + p0, 0.0)
        hit = np.flatnonzero(gap - toward * hs - z * np.sqrt(var) <= 0)
        if hit.shape[0] == 0:
            return math.inf
        i = int(hit[0])
        lo, hi = (float(hs[i - 1]) if i else 0.0), float(hs[i])
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            if short(mid) <= 0:
                hi = mid
            else:
                lo = mid
        return hi


def _ar1(resid: np.ndarray[Any, Any]) -> float:
    """The noise's lag-1 correlation, from that of the residuals' first differences: -(1 - phi) / 2
    for an AR(1) process, while a slowly changing trend adds almost nothing to the differences."""
    d = np.diff(resid)
    d = d - d.mean()
    ss = float(d @ d)
    if d.shape[0] < 3 or ss <= 0:
        return 0.0
    r1 = float(d[1:] @ d[:-1]) / ss
    return min(max(1.0 + 2.0 * r1, 0.0), _MAX_PHI)


def _irw(s: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The covariance of an integrated random walk (unit diffusion of its rate) from 0, at ``s``."""
    lo, hi = np.minimum.outer(s, s), np.maximum.outer(s, s)
    out: np.ndarray[Any, Any] = lo * lo * (3.0 * hi - lo) / 6.0
    return out


def _prewhiten(v: np.ndarray[Any, Any], phi: float) -> np.ndarray[Any, Any]:
    """Prais-Winsten: AR(1) noise of innovation variance 1 becomes independent, variance 1."""
    out = np.empty_like(v)
    out[0] = v[0] * math.sqrt(1.0 - phi * phi)
    out[1:] = v[1:] - phi * v[:-1]
    return out


def _reml(
    s: np.ndarray[Any, Any], resid: np.ndarray[Any, Any], phi: float, irw: np.ndarray[Any, Any]
) -> tuple[float, float]:
    """The noise's innovation variance and the rate's diffusion (per window^3), by restricted maximum
    likelihood over the residuals with the line's two degrees of freedom taken out."""
    n = s.shape[0]
    x = _prewhiten(np.column_stack([np.ones(n), s]), phi)
    r = _prewhiten(resid, phi)
    k = _prewhiten(_prewhiten(irw, phi).T, phi).T
    q, _ = np.linalg.qr(x)
    sk = k - q @ (q.T @ k)  # projected off the line on both sides
    d, u = np.linalg.eigh(sk - (sk @ q) @ q.T)
    d = np.maximum(d, 0.0)
    rr = r - q @ (q.T @ r)
    m = n - 2
    ss = float(rr @ rr)
    if m < 1 or not ss > 0 or not d.max() > 0:
        return max(ss, 0.0) / max(m, 1), 0.0
    zz = (u.T @ rr) ** 2
    ratios = _RATIOS / float(d.max())
    den = 1.0 + np.outer(ratios, d)
    noise = (zz / den).sum(axis=1) / m
    loglik = -0.5 * (np.log(den).sum(axis=1) + m * np.log(np.maximum(noise, 1e-300)))
    best = int(np.argmax(loglik))
    if -0.5 * m * math.log(ss / m) >= loglik[best]:  # no wander at all
        return ss / m, 0.0
    return float(noise[best]), float(noise[best] * ratios[best])


def _eta(gap: float, slope: float) -> float:
    if gap == 0:
        return 0.0
    if slope == 0 or (gap > 0) != (slope > 0):
        return math.inf
    return gap / slope


def exhaustion_signal(
    est: Exhaustion,
    *,
    service: str,
    series: dict[str, str],
    value: float,
    source: str = "medic-forecast",
    severity: str = "warning",
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
        severity=severity,
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
