"""What every streaming detector shares: the score scale, warm-up, sensitivity, alarm suppression and
compact state.

A detector turns each point into a *surprise* in "robust standard deviations" (about 1 for an
ordinary point, 5 or more for a notable one), computed from past points only. The shared part then:

1. zeroes it until the detector's windows hold real points (``min_history``), calibrates it to the
   series' own typical surprise (``calibrate``), and zeroes the warm-up (``warmup`` points per
   series: no alarm before the detector has seen enough);
2. multiplies by the series' ``sensitivity`` (2.0 alarms at half the surprise: it moves the
   threshold for that series alone, so one threshold serves every series);
3. suppresses repeats: a surprise counts only when it exceeds every recent one and 1.5 times the
   last one reported (``_suppress``), so one incident (a spike, a shift that stays) is reported
   once, not at every point until the detector has adapted, and a departure that keeps growing
   is reported again as it grows; once the series has returned to normal (its surprise low for
   as long as the departure lasted, half an hour at least), the next departure is new and
   reported as the first was, whatever the step;
4. maps the surprise to a score in [0, 1] by one fixed, monotone function (``score = z^2/(z^2+25)``:
   0.5 at five robust standard deviations), so scores from different series are comparable.

State is a JSON-able dict (numbers, and numpy arrays as base64 float32/float64): a detector can be
saved after a batch and restored for the next, and continues exactly where it stopped.
"""

import base64
import math
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DECIDE",
    "LONG_GAP",
    "FloatArray",
    "StreamDetector",
    "calibrate",
    "calibration",
    "decode_array",
    "encode_array",
    "normal_deviate",
    "points_a_day",
    "regular_step",
    "score_from_surprise",
    "surprise_from_score",
]

FloatArray = NDArray[np.float64]

_HALF = 5.0  # surprise at which the score is 0.5
# a surprise beyond this (a score of 0.94) is remembered as this: after any anomaly, however large,
# one of score 0.5 is reported again within 400 points (a glitch of 1e19 hid what followed for
# 3,500); a departure that grows past it is not reported again
_TOP = 20.0
# a departure is over (the next notable surprise is a new one, see _suppress) when every surprise has
# been below _CALM (half of what scores 0.5) for as long as the departure lasted, at least _CALM_SECONDS
# and _CALM_MIN points; without times, at least _CALM_POINTS points
_CALM = 2.5
# ... and that new departure begins at a surprise of this much (a score of 0.59): at 5, smaller
# recurring departures (a sawtooth's resets 9 to 11 hours apart at 300 s, bursts) each came back as
# new where the memory had held them (the shapes suite 1.8 points lower, field 0.5); at 7.5 the suites
# scored as before but a second 30-minute burst like the first at 60 s was missed (the k-NN part had
# seen its shape); at 6 second incidents found in the field review's set go from 99 to 141 of 180
_REARM = 6.0
_CALM_SECONDS = 1800.0
_CALM_MIN = 6
_CALM_POINTS = 30
_SETTLE = 20  # points before the calibration speaks (its first estimates are too rough)
_SLOW = 2000  # points in the calibration's mean square (a plain mean until then)
_MAX_FILL = 2000  # the longest gap put back as missing points (more than a day at one a minute)
DECIDE = 21  # timestamps that decide a series' step (and so its day), whatever the batching
_CHANGED = 20  # rows in a row that each came after a gap: the step changed, gaps are no longer put back
_CHANGED_SPAN = 43200.0  # ... and for at least half a day (seconds)
_LEAD = 10  # places the grid may run ahead of its rows (they come faster for a while) before it moves
LONG_GAP = 16  # missing points in a row after which the windows are refilled before anything scores
_DAY = 86400.0
_MAX_PERIOD = 1440  # one point a minute; finer series scan without the seasonal part


def score_from_surprise(z: FloatArray) -> FloatArray:
    """The one fixed, monotone map from surprise to a score in [0, 1)."""
    z2 = np.square(np.minimum(z, 1e6))  # a value near the float limit gives inf, not NaN, here
    out: FloatArray = z2 / (z2 + _HALF * _HALF)
    return out


