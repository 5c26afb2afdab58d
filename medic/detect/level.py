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

Beside it, in ``side``, two tests of what did not happen. The absence test (``_absence``): where
the recent level failed at this time on each of the previous days (a daily job or peak starts
there), a point that stays at the recent level is as surprising as its distance from those days.
The course test (``_course``): where the series changed at this time on each of the previous days
and a week before as it does not at other times, a change over the last hour (or four) that falls
short of all of them, however gradual the change is (a morning rise that never came: the value
stays at its recent level, and a rise over hours never fails the recent level by much). Both are
weighed by how well the days agree at this time. The course test needs a week before (a series'
first weekend is not a day that did not come), matches the days within an hour either side
(daylight saving time), and measures in at least a tenth of the days' change (a day a little
busier than the last ones is ordinary).

Vectorised over a batch (a sliding window view of the history plus the batch); the state is the last
``window + days * period`` values (a week of them for series of one point in 5 minutes or coarser)
and four of the course test's longer changes more (16 hours for a day of 96 points or more), a byte
per point of ``days * period`` for each of the two distances the absence test looks back at, the
week before (and 12 hours) as one point in 5 minutes for finer series, and a few numbers.
"""

import math
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from medic.detect.core import (
    LONG_GAP,
    FloatArray,
    StreamDetector,
    calibration,
    decode_array,
    encode_array,
    points_a_day,
    step_noise,
)

__all__ = ["LevelDetector"]

_ZR_TOP = 25.5  # distances from the recent level are kept in tenths up to this (one byte each)
_MAX_WEEKLY = 288  # one point in 5 minutes: the weekly reference keeps at most 2,017 values
# finer series: the week before (and 12 hours, for the course test), one point in 5 minutes
_WEEK_SAMPLES = 7 * _MAX_WEEKLY + 146
_REL = 0.1  # the course test's unit is at least a tenth of the days' change
_FAR = 20.0  # noises from the recent level from which a point (a glitch, a jump) is no change


def _scales(p: int) -> tuple[int, int]:
    """Points in the course test's changes for a day of ``p`` points: an hour and four hours (at
    least 4 and 16 points)."""
    return max(4, p // 24), max(16, p // 6)


def _offsets(r: int) -> list[int]:
    """Five places from ``-r`` to ``r`` (fewer when ``r`` is small): the course test's path."""
    return sorted({round(r * f) for f in (-1.0, -0.5, 0.0, 0.5, 1.0)})


def _path_distance(now: FloatArray, path: list[FloatArray]) -> FloatArray:
    """How far each of ``now`` is from the changes ``path`` (one array per place sampled), taken as
    a line through them (a change passes through the values between the ones sampled): from the
    range of its values."""
    lo, hi = np.minimum.reduce(path), np.maximum.reduce(path)
    out: FloatArray = np.maximum(np.maximum(lo - now, now - hi), 0.0)
    return out


def _window_sums(e: FloatArray, first: int, h: int) -> FloatArray:
    """The sums of the ``h`` points from each place of ``e`` (whose first value is the series'
    point ``first``; NaN where the sum cannot be made): partial sums within blocks of ``h`` aligned
    on the series' count, so each sum is made of the same parts however the series was batched,
    at the cost of a cumulative sum rather than ``h`` additions per place."""
    n = e.shape[0]
    i0 = (-first) % h  # the first place of ``e`` that begins a block
    k = -(-(n - i0) // h)  # blocks from there, the last one perhaps not whole
    out = np.full(n, np.nan)
    if n - i0 < h:
        return out
    tail = np.full(k * h, np.nan)
    tail[: n - i0] = e[i0:]
    part = np.zeros((k + 1, h + 1))  # part[j, o]: block j's first o values (a row of 0 after the last)
    np.cumsum(tail.reshape(k, h), axis=1, out=part[:k, 1:])
    j, o = np.divmod(np.arange(n - i0 - h + 1), h)  # each whole window's block and place in it
    out[i0 : n - h + 1] = (part[j, h] - part[j, o]) + part[j + 1, o]  # its block's rest, the next's start
    return out


def _middle(rows: list[FloatArray]) -> FloatArray:
    """The median of the rows, place by place (of three without sorting)."""
    if len(rows) != 3:
        out: FloatArray = np.median(np.stack(rows), axis=0)
        return out
    a, b, c = rows
    mid: FloatArray = np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))
    return mid


