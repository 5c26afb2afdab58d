"""Rhythm: a series that repeats every so many points, up to half a day (a cron job every 15
minutes, a batch every hour, a backup every 6 hours), and breaks its rhythm: a run that does not
come, or runs where none was due. Neither sits away from the recent level for long nor makes a
shape the series has not shown (a run that did not come is the quiet between runs; one that came
early is an ordinary run), so the other parts of the ensemble do not see it; this part stands
beside them, as ``still`` does.

The period is decided from the last ``_KEEP`` points every ``_EVERY`` points (aligned on the
series' count, so batching changes nothing). An *edge* is the first of a run of steps over
``_EDGE`` step noises; the period is the shortest lag, from ``_MIN_P`` points to half a day (a
day's own rhythm is the level part's), at which ``_RECUR`` of the edges that could (at least
``_EDGES``) have an edge that lag before them, within a point, in most of the cycles. A series
whose edges do not recur that exactly (noise, spikes at random, a burst of noise, a sawtooth whose
resets come a little earlier or later each time) has no period, and this part is silent: on the
developers' classic, ops and field suites, no series has one.

With a period ``P``, a point's surprise is its distance from the same place in each of the last
``_CYCLES`` cycles (the nearest of that place and a point either side that is not missing), the
median over the cycles, in step noises, each value taken from its cycle's level (the median of the
cycle before it), so a level that moved is news once and not for three cycles. A run that does not
come is far from every cycle before it; one earlier cycle that broke is outvoted by the others.
The smaller of a point's and the point before it's counts, or what one point alone is off by
beyond ``_ONE`` noises: one point off is mostly an outlier of the noise, which the other parts
weigh. Not calibrated: its unit is the step noise already, and its ordinary values are small. The
state is the last ``_KEEP`` values, the period and its step noise.
"""

import warnings
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from medic.detect.core import FloatArray, StreamDetector, decode_array, encode_array, points_a_day

__all__ = ["RhythmDetector", "period_of"]

_KEEP = 1024  # points kept: periods up to a third of it
_EVERY = 500  # the period is decided again every this many points
_MIN_P = 4  # the shortest period: a window of the k-NN part sees shorter ones
_CYCLES = 3  # cycles a point is compared with
_EDGE = 5.0  # an edge: a step of this many step noises
_RECUR = 0.8  # a period: this share of the edges recur one period later, within a point
_ONE = 4.0  # step noises a point alone must be off by before it counts (see ``_off_rhythm``)
_EDGES = 4  # ... of at least this many that could (two runs: a rise and a fall each)


def _step_noise(v: FloatArray) -> float:
    """The median absolute step between points neither of which is missing, as a standard
    deviation (the mean absolute step where the median is 0, as for a count mostly at one value)."""
    steps = np.abs(np.diff(v))
    steps = steps[np.isfinite(steps)]
    if steps.shape[0] == 0:
        return 0.0
    noise = float(np.median(steps)) * 1.0484
    return noise if noise > 0 else float(steps.mean()) * 0.8862


