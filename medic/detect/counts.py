"""Sparse counts: a series of whole counts that was nothing but 0 until its first count (error lines
counted from Loki, rare failures), where a value of 1 now and then is ordinary.

Such a series defeats robust spreads: its median step is 0, the mean step tiny, and one error line
measured in them is tens of noises (the level part put a 1 among zeros at a surprise of 20 and more:
on error counts of 0.02 to 0.05 lines a minute, 1.9 alarms a series a day; ``bench.loki_sparse``).
What a count at a low rate does is known in closed form: a count of ``k`` where ``m`` are usual is as
likely as the tail of a count distribution of mean ``m`` says, a negative binomial when the counts
vary more than a Poisson count would (errors come in bursts: variance ``v`` over ``m``), Poisson
otherwise. ``CountModel`` keeps ``m`` and ``v`` as exponentially weighted means over about a day of
points (``_SPAN``, winsorised at 3 deviations), and the recent level over an hour (``_LOCAL``); each
point scored from those before it gets the normal deviate of its upper tail above ``m``, or of its
lower tail (Poisson) below the recent level: the ensemble's surprise of such a series is at most
that. So a count scores 0.5 only where it is as rare as a 5-sigma point (a tail of 3e-7), a burst of
errors (15 lines where 0.1 are usual) still does, and a series that became busy and then stopped
is an outage measured from where it was. The model is dropped for good at a value off its grain (made
finer at most 20 times: a rate of whole lines) or below 0, and once its usual count reaches one a
point: the series is no sparse count.
"""

import dataclasses
import math
from typing import Any

import numpy as np

from medic.detect.core import FloatArray, normal_deviate

__all__ = ["CountModel", "first_grain"]

_SPAN = 1440.0  # points the mean and variance weigh (a day at one a minute)
_LOCAL = 60.0  # points the recent level weighs (an hour at one a minute): what a fall is measured from
_BUSY = 1.0  # a usual count of a grain or more a point: the series is no sparse count any more
_FINEST = 20  # a first count's grain made finer at most this many times (a rate of whole lines)


def first_grain(value: float) -> float:
    """The grain a sparse count's first count gives: 1 for a whole number (lines), else the value
    itself (a rate of lines a second, 1/300), made finer by a later value when it must be."""
    return 1.0 if value >= 1 and not _off(value) else value


def _off(k: float) -> bool:
    """Whether ``k`` grains is not a whole number of them (beyond a float's rounding)."""
    return abs(k - round(k)) > 1e-9 * abs(k) + 1e-9


def _a_count(k: float) -> bool:
    """Whether ``k`` grains is a count: known, not below 0, whole."""
    return math.isfinite(k) and k >= 0 and not _off(k)


