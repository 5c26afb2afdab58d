"""Stillness: a value that stops changing (a stuck sensor, a scrape that keeps returning a cached
value, a gauge nobody updates any more), or all but stops (traffic gone, so a rate only trembles; a
sensor holding on to a reading), is an anomaly no departure test sees, since the value sits where
the series was, and a flat window is nearer to noisy ones than they are to each other.

A step is a *rest* when it is under 0.3 times the geometric mean of the series' steps that moved
(for Gaussian noise, a fifth of the mean absolute step: one ordinary step in ten; for a quantised
series that moves by one or two quanta, only a repeat). The
series' own steps say how often it rests: a two-state Markov chain over "moved" / "rested", its
two rates counted from the past points (with half a count of prior for each outcome). A run of
``r`` rests then has the probability ``p0 * q^(r-1)`` (``p0``: a step is a rest; ``q``: a rest
follows a rest), and the surprise is the standard normal deviate with that tail probability, less
half a deviate (the rates come from few runs, early on above all). A run counts only from its
second rest (one is a coincidence of rounding), and only once it is longer than every ordinary
run the series completed before (a counter that is often 0 for an hour is not stuck after half an
hour of 0), and only in a series that has moved at least 20 times (an error counter that has
always been 0 is not stuck), and, in a series with days, only where it had not rested at least
half as long within an hour of this time the day before (a counter idle every night is not stuck
every night, even when its rest starts a little earlier or later). A missing point neither
extends nor ends a run: the value after it is compared with the last one before it (a stuck value
whose scrape failed now and then was reported again after each failure, as a new run).
The geometric mean is slow (about the last 2,000 steps that moved) and in logs, so one glitch is
one more step: a mean absolute step took in an exporter's 1e19, or a series' first jump from 0 to
1,000, and every step after it was a rest for good. The steps of a run that is already an anomaly
are left out of it (a long outage that trembles lowered the bar, and a second one was missed).

Not calibrated against the series' typical surprise: it is mostly 0, and its scale is already a
probability. The counts take in a run only when it ends, and only if it was not itself an anomaly
(a surprise under 5): the chance of a run is judged by the steps before it, and a stuck stretch
does not teach the detector that stuck stretches are normal. A rest that recurs does: when a run
that was reported ends, and the last 8 runs reported within a day were each at least half as long,
its length becomes an ordinary one (a queue drained between batches at a 30 s step, with no day
to excuse its rests, was reported at every rest, for ever); a value frozen once, or now and then,
is still found (its length is not learned, nor counted into the chain's rates). The state is
seven counters, the last value, the typical step, the last 8 reported runs (their last place and
length) and each point's run length over the last day and an hour.
"""

import math
from typing import Any, ClassVar

import numpy as np

from medic.detect.core import (
    FloatArray,
    StreamDetector,
    decode_array,
    encode_array,
    normal_deviate,
    points_a_day,
)

__all__ = ["StillDetector"]

_CAP = 12.0  # a run this improbable is as stuck as it gets; a longer one adds no new report
_MOVES = 20  # changes seen before a run can surprise: a series that never moved is not stuck
_TOL = 0.3  # a step under this fraction of the steps' geometric mean is a rest (Gaussian: 1 in 10)
_MARGIN = 0.5  # deviates off a run's surprise: the chain's rates come from few runs, early on above all
_LEARN = 5.0  # a run more surprising than this (a score of 0.5) was an anomaly: it teaches nothing ...
_AGAIN = 8  # ... until this many, each at least half as long as the last, were reported within _SPAN
_SPAN = 86400.0  # seconds (a series without a step: _SPAN_POINTS points)
_SPAN_POINTS = 1440
_KEEP = 8  # the reported runs remembered (their last point's place and their length)


