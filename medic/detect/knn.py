"""A model over windowed features: the distance from the last ``dim`` points to their nearest
neighbours among the windows of the recent past.

Distances are in units of the recent step noise (the mean absolute step between points). A pattern
the series has shown recently (a daily peak, a regular batch job) has close neighbours; a new shape
(a spike, a flat line where there was noise, a changed rhythm) does not. The memory is a bounded
ring of the last ``memory`` windows; distances are compared to their own slow average, so the
surprise is in "typical neighbour distances" and comparable across series.

Missing points (put back for a gap, and carried over it) are not the series' behaviour: a window
of the memory holding one is never a neighbour (the previous days' windows an ensemble lends may),
and neither the step noise nor the typical distance counts them, so an outage's flat stretch does
not make the series look quieter than it is when it comes back.

Vectorised per block of ``block`` points: each block is scored against the memory as it stood before
the block (past points only), then joins it. Blocks are aligned on the series' point count, so how
the points are batched does not change the scores.
"""

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from medic.detect.core import FloatArray, StreamDetector, decode_array, encode_array

__all__ = ["KnnDetector"]

_FLOOR = 1e-12  # the step noise's floor, relative to the level: far above float64's resolution
_STEP_CAP = 100.0  # a step counts as at most this many times the step noise (a glitch)


def _median(v: FloatArray) -> float:
    """``np.median`` of a window's few values (NaN-free: the state holds none), a tenth of its time."""
    s = np.sort(v)
    m = s.shape[0] // 2
    return float(s[m]) if s.shape[0] % 2 else float((s[m - 1] + s[m]) / 2.0)


def _last_windows(a: FloatArray, d: int, n: int) -> FloatArray:
    """The last ``n`` windows of ``d`` consecutive values of ``a``, one a row (a copy: for the 50
    windows of a block, a fifth of the time ``sliding_window_view`` takes to check its arguments)."""
    first = a.shape[0] - d + 1 - n
    out: FloatArray = a[(first + np.arange(n))[:, None] + np.arange(d)]
    return out