@dataclasses.dataclass
class CountModel:
    """The usual count of a sparse series (mean and variance, weighted over ``_SPAN`` points; its
    recent level over ``_LOCAL``) and each point's surprise under it. ``place``: the series' next
    point (points replayed are not counted twice). ``valid`` turns false for good at a value off the
    grain or below 0, or once the usual count reaches a grain a point: the series is no sparse count
    (it became busy), and the ensemble drops the model."""

    grain: float
    place: int
    mean: float | None = None
    var: float = 0.0
    n: int = 0  # counts weighed: a plain mean until _SPAN, then weighted
    local: float = 0.0
    local_var: float = 0.0
    finest: float = 0.0  # the finest grain it may take (0: _FINEST times finer than its first)
    last: float | None = None  # the last count taken
    valid: bool = True

    def __post_init__(self) -> None:
        self.finest = self.finest or self.grain / _FINEST

    def _counted(self, k: float) -> float:
        """``k`` grains, in a finer grain where it is no whole number of this one (a rate of lines a
        second: 2/300 first, then 3/300) and some finer one makes it whole."""
        return self._finer(k) if k > 0 and math.isfinite(k) and _off(k) else k

    def _take(self, k: float) -> None:
        if not math.isfinite(k):
            return  # missing, or a glitch: the other parts say it
        if not _a_count(k):
            self.valid = False
            return
        self.n += 1
        if self.mean is None:
            self.mean = self.local = k
            self.last = k
            return
        a = 1.0 / min(self.n, _SPAN)
        # winsorised: a burst moves the usual count as 3 deviations (and one count) would, or its own
        # first points made its later ones ordinary (the variance of a series at 0.07 a step doubled
        # within 5 points of a burst of 5)
        bound = 3.0 * math.sqrt(max(self.var, self.mean, 0.01)) + 1.0
        d = min(max(k - self.mean, -bound), bound)
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        b = 1.0 / min(self.n, _LOCAL)
        self.local += b * (k - self.local)
        # its spread from one point to the next (half the mean square step: a series' own variance
        # where its points are independent), which a level that moved (a rise from 0) does not inflate
        step = k - (self.last if self.last is not None else k)
        self.local_var += b * (0.5 * step * step - self.local_var)
        self.last = k
        # a series whose usual count reached a grain a point is no sparse count (it became busy; a
        # burst moves the winsorised mean by little, so a burst does not decide it: a share of zeros
        # since the model was made did, for error series born in an incident)
        if self.mean >= _BUSY:
            self.valid = False

    def _finer(self, k: float) -> float:
        """The grain divided by the least whole number (up to 1,000) that makes ``k`` whole in it, the
        counts so far rescaled to it; ``k`` in it (still off the grain where none does)."""
        for times in range(2, 1001):
            if self.grain / times < self.finest * (1.0 - 1e-9):
                break  # (a value of three decimals is no count: a latency in ms had a grain of 0.001)
            if not _off(k * times):
                self.grain /= times
                if self.mean is not None:
                    self.mean *= times
                self.local *= times
                self.var *= times * times
                self.local_var *= times * times
                return k * times
        return k

    def surprise(self, x: FloatArray, first: int) -> FloatArray:
        """Each point's normal deviate under the counts before it: of its upper tail above the usual
        count, of its lower tail below the recent level (a fall is measured from where the series
        is now: a series that became busy and then stopped is an outage, not a count at its usual 0).
        ``inf`` where nothing bounds it: before ``place``, a point missing or off the grain, and from
        the point the model stops being valid."""
        out = np.full(x.shape[0], np.inf)
        ks, means, vars_, locals_, spreads, at = [], [], [], [], [], []
        for i in range(max(self.place - first, 0), x.shape[0]):
            if not self.valid:
                break
            k = self._counted(float(x[i]) / self.grain)
            if self.mean is not None and _a_count(k):
                ks.append(k)
                means.append(self.mean)
                vars_.append(self.var)
                locals_.append(self.local)
                spreads.append(self.local_var)
                at.append(i)
            self._take(k)
        if at:
            out[np.asarray(at)] = _deviates(
                np.asarray(ks), np.asarray(means), np.asarray(vars_), np.asarray(locals_), np.asarray(spreads)
            )
        self.place = max(self.place, first + x.shape[0])
        return out

    def state(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def restored(cls, own: dict[str, Any]) -> "CountModel":
        return cls(**own)


def _deviates(
    k: FloatArray, m: FloatArray, v: FloatArray, local: FloatArray, spread: FloatArray
) -> FloatArray:
    """The normal deviate of each count: of ``P(X >= k)`` above the usual ``m`` (variance ``v``); below
    the recent level ``local``, of ``P(X <= k)`` under a Poisson count of that level, or of how many of
    its recent deviations (``spread``, a variance, half a grain at least) it is below, whichever is
    larger (a steady count, 3 replicas then 0, varies less than a Poisson count); else 0."""
    m = np.maximum(m, 1e-3)  # (a series all 0 so far: a first count is rare, not impossible)
    up, down = k > m, k < local
    tail = np.ones(k.shape[0])
    tail[up] = _upper(np.rint(k[up]), m[up], v[up])
    low = np.maximum(local[down], 1e-3)
    tail[down] = np.minimum(tail[down], 1.0 - _upper(np.rint(k[down]) + 1, low, low))
    out = np.array([normal_deviate(-math.log(max(float(p), 1e-300))) for p in tail])
    out[down] = np.maximum(out[down], (local[down] - k[down]) / np.sqrt(spread[down] + 0.01))
    return out


def _upper(k: FloatArray, m: FloatArray, v: FloatArray) -> FloatArray:
    """``P(X >= k)`` of a negative binomial of mean ``m`` and variance ``v`` (Poisson where ``v <= m``)."""
    from scipy import special  # type: ignore[import-untyped]  # noqa: PLC0415 (loaded where needed)

    out = np.ones(k.shape[0])
    some = k > 0
    poisson = some & (v <= m * 1.0001)
    out[poisson] = special.gammainc(k[poisson], m[poisson])
    wide = some & ~poisson
    mw, vw = m[wide], v[wide]
    out[wide] = special.betainc(k[wide], mw * mw / (vw - mw), 1.0 - mw / vw)
    return out
