"""Silence: a count that falls to nothing (a service that stopped logging, a job that stopped
taking work) where nothing was nearly impossible.

The other parts see such a fall late. A count over a window (``count_over_time(...[5m])`` at a
minute's step) falls over the window's length, so the level part's recent median follows it down and
its last step to 0 is a few noises; the k-NN part has seen low windows at night; ``still`` waits for a
run of 0 longer than every run of repeats the series had. A service logging 3 error lines a minute
was found 25 minutes after it fell silent, one logging 0.3 a minute 31-41 (``bench.loki_sparse
--scenario silence``). Yet what a count of 0 means is known in closed form: under a count of mean
``m`` (variance ``v``: a negative binomial where the counts vary more than a Poisson count would, as
bursty errors do) a 0 has the chance ``p0 = exp(-m)``, or ``(1 + m/k)^-k`` with ``k = m^2/(v - m)``.
A run of ``r`` zeros is that many points with no count in them; a window of ``L`` points shares
``L - 1`` of them with the point before, so ``r`` zeros are ``1 + (r - 1) / L`` windows' worth of
nothing: the chance ``p0^(1 + (r - 1)/L)``. ``L`` is read from the series itself: the variance of its
values over half the mean square of its steps (independent points: 1; a sum over ``w`` points: ``w``),
1 to 60.

``Silence`` keeps the mean and the step variance of the counts over about an hour of points
(``_LOCAL``) and the window ``L`` over about a day, as they were before the run (a run teaches nothing
while it lasts), and each point of a run of zeros gets the normal deviate of its chance, less half a
deviate (the level comes from an hour), at most ``_CAP``; a run's evidence grows over its first hour of
points only (a rate that fades for the night is no "impossible" 0 because the evening's level held
for hours). A run counts only after ``_WARM`` counts; not where, the day before within an hour of this
time, the series was in a run of zeros at least half as long as this one so far, measured from that
run's own first zero (a job idle every night is silent on its first night only; a run is never its
own day before); and not once ``_AGAIN`` runs at least half as long were anomalies within a day (a
queue at 0 between batches). When a run ends it becomes part of the usual counts unless it was an
anomaly (a surprise of 5 or more: an outage teaches nothing). Only series whose values are whole
numbers of a grain counted from 0 and never below it get one (the ensemble decides, with the grain);
it drops itself for good at a value off its grain or below 0. The state is a dozen numbers, the last
anomalous runs and a bit a point for the last day and an hour (docs/anomaly.md, "Silence").
"""

import dataclasses
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medic.detect.core import FloatArray, decode_array, encode_array, normal_deviate

__all__ = ["Silence"]

_LOCAL = 60.0  # points the level before a run weighs (an hour at one a minute), and a run's evidence
_SPAN = 1440.0  # points the window's length is read over (a day at one a minute)
_WARM = 60  # counts taken before a run can surprise
_LEARN = 5.0  # a run more surprising than this was an anomaly: it is not taken into the counts
_MARGIN = 0.5  # deviates off a run's surprise: its level is an hour's estimate
_CAP = 12.0  # a run this improbable is as silent as it gets
_WINDOW = 60.0  # the longest window (in points) a count is read as summing over
_AGAIN = 3  # anomalous runs of zeros at least half as long within a day: zeros are this series' way
_KEEP = 16  # the anomalous runs remembered (their last place and length)
_DAY_POINTS = 1440  # a day, for a series whose day is no whole number of points


def _whole(k: float) -> bool:
    return abs(k - round(k)) <= 1e-6 * abs(k) + 1e-6