def surprise_from_score(score: float) -> float:
    """The inverse of ``score_from_surprise``: the surprise a score threshold stands for."""
    s = min(max(score, 0.0), 1.0 - 1e-12)
    return float(_HALF * np.sqrt(s / (1.0 - s)))


def step_noise(steps: FloatArray) -> FloatArray:
    """The noise of each window (a row: the last axis) from the absolute steps between its points:
    their median (the upper of the two middle ones), as the standard deviation of Gaussian noise
    it stands for (x 1.0484), so a slow trend or a daily swing does not inflate it; where that is 0
    (a value that mostly repeats, a count mostly 0), their mean (x 0.8862)."""
    k = steps.shape[-1] // 2
    med = np.partition(steps, k, axis=-1)[..., k] * 1.0484
    out: FloatArray = np.where(med > 0, med, steps.mean(axis=-1) * 0.8862)
    return out


def regular_step(t: FloatArray) -> float:
    """The series' step in seconds, from the forward steps between ``t`` (the first ``DECIDE``
    timestamps; missing ones left out): their median, refined as their total over the whole
    number of medians each stands for (a series whose stamps jitter by 10 s around 300 s gets
    300 within a second or so, not the median's 297 or 302: a grid a little too long runs ahead
    of its rows); or -1 when fewer than half of them go forward (no regular step)."""
    diffs = np.diff(t[np.isfinite(t)])
    diffs = diffs[diffs > 0]  # rows sent twice, or out of order, say nothing of the step
    if diffs.shape[0] < DECIDE // 2:
        return -1.0
    step = float(np.median(diffs))
    whole = np.rint(diffs / step)
    # a row sent again a second later is no place of its own: the time it covers is its neighbour's
    step = float(diffs.sum() / whole.sum())
    return step if step > 0 else -1.0


def grid_places(
    t: FloatArray, forward: NDArray[np.bool_], step: float, anchor: float, after: int, *, fast: bool = True
) -> tuple[NDArray[np.int64], float, int]:
    """The places each row of ``t`` skips on a grid of ``step`` counted from ``anchor`` (the latest
    place ``after`` places after it; see ``StreamDetector._grid``), and the anchor and count after
    the last row. ``forward``: the rows after every row before them. The rule is the row-by-row
    loop; ``fast`` takes the rows as a whole up to the first row that moves the anchor (the
    same result, as a test holds)."""
    b = t.shape[0]
    fill = np.zeros(b, dtype=np.int64)
    first = 0
    if fast and math.isfinite(anchor):
        j = np.arange(b)
        with np.errstate(invalid="ignore"):
            # places after the latest (1 is the next), halves up and from the anchor, so where a
            # batch ends changes nothing
            near = np.floor((t - anchor) / step + 0.5) - after
        near = np.where(np.isfinite(near), near, -np.inf)  # a row without a time: the next place
        place = j + np.maximum.accumulate(np.maximum(near - j, 1.0))
        gaps = np.diff(place, prepend=0.0) - 1.0
        moved = (gaps > _MAX_FILL) | (forward & (place - near >= _LEAD + 1.0))
        first = int(np.argmax(moved)) if moved.any() else b
        fill[:first] = gaps[:first]
        if first:
            after += int(place[first - 1])
    for i in range(first, b):  # from the first row that moves the anchor (or without one): row by row
        ti = float(t[i])
        if not math.isfinite(ti):
            after += 1
            continue
        if not math.isfinite(anchor):  # no time seen yet: the first row with one starts the grid
            anchor, after = ti, 0
            continue
        k = math.floor((ti - anchor) / step + 0.5) - after
        if k > _MAX_FILL + 1 or (forward[i] and k <= -_LEAD):
            anchor, after = ti, 0  # a gap too long to put back, or the grid ran ahead: from here
        elif k >= 1:
            fill[i], after = k - 1, after + k
        else:
            after += 1
    return fill, anchor, after


