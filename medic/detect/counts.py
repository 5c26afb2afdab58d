"""Sparse counts: a series of whole counts that is 0 at least half the time (error lines counted from
Loki a minute, rare failures), where a value of 1 now and then is ordinary.

Such a series defeats robust spreads: its median step is 0, the mean step tiny, and one error line
measured in them is tens of noises (the level part put a 1 among zeros at a surprise of 20 and more:
on error counts of 0.02 to 0.05 lines a minute, 1.9 alarms a series a day; ``bench.loki_sparse``).
What a count at a low rate does is known in closed form: a count of ``k`` where ``m`` are usual is as
likely as the tail of a count distribution of mean ``m`` says, a negative binomial when the counts
vary more than a Poisson count would (errors come in bursts: variance ``v`` over ``m``), Poisson
otherwise. ``CountModel`` keeps ``m`` and ``v`` as exponentially weighted means over about a day of
points (``_SPAN``), each point scored from those before it, and gives each point the normal deviate of
its upper tail: the ensemble's surprise of a sparse count above its usual is at most that, so a
count scores 0.5 only where it is as rare as a 5-sigma point (a tail of 3e-7), and a burst of
errors (10 lines where 0.1 are usual) still does. Counts that fall (a silence) are left as they
were scored.
"""

import math
from typing import Any

import numpy as np

from medic.detect.core import FloatArray, normal_deviate

__all__ = ["CountModel", "count_grain"]

_SPAN = 1440.0  # points the mean and variance weigh (a day at one a minute)


def count_grain(x: FloatArray) -> float:
    """The unit of a sparse count series (its smallest positive value), when every known value is a
    whole number of it, none is negative and at least half are 0; else 0."""
    v = x[np.isfinite(x)]
    positive = v[v > 0]
    if v.shape[0] == 0 or positive.shape[0] == 0 or float(v.min()) < 0 or float(np.median(v)) > 0:
        return 0.0
    g = float(positive.min())
    grains = positive / g
    return g if bool(np.all(np.abs(grains - np.rint(grains)) <= 1e-6 * grains + 1e-9)) else 0.0


class CountModel:
    """The usual count of a sparse series (mean and variance, weighted over ``_SPAN`` points) and each
    point's surprise under it; ``place`` is the series' next point (points replayed are not counted
    twice)."""

    def __init__(self, grain: float, place: int) -> None:
        self.grain = grain
        self.place = place
        self.mean: float | None = None
        self.var = 0.0
        self.n = 0  # counts weighed: a plain mean until _SPAN, then weighted

    def surprise(self, x: FloatArray, first: int) -> FloatArray:
        """Each point's normal deviate under the counts before it (``inf`` where nothing bounds it:
        before the first count, and points already counted)."""
        out = np.full(x.shape[0], np.inf)
        for i in range(max(self.place - first, 0), x.shape[0]):
            k = float(x[i]) / self.grain
            if not math.isfinite(k):
                continue  # missing, or a glitch: the other parts say it
            self.n += 1
            if self.mean is not None:
                out[i] = _deviate(k, self.mean, self.var)
                a = 1.0 / min(self.n, _SPAN)
                # winsorised: a burst moves the usual count as 3 deviations (and one count) would,
                # or its own first points made its later ones ordinary (the variance of a series at
                # 0.07 a step doubled within 5 points of a burst of 5)
                bound = 3.0 * math.sqrt(max(self.var, self.mean, 0.01)) + 1.0
                d = min(max(k - self.mean, -bound), bound)
                self.mean += a * d
                self.var = (1.0 - a) * (self.var + a * d * d)
            else:
                self.mean = k
        self.place = max(self.place, first + x.shape[0])
        return out

    def state(self) -> dict[str, Any]:
        return {"grain": self.grain, "place": self.place, "mean": self.mean, "var": self.var, "n": self.n}

    @classmethod
    def restored(cls, own: dict[str, Any]) -> "CountModel":
        model = cls(float(own["grain"]), int(own["place"]))
        model.mean = None if own["mean"] is None else float(own["mean"])
        model.var = float(own["var"])
        model.n = int(own["n"])
        return model


def _deviate(k: float, m: float, v: float) -> float:
    """The normal deviate of ``P(X >= k)``, a count ``k`` above the mean ``m`` (variance ``v``); ``inf``
    at or below it: a count that falls is left to the other parts (one 0 is ordinary at a low rate,
    forty in a row are not, and only the level part sees a run)."""
    m = max(m, 1e-3)  # (a series all 0 so far: a first count is rare, not impossible)
    if k > m:
        tail = _upper(round(k), m, v)
    elif k < m:
        tail = 1.0 - _upper(round(k) + 1, m, v)
    else:
        return 0.0
    return normal_deviate(-math.log(max(tail, 1e-300)))


def _upper(k: int, m: float, v: float) -> float:
    """``P(X >= k)`` of a negative binomial of mean ``m`` and variance ``v`` (Poisson when ``v <= m``)."""
    if k <= 0:
        return 1.0
    from scipy import special  # type: ignore[import-untyped]  # noqa: PLC0415 (loaded where needed)

    if v <= m * 1.0001:
        return float(special.gammainc(k, m))
    p = m / v
    return float(special.betainc(k, m * m / (v - m), 1.0 - p))