def period_of(v: FloatArray, longest: int) -> tuple[int, float]:
    """The period of ``v`` (NaN: missing) in points, from ``_MIN_P`` to ``longest``, and its step
    noise; ``(0, noise)`` when it has none. An edge is the first of a run of steps over ``_EDGE``
    step noises; the period is the shortest lag at which ``_RECUR`` of the edges that could (at
    least ``_EDGES``) have an edge that lag before them, within a point, and edges are in most of
    the cycles (a burst of noise has edges that recur at short lags, there only); of that lag and
    the next two, the one at which the most recur exactly."""
    noise = _step_noise(v)
    n = v.shape[0]
    longest = min(longest, n // _CYCLES)
    if noise <= 0 or not np.isfinite(noise) or longest < _MIN_P:
        return 0, noise
    with np.errstate(invalid="ignore"):
        steep = np.abs(np.diff(v)) > _EDGE * noise
    edge = steep & ~np.concatenate([[False], steep[:-1]])
    count = int(edge.sum())
    if count < _EDGES:
        return 0, noise
    e = edge.astype(np.float64)
    near = np.convolve(e, np.ones(3), "same").clip(max=1.0)  # an edge within a point
    size = 1 << int(2 * e.shape[0] - 1).bit_length()
    fe = np.fft.rfft(e, size)
    exact = np.fft.irfft(fe * np.conj(fe), size)[: longest + 3]  # edges with one a lag before them
    within = np.fft.irfft(fe * np.conj(np.fft.rfft(near, size)), size)[: longest + 1]  # ... within a point
    lags = np.arange(_MIN_P, longest + 1)
    could = count - np.cumsum(edge)[lags]  # the edges more than a lag in
    at = np.flatnonzero(edge)  # (in order)
    cycles = 1 + (np.diff(at[None, :] // lags[:, None], axis=1) > 0).sum(axis=1)  # with an edge, per lag
    ok = np.zeros(longest + 3, dtype=np.bool_)
    ok[lags] = (could >= _EDGES) & (within[lags] >= _RECUR * could - 0.5) & (cycles >= 0.75 * (n // lags))
    for first in np.flatnonzero(ok).tolist():  # within a point of the period: of it and the next two,
        lag = first + int(np.argmax(exact[first : first + 3]))  # the lag at which the most recur exactly,
        if ok[lag]:  # if edges recur there too (runs 5 apart and 7 apart recur at 6, within a point)
            return lag, noise
    return 0, noise


class RhythmDetector(StreamDetector):
    kind: ClassVar[str] = "rhythm"
    calibrates: ClassVar[bool] = False  # in step noises already; its ordinary values are small

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._hist = np.zeros(0)  # the last ``_KEEP`` values (NaN: missing)
        self._period = 0
        self._noise = 0.0

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        x = np.where(self.gaps[: x.shape[0]], np.nan, x) if self.gaps.shape[0] == x.shape[0] else x
        b = x.shape[0]
        n0 = self._hist.shape[0]
        e = np.concatenate([self._hist, x])
        out = np.full(b, np.nan)  # NaN: no evidence (no period, or a cycle missing)
        day = points_a_day(self._step) if self._step > 0 else 0
        pos = 0
        while pos < b:
            if (self.seen + pos) % _EVERY == 0:
                self._decide(e[: n0 + pos][-_KEEP:], day)
            stop = min(b, pos + _EVERY - (self.seen + pos) % _EVERY)
            if self._period:
                out[pos:stop] = self._off_rhythm(e, n0 + pos, n0 + stop)
            pos = stop
        self._hist = e[-_KEEP:].copy()
        self._unready = np.isnan(out)  # no evidence: 0, as before the series' first points
        z: FloatArray = np.nan_to_num(out, nan=0.0)
        return z

    def _decide(self, v: FloatArray, day: int) -> None:
        """The period from the points before (``v``): half a day at most, and not the day itself."""
        longest = day // 2 if day > 0 else _KEEP
        self._period, self._noise = period_of(v, longest)

    def _off_rhythm(self, e: FloatArray, lo: int, hi: int) -> FloatArray:
        """Each point's (``e[lo:hi]``) distance from the same place in its last cycles, in step
        noises: the median over the cycles of the nearest of that place and a point either side
        that is not missing (the larger of two where a cycle has none there; NaN where two have
        none). Each value is taken from its cycle's level (the median of the cycle before it), so
        a level that moved is news once, not for as many cycles as the point is compared with."""
        p = self._period
        first = max(lo - 1 - _CYCLES * p - 1, 0)  # the cycles of the point before lo too
        span = e[max(first - p, 0) : hi]
        every = max(1, p // 32)  # the cycle's level from 32 of its points or so
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a cycle all missing: no level
            cyc = sliding_window_view(span, p)[:, ::every]
            level = np.full(hi - first, np.nan)
            got = np.nanmedian(cyc[: span.shape[0] - p], axis=1) if span.shape[0] > p else np.zeros(0)
            level[hi - first - got.shape[0] :] = got  # level[j]: of the cycle before e[first + j]
        rel = e[first:hi] - level
        idx = np.arange(lo - 1, hi) - first  # (and the point before: see below)
        ref = idx[:, None, None] - p * np.arange(1, _CYCLES + 1)[None, :, None] + np.array([-1, 0, 1])
        then = np.where(ref >= 0, rel[np.clip(ref, 0, None)], np.nan)
        now = np.where(idx >= 0, rel[idx.clip(min=0)], np.nan)
        with np.errstate(invalid="ignore"):
            dist = np.fmin.reduce(np.abs(then - now[:, None, None]), axis=2)  # the nearest not missing
            ranked = np.sort(dist, axis=1)  # NaN last: a cycle missing there (or not kept)
            # the median of three cycles, the larger of two (one is no evidence)
            med = np.where(np.isfinite(ranked[:, 1]), ranked[:, 1], np.nan) / self._noise
        # the smaller of the point's and the one's before it: a run that did not come (or came
        # early) is off for two points or more, where one point off is mostly an outlier of the
        # noise, which the other parts weigh (a 4-sigma one scored 0.4 here, alone); one point
        # counts for what it is off by beyond ``_ONE`` noises (a missed run one point long)
        out: FloatArray = np.fmax(np.fmin(med[1:], med[:-1]), med[1:] - _ONE)
        return out

    @property
    def min_history(self) -> int:
        return 0

    def _state(self) -> dict[str, Any]:
        return {"hist": encode_array(self._hist), "period": self._period, "noise": self._noise}

    def _restore(self, own: dict[str, Any]) -> None:
        self._hist = decode_array(own["hist"])
        self._period = int(own["period"])
        self._noise = float(own["noise"])
