"""Time to exhaustion for saturating resources (disk, memory, connection pools, error budget):
a robust trend over a recent window, its uncertainty, and the forecast to the capacity.

The trend is the Theil-Sen line (the median of the slopes between pairs of points; a burst or a
gap barely moves it). The time to exhaustion is the time the line reaches ``capacity``; its interval
is the time during which the capacity lies inside the series' prediction band (``confidence``,
0.9): at the early end the series is past the capacity with probability 0.05, at the late end
still short of it with probability 0.05 (``inf`` when the band's far edge never gets there).

The direction is the resource's: ``rising`` (used bytes, a working set, connections in use: it runs
out when it rises to the capacity) or ``falling`` (free bytes, an error budget: when it falls to
it); ``auto`` takes the side of the capacity the window's points mostly lie on (their median), so a
series that crosses the capacity keeps its direction. A trend already past the capacity is exhausted
now (``eta`` 0).

The band's variance at a horizon h is a cubic in h, from a model of what the line leaves over:

* noise: an AR(1) process, its lag-1 correlation from the residuals' first differences (which a
  slowly changing trend barely touches), its variance estimated with the next part. It makes the
  line's level and slope uncertain (Theil-Sen's efficiency included) and is on the future value too:
  a resource runs out when its value, noise and all, reaches the capacity. Its variance is never
  taken as more than the residuals' own (the model reads a sawtooth's drops as large shocks).
* a wandering rate: the slope drifts like a random walk (the trend is an integrated random walk,
  the model behind a cubic smoothing spline). Its diffusion against the noise is estimated by REML
  from the residuals; it makes the line's level now and its slope differ from the true ones, and
  keeps drifting after now (variance growing as h^3).

The noise model is checked against the window: a periodic residual (a garbage collector's sawtooth)
has a long-run variance far below what the AR(1) model makes of its lag-1 correlation, and the
model then overstates the line's uncertainty several times over (a leak under a sawtooth was never
significant). The slope's variance measured over 10 consecutive blocks of the window (robust to any
correlation shorter than a block) is set against what the model expects that measure to be; when it
is significantly less, the line's part of the band is scaled down to it. The current rate's
interval (``slope_low``, ``slope_high``) is from the same band. ``Exhaustion.within`` raises on a
trend significantly toward the capacity whose band reaches the capacity within the horizon
(``eta_early``: a sawtooth's peaks run out before its middle does), or on one already past the
capacity and not significantly on its way back.

A level reset toward the safe side (a clean-up, a log rotation, a restart, a budget's new period)
is found, and only the points after it are fitted (too few of them give no estimate): a drop after
which every point stays clearly below anything the points before it came to around their own trend
(a sawtooth's drops return to the floor it always had, and are no reset). When the climb before the
reset stopped short of the capacity and the one after it is no faster and not yet past where the
last one was reset from (a daily log rotation seen over a day), it is ``recurring`` and not raised.
A series whose last point is more than 3 of its steps and 5% of the window older than ``now`` (a
deleted pod, a scrape gone) gives no estimate.

Pure: numpy only, no clock (``now`` is the last point's time unless given).
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from medic.anomaly import (
    PREDICTION_SOURCE,
    SI_PREFIXES,
    AnomalySignal,
    ExpectedBand,
    ForecastPoint,
    TimeWindow,
)

__all__ = ["Direction", "Exhaustion", "exhaustion_signal", "theil_sen", "time_to_exhaustion"]

Direction = Literal["auto", "rising", "falling"]

_MAX_POINTS = 240  # pairs grow as n^2: a longer window is thinned evenly
_TS_EFFICIENCY = math.pi / 3  # Theil-Sen's variance over least squares' under normal noise (Sen 1968)
_CLIP = 4.0  # residuals beyond this many robust standard deviations count as that many
_MAX_PHI = 0.95
_RATIOS = np.geomspace(1e-3, 1e7, 101)  # wander-to-noise ratios REML picks from, per largest eigenvalue
_BLOCKS = 10  # consecutive blocks for the slope's long-run variance (fewer when there are few points)
_STALE_STEPS = 3.0  # a series whose last point is older than this many steps before ``now``...
_STALE_SHARE = 0.05  # ...and than this share of the window gives no estimate
_RESET_MARGIN = 4.0  # a reset lies this many noise standard deviations beyond the points before it
_RESET_PAST = 3  # and holds for at least this many points
_RESET_GAP = 5  # points before a candidate it drops below
_RESET_CANDIDATES = 64  # the latest candidate drops examined
_RESET_FIT = 60  # points (at most) the trend before a candidate is fitted on
_MIN_AFTER = 10  # points after a reset needed to fit the new trend
_MIN_RECENT = 30  # points a trailing part of the window needs to be fitted on its own
_PART_MIN_WINDOW = 12 * 3600.0  # a window this long or longer may hold a trend that began inside it
_PART_POINTS = 120  # of its points a part is fitted on (a quarter of the pairs: most runs pay one such fit)
_MIN_BEFORE = 20  # points before a candidate needed to tell a reset from the series' own swings
_FASTER = 1.25  # a climb after a reset this much faster than the one before it is news
_FEW = 10  # points under which the noise's variance is the model's alone
_FEW_BLOCKS = 30  # points under which the blocks do not scale the line's uncertainty
_STALE_MAX = 3600.0  # a series stale this long is stale whatever the window (30 h old on a 30-day one)


@dataclass(frozen=True)
class Exhaustion:
    """When the resource runs out, in seconds from ``now`` (``inf`` when it never does on this trend,
    0 when the trend is already past the capacity)."""

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
    direction: Literal["rising", "falling"] = "rising"  # how it runs out (time_to_exhaustion's ``way``)
    reset_at: float | None = None  # the time of the level reset the fit starts after, if any
    # the window saw this climb reset short of the capacity, and it is not past that point yet
    recurring: bool = False

    @property
    def rising(self) -> bool:
        """The resource runs out by rising to the capacity (else by falling to it)."""
        return self.direction == "rising"

    @property
    def exhausted(self) -> bool:
        """The trend is at or past the capacity now."""
        return self.eta == 0

    def within(self, horizon: float) -> bool:
        """Exhaustion expected within ``horizon`` seconds: a trend significantly toward the capacity
        whose prediction band reaches it within the horizon (``eta_early``), or a trend already past
        it that is not significantly on its way back."""
        if self.exhausted:
            return not (self.slope_high < 0 if self.rising else self.slope_low > 0)
        if self.recurring:
            return False
        toward = self.slope_low > 0 if self.rising else self.slope_high < 0
        return toward and self.eta_early <= horizon


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
    direction: Direction = "auto",
) -> Exhaustion | None:
    """The exhaustion estimate from the points in the last ``window`` seconds up to ``now`` (all
    when None); None when there are too few points, when the series went stale (its last point more
    than 3 of its steps and 5% of the window before ``now``), or when too few follow a level reset.
    ``capacity`` may be below the level (a resource that runs down to it, e.g. free bytes to 0):
    ``direction`` says which (``auto``: the side of the capacity where most of the window's points
    lie). ``eta`` counts from ``now``. Raises ValueError for a capacity that is not a finite number.

    A trend that began inside a window of 12 hours or more (a disk flat for a day that started
    filling hours ago) is the trend: the last half, then the last quarter, of the window is fitted
    too, and the longer of them whose rate toward the capacity is significantly faster than the rest
    of the window's (its interval above the rest's, and above 0), and held by both of its halves (not
    a step), gives the estimate; not in a window where the resource drops as a reset would (a
    sawtooth, a rotation, a clean-up), which the whole window's fit reads.
    One fit over the window let the flat hours hold the median slope down: a disk 3 hours from full
    over a 26-hour lookback read 32 hours, never raised (bench.exhaustion_eval, onset-26h)."""
    whole = _estimate(
        times, values, capacity=capacity, window=window, now=now, confidence=confidence, steps=steps,
        direction=direction,
    )  # fmt: skip
    if whole is None or whole.reset_at is not None or whole.exhausted or _toward(whole, low=True) > 0.0:
        return whole  # (a trend toward the capacity over the whole window is the trend)
    points = _windowed(times, values, window=window, now=now)
    if points is None:  # (the whole fit had its points: not reached)
        return whole
    t, y, end = points
    start = end - float(window) if window is not None else float(t[0])
    way = 1.0 if whole.rising else -1.0
    if end - start < _PART_MIN_WINDOW or _drops(way * y):
        # a short window is the recent trend already (a part of it would be a morning's ramp); a
        # sawtooth, a rotation, a clean-up: the whole window's fit knows them, not a part
        return whole
    for share in (0.5, 0.25):
        cut = end - share * (end - start)
        recent, older = t >= cut, t < cut
        if int(recent.sum()) < _MIN_RECENT or int(older.sum()) < _MIN_RECENT:
            continue
        part = _estimate(
            t[recent], y[recent], capacity=capacity, window=end - cut, now=now, confidence=confidence,
            steps=steps, direction=whole.direction, max_points=_PART_POINTS,
        )  # fmt: skip
        if part is None or part.reset_at is not None or _toward(part, low=True) <= 0.0:
            continue  # no trend toward the capacity there (most series, most runs: one fit more)
        before = _estimate(
            t[older], y[older], capacity=capacity, confidence=confidence, steps=steps,
            direction=whole.direction, max_points=_PART_POINTS,
        )  # fmt: skip
        if before is None or _toward(part, low=True) <= _toward(before, low=False):
            continue
        if _steady(t[recent], y[recent], capacity=capacity, direction=whole.direction):
            return part  # the trend changed since, and holds through the part (no step inside it)
    return whole


def _steady(
    t: np.ndarray[Any, Any], y: np.ndarray[Any, Any], *, capacity: float, direction: Direction
) -> bool:
    """Whether both halves of a part trend toward the capacity on their own: a trend, not a step (a
    restore, a deploy that moved the level) that a fit across it reads as a slope."""
    mid = (float(t[0]) + float(t[-1])) / 2.0
    for half in (t < mid, t >= mid):
        est = _estimate(
            t[half], y[half], capacity=capacity, direction=direction, max_points=_PART_POINTS // 2,
        )  # fmt: skip
        if est is None or _toward(est, low=True) <= 0.0:
            return False
    return True


def _drops(u: np.ndarray[Any, Any]) -> bool:
    """Whether the resource (larger nearer exhaustion) drops anywhere in the window as a reset would
    (``_RESET_MARGIN`` noise deviations below the ``_RESET_GAP`` points before it)."""
    n = u.shape[0]
    if n <= _RESET_GAP:
        return False
    before = np.lib.stride_tricks.sliding_window_view(u, _RESET_GAP)[:-1].min(axis=1)
    return bool(np.any(u[_RESET_GAP:] < before - _margin(u)))


def _toward(est: Exhaustion, *, low: bool) -> float:
    """The estimate's rate toward the capacity: the low end of its interval, or the high end."""
    if est.rising:
        return est.slope_low if low else est.slope_high
    return -(est.slope_high if low else est.slope_low)


