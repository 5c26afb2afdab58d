"""Rhythm: a series that repeats every so many points (a cron job every 15 minutes, a batch every
hour), and breaks its rhythm: a run that does not come, or runs where none was due. Neither sits
away from the recent level for long nor makes a shape the series has not shown (a run that did not
come is the quiet between runs; one that came early is an ordinary run), so the ensemble's parts
do not see it. It is no part of the default ensemble (a job whose runs vary in length from run to
run still alarms now and then; docs/BENCHMARKS.md): a scan may choose it (``detector: rhythm``) for
a series it fits.

The period is decided from the last ``_KEEP`` points every ``_EVERY`` points (aligned on the
series' count, so batching changes nothing). An *edge* is the first of a run of steps over
``_EDGE`` step noises; the period is the shortest lag, from ``_MIN_P`` points to half a day (a
day's own rhythm is the level part's) and to 146 points (six cycles in the window), at which
``_RECUR`` of the edges that could (at least ``_EDGES``) have an edge that lag before them, within
a point, in most of the cycles; and it is kept only if the window's own cycles would not alarm
(nine in ten). A series whose edges do not recur that exactly (noise, spikes at random, a burst of
noise, a sawtooth whose resets come a little earlier or later each time) has no period, and the
detector is silent: no series of the developers' classic, ops or field suites has one.

With a period ``P``, a point's surprise is its distance from the same place in each of the last
``_CYCLES`` cycles (the nearest of that place and a point either side that is not missing), the
median over the cycles, each value taken from its cycle's level (the median of the cycle before
it), so a level that moved is news once and not for three cycles; in units of how much the cycles
differ at that place (the three compared, and nine in ten of the window's cycles) or the step
noise, the largest: a job whose load varies from run to run is as ordinary as ever. The smaller of
a point's and the point before it's counts, or what one point alone is off by beyond ``_ONE``
units: one point off is mostly an outlier of the noise. So a run of one or two points that does
not come is not found (the point beside it is a place either side). Not calibrated: its unit is
its own spread already. The state is the last ``_KEEP`` values, the period, its noise and the
spread at each place of the cycle.
"""

import math
import warnings
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from medic.detect.core import (
    FloatArray,
    StreamDetector,
    decode_array,
    encode_array,
    points_a_day,
    step_noise,
)

__all__ = ["RhythmDetector", "period_of"]

_KEEP = 1024  # points kept
_EVERY = 500  # the period is decided again every this many points
_MIN_P = 4  # the shortest period: a window of the k-NN part sees shorter ones
_CYCLES = 3  # cycles a point is compared with
_EDGE = 5.0  # an edge: a step of this many step noises
_RECUR = 0.8  # a period: this share of the edges recur one period later, within a point
_ONE = 4.0  # step noises a point alone must be off by before it counts (see ``_off_rhythm``)
# cycles a place's spread is measured over, at least: so periods up to a seventh of the window (146
# points), whose oldest compared cycle and the cycle before it are kept (batching changes nothing)
_SPREAD_CYCLES = 6
_SELF = 3.0  # a period is kept only where 9 cycles in 10 of the window it was decided from keep it
_EDGES = 4  # ... of at least this many that could (two runs: a rise and a fall each)