def _smallest_mean(g: FloatArray, k: int) -> FloatArray:
    """The mean of each row's ``k`` smallest values (NaN counting as the largest), taken out one at a
    time: for the few neighbours a window has, ten times as fast as ``np.partition`` on rows of 600.
    ``g`` is used up."""
    if np.isnan(g).any():
        g[np.isnan(g)] = np.inf
    rows = np.arange(g.shape[0])
    total = np.zeros(g.shape[0])
    for _ in range(k):
        at = g.argmin(axis=1)
        total += g[rows, at]
        g[rows, at] = np.inf
    out: FloatArray = total / k
    return out


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
            room = self.block - (self._count % self.block)
            stop = min(n, start + room)
            unready[start:stop] = self._typical <= 0
            out[start:stop] = self._block(x[start:stop], start)
            start = stop
        self._unready = unready
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
                earlier = self._days_before(wins, offset, into, bank.shape[0])
                if earlier is not None:
                    g = np.concatenate([g, earlier - own[:, None]], axis=1)
                near = _smallest_mean(g, k) + own
                dist = np.sqrt(np.maximum(near, 0.0) / d) / spread
                # fewer than k windows without a missing point, or a distance past the float range
                dist[~np.isfinite(dist)] = 0.0
            if self._typical > 0:
                z = dist / max(self._typical, 0.05)
        self._pending.extend((np.where(gaps, -1.0, dist) if gapped else dist).tolist())  # -1: missing
        keep = self.memory + d + self.block
        self._hist = np.concatenate([hist, x])[-keep:]
        self._miss = (
            np.concatenate([miss, gaps])[-keep:] if holes else np.zeros(self._hist.shape[0], np.bool_)
        )
        self._count += x.shape[0]
        if self._count % self.block == 0:
            done = len(self._pending)
            new = _last_windows(self._hist, d, done)
            self._bank = np.concatenate([bank, new])[-self.memory :]
            self._index_bank()
            used = self._spread  # the noise the block's distances were measured in
            real = [v for v in self._pending if v >= 0.0]  # -1: a missing point
            # not from a block measured in the floor (a memory that was all one value): its
            # distances are the floor's, and the typical one took thousands of points to recover
            measured = used > 10.0 * _FLOOR * (1.0 + abs(self._centre))
            if bank.shape[0] > self.neighbours and 2 * len(real) > done and measured:
                ordered = sorted(real)  # a few dozen: faster than numpy here
                half = len(ordered) // 2
                mid = ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2.0
                typ = self._typical
                self._typical = mid if typ == 0 else typ + 0.1 * (min(mid, 10.0 * typ) - typ)
            self._spread = self._step_noise(0, used)
            self._pending = []
        return z

    def _days_before(self, wins: FloatArray, offset: int, into: int, banked: int) -> FloatArray | None:
        """Squared distances to the windows at the same time (and a point either side) on the
        previous days, when the ensemble lent the level part's history (``season``) and the memory
        does not reach back that far: a shape the series shows once a day has three neighbours
        then, as a daily rise at one point a minute (1,440 a day) does not in 600 windows."""
        if self.season is None:
            return None
        e, n0, start, p, days = self.season  # the series' points begin at ``start`` in ``e``
        d = self.dim
        j = n0 + offset + np.arange(wins.shape[0])  # each point's place in ``e``
        first = n0 + offset - into  # the block's first point: the memory ends just before it
        shifts = np.array([-m * p + o for m in range(1, days + 1) for o in (-1, 0, 1)])
        # only the days that some point of the whole block (not just of this batch's part of it)
        # may take: not already in the memory, and not before the series began
        shifts = shifts[(shifts < -banked) & (first + self.block - 1 + shifts - d + 1 >= start)]
        if shifts.shape[0] == 0:
            return None
        ends = j[:, None] + shifts[None, :]
        ok = (ends - d + 1 >= start) & (ends < first - banked)
        at = np.clip(ends, d - 1, None)[..., None] - (d - 1) + np.arange(d)
        d2 = np.square(e[at] - self._centre - wins[:, None, :]).sum(axis=2)  # wins: from the centre
        out: FloatArray = np.where(ok, d2, np.inf)
        return out

    def _step_noise(self, unbanked: int, before: float) -> float:
        """The step noise of the memory (the last ``memory`` points before the last ``unbanked``):
        the mean absolute step between points neither of which is missing, as a standard deviation,
        each step counted as at most ``_STEP_CAP`` times the noise ``before`` (an exporter's glitch
        of 1e19 made every distance 0 for the 600 points it stayed in the memory), with a floor of
        ``_FLOOR`` of the level."""
        end = self._hist.shape[0] - unbanked
        ref = self._hist[:end][-self.memory :]
        if ref.shape[0] == 0:
            return 0.0
        steps = np.abs(np.diff(ref))
        held = ~self._miss[:end][-self.memory :]
        if not held.all():
            steps = steps[held[1:] & held[:-1]]
        # of the level: the median of the last window, so a glitch as the last value is not the level
        floor = _FLOOR * (1.0 + abs(_median(ref[-self.dim :])))
        if before > 10.0 * floor:  # not from a floor: a series flat so far may become noisy at once
            steps = np.minimum(steps, _STEP_CAP * before)
        spread = float(steps.mean()) * 0.8862 if steps.shape[0] else 0.0
        return max(spread, floor) if np.isfinite(spread) else floor

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
            "hist": encode_array(self._hist),
            "miss": encode_array(self._miss, "u1"),
        }

    def _restore(self, own: dict[str, Any]) -> None:
        self.dim = int(own["dim"])
        self.memory = int(own["memory"])
        self.neighbours = int(own["neighbours"])
        self.block = int(own["block"])
        self._typical = float(own["typical"])
        self._count = int(own["count"])
        self._pending = [float(v) for v in own["pending"]]
        self._hist = decode_array(own["hist"])
        miss = own.get("miss")  # a state saved before missing points were kept: none were
        self._miss = decode_array(miss) > 0 if miss else np.zeros(self._hist.shape[0], dtype=np.bool_)
        done = self._count - len(self._pending)  # points whose windows are in the memory
        h = self._hist[: self._hist.shape[0] - len(self._pending)]
        n = min(self.memory, done, max(0, h.shape[0] - self.dim + 1))
        self._bank = sliding_window_view(h, self.dim)[-n:].copy() if n else np.zeros((0, self.dim))
        self._index_bank(len(self._pending))
        # a state saved before the step noise was kept: measured again, as it then was (no cap)
        self._spread = float(own["spread"]) if "spread" in own else self._step_noise(len(self._pending), 0.0)
