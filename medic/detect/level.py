"""Robust level and range with daily seasonality: how far a point is from the recent median, in robust
standard deviations of the noise, unless it matches the same time on the previous days or a week
before.

For each point: the median of the ``recent`` points before it as the level, and the median absolute
step between consecutive points over the ``window`` points before it as the noise (a slow trend or a
daily swing does not inflate it, unlike the spread of the values). When the series is regular and
spans days, the points at the same time of day on the ``days`` previous days (and their neighbours)
give a seasonal median, and the same time a week before (for series of one point in 5 minutes or
coarser) a weekly one; a point is as surprising as the *smallest* of these distances, so a daily
peak that happens every day is not an anomaly, while a spike at a quiet hour is. The spread has a
floor (a slow average of the spread itself, and the mean absolute deviation when the MAD is 0, as
for counts that are mostly 0), so a series that was flat for an hour does not alarm on its first
ordinary wiggle.

Vectorised over a batch (a sliding window view of the history plus the batch); the state is the last
``window + days * period`` values and two numbers.
"""

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from medic.detect.core import FloatArray, StreamDetector, decode_array, encode_array

__all__ = ["LevelDetector", "daily_period"]

_DAY = 86400.0
_MAX_PERIOD = 1440  # one point a minute; finer series scan without the seasonal part
_MAX_WEEKLY = 288  # one point in 5 minutes: the weekly reference keeps at most 2,017 values


def daily_period(t: FloatArray) -> int:
    """Points per day when the series is regular (the median step divides a day), else 0."""
    if t.shape[0] < 3:
        return 0
    step = float(np.median(np.diff(t[:1000])))
    if step <= 0 or step > _DAY / 4:
        return 0
    per = _DAY / step
    p = round(per)
    if abs(per - p) > 0.01 * per or p > _MAX_PERIOD:
        return 0
    return p


class LevelDetector(StreamDetector):
    kind: ClassVar[str] = "level"

    def __init__(
        self,
        *,
        window: int = 65,
        recent: int = 9,
        days: int = 3,
        long: int = 1000,
        block: int = 50,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.long = long
        self.block = block
        self.window = window | 1  # odd, so the medians are one element
        self.recent = min(recent | 1, self.window)
        self.days = days
        self.period = -1  # unknown until the first timed batch
        self._hist = np.zeros(0)
        self._slow = 0.0  # slow average of the spread (the floor's memory)

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        w = self.window
        if self.period < 0:
            self.period = daily_period(t)
        hist = self._hist
        if hist.shape[0] < w:  # the very first batch: pad with the first value (warm-up hides it)
            hist = np.concatenate([np.full(w - hist.shape[0], x[0]), hist])
        n0 = hist.shape[0]
        e = np.concatenate([hist, x])
        b = x.shape[0]
        win = sliding_window_view(e, w)[n0 - w : n0 - w + b]
        r = self.recent
        recent = win[:, w - r :]
        med = np.partition(recent, r // 2, axis=1)[:, r // 2]
        # the noise, from the steps between points: a slow trend or daily swing does not inflate it
        steps = np.abs(np.diff(win, axis=1))
        k = (w - 1) // 2
        spread = np.partition(steps, k, axis=1)[:, k] * 1.0484
        spread = np.where(spread > 0, spread, steps.mean(axis=1) * 0.8862)
        floor = self._floors(spread)
        scale = np.maximum(spread, floor)
        scale = np.maximum(scale, 1e-9 * (1.0 + np.abs(med)))
        z = np.abs(x - med) / scale
        p = self.period
        if p > 0 and self.days > 0:
            z = np.minimum(z, self._seasonal(e, n0, x, scale))
        z = np.maximum(z, self._range(e, n0, x))
        back = 7 * p if self._weekly() else self.days * p
        keep = max(w + (back + 1 if p > 0 else 0), self._span() + self.block)
        self._hist = e[-keep:].copy()
        return z

    def _span(self) -> int:
        return int(min(max(self.long, 1.2 * self.period), 3 * self.long))

    def _range(self, e: FloatArray, n0: int, x: FloatArray) -> FloatArray:
        """How far outside the long-run range (the 1st to 99th percentile of the last ``long``
        points, or a day and a bit) a point lies, in that range's standard deviations. The
        percentiles are taken once per ``block`` points, from the points before the block (aligned
        on the series' count, so batching does not change them)."""
        out = np.zeros_like(x)
        span = self._span()
        seen = self.seen
        start = 0
        while start < x.shape[0]:
            into = (seen + start) % self.block
            stop = min(x.shape[0], start + self.block - into)
            edge = n0 + start - into  # the block's first point: the range is of the points before it
            past = e[max(0, edge - span) : edge]
            if past.shape[0] >= self.window:
                m = past.shape[0] - 1
                ends = np.partition(past, (m // 100, m - m // 100))
                lo, hi = float(ends[m // 100]), float(ends[m - m // 100])
                sd = max((hi - lo) / 4.653, 1e-9 * (1.0 + abs(hi)))
                seg = x[start:stop]
                out[start:stop] = np.maximum(seg - hi, lo - seg).clip(min=0.0) / sd * 3.0
            start = stop
        return out

    def _floors(self, spread: FloatArray) -> FloatArray:
        """A quarter of the slow average of past spreads (per point, from the points before)."""
        a = 0.005
        s = self._slow
        out = np.empty_like(spread)
        for i, v in enumerate(spread.tolist()):
            out[i] = 0.25 * s
            s = v if s == 0.0 else s + a * (v - s)
        self._slow = s
        return out

    def _seasonal(self, e: FloatArray, n0: int, x: FloatArray, scale: FloatArray) -> FloatArray:
        p = self.period
        b = x.shape[0]
        idx = np.arange(n0, n0 + b)
        z = np.full(b, np.inf)
        refs = [[-m * p + o for m in range(1, self.days + 1) for o in (-1, 0, 1)]]
        if self._weekly():
            refs.append([-7 * p - 1, -7 * p, -7 * p + 1])
        for ref in refs:
            cand_idx = idx[:, None] + np.array(ref)[None, :]
            ok = cand_idx.min(axis=1) >= 0
            cand = e[np.clip(cand_idx, 0, None)]
            k = cand.shape[1] // 2
            smed = np.partition(cand, k, axis=1)[:, k]
            z = np.minimum(z, np.where(ok, np.abs(x - smed) / scale, np.inf))
        return z

    def _weekly(self) -> bool:
        return 0 < self.period <= _MAX_WEEKLY

    @property
    def min_history(self) -> int:
        return self.window + 1

    def _state(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "recent": self.recent,
            "long": self.long,
            "block": self.block,
            "days": self.days,
            "period": self.period,
            "slow": self._slow,
            "hist": encode_array(self._hist),
        }

    def _restore(self, own: dict[str, Any]) -> None:
        self.window = int(own["window"])
        self.recent = int(own["recent"])
        self.long = int(own["long"])
        self.block = int(own["block"])
        self.days = int(own["days"])
        self.period = int(own["period"])
        self._slow = float(own["slow"])
        self._hist = decode_array(own["hist"])