def points_a_day(step: float) -> int:
    """Points per day for a series of this step, when a day is a whole number of steps (within 1%)
    and at most ``_MAX_PERIOD``; else 0 (no daily season is looked for)."""
    if step <= 0 or step > _DAY / 4:
        return 0
    per = _DAY / step
    p = round(per)
    return p if abs(per - p) <= 0.01 * per and p <= _MAX_PERIOD else 0


def calibration(
    z: FloatArray, ms: float, count: int, *, skip_zero: bool = False, skip: Any = None
) -> tuple[FloatArray, float, int]:
    """What puts ``z`` in units of the series' own typical surprise: per point, 1 over a slow root
    mean square of the past ones (each capped at 10; 0 for the first ``_SETTLE`` points), so a
    series whose ordinary points are all a little surprising (heavy tails, autocorrelated noise)
    does not alarm more often than a quiet one. ``ms`` and ``count`` carry the mean square and the
    points counted from one batch to the next; with ``skip_zero`` a 0 (no evidence) is not counted,
    nor is a point ``skip`` marks (missing, or not yet evidence after a long gap).

    The mean square is the plain mean of the first ``_SLOW`` counted points, then an exponential
    average with weight 1/``_SLOW``; both are computed in closed form over the batch (cumulative
    sums, in chunks short enough that the average's powers stay within float range)."""
    n = z.shape[0]
    counted = np.ones(n, dtype=np.bool_) if skip is None else ~np.asarray(skip, dtype=np.bool_)
    if skip_zero:
        counted &= z != 0.0
    kept = z[counted]
    q = np.where(kept < 10.0, np.square(np.minimum(kept, 10.0)), 100.0)  # each capped at 10 (NaN too)
    after = np.empty(q.shape[0])  # the mean square after each counted point
    c, m, done = count, ms, 0
    while done < q.shape[0]:
        if c < _SLOW:  # the plain mean, up to _SLOW points
            take = min(q.shape[0] - done, _SLOW - c)
            k = np.arange(c + 1, c + take + 1, dtype=np.float64)
            after[done : done + take] = (m * c + np.cumsum(q[done : done + take])) / k
        else:  # the exponential average, in chunks of at most _SLOW points
            take = min(q.shape[0] - done, _SLOW)
            decay = 1.0 - 1.0 / _SLOW
            powers = decay ** np.arange(1, take + 1, dtype=np.float64)
            after[done : done + take] = powers * (m + np.cumsum(q[done : done + take] / powers) / _SLOW)
        c, m, done = c + take, float(after[done + take - 1]), done + take
    # each point is scaled by the state before it: the counted points before it
    before: NDArray[np.int64] = np.cumsum(counted) - counted
    ms_then = np.where(before > 0, after[np.maximum(before - 1, 0)] if q.shape[0] else ms, ms)
    count_then = count + before
    out: FloatArray = np.where(
        (ms_then > 0) & (count_then >= _SETTLE), 1.0 / np.sqrt(np.maximum(ms_then, 1e-300)), 0.0
    )
    return out, m, c


def calibrate(z: FloatArray, ms: float, count: int, skip: Any = None) -> tuple[FloatArray, float, int]:
    """``z`` in units of the series' own typical surprise (see ``calibration``)."""
    scale, ms, count = calibration(z, ms, count, skip=skip)
    return z * scale, ms, count


def normal_deviate(minus_log_p: float) -> float:
    """The standard normal deviate whose upper tail has probability ``exp(-minus_log_p)`` (the
    asymptotic expansion, within 0.05 of the exact value from a tail of 0.3% on; 0 for tails over
    about 37%)."""
    if minus_log_p < 1.0:
        return 0.0
    return math.sqrt(max(2.0 * minus_log_p - math.log(4.0 * math.pi * minus_log_p), 0.0))


def _num(v: float) -> float | None:
    return None if math.isnan(v) else v


