"""A model over windowed features: the distance from the last ``dim`` points to their nearest
neighbours among the windows of the recent past.

Distances are in units of the recent step noise (the mean absolute step between points). A pattern
the series has shown recently (a daily peak, a regular batch job) has close neighbours; a new shape
(a spike, a flat line where there was noise, a changed rhythm) does not. The memory is a bounded
ring of the last ``memory`` windows; distances are compared to their own slow average, so the
surprise is in "typical neighbour distances" and comparable across series.

Beside the memory, windows that were unusual to it when they came (3 typical distances away, with
a step of 5 noises in them: a reset, a spike, a job's start) are kept when they leave it, the
latest 100 and for two memories' length of points, and are neighbours still, one an event, near by
a tenth of their own largest step as by one noise (a reset from another height is near): a reset
that recurs every 400 points (one in the memory) is ordinary from its fourth time on, and stays so
while it recurs (each is unusual to the memory, so kept again); a spike seen three times long ago
is news again.

Missing points (put back for a gap, and carried over it) are not the series' behaviour: a window
of the memory holding one is never a neighbour (the previous days' windows an ensemble lends may),
and neither the step noise nor the typical distance counts them, so an outage's flat stretch does
not make the series look quieter than it is when it comes back.

Vectorised per block of ``block`` points: each block is scored against the memory as it stood before
the block (past points only), then joins it. Blocks are aligned on the series' point count, so how
the points are batched does not change the scores.
"""

import math
import threading
from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view
from numpy.typing import NDArray

from medic.detect.core import FloatArray, StreamDetector, decode_array, encode_array

__all__ = ["KnnDetector"]

_FLOOR = 1e-12  # the step noise's floor, relative to the level: far above float64's resolution
_STEP_CAP = 100.0  # a step counts as at most this many times the step noise (a glitch)
_CHUNK = 16  # whole blocks scored at once, at most (``_blocks``; under 2: block by block)
_SCRATCH = 16 * 50 * 600  # ... and no more than fit this many distances (a thread's scratch: 3.8 MB)
_RARE = 100  # unusual windows kept after they leave the memory (``_join``), the latest
_RARE_AGE = 2  # ... for this many memories' length of points at most (then a spike is news again)
_RARE_Z = 3.0  # unusual: this many typical distances from its neighbours when it came ...
_RARE_STEP = 5.0  # ... with a step of this many step noises in it (an event, not a level)
_EVENT = 50  # kept windows more than this many points apart are of two events
_REL = 0.1  # a kept event is near by a tenth of its own size (its largest step) as by one noise


def _medians(rows: FloatArray) -> FloatArray:
    """``np.median`` of each row of a few values (NaN-free: the state holds none), a tenth of its
    time."""
    s = np.sort(rows, axis=-1)
    m = s.shape[-1] // 2
    out: FloatArray = s[..., m] if s.shape[-1] % 2 else (s[..., m - 1] + s[..., m]) / 2.0
    return out


def _median(v: FloatArray) -> float:
    """``_medians`` of one window."""
    return float(_medians(v))


def _last_windows(a: FloatArray, d: int, n: int) -> FloatArray:
    """The last ``n`` windows of ``d`` consecutive values of ``a``, one a row (a copy: for the 50
    windows of a block, a fifth of the time ``sliding_window_view`` takes to check its arguments)."""
    first = a.shape[0] - d + 1 - n
    out: FloatArray = a[(first + np.arange(n))[:, None] + np.arange(d)]
    return out


def _smallest(g: FloatArray, k: int) -> FloatArray:
    """Each row's ``k`` smallest values, smallest first (NaN counting as the largest), taken out
    one at a time: for the few neighbours a window has, ten times as fast as ``np.partition`` on
    rows of 600. ``g`` is used up."""
    rows = np.arange(g.shape[0])
    out = np.empty((g.shape[0], k))
    for i in range(k):
        at = g.argmin(axis=1)
        out[:, i] = g[rows, at]
        if i == 0 and np.isnan(out[:, 0]).any():  # argmin takes a row's NaN first: none are near
            g[np.isnan(g)] = np.inf
            return _smallest(g, k)
        g[rows, at] = np.inf
    return out