@dataclasses.dataclass
class Silence:
    """The usual count of a series of counts over about an hour and each zero's surprise under it.
    ``place``: the series' next point (points replayed are not counted twice). ``valid`` turns false
    for good at a value off the grain or below 0: the series is no count."""

    grain: float
    place: int
    mean: float = 0.0
    half: float = 0.0  # half the mean square step (a count's own variance where points are independent)
    n: int = 0  # counts taken: plain means until _LOCAL (_SPAN), then weighted
    day_var: float = 0.0  # over about a day: the counts' variance about their recent mean, ...
    day_half: float = 0.0  # ... and half their mean square step (their ratio: the window ``L``)
    last: float | None = None  # the last count taken
    run: int = 0  # zeros in a row up to the last point
    worst: float = 0.0  # the run's largest surprise so far
    valid: bool = True
    runs: list[list[int]] = dataclasses.field(default_factory=list)  # anomalous runs: [last place, zeros]
    # each point of the last day and an hour in a run of zeros (1) or not (a missing point as the one
    # before it), and the run's length up to the first of them (a night's run began before the record)
    zero: list[int] = dataclasses.field(default_factory=list)
    base: int = 0
    # the last point's surprise as a point of a run of zeros, 0 where the day before or the series' way
    # excuses it (what a scan asks: is this series' silence unusual now?)
    unusual: float = 0.0
    ordinary: bool = (
        False  # the run of zeros now (3 or more) is one the day before or the series' way excuses
    )

    def surprise(self, x: FloatArray, first: int, per_day: int) -> FloatArray:
        """Each point's surprise as a point of a run of zeros (0 for any other point, and from the
        point where the series stops being a count). ``first``: the place of ``x[0]`` in the series;
        ``per_day``: its points a day (0: no day is known)."""
        out = np.zeros(x.shape[0])
        skip = max(self.place - first, 0)
        new = x[skip:]
        then = self._day_before(new, per_day)
        horizon = per_day // 24 if per_day >= 24 else int(_LOCAL)  # an hour of points
        grain = self.grain
        for i, v in enumerate(new.tolist()):
            if math.isnan(v):  # missing: the run neither grows nor ends
                continue
            k = v / grain
            if not math.isfinite(k) or k < 0 or not _whole(k):
                self.valid = False
                break
            if k == 0:
                self.run += 1
                if self.n >= _WARM:
                    dev = self._deviate(horizon)
                    self.worst = max(self.worst, dev)
                    # not where the day before, within an hour of this time, a run was half as long
                    # (measured from its own first zero: a night's run of 14 hours is as long at 02:00
                    # as its 02:00 says), nor where such runs keep coming (``_usual``)
                    at = first + skip + i
                    if dev > 0 and 2 * then[i] < self.run and not self._usual(at, per_day):
                        out[skip + i] = dev
            else:
                if self.run:
                    self._ended(first + skip + i - 1)
                self._take(round(k))
        self.place = max(self.place, first + x.shape[0])
        taken = np.flatnonzero(~np.isnan(new))  # (a missing point leaves the run, and its surprise, as was)
        if not self.run:
            self.unusual, self.ordinary = 0.0, False
        elif taken.shape[0] and self.valid:
            i = int(taken[-1])
            self.unusual = float(out[skip + i])
            # (3 zeros at least: one or two are any count's, and a sparse one's day before has as many)
            self.ordinary = self.run >= 3 and (
                2 * int(then[i]) >= self.run or self._usual(first + skip + i, per_day)
            )
        return out

    def _day_before(self, x: FloatArray, per_day: int) -> NDArray[np.int64]:
        """For each point of ``x``, the longest run of zeros (each measured from its own first zero)
        the day before, within an hour of its time (-1: no day before is known); the record of the
        last day and an hour taken on by ``x``."""
        if not per_day:
            self.zero, self.base = [], 0
            return np.full(x.shape[0], -1, dtype=np.int64)
        hour = per_day // 24
        # each new point in a run or not: a zero is, a count is not, a missing point as the one before
        known = np.isfinite(x)
        marks = np.where(known, x == 0, False)
        place = np.maximum.accumulate(np.where(known, np.arange(x.shape[0]), -1))
        last = int(self.run > 0)
        bits = np.where(place >= 0, marks[np.maximum(place, 0)], bool(last)).astype(np.int64)
        full = np.concatenate([np.asarray(self.zero, dtype=np.int64), bits])
        at = np.arange(full.shape[0])
        edge = np.maximum.accumulate(np.where(full == 0, at, -1))  # the last point in no run
        lengths = np.where(edge < 0, at + 1 + self.base, at - edge) * full
        width = 2 * hour + 1
        lo = len(self.zero) + np.arange(x.shape[0]) - per_day - hour  # each point's day before, from
        out = np.full(x.shape[0], -1, dtype=np.int64)
        fits = np.flatnonzero(lo >= 0)
        if fits.shape[0]:
            from scipy import ndimage  # type: ignore[import-untyped]  # noqa: PLC0415 (loaded where needed)

            los = lo[fits]
            first = int(los[0])
            # each window's largest (centred filter, over just the span the windows cover)
            widest = ndimage.maximum_filter1d(
                lengths[first : int(los[-1]) + width], size=width, mode="nearest"
            )
            out[fits] = widest[los - first + hour]
            # a run longer than a day less an hour reaches back into its own day before: there only what
            # came before its first zero counts (compared with itself, a run of 46 hours was excused)
            own = len(self.zero) + fits
            began = own - lengths[own] + 1
            for i, start, low in zip(fits.tolist(), began.tolist(), los.tolist(), strict=True):
                if full[len(self.zero) + i] and start <= low + width - 1:
                    out[i] = int(lengths[low:start].max()) if start > low else 0
        keep = per_day + hour + 1
        if full.shape[0] > keep:
            self.base = int(lengths[full.shape[0] - keep - 1])
            full = full[-keep:]
        self.zero = full.tolist()
        return out

    def _deviate(self, horizon: int) -> float:
        """The surprise of the run so far under the counts before it: as many windows of nothing as
        its first ``horizon`` points (an hour of them) make (the level it is measured from is an
        hour's: a rate that fades for the night is not 'impossible' because the evening's held for
        hours)."""
        m = self.mean
        if m <= 0:
            return 0.0
        span = min(max(self.day_var / self.day_half, 1.0), _WINDOW) if self.day_half > 0 else 1.0
        v = span * self.half  # the counts' variance: a window of ``span`` steps' own variances
        if v <= m * 1.0001:
            nothing = m  # -log p0, Poisson
        else:
            k = m * m / (v - m)
            nothing = k * math.log1p(m / k)
        dev = normal_deviate(nothing * (1.0 + (min(self.run, horizon) - 1) / span)) - _MARGIN
        return min(max(dev, 0.0), _CAP)

    def _usual(self, now: int, per_day: int) -> bool:
        """Whether ``_AGAIN`` runs at least half as long that were anomalies ended within the last day
        (a queue drained now and then: being at 0 is this series' way, whatever its level before
        says; runs of zeros at a low level, at night, were not anomalies and do not count)."""
        since = now - (per_day or _DAY_POINTS)
        return sum(1 for end, zeros in self.runs if end > since and 2 * zeros >= self.run) >= _AGAIN

    def _ended(self, end: int) -> None:
        """A run ended (its last zero at ``end``): its zeros become usual counts, unless it was an
        anomaly, which is remembered instead (one that recurs is no anomaly, see ``_usual``)."""
        if self.worst < _LEARN:
            for _ in range(self.run):
                self._take(0)
        else:
            self.runs = [*self.runs, [end, self.run]][-_KEEP:]
        self.run, self.worst = 0, 0.0

    def _take(self, k: int) -> None:
        self.n += 1
        b, slow = 1.0 / min(self.n, _LOCAL), 1.0 / min(self.n, _SPAN)
        d = k - self.mean
        self.day_var += slow * (d * d - self.day_var)
        self.mean += b * d
        if self.last is not None:
            half = 0.5 * (k - self.last) ** 2
            self.half += b * (half - self.half)
            self.day_half += slow * (half - self.day_half)
        self.last = k

    def state(self) -> dict[str, Any]:
        own = dataclasses.asdict(self)
        own["zero"] = encode_array(np.packbits(np.asarray(self.zero, dtype=np.uint8)), "<u1")
        own["bits"] = len(self.zero)
        return own

    @classmethod
    def restored(cls, own: dict[str, Any]) -> "Silence":
        own = dict(own)
        bits = int(own.pop("bits"))
        zero = np.unpackbits(decode_array(own.pop("zero")).astype(np.uint8))[:bits]
        return cls(**own, zero=zero.astype(int).tolist())