def encode_array(a: NDArray[Any], dtype: str = "<f8") -> dict[str, Any]:
    """A numpy array as a compact JSON-able dict (base64 of little-endian bytes)."""
    arr = np.ascontiguousarray(a, dtype=dtype)
    return {"dtype": dtype, "shape": list(arr.shape), "b64": base64.b64encode(arr.tobytes()).decode()}


def decode_array(d: dict[str, Any]) -> FloatArray:
    raw = base64.b64decode(d["b64"])
    arr = np.frombuffer(raw, dtype=d["dtype"]).reshape(d["shape"])
    return arr.astype(np.float64)


class StreamDetector:
    """Base class: subclasses implement ``_surprise`` (and ``_state``/``_restore`` for their own state)."""

    kind: ClassVar[str] = "base"
    calibrates: ClassVar[bool] = True  # False when the surprise is made of calibrated ones already

    def __init__(self, *, sensitivity: float = 1.0, warmup: int = 150, refractory: float = 200.0) -> None:
        if sensitivity <= 0:
            raise ValueError("sensitivity must be positive")
        self.sensitivity = float(sensitivity)
        self.warmup = int(warmup)
        # memory decays to half in `refractory` points
        self.refractory = float(refractory)
        self.seen = 0
        self._memory = 0.0
        self._last = float("nan")
        self._rms = 0.0
        self._calibrated = 0
        self._step = 0.0  # seconds between points of a regular series (-1: not regular, 0: unknown)
        # set by an ensemble on its parts: the rows it gives them are on its grid, nothing to put back
        self.on_grid = False
        self._first_t: list[float] = []  # the timestamps that will decide the step
        self._last_t = float("nan")  # the latest time seen
        self._grid_t = float("nan")  # the time of a place on the grid (see _grid) ...
        self._grid_n = 0  # ... and how many places after it the latest is
        self._gapped = 0  # rows in a row, up to the last, that each came after a gap
        self._gapped_t0 = float("nan")  # ... since when (the latest time seen before the first)
        self._missing_run = 0  # missing points in a row, up to the last
        self._quiet = 0  # real points still to pass before the windows are refilled after a gap
        self._reported = 0.0  # the last surprise reported (decaying), see _suppress
        # the departures (see _suppress): whether the series returned to normal since the last notable
        # surprise, the points in a row below _CALM, the departure's first notable surprise and its
        # latest point at or above _CALM since the return (seconds, or places without times; NaN:
        # none), and the memory and last report from the return on
        self._over = True
        self._calm_n = 0
        self._depart_t = float("nan")
        self._loud_t = float("nan")
        self._fresh = (0.0, 0.0)
        self.gaps = np.zeros(0, dtype=np.bool_)  # the current batch's missing points (filled)
        self._side: FloatArray | None = None  # a second surprise a subclass may give (see ``side``)
        self._unready: NDArray[np.bool_] | None = None  # points a subclass says are no evidence yet
        self.side = np.zeros(0)  # the last batch's second surprise (calibrated), zeroed as the first

    # -- the public surface -------------------------------------------------------------------
    def update(self, values: Any, times: Any = None) -> FloatArray:
        """Score a batch of points (in order; ``times`` in epoch seconds, optional)."""
        z = np.maximum(self.surprise(values, times), self.side)
        if times is None:  # points are the clock
            clock, unit = np.arange(self.seen - z.shape[0], self.seen, dtype=np.float64), float(_CALM_POINTS)
        else:
            clock, unit = np.array(times, dtype=np.float64, ndmin=1), _CALM_SECONDS
        return score_from_surprise(self._suppress(z * self.sensitivity, clock, unit))

    def silence(self) -> float | None:
        """The surprise of the series' run of zeros at its last point (0: none, or an ordinary one),
        for a detector that models a count falling to nothing; None for one that does not."""
        return None

    def silence_ordinary(self) -> bool:
        """Whether the series' run of zeros now, of 3 or more, is an ordinary one (the day before was
        as quiet at this time, or zeros are its way), whatever its surprise yet. False without such a
        run, or a model."""
        return False

    def surprise(self, values: Any, times: Any = None) -> FloatArray:
        """The calibrated surprise of each point (warm-up zeroed, before sensitivity and suppression).

        A detector may see a second kind of evidence that its ensemble should not weigh against
        the other parts (``LevelDetector``'s absence of a daily pattern): it is left in ``side``,
        calibrated by the subclass and zeroed as the first, and ``update`` takes the larger of the two.

        Points left out of a regular series (a failed scrape, a row missing from a file) are put
        back as missing points, so a day is always the same number of points: the detectors'
        seasonal references are by position, and each gap would otherwise shift them."""
        x = np.array(values, dtype=np.float64, ndmin=1)
        n = x.shape[0]
        if n == 0:
            self.side = np.zeros(0)
            return np.zeros(0)
        if times is None:
            return self._points(x, np.arange(self.seen, self.seen + n, dtype=np.float64))
        t = np.array(times, dtype=np.float64, ndmin=1)
        head = 0
        if self._step == 0.0:  # the first DECIDE timestamps decide the step, then gaps are put back
            head = min(n, DECIDE - len(self._first_t))
            self._first_t.extend(t[:head].tolist())
            if len(self._first_t) == DECIDE:
                self._step = regular_step(np.asarray(self._first_t))
                self._first_t = []
        zs, sides = [], []
        if head:
            zs.append(self._points(x[:head], t[:head]))
            sides.append(self.side)
            self._last_t = float(np.fmax.reduce(np.concatenate([[self._last_t], t[:head]])))
        if head < n:
            xr, tr = x[head:], t[head:]
            xx, tt, rows = self._grid(xr, tr)
            z = self._points(xx, tt)
            zs.append(z if rows is None else z[rows])
            sides.append(self.side if rows is None else self.side[rows])
        self.side = np.concatenate(sides) if len(sides) > 1 else sides[0]
        out: FloatArray = np.concatenate(zs) if len(zs) > 1 else zs[0]
        return out

    def _grid(self, x: FloatArray, t: FloatArray) -> tuple[FloatArray, FloatArray, Any]:
        """``x`` and ``t`` with a missing point for each place of the series' grid a gap left
        empty, and the rows of the given points (None when nothing was put back).

        The grid is one place a step, counted from an anchor (the time of a place). Each row takes
        the place nearest its time, or the next place when that one is taken: so a series whose rows
        come irregularly (a traffic sensor reporting after 4, 5, 6, 10 or 15 minutes) keeps its days
        the same number of places. A row stamped before the latest time seen (late, out of order,
        or sent twice) takes the next place and puts nothing back. Rows that come faster than the
        grid for a while take the next places and run ahead of their times, and catch up at the
        next gap; a row whose nearest place is ``_LEAD`` or more before the next one moves the
        anchor to its own time, so the grid never runs ahead by more (rows a little faster than a
        step decided a little long would take every outage's places). A gap of more than ``_MAX_FILL``
        steps is not put back: the grid starts again from the row after it. ``_CHANGED`` rows in
        a row that each came after a gap, over at least ``_CHANGED_SPAN`` (half a day: a night's
        sparse rows end before), mean the step changed (a scrape interval doubled): from then on
        nothing is put back."""
        if self.on_grid:  # a part of an ensemble: its rows are on the ensemble's grid already (whose
            return x, t, None  # times are the only ones read; a part's own grid state stays unused)
        anchor, after = (self._grid_t, self._grid_n) if math.isfinite(self._grid_t) else (self._last_t, 0)
        latest = np.fmax.accumulate(np.concatenate([[self._last_t], t]))
        self._last_t = float(latest[-1])
        step = self._step
        if step <= 0.0:
            return x, t, None
        fill, self._grid_t, self._grid_n = grid_places(t, t > latest[:-1], step, anchor, after)
        # a changed step: rows in a row each after a gap, for half a day (a night's sparse rows end)
        gapped = fill > 0
        idx = np.arange(x.shape[0])
        since = np.maximum.accumulate(np.where(gapped, -1, idx))  # the last row without a gap
        streak = np.where(since < 0, idx + 1 + self._gapped, idx - since)
        carried = self._gapped_t0 if self._gapped else float(latest[0])  # a streak from the batch before
        began = np.where(since < 0, carried, latest[:-1][np.minimum(since + 1, x.shape[0] - 1)])
        with np.errstate(invalid="ignore"):
            lasted = latest[1:] - began  # NaN (a streak a state from before carried in): not yet
        changed = np.flatnonzero(gapped & (streak >= _CHANGED) & (lasted >= _CHANGED_SPAN))
        if changed.shape[0]:
            fill[changed[0] + 1 :] = 0  # rows after that are as they come
            self._step = -1.0
        self._gapped = int(streak[-1]) if not changed.shape[0] else 0
        self._gapped_t0 = float(began[-1]) if self._gapped else float("nan")
        if not fill.any():
            return x, t, None
        counts = fill + 1
        rows = np.cumsum(counts) - 1
        owner = np.repeat(np.arange(x.shape[0]), counts)
        xx = np.full(int(rows[-1]) + 1, np.nan)
        xx[rows] = x
        tt = t[owner] - (rows[owner] - np.arange(xx.shape[0])) * step
        return xx, tt, rows

    def _points(self, x: FloatArray, t: FloatArray) -> FloatArray:
        n = x.shape[0]
        missing = ~np.isfinite(x)
        if missing.any():
            x = self._fill(x, missing)
        self.gaps = missing
        self._side = None
        self._unready = None
        z = np.array(self._surprise(x, t), dtype=np.float64)
        side = None if self._side is None else np.array(self._side, dtype=np.float64)
        zs = [z] if side is None else [z, side]
        early = min(max(self.min_history - self.seen, 0), n)
        quiet = self._after_gaps(missing)
        if self._unready is not None:
            quiet = quiet | self._unready
        for a in zs:
            a[missing | quiet] = 0.0
            np.nan_to_num(np.maximum(a, 0.0, out=a), copy=False, nan=0.0, posinf=1e6)
            a[:early] = 0.0  # windows still padded: not evidence, and kept out of the calibration
        if self.calibrates:
            z[early:], self._rms, self._calibrated = calibrate(
                z[early:], self._rms, self._calibrated, skip=(missing | quiet)[early:]
            )
        warm = self.warmup - self.seen
        for a in zs:
            a[: max(warm, 0)] = 0.0
        self.side = np.zeros(n) if side is None else side
        self.seen += n
        self._last = float(x[-1])
        return z

    @property
    def blind(self) -> NDArray[np.bool_] | None:
        """The last batch's points the detector said are no evidence yet (``_unready``): it could not
        judge them (the k-NN part before its first typical distance, or on a memory that is flat)."""
        return self._unready

    def _after_gaps(self, missing: NDArray[np.bool_]) -> NDArray[np.bool_]:
        """The points that are not evidence yet: after ``LONG_GAP`` or more missing points in a row
        (an outage), the next ``min_history`` real points, while the detector's windows still hold
        the values carried over the gap."""
        quiet = np.zeros(missing.shape[0], dtype=np.bool_)
        if not missing.any() and self._quiet == 0 and self._missing_run < LONG_GAP:
            self._missing_run = 0
            return quiet
        real = np.flatnonzero(~missing)
        n = missing.shape[0]
        if real.shape[0] == 0:
            self._missing_run += n
            return quiet
        # the missing points just before each real one (the run carried in, for the first)
        before = np.diff(real, prepend=-1 - self._missing_run) - 1
        j = np.arange(real.shape[0])
        restart = np.maximum.accumulate(np.where(before >= LONG_GAP, j, -1))  # the last outage's end
        since = j - restart  # real points since it (the one after the outage is 0)
        quiet[real] = np.where(restart >= 0, since < self.min_history, j < self._quiet)
        last = int(restart[-1])
        count = real.shape[0]
        self._quiet = max(self.min_history - (count - last), 0) if last >= 0 else max(self._quiet - count, 0)
        self._missing_run = int(n - 1 - real[-1])
        return quiet

    def state(self) -> dict[str, Any]:
        """Everything needed to continue this series elsewhere: JSON-able and compact."""
        return {
            "kind": self.kind,
            "sensitivity": self.sensitivity,
            "warmup": self.warmup,
            "refractory": self.refractory,
            "seen": self.seen,
            "memory": self._memory,
            "rms": self._rms,
            "count": self._calibrated,
            "last": None if np.isnan(self._last) else self._last,
            "step": self._step,
            "first_t": [v if math.isfinite(v) else None for v in self._first_t],
            "last_t": None if np.isnan(self._last_t) else self._last_t,
            "grid_t": None if np.isnan(self._grid_t) else self._grid_t,
            "grid_n": self._grid_n,
            "gapped": self._gapped,
            "gapped_t0": None if np.isnan(self._gapped_t0) else self._gapped_t0,
            "missing_run": self._missing_run,
            "quiet": self._quiet,
            "reported": self._reported,
            "calm": [self._over, self._calm_n, _num(self._depart_t), _num(self._loud_t), *self._fresh],
            "own": self._state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.kind:
            raise ValueError(f"state is for {state.get('kind')!r}, not {self.kind!r}")
        self.sensitivity = float(state["sensitivity"])
        self.warmup = int(state["warmup"])
        self.refractory = float(state["refractory"])
        self.seen = int(state["seen"])
        self._memory = float(state["memory"])
        self._rms = float(state["rms"])
        self._calibrated = int(state["count"])
        self._last = float("nan") if state["last"] is None else float(state["last"])
        # a state saved before gaps were filled: the step is found again from the next batch
        self._step = float(state.get("step", 0.0))
        self._last_t = float("nan") if state.get("last_t") is None else float(state["last_t"])
        # a state saved before the grid: the latest time seen is the latest place's
        self._grid_t = float("nan") if state.get("grid_t") is None else float(state["grid_t"])
        self._grid_n = int(state.get("grid_n", 0))
        self._first_t = [float("nan") if v is None else float(v) for v in state.get("first_t", [])]
        self._gapped = int(state.get("gapped", 0))
        self._gapped_t0 = float("nan") if state.get("gapped_t0") is None else float(state["gapped_t0"])
        self._missing_run = int(state.get("missing_run", 0))
        self._quiet = int(state.get("quiet", 0))
        self._reported = float(state.get("reported", state["memory"]))
        # a state saved before: the next point at or above _CALM begins a departure
        calm = state.get("calm")
        if not isinstance(calm, list) or len(calm) != 6:  # (none, or not one this release wrote)
            calm = [False, 0, None, None, 0.0, 0.0]
        self._over, self._calm_n = bool(calm[0]), int(calm[1])
        self._depart_t = float("nan") if calm[2] is None else float(calm[2])
        self._loud_t = float("nan") if calm[3] is None else float(calm[3])
        self._fresh = (float(calm[4]), float(calm[5]))
        self._restore(state["own"])

    def _deciding(self, n: int) -> bool:
        """Whether a batch of ``n`` points is scored before the step is decided: one of the first
        ``DECIDE`` rows, with times (without times it never is). What a part keeps of such rows for
        the days after, it keeps as a larger first batch would, so batching changes nothing."""
        return self._step == 0.0 and self.seen + n <= DECIDE

    def stop_filling(self) -> None:
        """Put nothing back from now on (an ensemble whose step changed tells its parts, which see
        its rows already on its grid)."""
        if self._step > 0:
            self._step = -1.0

    @property
    def step(self) -> float:
        """The series' step in seconds, once its first timestamps decided it (0: not yet, -1: none)."""
        return self._step

    # -- for subclasses -----------------------------------------------------------------------
    @property
    def min_history(self) -> int:
        """Points before this detector's windows hold only real points (its surprise is 0 until then,
        whatever ``warmup`` says), at the series' start and again after an outage. A subclass whose
        surprise is not evidence for other reasons at some points (a model not yet fitted) marks
        them in ``_unready`` in ``_surprise``: 0, and kept out of the calibration, as these are."""
        return 0

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        raise NotImplementedError

    def _state(self) -> dict[str, Any]:
        return {}

    def _restore(self, own: dict[str, Any]) -> None:
        return None

    # -- shared steps -------------------------------------------------------------------------
    def _fill(self, x: FloatArray, missing: NDArray[np.bool_]) -> FloatArray:
        """Missing points carry the last value forward (and score 0): the state never sees a NaN."""
        last = self._last if np.isfinite(self._last) else 0.0
        source = np.maximum.accumulate(np.where(missing, -1, np.arange(x.shape[0])))  # the last real one
        out: FloatArray = np.where(source >= 0, x[np.maximum(source, 0)], last)
        return out

    def _suppress(
        self, z: FloatArray, clock: FloatArray | None = None, unit: float = float(_CALM_POINTS)
    ) -> FloatArray:
        """Report a departure once, and again as it grows: a surprise counts when it exceeds every
        recent one (a memory of all of them) and 1.5 times the last one reported (both halved in
        ``refractory`` points). One that holds is not reported again; one that keeps rising (a
        drift) is reported each time it has grown by about half; one that wavers for long is
        reported again when it reaches a new high after the last report has faded (every 100-200
        points): a report fading more slowly than that hid the next anomaly of the same size in
        the developers' corpus. A surprise counts as at most ``_TOP`` (20) here; its score is kept.
        (10 and 50 scored alike on the developers' corpora.)

        Once the series has returned to normal, the next departure is reported as if the last had
        never been: its first surprise of ``_REARM`` (6, a score of 0.59) replaces the memory and
        the last report by what they became from the return on. Returned to normal: every surprise
        below ``_CALM`` for as long as the departure lasted (from its first notable surprise to its
        last point at or above ``_CALM``), and at least ``unit`` and ``_CALM_MIN`` points; ``clock``: the
        points' times in seconds (``unit`` ``_CALM_SECONDS``), or their places (``_CALM_POINTS``).
        A lull in a long departure (a detector half adapted, a value stuck that surprises again
        and again) is no return."""
        decay = 0.5 ** (1.0 / self.refractory)
        m, r = self._memory, self._reported
        over, calm, began, loud = self._over, self._calm_n, self._depart_t, self._loud_t
        m2, r2 = self._fresh
        out = z.tolist()
        now = [math.nan] * len(out) if clock is None else clock.tolist()
        for i, v in enumerate(out):
            c = v if v < _TOP else _TOP  # as remembered, and compared with what is
            if c < _CALM:
                calm += 1
                if calm >= _CALM_MIN and not math.isnan(loud):  # a point at or above _CALM since the return
                    lasted = loud - began  # NaN: nothing notable since the return
                    if now[i] - loud >= (lasted if lasted > unit else unit):  # back to normal
                        over, began, loud, m2, r2 = True, math.nan, math.nan, 0.0, 0.0
            else:
                if c >= _HALF:
                    if over and c >= _REARM:  # a new departure: as if the last one had never been
                        m, r, over = m2, r2, False
                    if math.isnan(began):
                        began = now[i]
                calm, loud = 0, now[i]
            if over:  # what the memory would be from the return to normal on
                if c > m2 and c > 1.5 * r2:
                    r2 = c
                m2 = m2 * decay if m2 * decay > c else c
                r2 *= decay
            if c > m and c > 1.5 * r:
                r = c
            else:
                out[i] = 0.0
            m = m * decay if m * decay > c else c
            r *= decay
        self._memory, self._reported = m, r
        self._over, self._calm_n, self._depart_t, self._loud_t, self._fresh = (
            over,
            calm,
            began,
            loud,
            (m2, r2),
        )
        return np.asarray(out, dtype=np.float64)
