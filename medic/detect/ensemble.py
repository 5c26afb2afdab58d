"""The ensemble (Medic's default detector) and the registry of detectors by name.

The ensemble feeds every point to its parts, the seasonal level detector and the k-NN detector,
and combines their calibrated surprises (before each part's own suppression) as a weighted
geometric mean: evidence multiplies, as likelihood ratios of independent tests do, so a point is
very surprising only when both agree that it is (a daily peak surprises the k-NN part, which has
not seen that shape lately, but not the seasonal level part; an ordinary shape at an unusual
level surprises the level part only a little). The k-NN part is lent the level part's history for
the batch, so the same time on the previous days is among its neighbours even where its own
memory (600 windows) is shorter than a day. Beside the geometric mean, the larger of it, the level
part's absence test and the ``still`` detector: evidence only one of them can see (a daily job
that did not run, a value that stopped changing or all but stopped) is not weighed against parts
that cannot. Warm-up, sensitivity and suppression then apply once, to the combination (not
calibrated again: its parts are). The ``rhythm`` detector is not a part: a job whose runs vary in
load or length from run to run alarmed with it (docs/BENCHMARKS.md); a scan may choose it alone.

The parts see the series variance-stabilised when its noise grows with its level (``stabilise``):
the first day of points (at least 300) is held and scored as it comes, then the transform is
decided, and when there is one the parts start over from the held day transformed. The grain of
a series whose values repeat exactly (a rounded gauge, a low count) is decided before, after 300
points (``quantum``): the level and k-NN parts then see each value moved by up to half a grain
(``dither``), ``still`` as it is, until a value off the grain shows the series became finer.

The change-point detector is not a part: in the geometric mean its mostly quiet surprise vetoed
more true detections than it added (on three draws of the developers' corpus, with it the
ensemble scored 0.3 points higher on one and 7 and 6 lower on the others; docs/BENCHMARKS.md).
Level shifts and variance changes reach the ensemble through the level part (the recent median
and the long-run range) and the k-NN part (a new shape); ``change`` stays available on its own.
"""

from typing import Any, ClassVar

import numpy as np

from medic.detect.change import ChangeDetector
from medic.detect.core import FloatArray, StreamDetector, decode_array, encode_array, points_a_day
from medic.detect.counts import CountModel, first_grain
from medic.detect.knn import KnnDetector
from medic.detect.level import LevelDetector
from medic.detect.rhythm import RhythmDetector
from medic.detect.silence import Silence
from medic.detect.stabilise import dither, noise_power, off_grain, quantum, stabilise
from medic.detect.still import StillDetector

__all__ = ["DETECTORS", "WEIGHTS", "EnsembleDetector", "make_detector", "restore_detector"]

_EPS = 0.1  # keeps one silent part from vetoing the others outright
# the level part's and the k-NN part's weights in the geometric mean: the level part measures a
# point in robust standard deviations of its recent spread, which overstates an outlier of
# heavy-tailed noise (a t-distributed or spiky series has them every few hundred points); the
# k-NN part has seen such windows before. See docs/anomaly.md for the measurements.
WEIGHTS = (1.0, 3.0)
_HOLD = 300  # points held before the variance-stabilising transform is decided, at least
_GRAIN_AT = 300  # points held before the grain is decided (a day at one a minute is 1,441)