def _estimate(
    times: ArrayLike,
    values: ArrayLike,
    *,
    capacity: float,
    window: float | None = None,
    now: float | None = None,
    confidence: float = 0.9,
    steps: int = 12,
    direction: Direction = "auto",
    max_points: int = _MAX_POINTS,
) -> Exhaustion | None:
    """One fit over the window (``time_to_exhaustion``), of at most ``max_points`` of its points."""
    capacity = float(capacity)
    if not math.isfinite(capacity):
        raise ValueError(f"capacity must be a finite number, not {capacity}")
    if direction not in ("auto", "rising", "falling"):
        raise ValueError(f"direction must be auto, rising or falling, not {direction!r}")
    points = _windowed(times, values, window=window, now=now)
    if points is None:
        return None
    t, y, end = points
    if now is not None and _stale(t, end, window):
        return None
    way = _way(direction, y, capacity)
    if _dropping(way * y):
        return None  # a drop in progress (a rotation, a clean-up): the next run sees where it lands
    reset = _reset(t, way * y)  # on every point: thinning would hide the last few after a reset
    reset_at: float | None = None
    cycle: _Reset | None = None  # the reset before it: the window saw a whole cycle
    if reset is not None:
        reset_at = reset.at
        before = t < reset.at
        cycle = _reset(t[before], way * y[before])
        after = t >= reset.at
        t, y = t[after], y[after]
        if t.shape[0] < _MIN_AFTER:
            return None
    t, y = _thin(t, y, max_points)
    t0 = float(t[0])
    try:
        slope, icpt, _, _ = theil_sen(t - t0, y, confidence=confidence)
    except ValueError:
        return None
    level = icpt + slope * (end - t0)
    resid = y - (icpt + slope * (t - t0))
    spread = float(np.median(np.abs(resid - np.median(resid)))) * 1.4826
    span = end - t0  # > 0: the points are at different times, none after ``end``
    s = (t - t0) / span
    blocks = max(2, min(_BLOCKS, t.shape[0] // 3))
    band = _Band.fit(s, resid, spread, blocks)
    z = _normal_quantile(0.5 + confidence / 2.0)
    rate_err = z * math.sqrt(band.rate_variance) / span
    s_lo, s_hi = slope - rate_err, slope + rate_err
    gap = way * (capacity - level)  # > 0: short of the capacity
    toward = way * slope
    if gap <= 0:  # at or past it: exhausted now
        eta = early = late = 0.0
    else:
        eta = gap / toward if toward > 0 else math.inf
        # in units of the window: the first horizon at which the band's near edge (early) and its
        # far edge (late) reach the capacity
        early = band.first_reach(gap, toward * span, z) * span
        late = band.first_reach(gap, toward * span, -z) * span
        early, late = min(early, eta), max(late, eta)  # the band holds the line: only rounding differs
    recurring = False
    if reset is not None and gap > 0:
        # the window saw the same climb (not a quarter faster, beyond both intervals) reset short of
        # the capacity, from as far on as the trend is now (within its noise): a rotation that comes
        # again, not news
        fast = way * (s_hi if way < 0 else s_lo) > _FASTER * reset.rate
        # ...only when the window saw a whole cycle (a reset before that one), whose peak this one's
        # did not pass, and this climb, lasting as long as that cycle, stays short of the capacity:
        # one reset cannot tell a rotation from a clean-up or a resize by too little, nor show a floor
        # creeping up from one rotation to the next (all held back until an hour or two before full,
        # a review, 2026-12-06)
        recurring = cycle is not None and (
            reset.short_of(way * capacity)
            and way * level <= reset.level + 3 * spread
            and not fast
            and reset.peak <= cycle.peak + 3 * spread
            and way * level + max(toward, 0.0) * max((reset.at - cycle.at) - (end - reset.at), 0.0)
            < way * capacity
        )
    forecast = []
    reach = eta if math.isfinite(eta) and eta > 0 else (late if math.isfinite(late) else 0.0)
    if reach > 0:
        for k in range(1, steps + 1):
            dt = reach * k / steps
            v = level + slope * dt
            half = z * band.sd(dt / span)
            forecast.append((end + dt, v, v - half, v + half))
    return Exhaustion(
        end,
        level,
        slope,
        s_lo,
        s_hi,
        capacity,
        eta,
        early,
        late,
        spread,
        forecast,
        direction="rising" if way > 0 else "falling",
        reset_at=reset_at,
        recurring=recurring,
    )


def _windowed(
    times: ArrayLike, values: ArrayLike, *, window: float | None, now: float | None
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], float] | None:
    """The finite points in the last ``window`` seconds up to ``now`` (the last point's time when
    None), in time order, and that end; None with fewer than 3."""
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
    return t[order], y[order], end


def _stale(t: np.ndarray[Any, Any], end: float, window: float | None) -> bool:
    """The series' last point is more than a few of its steps, and more than a little of the
    window, before ``end``: a series that stopped (a deleted pod, a scrape gone)."""
    steps = np.diff(t)
    steps = steps[steps > 0]
    step = float(np.median(steps)) if steps.shape[0] else 0.0
    span = float(window) if window is not None else end - float(t[0])
    return end - float(t[-1]) > max(_STALE_STEPS * step, min(_STALE_SHARE * span, _STALE_MAX))


def _way(direction: Direction, y: np.ndarray[Any, Any], capacity: float) -> float:
    """1.0 for a resource that runs out rising to the capacity, -1.0 for one falling to it."""
    if direction != "auto":
        return 1.0 if direction == "rising" else -1.0
    mid = float(np.median(y))
    if mid != capacity:
        return 1.0 if mid < capacity else -1.0
    return -1.0 if float(y[-1]) < float(y[0]) else 1.0  # on it: the way it goes


def _thin(
    t: np.ndarray[Any, Any], y: np.ndarray[Any, Any], m: int = _MAX_POINTS
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """At most ``m`` of the points, evenly."""
    if t.shape[0] <= m:
        return t, y
    pick = np.linspace(0, t.shape[0] - 1, m).round().astype(int)
    return t[pick], y[pick]


@dataclass(frozen=True)
class _Reset:
    """A level reset toward the safe side, in the resource's way (values times its sign)."""

    at: float  # the first point after it
    since: float  # the first point of the climb before it that the window holds
    level: float  # the trend before it, where it was reset from
    peak: float  # the highest value before it
    rate: float  # the upper end of the climb's rate before it (Sen's 90% interval)

    def short_of(self, capacity: float) -> bool:
        return self.peak < capacity


def _reset(t: np.ndarray[Any, Any], u: np.ndarray[Any, Any]) -> _Reset | None:
    """The latest level reset in ``u`` (the resource's value, larger nearer exhaustion): a point
    that drops ``_RESET_MARGIN`` noise standard deviations below the ``_RESET_GAP`` points before it,
    after which every point (``_RESET_PAST`` at least) stays that far below anything the points
    before it came to around their own trend (so a garbage collector's sawtooth, whose drops return
    to the floor it always had, is no reset)."""
    n = u.shape[0]
    if n < _MIN_BEFORE + _RESET_PAST:
        return None
    margin = _margin(u)
    idx = np.arange(_MIN_BEFORE, n - _RESET_PAST + 1)
    before = np.lib.stride_tricks.sliding_window_view(u, _RESET_GAP)[idx - _RESET_GAP].min(axis=1)
    drops = idx[u[idx] < before - margin]
    for drop in drops[::-1][:_RESET_CANDIDATES]:
        k = int(drop)
        size = float(u[k - _RESET_GAP : k].min() - u[k])
        if np.any(np.diff(u[k : n - _RESET_PAST]) < -0.5 * size):
            continue  # the series drops as far again after it: a sawtooth's drop (a GC), no reset
        tb, ub = _thin(t[:k], u[:k], _RESET_FIT)
        tb0 = float(tb[0])
        try:
            rate, icpt, rate_low, rate_high = theil_sen(tb - tb0, ub)
        except ValueError:
            continue
        # the points before, continued at the least rate they allow (a short stretch of a sawtooth
        # allows a steep one), and the lowest they came to around that
        base = float(np.median(ub - rate_low * (tb - tb0)))
        low = float(np.quantile(ub - (base + rate_low * (tb - tb0)), 0.02))
        if np.all(u[k:] < base + rate_low * (t[k:] - tb0) + low - margin):
            return _Reset(
                float(t[k]), float(t[0]), float(icpt + rate * (t[k] - tb0)), float(u[:k].max()), rate_high
            )
    return None


def _margin(u: np.ndarray[Any, Any]) -> float:
    """How far below the points before it a point must drop to be a reset: ``_RESET_MARGIN`` noise
    standard deviations (from the steps between points), with a floor for a series without noise or
    in whole steps (rounding is no reset)."""
    d = np.diff(u)
    noise = float(np.median(np.abs(d - np.median(d)))) * 1.4826 / math.sqrt(2.0)
    return max(_RESET_MARGIN * noise, 1e-6 * float(u.max() - u.min()))


def _dropping(u: np.ndarray[Any, Any]) -> bool:
    """The last few points (fewer than a reset needs to be one) dropped below the points before them:
    a rotation or clean-up in progress, or a collector's drop. The fit across it took the drop for
    noise so wide that a daily rotation raised at the run that met it (a review, 2026-12-06)."""
    tail = u.shape[0] - _RESET_PAST
    if tail < _RESET_GAP + 2:
        return False
    # abrupt: beyond the noise, beyond what the series' usual steps cover (a steady decline is none),
    # and a tenth of its range at least (a pool's -1 among steps of 0 lost 28 of 288 runs of a leak)
    usual = float(np.median(np.abs(np.diff(u)))) * 2 * (_RESET_GAP + _RESET_PAST)
    share = 0.1 * float(u.max() - u.min())
    return bool(np.any(u[tail:] < u[tail - _RESET_GAP : tail].min() - max(_margin(u), usual, share)))


def _long_run_slope_variance(
    s: np.ndarray[Any, Any], weights: np.ndarray[Any, Any], resid: np.ndarray[Any, Any], blocks: int
) -> float:
    """The least-squares slope's variance (``weights`` on the points) from the residuals' long-run
    variance: the slope's pull from each of ``blocks`` consecutive blocks of points, summed over the
    blocks as if they were independent (a cluster-robust variance: correlation within a block, a
    sawtooth's included, is taken as it is)."""
    n = s.shape[0]
    pull = np.bincount(np.arange(n) * blocks // n, weights=weights * resid, minlength=blocks)
    pull = pull - pull.mean()
    return blocks / (blocks - 1) * float(pull @ pull)


def _chi2_low(df: int) -> float:
    """The 5% quantile of a chi-square over its degrees of freedom (Wilson and Hilferty)."""
    k = 2.0 / (9.0 * df)
    return max(1.0 - k - 1.645 * math.sqrt(k), 0.0) ** 3


@dataclass(frozen=True)
class _Band:
    """The variance of the series at ``now + h`` around the line's forecast, with times in units
    of the window (0 at its first point, 1 at ``now``): ``poly`` are the cubic's coefficients,
    highest first; ``rate_variance`` is the variance of the line's slope around the current rate."""

    poly: tuple[float, float, float, float]
    rate_variance: float

    @classmethod
    def fit(cls, s: np.ndarray[Any, Any], resid: np.ndarray[Any, Any], spread: float, blocks: int) -> "_Band":
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
        # the noise's own variance: as the model has it, but never more than the residuals' (a
        # sawtooth, whose drops the AR(1) model takes for large innovations, is made twice as wide)
        # (not on a few points: their residuals say too little; 6 points raised on flat noise 30 runs
        # in 400 where 21 did before, a review, 2026-12-06)
        model = noise / (1.0 - phi * phi)
        marginal = min(model, float(resid @ resid) / max(n - 2, 1)) if n >= _FEW else model
        lag = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
        ar = (marginal * phi ** np.arange(n))[lag]  # the noise's covariance
        a00, a01, a11 = c0 @ ar @ c0, c0 @ ar @ c1, c1 @ ar @ c1
        # a periodic residual (a collector's sawtooth) has a long-run variance far below what the
        # AR(1) model makes of its lag-1 correlation. The slope's variance measured over blocks of
        # the window is set against what the model expects that measure to be (so a long
        # correlation, which blocks under-measure, is no evidence); when it is significantly less
        # (under the expectation's 5% quantile), the line's part is scaled down to it
        long_run = _long_run_slope_variance(s, c1, resid, blocks)
        pull = np.zeros((blocks, n))
        pull[np.arange(n) * blocks // n, np.arange(n)] = c1
        pull -= pull.mean(axis=0)
        expected = blocks / (blocks - 1) * float(((pull @ ar) * pull).sum())
        if expected > 0 and n >= _FEW_BLOCKS:  # (3 points: 2 blocks, often no measure at all)
            scale = min(1.0, long_run / expected / _chi2_low(blocks - 1))
            a00, a01, a11 = a00 * scale, a01 * scale, a11 * scale
        b00, b01, b11 = c0 @ k @ c0, c0 @ k @ c1, c1 @ k @ c1
        half, sixth = s * s / 2.0, s**3 / 6.0  # the trend at 1 + h against the points: half (1 + h) - sixth
        u0, u1, v0, v1 = float(c0 @ half), float(c1 @ half), float(c0 @ sixth), float(c1 @ sixth)
        # wander: the trend's variance at 1 + h, less twice its covariance with the forecast, plus
        # the forecast's variance; noise: the forecast's variance plus the future value's own
        rate = 1.0 - 2.0 * u1 + b11
        p3 = wander / 3.0
        p2 = wander * rate + _TS_EFFICIENCY * a11
        p1 = wander * (1.0 - 2.0 * (u0 + u1 - v1) + 2.0 * b01) + 2.0 * _TS_EFFICIENCY * a01
        p0 = wander * (1.0 / 3.0 - 2.0 * (u0 - v0) + b00) + _TS_EFFICIENCY * a00 + marginal
        poly = (float(p3), float(p2), float(p1), float(p0))
        return cls(poly, max(float(p2), 0.0))

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


def exhaustion_signal(
    est: Exhaustion,
    *,
    service: str,
    series: dict[str, str],
    value: float,
    source: str = PREDICTION_SOURCE,
    severity: str = "warning",
    hold_seconds: float = 3600.0,
    said: str = "",
) -> AnomalySignal:
    """The predictive signal, in the anomaly webhook's shape (so it joins incidents the same way).
    The expected band is where the resource should stay: from its trend less 3 spreads up to the
    capacity (rising), or from the capacity up to its trend plus 3 spreads (falling). The window
    runs from now for ``hold_seconds`` (the signal is active that long; a later run's prediction
    extends it, and once none comes the incident can resolve); the predicted time of exhaustion is
    in the summary (after ``said``, e.g. the scan's name) and the forecast points."""
    if not (math.isfinite(hold_seconds) and hold_seconds >= 0):
        raise ValueError(f"hold_seconds must be a finite number of seconds, not {hold_seconds}")
    at = datetime.fromtimestamp(est.now, UTC)
    until = at + timedelta(seconds=hold_seconds)
    if est.rising:
        lo, hi = min(est.level - 3 * est.spread, est.capacity), est.capacity
    else:
        lo, hi = est.capacity, max(est.level + 3 * est.spread, est.capacity)
    return AnomalySignal(
        source=source,
        service=service,
        series=series,
        value=value,
        expected=ExpectedBand(lower=lo, upper=hi),
        score=min(1.0, max(0.0, 1.0 - est.eta / (est.eta + 86400.0))) if math.isfinite(est.eta) else 0.0,
        window=TimeWindow(start=at, end=until),
        severity=severity,
        summary=said + _summary(est, value),
        forecast=[
            ForecastPoint(at=datetime.fromtimestamp(ts, UTC), value=v, lower=lo_, upper=hi_)
            for ts, v, lo_, hi_ in est.forecast
        ],
    )


def _summary(est: Exhaustion, value: float) -> str:
    """``value``: the last one observed, what people compare with their graphs (the fitted trend's
    level read "exhausted: -0.0615" of a volume whose free space Prometheus answered as 0)."""
    cap, now = _number(est.capacity), _number(value)
    if est.exhausted:
        past = value > est.capacity if est.rising else value < est.capacity
        if now == cap or not past:
            return f"exhausted: at the capacity {cap}, now {now}"
        return f"exhausted: {now}, past the capacity {cap}"
    way = "rising" if est.rising else "falling"
    when = f"in about {_duration(est.eta)}" if math.isfinite(est.eta) else "at some point"
    early = _duration(est.eta_early)
    late = _duration(est.eta_late) if math.isfinite(est.eta_late) else "open"
    span = "" if early == late else f" (between {early} and {late})"
    return f"exhausts {when}{span}: {way} to {cap}, now {now}"


def _number(x: float) -> str:
    """A value in 3 significant figures, thousands as k, M, G, T, P, E (2.0e11 is 200G)."""
    size = abs(x)
    if not math.isfinite(x) or size < 1e3 or size >= 1e21:
        return f"{x:.3g}"
    for power, unit in (*SI_PREFIXES, (3, "k")):
        if size >= 10.0**power * (1 - 5e-4):
            return f"{x / 10.0**power:.3g}{unit}"
    return f"{x:.3g}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