def _step_noise(v: FloatArray) -> float:
    """``step_noise`` of ``v``'s steps between points neither of which is missing (0: none)."""
    steps = np.abs(np.diff(v))
    steps = steps[np.isfinite(steps)]
    return float(step_noise(steps)) if steps.shape[0] else 0.0


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
        # how much the cycles of the window the period was decided from differ at each place of
        # the cycle (a robust standard deviation), and the place of the series' point 0 in it
        self._phase_sd = np.zeros(0)
        self._anchor = 0

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        x = np.where(self.gaps, np.nan, x) if self.gaps.shape[0] == x.shape[0] else x
        b = x.shape[0]
        n0 = self._hist.shape[0]
        e = np.concatenate([self._hist, x])
        out = np.full(b, np.nan)  # NaN: no evidence (no period, or a cycle missing)
        day = points_a_day(self._step) if self._step > 0 else 0
        pos = 0
        while pos < b:
            if (self.seen + pos) % _EVERY == 0:
                self._decide(e[: n0 + pos][-_KEEP:], day, self.seen + pos)
            stop = min(b, pos + _EVERY - (self.seen + pos) % _EVERY)
            if self._period:
                out[pos:stop] = self._off_rhythm(e, n0 + pos, n0 + stop, self.seen - n0)
            pos = stop
        self._hist = e[-_KEEP:].copy()
        self._unready = np.isnan(out)  # no evidence: 0, as before the series' first points
        z: FloatArray = np.nan_to_num(out, nan=0.0)
        return z

    def _decide(self, v: FloatArray, day: int, end: int) -> None:
        """The period from the points before (``v``; ``end``: the series' place after them): half a
        day at most (not the day itself), with ``_SPREAD_CYCLES`` cycles and one in ``v``."""
        longest = v.shape[0] // (_SPREAD_CYCLES + 1)
        self._period, self._noise = period_of(v, min(day // 2, longest) if day > 0 else longest)
        p = self._period
        self._phase_sd, self._anchor = np.zeros(p), 0
        if p:  # each place's spread over the window's cycles (``end``: the place after the window)
            k = v.shape[0] // p
            rel = self._from_level(v, np.arange(v.shape[0] - (k - 1) * p, v.shape[0])).reshape(k - 1, p)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a place missing in every cycle
                # nine cycles in ten (a run that lasts a point longer now and then widens it there)
                far = np.nanquantile(np.abs(rel - np.nanmedian(rel, axis=0)), 0.9, axis=0) / 1.645
            self._phase_sd = np.nan_to_num(far, nan=0.0)
            self._anchor = (end - (k - 1) * p) % p  # the place (mod p) of the first of those points
        if p and v.shape[0] > 4 * p + 3:  # a rhythm its own past keeps: its cycles would not alarm
            z = self._off_rhythm(v, 4 * p + 3, v.shape[0], end - v.shape[0])
            k = z.shape[0] // p
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a cycle all missing
                worst = np.nanmax(z[: k * p].reshape(k, p), axis=1)  # each cycle's largest surprise
            if k and not np.nanquantile(worst, 0.9) <= _SELF:  # (NaN: no cycle to go by)
                self._period = 0

    def _off_rhythm(self, e: FloatArray, lo: int, hi: int, origin: int) -> FloatArray:
        """Each point's (``e[lo:hi]``; ``origin``: the series' place of ``e[0]``) distance from the
        same place in its last cycles: the median over the cycles of the nearest of that place and
        a point either side that is not missing (the larger of two where a cycle has none there;
        NaN where two have none), each value taken from its cycle's level (the median of the cycle
        before it, so a level that moved is news once, not for as many cycles as the point is
        compared with), in units of how much the cycles differ there: the three compared (the
        median of their pairwise differences over the square root of 2), the cycles of the window
        the period was decided from (``_phase_sd``), and the step noise, the largest. A job whose
        load or length varies from run to run is as ordinary as ever; a run that does not come is
        far from cycles that agree."""
        p = self._period
        idx = np.arange(lo - 1, hi)  # (and the point before lo: see below)
        ref = idx[:, None, None] - p * np.arange(1, _CYCLES + 1)[None, :, None] + np.array([-1, 0, 1])
        then = self._from_level(e, ref)
        now = self._from_level(e, idx)
        with np.errstate(invalid="ignore"):
            dist = np.fmin.reduce(np.abs(then - now[:, None, None]), axis=2)  # the nearest not missing
            ranked = np.sort(dist, axis=1)  # NaN last: a cycle missing there (or not kept)
            med = np.where(np.isfinite(ranked[:, 1]), ranked[:, 1], np.nan)  # of three; the larger of two
            at = then[:, :, 1]  # the cycles at the place itself
            apart = np.abs(at[:, [0, 0, 1]] - at[:, [1, 2, 2]])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # no two cycles there: the noise
                unit = np.fmax(np.nanmedian(apart, axis=1) / math.sqrt(2.0), self._noise)  # per value
            if self._phase_sd.shape[0] == p:  # ... and how much the cycles differed there when decided
                place = (origin + idx - self._anchor) % p
                unit = np.fmax(unit, self._phase_sd[place])
            z = med / unit
        # the smaller of the point's and the one's before it: a run that did not come (or came
        # early) is off for two points or more, where one point off is mostly an outlier of the
        # noise, which the other parts weigh (a 4-sigma one scored 0.4 here, alone); one point
        # counts for what it is off by beyond ``_ONE`` units
        out: FloatArray = np.fmax(np.fmin(z[1:], z[:-1]), z[1:] - _ONE)
        return out

    def _from_level(self, e: FloatArray, at: NDArray[np.int64]) -> FloatArray:
        """``e`` at the places ``at``, each less its cycle's level: the median of the cycle before
        it (of about 32 of its points; NaN where a place or its whole cycle is missing, or not
        kept)."""
        p = self._period
        every = max(1, p // 32)
        cycle = at[..., None] - p + np.arange(0, p, every)
        ok = cycle >= 0
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a cycle all missing: no level
            level = np.nanmedian(np.where(ok, e[np.clip(cycle, 0, None)], np.nan), axis=-1)
        out: FloatArray = np.where(at - p >= 0, e[np.clip(at, 0, None)] - level, np.nan)
        return out

    @property
    def min_history(self) -> int:
        return 0

    def _state(self) -> dict[str, Any]:
        return {
            "hist": encode_array(self._hist),
            "period": self._period,
            "noise": self._noise,
            "phase_sd": encode_array(self._phase_sd),
            "anchor": self._anchor,
        }

    def _restore(self, own: dict[str, Any]) -> None:
        self._hist = decode_array(own["hist"])
        self._period = int(own["period"])
        self._noise = float(own["noise"])
        self._phase_sd = decode_array(own["phase_sd"]) if "phase_sd" in own else np.zeros(0)
        self._anchor = int(own.get("anchor", 0))
