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
is an outage measured from where it was. The model is dropped for good at a value off its grain or
below 0, and once zeros are under a quarter of the last ``_ZEROS`` points: the series is no sparse
count.
"""

import math
from typing import Any

import numpy as np

from medic.detect.core import FloatArray, normal_deviate

__all__ = ["CountModel", "first_grain"]

_SPAN = 1440.0  # points the mean and variance weigh (a day at one a minute)
_LOCAL = 60.0  # points the recent level weighs (an hour at one a minute): what a fall is measured from
_ZEROS = 240.0  # points the share of zeros weighs: under _SPARSE, the series is no sparse count any more
_SPARSE = 0.25
DECIDE_AT = 3  # positive counts seen before a series is decided a sparse count (one value is no grain)


def first_grain(value: float) -> float:
    """The grain a sparse count's first count gives: 1 for a whole number (lines), else the value
    itself (a rate of lines a second, 1/300), made finer by a later value when it must be."""
    return 1.0 if value >= 1 and not _off(value) else value


def _off(k: float) -> bool:
    """Whether ``k`` grains is not a whole number of them (beyond a float's rounding)."""
    return abs(k - round(k)) > 1e-6 * abs(k) + 1e-9


class CountModel:
    """The usual count of a sparse series (mean and variance, weighted over ``_SPAN`` points; its
    recent level over ``_LOCAL``; its share of zeros over ``_ZEROS``) and each point's surprise under
    it. ``place``: the series' next point (points replayed are not counted twice). ``valid`` turns
    false for good at a value off the grain or below 0, or once zeros are under a quarter of the
    recent points: the series is no sparse count (it became busy), and the ensemble drops the model."""

    def __init__(self, grain: float, place: int) -> None:
        self.grain = grain
        self.place = place
        self.mean: float | None = None
        self.var = 0.0
        self.n = 0  # counts weighed: a plain mean until _SPAN, then weighted
        self.local = 0.0
        self.zeros = 1.0
        self.valid = True

    def learn(self, x: FloatArray) -> None:
        """Take ``x`` (the counts before ``place``) into the usual count, scoring none."""
        for value in x.tolist():
            self._take(value / self.grain)

    def _take(self, k: float) -> None:
        if not math.isfinite(k):
            return  # missing, or a glitch: the other parts say it
        if 0 < k < 1 and not _off(1.0 / k):
            k = self._finer(k)  # a finer grain: a line a minute's rate, 2/300 first and then 1/300
        if k < 0 or _off(k):
            self.valid = False
            return
        self.n += 1
        if self.mean is None:
            self.mean = self.local = k
            self.zeros = float(k == 0)
            return
        a = 1.0 / min(self.n, _SPAN)
        # winsorised: a burst moves the usual count as 3 deviations (and one count) would, or its own
        # first points made its later ones ordinary (the variance of a series at 0.07 a step doubled
        # within 5 points of a burst of 5)
        bound = 3.0 * math.sqrt(max(self.var, self.mean, 0.01)) + 1.0
        d = min(max(k - self.mean, -bound), bound)
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        self.local += (k - self.local) / min(self.n, _LOCAL)
        self.zeros += (float(k == 0) - self.zeros) / min(self.n, _ZEROS)
        if self.n >= _ZEROS and self.zeros < _SPARSE:
            self.valid = False

    def _finer(self, k: float) -> float:
        """The grain made ``k`` of itself (``1 / k`` whole), the counts so far rescaled to it; 1."""
        times = round(1.0 / k)
        self.grain /= times
        if self.mean is not None:
            self.mean *= times
            self.local *= times
        self.var *= times * times
        return 1.0

    def surprise(self, x: FloatArray, first: int) -> FloatArray:
        """Each point's normal deviate under the counts before it: of its upper tail above the usual
        count, of its lower tail below the recent level (a fall is measured from where the series
        is now: a series that became busy and then stopped is an outage, not a count at its usual 0).
        ``inf`` where nothing bounds it: before ``place``, a point missing or off the grain, and from
        the point the model stops being valid."""
        out = np.full(x.shape[0], np.inf)
        ks, means, vars_, locals_, at = [], [], [], [], []
        for i in range(max(self.place - first, 0), x.shape[0]):
            if not self.valid:
                break
            k = float(x[i]) / self.grain
            if 0 < k < 1 and not _off(1.0 / k):
                k = self._finer(k)
            if self.mean is not None and math.isfinite(k) and k >= 0 and not _off(k):
                ks.append(k)
                means.append(self.mean)
                vars_.append(self.var)
                locals_.append(self.local)
                at.append(i)
            self._take(k)
        if at:
            out[np.asarray(at)] = _deviates(
                np.asarray(ks), np.asarray(means), np.asarray(vars_), np.asarray(locals_)
            )
        self.place = max(self.place, first + x.shape[0])
        return out

    def state(self) -> dict[str, Any]:
        return {
            "grain": self.grain,
            "place": self.place,
            "mean": self.mean,
            "var": self.var,
            "n": self.n,
            "local": self.local,
            "zeros": self.zeros,
            "valid": self.valid,
        }

    @classmethod
    def restored(cls, own: dict[str, Any]) -> "CountModel":
        model = cls(float(own["grain"]), int(own["place"]))
        model.mean = None if own["mean"] is None else float(own["mean"])
        model.var = float(own["var"])
        model.n = int(own["n"])
        model.local = float(own["local"])
        model.zeros = float(own["zeros"])
        model.valid = bool(own["valid"])
        return model


def _deviates(k: FloatArray, m: FloatArray, v: FloatArray, local: FloatArray) -> FloatArray:
    """The normal deviate of each count: of ``P(X >= k)`` above the usual ``m`` (variance ``v``), of
    ``P(X <= k)`` below the recent level ``local`` (Poisson: a fall from a level is no burst), else 0."""
    m = np.maximum(m, 1e-3)  # (a series all 0 so far: a first count is rare, not impossible)
    up, down = k > m, k < local
    tail = np.ones(k.shape[0])
    tail[up] = _upper(np.rint(k[up]), m[up], v[up])
    tail[down] = np.minimum(
        tail[down], 1.0 - _upper(np.rint(k[down]) + 1, np.maximum(local[down], 1e-3), local[down])
    )
    return np.array([normal_deviate(-math.log(max(float(p), 1e-300))) for p in tail])


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