def _row_means(near: FloatArray) -> FloatArray:
    """Each row's mean, summed from its first value on (the nearest first, as they were found)."""
    total = np.zeros(near.shape[0])
    for v in near.T:
        total += v
    out: FloatArray = total / near.shape[1]
    return out


def _unusual(
    wins: FloatArray,
    dist: FloatArray,
    typical: float | FloatArray,
    spread: float | FloatArray,
    holes: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Which of a block's windows were unusual when they came (kept, once they leave the memory, as
    ``_rare``): ``_RARE_Z`` typical distances or more from their neighbours, with a step of
    ``_RARE_STEP`` step noises or more in them (a reset, a spike, a job's start: an event, where a
    window that is far only by its level is a level the series visited, and a return to it is
    news), and no missing point. ``dist``: their distances in step noises from the memory (and
    the days) alone, so a shape that recurs stays kept while it recurs; ``typical`` and
    ``spread``: the typical distance and the step noise each was measured in (none is unusual
    while the typical distance is 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        out: NDArray[np.bool_] = (dist > _RARE_Z * np.maximum(typical, 0.05)) & (np.asarray(typical) > 0)
        out &= ~holes
        far = np.flatnonzero(out)  # (few: the steps of those only)
        if far.shape[0]:
            bar = _RARE_STEP * np.broadcast_to(np.asarray(spread, dtype=np.float64), out.shape)[far]
            out[far] = _largest_step(wins[far]) > bar
    return out


def _largest_step(wins: FloatArray) -> FloatArray:
    """Each window's largest step, in absolute value (an event's size)."""
    if wins.shape[1] < 2:
        return np.zeros(wins.shape[0])
    out: FloatArray = np.abs(np.diff(wins, axis=1)).max(axis=1)
    return out


def _events(g: FloatArray, at: NDArray[np.int64], k: int) -> FloatArray:
    """Each row's ``k`` smallest of ``g`` (a window's distances to kept windows whose last points
    were at ``at``, in order), one an event: kept windows within ``_EVENT`` points of each other
    are one event, so one old event (a burst, a slow climb) is one neighbour however many of its
    windows were kept. Infinite where there are fewer than ``k`` events."""
    cuts = np.flatnonzero(np.diff(at, prepend=at[0] - _EVENT - 1) > _EVENT)
    ev = np.minimum.reduceat(g, cuts, axis=1)
    if ev.shape[1] < k:
        ev = np.concatenate([ev, np.full((ev.shape[0], k - ev.shape[1]), np.inf)], axis=1)
    return _smallest(ev, k)


def _every(a: NDArray[Any], count: int, length: int, every: int) -> NDArray[Any]:
    """``count`` runs of ``length`` rows of ``a``, one starting every ``every`` rows (a view)."""
    shape = (count, length, *a.shape[1:])
    out: NDArray[Any] = as_strided(a, shape=shape, strides=(every * a.strides[0], *a.strides))
    return out


_local = threading.local()


def _scratch(name: str, shape: tuple[int, ...]) -> FloatArray:
    """An array of ``shape`` to write into, reused (per thread) from one call to the next."""
    bufs: dict[str, FloatArray] = _local.__dict__.setdefault("bufs", {})
    size = math.prod(shape)
    buf = bufs.get(name)
    if buf is None or buf.shape[0] < size:
        buf = bufs[name] = np.empty(size)
    return buf[:size].reshape(shape)


def _floor(level: float) -> float:
    """The step noise's floor at ``level``: ``_FLOOR`` of it, far above float64's resolution."""
    return _FLOOR * (1.0 + abs(level))


def _measured(spread: float, level: float) -> bool:
    """Whether a step noise was measured, not the floor (a memory that was all one value)."""
    return spread > 10.0 * _floor(level)


def _spread(mean_step: float, steps: int, level: float) -> float:
    """The step noise from the mean absolute step over ``steps`` steps, as a standard deviation,
    with its floor (also for none, or a mean past the float range)."""
    spread = mean_step * 0.8862 if steps else 0.0
    return max(spread, _floor(level)) if np.isfinite(spread) else _floor(level)


def _noise(ref: FloatArray, held: NDArray[np.bool_], level: float, before: float) -> float:
    """The step noise of ``ref``: the mean absolute step between points neither of which is
    missing (``held``: which are not), as a standard deviation, each step counted as at most
    ``_STEP_CAP`` times the noise ``before`` (an exporter's glitch of 1e19 made every distance 0
    for the 600 points it stayed in the memory), with a floor of ``_FLOOR`` of the ``level`` (the
    median of the last window, so a glitch as the last value is not the level)."""
    steps = np.abs(np.diff(ref))
    if not held.all():
        steps = steps[held[1:] & held[:-1]]
    if _measured(before, level):  # not from a floor: a series flat so far may become noisy at once
        steps = np.minimum(steps, _STEP_CAP * before)
    return _spread(float(steps.mean()) if steps.shape[0] else 0.0, steps.shape[0], level)


def _next_typical(typical: float, real: list[float], done: int, used: float, level: float) -> float:
    """The typical distance after a block of ``done`` points whose points that were not missing
    had the distances ``real``, measured in the step noise ``used`` at ``level``: its median, then
    a slow average of the blocks' medians (one ten times the average counts as that). Unchanged
    by a block mostly missing, or measured in the floor (a memory that was all one value: its
    distances are the floor's, and the typical one took thousands of points to recover)."""
    if 2 * len(real) <= done or not _measured(used, level):
        return typical
    ordered = sorted(real)  # a few dozen: faster than numpy here
    half = len(ordered) // 2
    mid = ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2.0
    return mid if typical == 0 else typical + 0.1 * (min(mid, 10.0 * typical) - typical)


class KnnDetector(StreamDetector):
    kind: ClassVar[str] = "knn"

    def __init__(
        self, *, dim: int = 8, memory: int = 600, neighbours: int = 3, block: int = 50, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.dim = dim
        self.memory = memory
        self.neighbours = neighbours
        self.block = block
        self.chunk = _CHUNK
        self._hist = np.zeros(0)  # the last `memory + dim` raw values
        self._miss = np.zeros(0, dtype=np.bool_)  # which of them were missing points (carried values)
        self._bank = np.zeros((0, dim))  # windows (raw values), oldest first
        self._norms = np.zeros(0)  # squared norms of the bank's windows, taken from ``_centre``
        self._centre = 0.0
        self._bank_c = self._bank
        self._typical = 0.0
        self._spread = 0.0  # the memory's step noise, measured when a block joins it
        self._count = 0
        self._pending: list[float] = []  # distances of the current block's points so far
        self._pending_recent: list[float] = []  # ... from the memory alone (``_unusual``)
        # the memory's windows that were unusual when they came (``_unusual``), and those of them
        # that left it (the latest ``_RARE``: with the place of each one's last point), neighbours
        # still, one an event: a reset or a spike that recurs less often than the memory is long
        # (a heap collected every few hundred points) was otherwise new each time
        self._flags = np.zeros(0, dtype=np.bool_)
        self._rare = np.zeros((0, dim))
        self._rare_at = np.zeros(0, dtype=np.int64)
        # lent by the ensemble for one batch: the level part's history and batch, the place of the
        # batch's first point in it, the points a day and the days it holds
        self.season: tuple[FloatArray, int, int, int, int] | None = None

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        out = np.zeros_like(x)
        # no typical distance yet (the first blocks; longer when they were flat or mostly missing):
        # no evidence, and kept out of the calibration, where as 0s they made the first surprises
        # about five times too large (a point of plain noise scored 0.44 at point 101)
        unready = np.zeros(x.shape[0], dtype=np.bool_)
        start = 0
        n = x.shape[0]
        while start < n:
            whole = min(
                (n - start) // self.block,
                self.chunk,
                _SCRATCH // (self.block * self.memory),
                self.memory // self.block + 1,  # (what leaves the memory in them was in it at their start)
            )
            if whole >= 2 and self._steady():  # whole blocks, many at once
                stop = start + whole * self.block
                out[start:stop], unready[start:stop] = self._blocks(x[start:stop], start)
                start = stop
                continue
            room = self.block - (self._count % self.block)
            stop = min(n, start + room)
            unready[start:stop] = self._typical <= 0
            out[start:stop] = self._block(x[start:stop], start)
            start = stop
        self._unready = unready
        return out

    def _steady(self) -> bool:
        """Whether the next point begins a block and the memory is full (as it is from the 13th
        block on): the blocks that follow can be scored together (``_blocks``)."""
        return (
            not self._pending
            and self.memory > self.neighbours  # (else ``_block`` finds no neighbours, and so must this)
            and self._count % self.block == 0
            and self._bank.shape[0] == self.memory
            and self._hist.shape[0] >= self.memory + self.dim - 1
            and self._miss.shape[0] == self._hist.shape[0]
        )

    def _blocks(self, x: FloatArray, offset: int) -> tuple[FloatArray, NDArray[np.bool_]]:
        """``_block`` for whole blocks at once, from a full memory (``_steady``): each block against
        the memory as it stood at its start, as block by block (to the last bit or two of a sum, a
        test holds), in a few numpy passes instead of a few dozen a block, and in scratch arrays
        reused from one call to the next (fresh ones of this size cost more in page faults than
        the arithmetic). The surprises, and which points had no typical distance yet."""
        d, m, blk, k = self.dim, self.memory, self.block, self.neighbours
        c = x.shape[0] // blk
        gaps = self.gaps[offset : offset + x.shape[0]]
        if gaps.shape[0] != x.shape[0]:  # scored outside ``surprise``: nothing is missing
            gaps = np.zeros(x.shape[0], dtype=np.bool_)
        e = np.concatenate([self._hist, x])
        miss = np.concatenate([self._miss, gaps])
        h = self._hist.shape[0]
        begins = h + blk * np.arange(c + 1)  # each block's first place in ``e`` (and the chunk's end)
        # each block's centre, as ``_index_bank`` takes it: the median of the memory's last window
        centres = _medians(e[begins[:, None] - d + np.arange(d)])
        win = sliding_window_view(e, d)  # row r: the window ending at place r + d - 1
        first = h - m - d + 1  # the row of the first block's oldest memory window
        banks = _every(win[first:], c, m, blk)  # each block's memory: (c, m, d)
        with np.errstate(over="ignore", invalid="ignore"):  # a glitch past the float range: 0 below
            banks_c = np.subtract(banks, centres[:c, None, None], out=_scratch("banks", (c, m, d)))
            norms = np.einsum("bij,bij->bi", banks_c, banks_c)
            holed = miss.any()
            if holed:
                holes = np.convolve(miss.astype(np.float64), np.ones(d), "valid")  # missing, per row
                norms[_every(holes[first:], c, m, blk) > 0] = np.inf
            banks_c *= -2.0  # w.(-2 b) is -2 (w.b) to the bit: one pass over the distances fewer
            wins = win[h - d + 1 : h - d + 1 + c * blk].reshape(c, blk, d) - centres[:c, None, None]
            g = np.matmul(wins, banks_c.transpose(0, 2, 1), out=_scratch("g", (c, blk, m)))
            g += norms[:, None, :]
            flat = wins.reshape(c * blk, d)
            own = np.einsum("ij,ij->i", flat, flat)
            near = _smallest(g.reshape(c * blk, m), k)
            place = offset + np.arange(c * blk)
            starts = offset + (place - offset) // blk * blk  # each point's block's first point
            earlier = self._days_before(flat, place, starts, m, np.repeat(centres[:c], blk))
            if earlier is not None:  # the k nearest of both: of the memory's k and the days' k
                near = np.sort(np.concatenate([near, _smallest(earlier - own[:, None], k)], axis=1), axis=1)
            # from the memory (and the days) alone: whether a window is unusual, and so kept
            recent = np.sqrt(np.maximum(_row_means(near[:, :k]) + own, 0.0) / d)
            spreads = self._spreads(e, miss, begins, centres)
            kept = self._kept_near(flat, own, centres, c, spreads)
            dist = recent
            if kept is not None:  # ... and of the kept unusual windows' k
                near = np.sort(np.concatenate([near[:, :k], kept], axis=1), axis=1)
                dist = np.sqrt(np.maximum(_row_means(near[:, :k]) + own, 0.0) / d)
        with np.errstate(over="ignore", invalid="ignore"):
            unit = np.repeat(spreads[:c], blk)
            for a in (recent,) if dist is recent else (recent, dist):  # (the same when nothing is kept)
                np.divide(a, unit, out=a)
                a[~np.isfinite(a)] = 0.0
        z = np.zeros(c * blk)
        unready = np.zeros(c * blk, dtype=np.bool_)
        typs = np.zeros(c)  # the typical distance each block was measured in
        typ = self._typical
        for b in range(c):
            seg = slice(b * blk, (b + 1) * blk)
            typs[b] = typ
            unready[seg] = typ <= 0
            if typ > 0:
                z[seg] = dist[seg] / max(typ, 0.05)
            typ = _next_typical(typ, dist[seg][~gaps[seg]].tolist(), blk, spreads[b], float(centres[b + 1]))
        self._typical = typ
        rows = slice(h - d + 1, h - d + 1 + c * blk)  # the chunk's windows' rows of ``win``
        raw = win[rows]
        holey = holes[rows] > 0 if holed else np.zeros(c * blk, dtype=np.bool_)
        flags = _unusual(raw, recent, np.repeat(typs, blk), np.repeat(spreads[:c], blk), holey)
        keep = m + d + blk
        self._hist, self._miss = e[-keep:], miss[-keep:]
        self._count += c * blk
        self._join(raw, flags)
        self._index_bank()
        self._spread = spreads[c]
        return z, unready

    def _kept_near(
        self, flat: FloatArray, own: FloatArray, centres: FloatArray, c: int, spreads: list[float]
    ) -> FloatArray | None:
        """For ``_blocks``: each window's ``_events`` among the kept unusual windows as they stood
        at its block's start (those kept before the chunk, and the unusual ones the blocks before
        it pushed out of the memory), ``inf`` where none; ``None`` when there are none for any.
        ``flat``: the chunk's windows, each taken from its block's centre (``centres``; ``own``:
        their ``|w|^2``), and each block's step noise (``spreads``)."""
        blk, k = self.block, self.neighbours
        pushed = np.flatnonzero(self._flags[: (c - 1) * blk])  # the memory's, pushed out in the chunk
        if self._rare.shape[0] + pushed.shape[0] == 0:
            return None
        kept = np.concatenate([self._rare, self._bank[pushed]])
        at = np.concatenate([self._rare_at, self._count - self._bank.shape[0] + pushed])
        hi = self._rare.shape[0] + np.searchsorted(pushed, blk * np.arange(c))  # each block's, up to
        young = np.searchsorted(at, self._count + blk * np.arange(c) - _RARE_AGE * self.memory)
        lo = np.maximum(hi - _RARE, young)  # ... from (the latest, and young enough at its start)
        size = _largest_step(kept)
        with np.errstate(over="ignore", invalid="ignore"):
            near = 1.0 + np.square(_REL * size[None, :] / np.asarray(spreads[:c])[:, None])
        g = np.stack(
            [
                self._kept_g(
                    flat[b * blk : (b + 1) * blk], own[b * blk : (b + 1) * blk], kept, near[b], centres[b]
                )
                for b in range(c)
            ]
        )
        cols = np.arange(kept.shape[0])
        held = (cols >= lo[:, None]) & (cols < hi[:, None])  # kept at each block's start
        return _events(np.where(held[:, None, :], g, np.inf).reshape(c * blk, -1), at, k)

    @staticmethod
    def _kept_g(
        wins: FloatArray, own: FloatArray, kept: FloatArray, near: FloatArray, centre: float
    ) -> FloatArray:
        """The squared distances of windows ``wins`` (taken from ``centre``; ``own``: their
        ``|w|^2``) to kept windows (raw, taken from it here), each divided by how near its event
        is by its size (``near``: ``1 + (_REL * largest step / step noise)^2``), less ``own``: as
        the memory's ``|b|^2 - 2 w.b``, to be merged with them."""
        kc = kept - centre
        with np.errstate(over="ignore", invalid="ignore"):
            d2 = np.einsum("ij,ij->i", kc, kc)[None, :] - 2.0 * (wins @ kc.T) + own[:, None]
            d2 /= near[None, :]
            g: FloatArray = d2 - own[:, None]
        return g

    def _join(self, new: FloatArray, flags: NDArray[np.bool_]) -> None:
        """A block's (or a chunk's) windows ``new`` join the memory, with which of them were unusual
        (``flags``); the unusual windows they push out of it are kept, the latest ``_RARE`` no older
        than ``_RARE_AGE`` memories (a spike seen three times long ago is news again)."""
        if self._flags.shape[0] != self._bank.shape[0]:  # a state saved before windows were kept
            self._flags = np.zeros(self._bank.shape[0], dtype=np.bool_)
        wins = np.concatenate([self._bank, new])
        marks = np.concatenate([self._flags, flags])
        out = wins.shape[0] - self.memory
        if out > 0 and marks[:out].any():
            gone = np.flatnonzero(marks[:out])
            self._rare = np.concatenate([self._rare, wins[gone]])[-_RARE:]
            self._rare_at = np.concatenate([self._rare_at, self._count - wins.shape[0] + gone])[-_RARE:]
        young = self._rare_at >= self._count - _RARE_AGE * self.memory  # (for the next block)
        if not young.all():
            self._rare, self._rare_at = self._rare[young], self._rare_at[young]
        self._bank = wins[-self.memory :].copy()
        self._flags = marks[-self.memory :]

    def _spreads(
        self, e: FloatArray, miss: NDArray[np.bool_], begins: NDArray[np.int64], centres: FloatArray
    ) -> list[float]:
        """The step noise each block of ``_blocks`` is measured in (the first: the current one),
        and the one after the last: ``_noise`` of the ``memory`` points before each block's start,
        each from the one before it. The means are taken for all blocks at once; a block with a
        step over the cap (a glitch) is measured again, capped, as ``_noise`` does."""
        m = self.memory
        c = begins.shape[0] - 1
        steps = np.abs(np.diff(e))
        pairs = ~(miss[1:] | miss[:-1])  # steps between two points that are not missing
        lo = int(begins[1]) - m  # the first step of the memory before the second block
        rows = _every(steps[lo:], c, m - 1, self.block)
        held = _every(pairs[lo:], c, m - 1, self.block)
        with np.errstate(over="ignore", invalid="ignore"):
            kept = np.where(held, rows, 0.0)
            count = held.sum(axis=1)
            means = kept.sum(axis=1) / np.maximum(count, 1)
            top = kept.max(axis=1)
        out = [self._spread]
        for b in range(c):
            before, level = out[-1], float(centres[b + 1])
            if _measured(before, level) and top[b] > _STEP_CAP * before:  # a glitch: capped, as ``_noise``
                ref = slice(int(begins[b + 1]) - m, int(begins[b + 1]))
                out.append(_noise(e[ref], ~miss[ref], level, before))
            else:
                out.append(_spread(float(means[b]), int(count[b]), level))
        return out

    def _block(self, x: FloatArray, offset: int = 0) -> FloatArray:
        """Score part of a block against the memory as it stood at the block's start; the block's
        windows join the memory (and its distances the typical one) when the block is complete."""
        d = self.dim
        gaps = self.gaps[offset : offset + x.shape[0]]
        if gaps.shape[0] != x.shape[0]:  # scored outside ``surprise``: nothing is missing
            gaps = np.zeros(x.shape[0], dtype=np.bool_)
        if self._miss.shape[0] != self._hist.shape[0]:  # a state saved before missing points were kept
            self._miss = np.zeros(self._hist.shape[0], dtype=np.bool_)
        if (
            self._hist.shape[0] < d - 1
        ):  # the very first block: pad with the first value (kept, so restoring sees it)
            pad = d - 1 - self._hist.shape[0]
            self._hist = np.concatenate([np.full(pad, x[0]), self._hist])
            self._miss = np.concatenate([np.zeros(pad, dtype=np.bool_), self._miss])
        hist, miss = self._hist, self._miss
        gapped = bool(gaps.any())
        holes = gapped or bool(miss.any())  # a missing point in the history or the batch
        e = np.concatenate([hist[-(d - 1) :] if d > 1 else hist[:0], x])
        wins = _last_windows(e, d, x.shape[0])  # one window ending at each new point
        into = self._count % self.block
        bank = self._bank
        z = np.zeros(x.shape[0])
        dist = np.zeros(x.shape[0])
        recent = dist  # from the memory (and the days) alone: whether a window is unusual, and so kept
        if bank.shape[0] > self.neighbours:
            # distances in raw units, then in units of the recent step noise; the windows are taken
            # from a recent value (``_centre``) first, so a level far above the noise (a byte counter,
            # an epoch) does not cancel the distances away in the dot products
            spread = self._spread  # of the memory as it stood at the block's start
            # |w - b|^2 = |w|^2 + |b|^2 - 2 w.b; the row's |w|^2 does not change which are nearest,
            # so it is added to the k nearest only (one 50 x 600 pass fewer, in place)
            with np.errstate(over="ignore", invalid="ignore"):  # a glitch past the float range: 0 below
                wins = wins - self._centre
                g = wins @ self._bank_c.T
                g *= -2.0
                g += self._norms
                k = self.neighbours
                own = np.einsum("ij,ij->i", wins, wins)
                place = offset + np.arange(x.shape[0])
                begins = np.full(x.shape[0], offset - into)
                centre = np.full(x.shape[0], self._centre)
                earlier = self._days_before(wins, place, begins, bank.shape[0], centre)
                if earlier is not None:
                    g = np.concatenate([g, earlier - own[:, None]], axis=1)
                near = _smallest(g, k)
                recent = np.sqrt(np.maximum(_row_means(near) + own, 0.0) / d) / spread
                if self._rare.shape[0]:  # ... and the kept unusual windows, one an event
                    with np.errstate(over="ignore", invalid="ignore"):
                        by_size = 1.0 + np.square(_REL * _largest_step(self._rare) / spread)
                    g_kept = self._kept_g(wins, own, self._rare, by_size, self._centre)
                    kept = _events(g_kept, self._rare_at, k)
                    near = np.sort(np.concatenate([near, kept], axis=1), axis=1)[:, :k]
                    dist = np.sqrt(np.maximum(_row_means(near) + own, 0.0) / d) / spread
                else:
                    dist = recent
                # fewer than k windows without a missing point, or a distance past the float range
                dist[~np.isfinite(dist)] = 0.0
                recent[~np.isfinite(recent)] = 0.0
            if self._typical > 0:
                z = dist / max(self._typical, 0.05)
        self._pending.extend((np.where(gaps, -1.0, dist) if gapped else dist).tolist())  # -1: missing
        self._pending_recent.extend((np.where(gaps, -1.0, recent) if gapped else recent).tolist())
        keep = self.memory + d + self.block
        self._hist = np.concatenate([hist, x])[-keep:]
        self._miss = (
            np.concatenate([miss, gaps])[-keep:] if holes else np.zeros(self._hist.shape[0], np.bool_)
        )
        self._count += x.shape[0]
        if self._count % self.block == 0:
            done = len(self._pending)
            new = _last_windows(self._hist, d, done)
            used = self._spread  # the noise the block's distances were measured in
            if bank.shape[0] > self.neighbours:
                holey = _last_windows(self._miss.astype(np.float64), d, done).max(axis=1) > 0
                flags = _unusual(new, np.array(self._pending_recent), self._typical, used, holey)
            else:
                flags = np.zeros(done, dtype=np.bool_)
            self._join(new, flags)
            self._index_bank()
            real = [v for v in self._pending if v >= 0.0]  # -1: a missing point
            if bank.shape[0] > self.neighbours:
                self._typical = _next_typical(self._typical, real, done, used, self._centre)
            self._spread = self._step_noise(0, used)
            self._pending, self._pending_recent = [], []
        return z

    def _days_before(
        self,
        wins: FloatArray,
        place: NDArray[np.int64],
        begins: NDArray[np.int64],
        banked: int,
        centre: FloatArray,
    ) -> FloatArray | None:
        """Squared distances to the windows at the same time (and a point either side) on the
        previous days, when the ensemble lent the level part's history (``season``) and the memory
        does not reach back that far: a shape the series shows once a day has three neighbours
        then, as a daily rise at one point a minute (1,440 a day) does not in 600 windows. ``place``:
        each window's last point, in the batch; ``begins``: its block's first point; ``centre``: the
        value its window was taken from."""
        if self.season is None:
            return None
        e, n0, start, p, days = self.season  # the series' points begin at ``start`` in ``e``
        d = self.dim
        j = n0 + place  # each point's place in ``e``
        first = n0 + begins  # its block's first point: the memory ends just before it
        shifts = np.array([-m * p + o for m in range(1, days + 1) for o in (-1, 0, 1)])
        # only the days that some point of a whole block (not just of this batch's part of it)
        # may take: not already in the memory, and not before the series began
        shifts = shifts[(shifts < -banked) & (int(first[-1]) + self.block - 1 + shifts - d + 1 >= start)]
        if shifts.shape[0] == 0:
            return None
        ends = j[:, None] + shifts[None, :]
        ok = (ends - d + 1 >= start) & (ends < (first - banked)[:, None])
        then = sliding_window_view(e, d)[np.clip(ends - d + 1, 0, None)]  # the window ending there
        d2 = np.square(then - centre[:, None, None] - wins[:, None, :]).sum(axis=2)
        out: FloatArray = np.where(ok, d2, np.inf)
        return out

    def _step_noise(self, unbanked: int, before: float) -> float:
        """The step noise of the memory (the last ``memory`` points before the last ``unbanked``;
        see ``_noise``)."""
        end = self._hist.shape[0] - unbanked
        ref = self._hist[:end][-self.memory :]
        if ref.shape[0] == 0:
            return 0.0
        return _noise(ref, ~self._miss[:end][-self.memory :], _median(ref[-self.dim :]), before)

    def _index_bank(self, unbanked: int = 0) -> None:
        """What scoring needs of the bank, after it changed: its centre (``_centre``), the bank taken
        from it (``_bank_c``) and their squared norms (``_norms``), infinite for a window that holds
        a missing point (never near); the last ``unbanked`` points of the history are not in the
        bank yet."""
        # the median of the latest window: one glitch there (1e200) is not the centre
        self._centre = _median(self._bank[-1]) if self._bank.shape[0] else 0.0
        self._bank_c = self._bank - self._centre
        norms: FloatArray = np.einsum("ij,ij->i", self._bank_c, self._bank_c)
        n = self._bank.shape[0]
        if n and self._miss.shape[0] >= self.dim and self._miss.any():
            miss = self._miss[: self._miss.shape[0] - unbanked].astype(np.float64)
            holes = np.convolve(miss, np.ones(self.dim), "valid")[-n:]  # missing points per window
            norms[holes > 0] = np.inf
        self._norms = norms

    @property
    def min_history(self) -> int:
        return self.dim + self.block

    def _state(self) -> dict[str, Any]:
        return {
            "dim": self.dim,
            "memory": self.memory,
            "neighbours": self.neighbours,
            "block": self.block,
            "typical": self._typical,
            "spread": self._spread,
            "count": self._count,
            "pending": self._pending,
            "pending_recent": self._pending_recent,
            "hist": encode_array(self._hist),
            "miss": encode_array(self._miss, "u1"),
            "flags": encode_array(self._flags, "u1"),
            "rare": encode_array(self._rare),
            "rare_at": encode_array(self._rare_at, "<i8"),
        }

    def _restore(self, own: dict[str, Any]) -> None:
        self.dim = int(own["dim"])
        self.memory = int(own["memory"])
        self.neighbours = int(own["neighbours"])
        self.block = int(own["block"])
        self._typical = float(own["typical"])
        self._count = int(own["count"])
        self._pending = [float(v) for v in own["pending"]]
        # a state saved before: the distances were from the memory alone
        self._pending_recent = [float(v) for v in own.get("pending_recent", own["pending"])]
        self._hist = decode_array(own["hist"])
        miss = own.get("miss")  # a state saved before missing points were kept: none were
        self._miss = decode_array(miss) > 0 if miss else np.zeros(self._hist.shape[0], dtype=np.bool_)
        done = self._count - len(self._pending)  # points whose windows are in the memory
        h = self._hist[: self._hist.shape[0] - len(self._pending)]
        n = min(self.memory, done, max(0, h.shape[0] - self.dim + 1))
        self._bank = sliding_window_view(h, self.dim)[-n:].copy() if n else np.zeros((0, self.dim))
        # a state saved before unusual windows were kept: none were
        flags = decode_array(own["flags"]) > 0 if "flags" in own else np.zeros(0, dtype=np.bool_)
        self._flags = flags if flags.shape[0] == n else np.zeros(n, dtype=np.bool_)
        rare = decode_array(own["rare"]).reshape(-1, self.dim) if "rare" in own else np.zeros((0, self.dim))
        at = decode_array(own["rare_at"]).astype(np.int64) if "rare_at" in own else np.zeros(0, np.int64)
        if at.shape[0] != rare.shape[0]:  # (a state edited by hand)
            rare, at = np.zeros((0, self.dim)), np.zeros(0, np.int64)
        self._rare, self._rare_at = rare, at
        self._index_bank(len(self._pending))
        # a state saved before the step noise was kept: measured again, as it then was (no cap)
        self._spread = float(own["spread"]) if "spread" in own else self._step_noise(len(self._pending), 0.0)