def _nearest(now: FloatArray, then: FloatArray, r: int) -> FloatArray:
    """The distance of each of ``now`` from the changes ``then`` within ``r`` places either side of
    the same place (``then`` is ``2 r`` longer than ``now``)."""
    b = now.shape[0]
    return _path_distance(now, [then[r + o : r + o + b] for o in _offsets(r)])


def _tenths(z: FloatArray, top: float) -> FloatArray:
    """``z`` in tenths up to ``top``, as the state keeps it (one byte each), so that a restored
    detector scores exactly as one that never stopped."""
    out: FloatArray = np.rint(np.minimum(z, top) * 10.0) / 10.0
    return out


def _known_median(rows: FloatArray) -> FloatArray:
    """The median of each row's values that are not NaN (NaN where a row has none)."""
    ordered = np.sort(rows, axis=1)  # NaN last
    count = np.count_nonzero(~np.isnan(rows), axis=1)
    lo = np.take_along_axis(ordered, np.maximum((count - 1) // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ordered, np.maximum(count // 2, 0)[:, None], axis=1)[:, 0]
    hi = np.where(count % 2 == 1, lo, hi)
    out: FloatArray = np.where(count > 0, (lo + hi) / 2.0, np.nan)
    return out


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
        self.period = -1  # unknown until the series' first timestamps decide its step
        self._hist = np.zeros(0)
        # the last points' distances from the recent level (the last of ``_hist``; tenths, to 25.5)
        self._zr = np.zeros(0)
        self._zs = np.zeros(0)  # ... and from their seasonal reference (tenths, to 25.5)
        self._slow = 0.0  # slow average of the spread (the floor's memory)
        self._seasonal_ms, self._seasonal_count = 0.0, 0  # the calibration of the absence test
        self._week = np.zeros(0)  # series finer than 5 minutes: the week before, one point in 5 minutes
        self._samples = (np.zeros(0), 0)  # ... and this batch's samples with them, and the first's number
        self._calm = 1 << 30  # places since the last outage or far point (the course test)
        self.season: tuple[FloatArray, int, int, int, int] | None = None  # the last batch's, see _surprise
        self._began: int | None = None  # the place of the series' first real value (None: none yet)

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        w = self.window
        if self.period < 0 and self._step != 0.0:  # the day follows from the step, once decided
            self.period = points_a_day(self._step)
        hist = self._hist
        if hist.shape[0] < w:  # the very first batch: pad with the first value (warm-up hides it)
            hist = np.concatenate([np.full(w - hist.shape[0], x[0]), hist])
        n0 = hist.shape[0]
        e = np.concatenate([hist, x])
        b = x.shape[0]
        if self._began is None and not self.gaps.all():  # the series' first real value
            self._began = self.seen + int(np.argmin(self.gaps))
        # where the series' own points begin in ``e``: before that, the first batch's padding and
        # missing points before its first value, carried from nothing, are no reference (a point a
        # day or a week after the start was compared with the first value, or with 0)
        own = self.seen + b if self._began is None else self._began  # the place of the first one
        start = max(n0 + own - self.seen, 0)
        win = sliding_window_view(e, w)[n0 - w : n0 - w + b]
        r = self.recent
        recent = win[:, w - r :]
        med = np.partition(recent, r // 2, axis=1)[:, r // 2]
        # the noise, from the steps between points: a slow trend or daily swing does not inflate it
        spread = step_noise(np.abs(np.diff(win, axis=1)))
        floor = self._floors(spread, self.gaps)
        scale = np.maximum(spread, floor)
        scale = np.maximum(scale, 1e-12 * (1.0 + np.abs(med)))
        z = np.abs(x - med) / scale
        stay = np.nan_to_num(z, nan=0.0)  # how far each point is from its recent level
        recent_z = _tenths(np.nan_to_num(z, nan=_ZR_TOP), _ZR_TOP)
        ezr = np.concatenate([np.zeros(n0 - self._zr.shape[0]), self._zr, recent_z])
        p = self.period
        week = p > 0 and self.days > 0 and self._sampled_week() > 0
        if p > 0 and self.days > 0:
            daily, weekly = self._seasonal(e, n0, start, x, scale)
            if week:
                weekly = self._week_before(x, scale, own)
            seasonal = np.minimum(daily, weekly)
            z = np.minimum(z, seasonal)
            known = np.isfinite(seasonal)
            seasonal_z = np.where(known, _tenths(seasonal, _ZR_TOP - 0.1), _ZR_TOP)  # 25.5: no reference
            ezs = np.concatenate([np.zeros(n0 - self._zs.shape[0]), self._zs, seasonal_z])
            # in units of the typical distance from the seasonal reference: over the whole day, and
            # at this time of day on the previous days (not of the absence's own size, which is near
            # 0 wherever nothing starts; a series quiet at night is far from its days at each rise)
            unit, self._seasonal_ms, self._seasonal_count = calibration(
                np.where(known, seasonal, 0.0),
                self._seasonal_ms,
                self._seasonal_count,
                skip_zero=True,
                skip=self.gaps,
            )
            failed, spread_then = self._absence(ezr, ezs, n0, start, x.shape[0])
            unit = unit / np.maximum(1.0, spread_then * unit)
            # a point that stays at its recent level (a job that did not run) is as surprising as its
            # distance from those days; one that left it, only by as much as it is farther from those
            # days than from its recent level (a count at a morning rise, above both, is no absence:
            # the departure test weighs it)
            absent = np.minimum(failed, np.maximum(seasonal - stay, 0.0))
            # and a daily change that did not come, however gradual (``_course``), by how well the
            # days agree here (a series whose days differ at this time, or that has no days, is far
            # from its seasonal reference at this time on each of them)
            course = self._course(e, n0, start, scale, self._since_event(stay)) / np.maximum(1.0, spread_then)
            self._side = np.where(known, np.maximum(absent * unit, course), 0.0)
            self._zs = ezs[-(self.days * p + 2) :].copy()
        outside = self._range(e, n0, start, x)
        if week:  # a series finer than 5 minutes: its range holds only a day and a bit
            outside = np.minimum(outside, weekly)  # so Monday's peak is in it only as last Monday
        z = np.maximum(z, outside)
        # the previous days (a week of them), and the course test's longer changes before them
        back = (7 if self._weekly() else self.days) * p + 4 * _scales(p)[-1] if p > 0 else 0
        keep = max(w + (back + 1 if p > 0 else 0), self._span() + self.block)
        # what the k-NN part of an ensemble may compare with (the same time on the previous days)
        self.season = (e, n0, start, p, self.days) if p > 0 and self.days > 0 else None
        self._hist = e[-keep:].copy()
        if p > 0 and self.days > 0:
            self._zr = ezr[-(self.days * p + 2) :].copy()
        elif self.days > 0 and self._deciding(b):  # kept, with no reference yet
            self._zr = ezr[-self.seen - b :].copy()
            self._zs = np.concatenate([self._zs, np.full(b, _ZR_TOP)])
        else:
            self._zr = np.zeros(0)
        return z

    def _absence(
        self, ezr: FloatArray, ezs: FloatArray, n0: int, start: int, b: int
    ) -> tuple[FloatArray, FloatArray]:
        """How far the recent level failed at this time of day on every one of the previous days
        (the smallest, over the days, of the largest distance at this time and its neighbours).
        Where a daily job or peak starts, that is large, and a point that stays at the recent level
        there is as surprising as its distance from the seasonal reference. A missing peak is not
        a departure from the recent level, so the departure test alone never sees it. Also how far
        the previous days were from their own seasonal reference at this time (the median over the
        days of the largest at this time and its neighbours)."""
        p = self.period
        idx = np.arange(n0, n0 + b)
        failed, spread = [], []
        for m in range(1, self.days + 1):
            ref = idx[:, None] - m * p + np.array([-1, 0, 1])[None, :]
            ok = ref.min(axis=1) >= start  # the series' own days, not the padding
            at = np.clip(ref, 0, None)
            failed.append(np.where(ok, ezr[at].max(axis=1), np.inf))
            then = ezs[at].max(axis=1)
            spread.append(np.where(ok & (then < _ZR_TOP), then, np.nan))  # 25.5: no reference then
        # over the days there are (none yet: no absence, and no spread to go by)
        low = np.min(np.stack(failed), axis=0)
        wide = _known_median(np.stack(spread).T)
        return np.where(np.isfinite(low), low, 0.0), np.where(np.isnan(wide), _ZR_TOP, wide)

    def _course(
        self, e: FloatArray, n0: int, start: int, scale: FloatArray, since: NDArray[np.int64]
    ) -> FloatArray:
        """The course test: how far the change over the last hour (the mean of its points less the
        mean of the hour before) falls short of the change at this time on every one of the
        previous days and a week before (or goes the other way), where those days changed here as
        they did not over the rest of the day before; the nearest of the days' changes within an
        hour either side counts (a day in local time moves an hour in UTC with daylight saving
        time). A change steeper than the days' is not counted: it is a departure the other tests
        weigh (and a clock moved makes one). In units of the largest of twice the noise of a mean
        of the change's points, twice how much the days' changes differed, and a tenth of their
        change (so a change that did not come at all is at most 10 units). The same over four hours
        (a day of ``p`` points: ``p // 24`` and ``p // 6`` points, at least 4 and 16; the hour
        either side is ``p // 24`` points), for changes slower still. A daily rise or fall that did
        not come (a holiday, traffic that never arrived, a batch window that did not run) shows
        here, however gradual; a level that shifted does not, since the days' changes stay the
        same. Before a week of history (a series' first weekend would be news) there is none; nor
        while the change's points hold values carried over an outage or a point far from its recent
        level (``since``: the places since the last of those), whose jump is no change of the day."""
        out = np.zeros(scale.shape[0])
        one = _scales(self.period)[0]
        for h in _scales(self.period):
            course = self._course_at(h, one, e, n0=n0, start=start, scale=scale)
            out = np.maximum(out, np.where(since >= 2 * h, course, 0.0))
        return out

    def _since_event(self, stay: FloatArray) -> NDArray[np.int64]:
        """The places since the last outage (the ``LONG_GAP``-th and later of missing points in a
        row) or the last point ``_FAR`` noises or more from its recent level, for each point of the
        batch (the places since the last one before it carried in the state; the missing points in
        a row before the batch, ``_missing_run``, as the shared part counts them after it)."""
        miss = self.gaps
        b = miss.shape[0]
        idx = np.arange(b)
        real = np.maximum.accumulate(np.where(miss, -1, idx))  # the last real point up to each
        run = np.where(real >= 0, idx - real, idx + 1 + self._missing_run)  # missing in a row, up to each
        event = (miss & (run >= LONG_GAP)) | (~miss & (stay >= _FAR))
        last = np.maximum.accumulate(np.where(event, idx, -1 - self._calm))
        self._calm = int(b - 1 - last[-1]) if b else self._calm
        since: NDArray[np.int64] = idx - last
        return since

    def _course_at(
        self, h: int, r: int, e: FloatArray, *, n0: int, start: int, scale: FloatArray
    ) -> FloatArray:
        """The course test over changes of ``h`` points, the nearest within ``r`` places (``e``: the
        history and the batch, which begins at ``n0``; the series' own points begin at ``start``)."""
        p, b = self.period, scale.shape[0]
        idx = np.arange(n0, n0 + b)
        # the week before first: without it there is nothing to weigh (a first weekend), and nothing
        # to compute (a series' first week, a series of fewer than 7 days)
        sampled = self._sampled_week() > 0
        reach = self._week_places(b, h, r)[1][-1] if sampled else idx[-1] - 7 * p - r - 2 * h + 1 >= start
        if not (reach and (sampled or self._weekly())):
            return np.zeros(b)
        with np.errstate(invalid="ignore", over="ignore"):
            sums = _window_sums(e, self.seen - n0, h)
            ext = self._changes(sums, n0 - p - self.block, n0 + b, h)
            now = ext[p + self.block :]
            if sampled:  # from the week's 5-minute samples
                week = self._course_week(now, h, r)
            else:  # at full resolution
                then = self._changes(sums, n0 - 7 * p - r, n0 + b - 7 * p + r, h)
                week = np.where(idx - 7 * p - r - 2 * h + 1 >= start, _nearest(now, then, r), 0.0)
            if not (week > 0.0).any():
                return np.zeros(b)
            typ = self._ordinary(ext, b)
            gaps, at = [], []
            for m in range(1, self.days + 1):
                then = self._changes(sums, n0 - m * p - r, n0 + b - m * p + r, h)
                mid = then[r : r + b]
                gap = np.minimum(_nearest(now, then, r), np.abs(mid - typ))
                gaps.append(np.where(idx - m * p - r - 2 * h + 1 >= start, gap, 0.0))
                at.append(mid)
            spread = np.maximum.reduce(at) - np.minimum.reduce(at)
            middle = _middle(at)
            unit = np.maximum(2.0 * scale / math.sqrt(h), 2.0 * spread)
            unit = np.maximum(unit, _REL * np.abs(middle))
            # a change that fell short of the days' (or went the other way), not one that passed
            # them: a steeper change is a departure the other tests weigh (and a clock moved by
            # daylight saving time makes one)
            short = np.sign(middle - typ) * (now - middle) < 0.0
            out = np.where(short, np.minimum(np.minimum.reduce(gaps), week) / unit, 0.0)
        course: FloatArray = np.nan_to_num(out, nan=0.0, posinf=0.0)
        return course

    @staticmethod
    def _changes(sums: FloatArray, lo: int, hi: int, h: int) -> FloatArray:
        """The change at each place ``lo`` to ``hi`` of the history (``hi`` at most its length):
        the mean of the ``h`` points ending there less the mean of the ``h`` before (NaN where the
        history does not reach). ``sums``: the history's sums of ``h`` points from each place."""

        def take(a: int) -> FloatArray:  # sums[a : a + hi - lo], NaN before the first
            if a >= 0:
                return sums[a : a + hi - lo]
            return np.concatenate([np.full(min(-a, hi - lo), np.nan), sums[: max(a + hi - lo, 0)]])

        out: FloatArray = (take(lo - h + 1) - take(lo - 2 * h + 1)) / h
        return out

    def _ordinary(self, ext: FloatArray, b: int) -> FloatArray:
        """The series' ordinary change at each point of the batch: the median of the changes over
        the day before its block of ``block`` points (aligned on the series' count; ``ext``: the
        changes from a day and a block before the batch). A series that climbs between resets
        climbs at every time of day: no feature of the day; and today's own changes (a fall this
        afternoon, an outage's jump) are a few among the day's."""
        p, k = self.period, self.block
        into = (self.seen + np.arange(b)) % k
        begin = k + np.arange(b) - into  # each point's block start, less a day, in ``ext``
        firsts, where = np.unique(begin, return_inverse=True)
        rows = np.stack([ext[f : f + p] for f in firsts.tolist()])
        out: FloatArray = np.partition(rows, p // 2, axis=1)[:, p // 2][where]
        return out

    def _week_places(self, b: int, h: int, r: int) -> tuple[NDArray[np.int64], NDArray[np.bool_], int, int]:
        """For series finer than 5 minutes: each point's 5-minute sample a week before (its index in
        the batch's samples), whether the samples its changes need are there, and the change's
        length and the nearest's reach, in samples."""
        k = self._sampled_week()
        hs, rs = max(h // k, 2), max(r // k, 1)
        week, base = self._samples
        pos = (self.seen + np.arange(b) - 7 * self.period) // k - base
        ok = (pos - rs - 2 * hs + 1 >= 0) & (pos + rs <= week.shape[0] - 1)
        return pos, ok, hs, rs

    def _course_week(self, now: FloatArray, h: int, r: int) -> FloatArray:
        """The course test's distance from the week before, for series finer than 5 minutes, from
        the 5-minute samples of the week before (changes of ``h`` points, the nearest within ``r``
        places, in samples; 0 where they do not reach)."""
        pos, ok, hs, rs = self._week_places(now.shape[0], h, r)
        week = self._samples[0]
        # the changes of hs samples ending from the earliest place to the latest needed (``pos`` only
        # grows), from the sums of the samples they take (each summed on its own, so where the kept
        # samples begin changes nothing)
        first, last = max(int(pos[0]) - rs, 2 * hs - 1), min(int(pos[-1]) + rs, week.shape[0] - 1)
        lo = first - 2 * hs + 1
        sums = sliding_window_view(week[lo : last + 1], hs).sum(axis=1)  # sums[i]: from week[lo + i]
        then = self._changes(sums, first - lo, last + 1 - lo, hs)
        at = np.clip(pos, first, last) - first
        path = [then[np.clip(at + o, 0, last - first)] for o in _offsets(rs)]
        return np.where(ok, _path_distance(now, path), 0.0)

    def _span(self) -> int:
        return int(min(max(self.long, 1.2 * self.period), 3 * self.long))

    def _range(self, e: FloatArray, n0: int, first: int, x: FloatArray) -> FloatArray:
        """How far outside the long-run range (the 1st to 99th percentile of the last ``long``
        points, or a day and a bit, from ``first`` on) a point lies, in that range's standard deviations. The
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
            past = e[max(first, edge - span) : edge]
            if past.shape[0] >= self.window:
                m = past.shape[0] - 1
                ends = np.partition(past, (m // 100, m - m // 100))
                lo, hi = float(ends[m // 100]), float(ends[m - m // 100])
                sd = max((hi - lo) / 4.653, 1e-12 * (1.0 + abs(hi)))
                seg = x[start:stop]
                out[start:stop] = np.maximum(seg - hi, lo - seg).clip(min=0.0) / sd * 3.0
            start = stop
        return out

    def _floors(self, spread: FloatArray, missing: Any) -> FloatArray:
        """A quarter of the slow average of past spreads (per point, from the points before; a
        missing point, whose window holds values carried over a gap, does not move it)."""
        a = 0.005
        s = self._slow
        out = np.empty_like(spread)
        for i, (v, gap) in enumerate(zip(spread.tolist(), missing.tolist(), strict=True)):
            out[i] = 0.25 * s
            if gap or not v < math.inf:  # a step past the float range (1.7e308 and back) is no spread
                continue
            s = v if s == 0.0 else s + a * (v - s)
        self._slow = s
        return out

    def _seasonal(
        self, e: FloatArray, n0: int, start: int, x: FloatArray, scale: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The distance from the median of the same time on the previous days, and from the same
        time a week before (``inf`` where there is no such reference: before ``start``, where the
        series' points begin in ``e``)."""
        p = self.period
        b = x.shape[0]
        idx = np.arange(n0, n0 + b)
        refs = [[-m * p + o for m in range(1, self.days + 1) for o in (-1, 0, 1)]]
        if self._weekly():
            refs.append([-7 * p - 1, -7 * p, -7 * p + 1])
        zs = []
        for n, ref in enumerate(refs):
            cand_idx = idx[:, None] + np.array(ref)[None, :]
            ok = cand_idx.min(axis=1) >= start
            cand = e[np.clip(cand_idx, 0, None)]
            k = cand.shape[1] // 2
            smed = np.partition(cand, k, axis=1)[:, k]
            if n == 0 and not ok.all():  # the first days: the median of the days there are
                some = ~ok & (cand_idx.max(axis=1) >= start)
                smed[some] = _known_median(np.where(cand_idx[some] >= start, cand[some], np.nan))
                ok = ok | some
            zs.append(np.where(ok, np.abs(x - smed) / scale, np.inf))
        if len(zs) == 1:
            zs.append(np.full(b, np.inf))
        return zs[0], zs[1]

    def _weekly(self) -> bool:
        return 0 < self.period <= _MAX_WEEKLY

    def _sampled_week(self) -> int:
        """For a series finer than one point in 5 minutes (whose day is a whole number of 5-minute
        steps): how many points one 5-minute sample of the week before stands for (0: none)."""
        p = self.period
        return p // _MAX_WEEKLY if p > _MAX_WEEKLY and p % _MAX_WEEKLY == 0 else 0

    def _week_before(self, x: FloatArray, scale: FloatArray, own: int) -> FloatArray:
        """The distance from the same time a week before, for series finer than 5 minutes: the week
        is kept as one point in every 5 minutes (2,018 values, not 10,080 at one a minute), and a
        point is compared with the median of the three samples around its time a week ago. ``own``:
        the place of the series' first value (samples before it, carried from nothing, are none)."""
        k = self._sampled_week()
        b = x.shape[0]
        j = self.seen + np.arange(b)  # each point's number in the series
        first = (self.seen + k - 1) // k  # the number of the first sample taken in this batch
        taken = (j % k) == 0
        sampled = x[taken].astype(np.float32).astype(np.float64)
        sampled[j[taken] < own] = np.nan  # before the series' first value (carried from nothing)
        ext = np.concatenate([self._week, sampled])
        base = first - self._week.shape[0]  # the number of ext[0]
        ref = (j - 7 * self.period) // k - base
        cand = ref[:, None] + np.array([-1, 0, 1])[None, :]
        ok = cand.min(axis=1) >= 0  # the samples were taken before the point: a week is > 2 samples
        smed = np.median(ext[np.clip(cand, 0, ext.shape[0] - 1)], axis=1)
        ok &= ~np.isnan(smed)
        self._week = ext[-_WEEK_SAMPLES:].copy()
        self._samples = (ext, base)  # the batch's, for the course test
        out: FloatArray = np.where(ok, np.abs(x - smed) / scale, np.inf)
        return out

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
            "seasonal_ms": self._seasonal_ms,
            "seasonal_count": self._seasonal_count,
            "hist": encode_array(self._hist),
            "zr": encode_array(np.rint(self._zr * 10.0), "u1"),
            "zs": encode_array(np.rint(self._zs * 10.0), "u1"),
            "week": encode_array(self._week, "<f4"),
            "began": self._began,
            "calm": self._calm,
        }

    def _restore(self, own: dict[str, Any]) -> None:
        self.window = int(own["window"])
        self.recent = int(own["recent"])
        self.long = int(own["long"])
        self.block = int(own["block"])
        self.days = int(own["days"])
        self.period = int(own["period"])
        self._slow = float(own["slow"])
        self._seasonal_ms = float(own.get("seasonal_ms", 0.0))
        self._seasonal_count = int(own.get("seasonal_count", 0))
        # a state saved before the first value was kept: the series began at its first place
        began = own.get("began", 0)
        self._began = None if began is None else int(began)
        self._calm = int(own.get("calm", 1 << 30))  # a state saved before the course test: none yet
        self._hist = decode_array(own["hist"])
        # a state saved before the absence test has no distances: they start at 0 (no absence is
        # reported until a day of new points has passed)
        self._zr = decode_array(own["zr"]) / 10.0 if "zr" in own else np.zeros(0)
        self._zs = decode_array(own["zs"]) / 10.0 if "zs" in own else np.zeros(0)
        self._week = decode_array(own["week"]) if "week" in own else np.zeros(0)