class StillDetector(StreamDetector):
    kind: ClassVar[str] = "still"
    calibrates: ClassVar[bool] = False

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._run = 0  # rests ending at the last point
        self._prev: float | None = None  # the last real value (None: none yet)
        self._steps = 0  # steps seen (a point with a point before it)
        self._zeros = 0  # ... of which rests
        self._after = 0  # steps that followed a rest
        self._both = 0  # ... and were rests themselves
        self._longest = 0  # the longest run completed so far
        self._day: list[int] = []  # each point's run of the last day and an hour (series with days)
        self._lmove = 0.0  # the mean log of the steps that moved (slow: the last 2,000 or so)
        self._moves = 0  # steps in it
        self._rests: list[tuple[int, int]] = []  # the last _KEEP anomalous runs: (last place, rests)

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        out = [0.0] * x.shape[0]
        prev = self._prev  # the last real value (a missing point is filled, but no value)
        run, longest = self._run, self._longest
        zeros, steps, both, after = self._zeros, self._steps, self._both, self._after
        p = points_a_day(self._step) if self._step != 0.0 else 0
        w = p // 24  # an hour either side
        undecided = self._deciding(x.shape[0])
        track = bool(p) or undecided
        day = self._day  # each point's run so far, for the last day and an hour
        lmove, moves = self._lmove, self._moves
        bar = _TOL * math.exp(lmove) if moves else 0.0  # a step up to this is a rest
        rests = self._rests
        span = int(_SPAN / self._step) if self._step > 0.0 else _SPAN_POINTS
        for i, (v, gap) in enumerate(zip(x.tolist(), self.gaps.tolist(), strict=True)):
            if gap:  # a missing point: the run neither grows nor ends (a failed scrape is no change)
                if track:
                    day.append(run)
                continue
            valid = prev is not None
            step = abs(v - prev) if valid else 0.0
            still = valid and step <= bar
            dev = 0.0  # the surprise of the run this rest belongs to, when it can surprise at all
            if still:
                run += 1
                if run >= 2 and steps - zeros >= _MOVES:
                    dev = normal_deviate(_minus_log_p(run, zeros, steps, both, after))
            # the typical step: in logs, so a glitch of 1e19 is one more step; not inside a run
            # already an anomaly (an outage that trembles would lower the bar for the next)
            if 0.0 < step < math.inf and dev < _LEARN:
                moves += moves < 2000
                lmove += (math.log(step) - lmove) / moves
                bar = _TOL * math.exp(lmove)
            if still:
                if dev > 0.0 and run > longest and not _rested(day, p, w, run):
                    out[i] = min(max(dev - _MARGIN, 0.0), _CAP)
            elif run > 0:  # the run ended: unless it was an anomaly, it is part of the normal now
                if normal_deviate(_minus_log_p(run, zeros, steps, both, after)) < _LEARN:
                    longest = max(longest, run)
                    zeros, steps = zeros + run, steps + run + valid
                    both, after = both + run - 1, after + run - 1 + valid
                elif run > longest and steps - zeros >= _MOVES and not _rested(day, p, w, run):
                    # a run reported: its length becomes normal when it recurs (a queue drained
                    # between batches), unlike a value frozen once or now and then
                    at = self.seen + i
                    if sum(1 for a, r in rests if a > at - span and 2 * r >= run) >= _AGAIN - 1:
                        longest = max(longest, run)
                    rests = [*rests, (at, run)][-_KEEP:]
                run = 0
            elif valid:
                steps += 1
            if track:
                day.append(run if still else 0)
            prev = v
        self._prev = prev
        self._run, self._longest = run, longest
        self._zeros, self._steps, self._both, self._after = zeros, steps, both, after
        self._lmove, self._moves = lmove, moves
        self._rests = rests
        self._day = day[-(p + w + 1) :] if p else (day if undecided else [])
        return np.asarray(out, dtype=np.float64)

    def _state(self) -> dict[str, Any]:
        return {
            "run": self._run,
            "prev": self._prev,
            "steps": self._steps,
            "zeros": self._zeros,
            "after": self._after,
            "both": self._both,
            "longest": self._longest,
            "lmove": self._lmove,
            "moves": self._moves,
            "day": encode_array(np.asarray(self._day, dtype=np.float64), "<u4"),
            "rests": [[a, r] for a, r in self._rests],
        }

    def _restore(self, own: dict[str, Any]) -> None:
        self._run = int(own["run"])
        # a state saved before the last real value was kept: the last value, unless it was missing
        # (filled, and then the step after it did not count)
        last = self._last if math.isfinite(self._last) and not own.get("gap", False) else None
        prev = own.get("prev", last)
        self._prev = None if prev is None else float(prev)
        self._steps = int(own["steps"])
        self._zeros = int(own["zeros"])
        self._after = int(own["after"])
        self._both = int(own["both"])
        self._longest = int(own["longest"])
        self._moves = int(own.get("moves", 0))
        if "lmove" in own:
            self._lmove = float(own["lmove"])
        else:  # a state whose typical step was a mean (E|d| = 1.128 s) or none: as a geometric one
            move = float(own.get("move", 0.0))
            self._lmove = math.log(move) - 0.408 if move > 0 else 0.0
            self._moves = self._moves if move > 0 else 0
        self._day = [int(v) for v in decode_array(own["day"])] if "day" in own else []
        self._rests = [(int(a), int(r)) for a, r in own.get("rests", [])]


def _rested(day: list[int], p: int, w: int, run: int) -> bool:
    """Whether the day before, within an hour of this time, the series rested half as long."""
    return bool(p) and len(day) >= p + w and 2 * max(day[-p - w : len(day) - p + w + 1]) >= run


def _minus_log_p(run: int, zeros: int, steps: int, both: int, after: int) -> float:
    """-log of the chance of ``run`` rests in a row, by the counts before the run (half a
    count of prior for each outcome)."""
    p0 = (zeros + 0.5) / (steps + 1.0)
    q = (both + 0.5) / (after + 1.0)
    return -(math.log(p0) + (run - 1) * math.log(q))