class EnsembleDetector(StreamDetector):
    kind: ClassVar[str] = "ensemble"
    calibrates: ClassVar[bool] = False  # its parts are

    def __init__(self, *, weights: tuple[float, ...] = WEIGHTS, **kw: Any) -> None:
        super().__init__(**kw)
        self.weights = tuple(weights)
        self._fresh_parts()
        # the variance-stabilising transform (see ``stabilise``): undecided (None) until the
        # first day of points is held, then the noise's power of the level (0: none) and offset
        self._power: float | None = None
        self._offset = 1.0
        # the values' grain (see ``quantum``): undecided (None) until 300 points are held, then
        # the grain (0: none that matters), the value it is counted from, and the place from which
        # the series left it (None: not yet)
        self._quantum: float | None = None
        self._origin = 0.0
        self._grain_until: int | None = None
        # a sparse count series (``counts``): its usual count, decided with the grain (None: not one)
        self._counts: CountModel | None = None
        self._counts_open = True  # whether it may still turn out to be one
        self._zeros = 0  # known values, every one 0, before the first that was not (while open)
        self._counts_place = 0  # the next point the decision reads (points replayed are not counted twice)
        # a series of counts (``silence``): how surprising a fall to nothing is, made with the grain
        self._silence: Silence | None = None
        self._held_x: list[float] = []  # the points before the decision (NaN: missing), ...
        self._held_t: list[float] = []  # ... and their times
        self._decide_n = 0  # points to hold, fixed when the step is decided (a later change of step
        # to none, a scrape interval that changed, must not move it: 0 is not yet)

    def _fresh_parts(self) -> None:
        self.level, self.knn = LevelDetector(warmup=0), KnnDetector(warmup=0)
        self.parts: list[StreamDetector] = [self.level, self.knn]
        self.alone: list[StreamDetector] = [StillDetector(warmup=0)]
        for part in (*self.parts, *self.alone):
            part.on_grid = True

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        x = x.copy()
        x[self.gaps] = np.nan  # each part fills (and skips) the missing points itself
        if self._decide_n == 0 and self._step != 0.0:  # fixed once, by the step the series began with
            self._decide_n = self._decide_at()
        out: list[FloatArray] = []
        pos, n = 0, x.shape[0]
        while pos < n:
            if self._power is not None:  # both decided: nothing is held any more
                out.append(self._combine(x[pos:], t[pos:], self.seen + pos))
                break
            # undecided: the points are held (and scored as the parts stand) until 300 are, when
            # the grain is decided, and until a day (at least 300 points) is, when the transform is;
            # a decision that changes what the parts see starts them over from the held points
            stop = _GRAIN_AT if self._quantum is None else (self._decide_n or _HOLD)
            take = min(max(stop - len(self._held_x), 0), n - pos)
            seg_x, seg_t = x[pos : pos + take], t[pos : pos + take]
            out.append(self._combine(seg_x, seg_t, self.seen + pos))
            self._held_x.extend(seg_x.tolist())
            self._held_t.extend(seg_t.tolist())
            pos += take
            if len(self._held_x) >= stop:
                self._decide(self.seen + pos)
        return np.concatenate(out) if len(out) > 1 else out[0]

    def _decide(self, end: int) -> None:
        """Decide the grain (first) or the transform (then) from the held points, the last of which
        is the series' point ``end - 1``; start the parts over from them when the decision changes
        what they see."""
        held_x, held_t = np.asarray(self._held_x), np.asarray(self._held_t)
        first = end - held_x.shape[0]
        if self._quantum is None:
            self._quantum = quantum(held_x)
            known = held_x[np.isfinite(held_x)]
            self._origin = float(known[0]) if known.shape[0] else 0.0
            restart = self._quantum > 0.0
            if restart and _counted(held_x, self._quantum):
                self._silence = Silence(self._quantum, first)
        else:
            self._power, self._offset = noise_power(held_x)
            self._held_x, self._held_t = [], []
            restart = self._power > 0.0
        if restart:
            self._fresh_parts()
            self._combine(held_x, held_t, first)

    def _over_grain(self, x: FloatArray, first: int) -> FloatArray:
        """``x`` spread over the grain, up to the first value off it (a whole number of grains from
        the first held value): from there on the series is finer than its first 300 points were
        (an error ratio of 2 requests a minute, then 1,000), and its values are left as they are
        for good; the place is kept, so a replay of held points spreads the same ones."""
        q = self._quantum or 0.0
        if self._grain_until is not None and first >= self._grain_until:
            return x  # left for good before this batch
        place = first + np.arange(x.shape[0])
        on = place < self._grain_until if self._grain_until is not None else np.ones(x.shape[0], np.bool_)
        with np.errstate(invalid="ignore", over="ignore"):
            off = off_grain((x - self._origin) / q)  # NaN (missing) or inf (a glitch) is not off
        bad = np.flatnonzero(off & on)
        if bad.shape[0]:
            self._grain_until = int(place[bad[0]])
            on &= place < self._grain_until
        out: FloatArray = np.where(on, dither(x, q, first), x)
        return out

    def _decide_at(self) -> int:
        """Points held before the transform is decided: a day of them for a series whose day is a
        whole number of steps, 1,440 at most (one a minute; ``points_a_day``), else 300."""
        return max(_HOLD, min(points_a_day(self._step), 1440) + 1) if self._step > 0 else _HOLD

    def _combine(self, x: FloatArray, t: FloatArray, first: int) -> FloatArray:
        """The combined surprise of ``x`` (``first``: the place of ``x[0]`` in the series), the
        transforms applied once decided: the parts see it spread over its grain and stabilised,
        ``still`` only stabilised (a value frozen is frozen to the last digit)."""
        if x.shape[0] == 0:
            return np.zeros(0)
        raw = x
        alone_x = stabilise(x, self._power, self._offset) if self._power else x
        if self._quantum:
            spread = self._over_grain(x, first)
            x = stabilise(spread, self._power, self._offset) if self._power else spread
        else:
            x = alone_x
        if self._step < 0:  # it puts nothing back any more (its step changed): nor do its parts
            for part in (*self.parts, *self.alone):
                part.stop_filling()
        zs = [self.level.surprise(x, t)]
        self.knn.season = self.level.season  # the same time on the previous days, for its neighbours
        zs.append(self.knn.surprise(x, t))
        self.knn.season = None
        logs = sum(w * np.log(z + _EPS) for w, z in zip(self.weights, zs, strict=True))
        out: FloatArray = np.exp(logs / sum(self.weights)) - _EPS
        blind = self.knn.blind
        if blind is not None and blind.shape == out.shape and blind.any():
            out = np.where(blind, zs[0], out)
        # evidence only one part can see is not weighed against the others: the level part's
        # missing daily pattern, and a value that stopped changing
        for part in self.parts:
            out = np.maximum(out, part.side)
        for part in self.alone:
            out = np.maximum(out, part.surprise(alone_x, t))
        if self._counts is None and self._counts_open:
            self._counts = self._counts_from(raw, first)
        if self._counts is not None:  # a sparse count is as surprising as its tail, at most
            out = np.minimum(out, self._counts.surprise(raw, first))
            if not self._counts.valid:  # it is no sparse count (any more): for good
                self._counts, self._counts_open = None, False
        if self._silence is not None:  # a count fallen to nothing: as surprising as its chance
            out = np.maximum(out, self._silence.surprise(raw, first, _whole_day(self._step)))
            if not self._silence.valid:  # it is no count (any more): for good
                self._silence = None
        return np.maximum(out, 0.0)

    def _counts_from(self, x: FloatArray, first: int) -> CountModel | None:
        """While the series has been nothing but zeros (errors that had not happened yet; Loki's
        empty ranges filled in): its count model from its first value that is not 0, that value its
        grain (1 for a whole number); until then the zeros are counted. A series whose first known
        value is not 0, or is negative, is no sparse count. The model only ever lowers a surprise, and
        drops itself at a value off its grain or once its usual count reaches one a point (the series
        became busy); it is made at the same place of the series however the points are batched."""
        skip = max(self._counts_place - first, 0)
        self._counts_place = max(self._counts_place, first + x.shape[0])
        seg = x[skip:]
        known = np.isfinite(seg)
        moved = np.flatnonzero(known & (seg != 0))
        if moved.shape[0] == 0:
            self._zeros += int(known.sum())
            return None
        at = int(moved[0])
        self._zeros += int(known[:at].sum())
        value = float(seg[at])
        if self._zeros == 0 or value < 0:
            self._counts_open = False
            return None
        return CountModel(first_grain(value), first + skip + at, mean=0.0, n=self._zeros)

    def silence(self) -> float | None:
        return self._silence.unusual if self._silence is not None else None

    def silence_ordinary(self) -> bool:
        return self._silence is not None and self._silence.ordinary

    @property
    def min_history(self) -> int:
        return max(part.min_history for part in self.parts)

    def _state(self) -> dict[str, Any]:
        return {
            "weights": list(self.weights),
            "parts": [p.state() for p in self.parts],
            "alone": [p.state() for p in self.alone],
            "power": self._power,
            "offset": self._offset,
            "quantum": self._quantum,
            "origin": self._origin,
            "grain_until": self._grain_until,
            "held_x": encode_array(np.asarray(self._held_x, dtype=np.float64)),
            "held_t": encode_array(np.asarray(self._held_t, dtype=np.float64)),
            "decide_n": self._decide_n,
            "counts": None if self._counts is None else self._counts.state(),
            "counts_open": self._counts_open,
            "zeros": self._zeros,
            "counts_place": self._counts_place,
            "silence": None if self._silence is None else self._silence.state(),
        }

    def _restore(self, own: dict[str, Any]) -> None:
        # a state saved before the k-NN part weighed three times (and before the transform, which
        # came with it) continues with today's weights; a later one with its own
        if "power" in own:
            self.weights = tuple(float(w) for w in own["weights"])
        for part, st in zip(self.parts, own["parts"], strict=True):
            part.restore(st)
        # a state saved before a part existed: that part starts afresh
        for part, st in zip(self.alone, own.get("alone", []), strict=False):
            part.restore(st)
        # a state saved before the transform: its parts saw the points as they are, and go on so
        power = own.get("power", 0.0)
        self._power = None if power is None else float(power)
        self._offset = float(own.get("offset", 1.0))
        # a state saved before the grain existed: a series still holding its first day decides
        # it as any other; one whose transform was decided goes on without a grain
        grain = own.get("quantum", None if self._power is None else 0.0)
        self._quantum = None if grain is None else float(grain)
        self._origin = float(own.get("origin", 0.0))
        until = own.get("grain_until")
        self._grain_until = None if until is None else int(until)
        self._held_x = decode_array(own["held_x"]).tolist() if "held_x" in own else []
        self._held_t = decode_array(own["held_t"]).tolist() if "held_t" in own else []
        self._decide_n = int(own.get("decide_n", 0))
        counts = own.get("counts")  # (a state saved before sparse counts were known: none)
        self._counts = None if counts is None else CountModel.restored(counts)
        self._counts_open = bool(own.get("counts_open", False))  # (saved before: as then, none)
        self._zeros = int(own.get("zeros", 0))
        self._counts_place = int(own.get("counts_place", 0))
        silence = own.get("silence")
        if silence is not None:
            self._silence = Silence.restored(silence)
        elif (
            "silence" not in own
            and self._quantum
            and self._grain_until is None
            and _counted(np.asarray([self._origin]), self._quantum)
        ):
            # a state saved before silences were known: a series of counts (by its grain and first
            # value) gets one from here on (a value off the grain or below 0 drops it)
            self._silence = Silence(self._quantum, self.seen)


def _whole_day(step: float) -> int:
    """Points a day at ``step`` seconds when a day is a whole number of them (within 1%), however many
    (the level part keeps days of 1,440 points at most), and at least 24 (an hour a point); else 0."""
    if step <= 0:
        return 0
    per = 86400.0 / step
    # (a step over an hour has no hour either side of a day before: none)
    return round(per) if per >= 24 and abs(per - round(per)) <= 0.01 * per else 0


def _counted(x: FloatArray, grain: float) -> bool:
    """Whether every known value of ``x`` is a whole number of ``grain`` from 0, not below it: counts
    (of lines, of requests; a rate of them a fixed window makes whole again)."""
    known = x[np.isfinite(x)]
    return bool(known.shape[0]) and bool((known >= 0).all()) and not off_grain(known / grain).any()


DETECTORS: dict[str, type[StreamDetector]] = {
    cls.kind: cls
    for cls in (EnsembleDetector, LevelDetector, ChangeDetector, KnnDetector, StillDetector, RhythmDetector)
}


def make_detector(kind: str = "ensemble", **kw: Any) -> StreamDetector:
    """A fresh detector by name (``ensemble`` is the default)."""
    try:
        cls = DETECTORS[kind]
    except KeyError:
        raise ValueError(f"unknown detector {kind!r}; known: {', '.join(sorted(DETECTORS))}") from None
    return cls(**kw)


def restore_detector(state: dict[str, Any]) -> StreamDetector:
    """A detector continued from ``state`` (as ``StreamDetector.state()`` returned it)."""
    det = make_detector(str(state["kind"]))
    det.restore(state)
    return det
