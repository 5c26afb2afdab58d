"""Change points: has the level or the variance of the last few points moved away from what the
points before them predict?

For each point, two windows: the ``short`` points ending at it, and the ``long`` points before
those. The level test compares the short window's mean with the long window's least-squares line
extrapolated to the short window's centre (a trend is not a change), in units of its standard
error; the noise is the median absolute step between consecutive points of the long window. The
variance test compares the mean absolute step in the short window with the long window's, as a log
ratio in units of its standard error. The surprise is the larger of the two.

Both are linear or order statistics over sliding windows, so a batch is a handful of numpy calls;
the state is the last ``short + long`` values.
"""

from typing import Any, ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from medic.detect.core import FloatArray, StreamDetector, decode_array, encode_array, step_noise

__all__ = ["ChangeDetector"]


def _extrapolation(long: int, short: int) -> tuple[FloatArray, float]:
    """Weights giving the least-squares line's value at the short window's centre, and that
    estimate's variance per unit noise variance."""
    u = np.arange(long, dtype=np.float64)
    ubar = u.mean()
    sxx = float(((u - ubar) ** 2).sum())
    x0 = long + (short - 1) / 2.0
    w = 1.0 / long + (x0 - ubar) * (u - ubar) / sxx
    return w, float((w * w).sum())


class ChangeDetector(StreamDetector):
    kind: ClassVar[str] = "change"

    def __init__(self, *, short: int = 6, long: int = 60, **kw: Any) -> None:
        super().__init__(**kw)
        self.short = short
        self.long = long
        self._hist = np.zeros(0)

    def _surprise(self, x: FloatArray, t: FloatArray) -> FloatArray:
        m, n = self.short, self.long
        span = m + n
        hist = self._hist
        if hist.shape[0] < span - 1:
            hist = np.concatenate([np.full(span - 1 - hist.shape[0], x[0]), hist])
        e = np.concatenate([hist[-(span - 1) :], x])
        win = sliding_window_view(e, span)  # one per new point, ending at it
        old, new = win[:, :n], win[:, n:]
        w, var_pred = _extrapolation(n, m)
        pred = old @ w
        steps_old = np.abs(np.diff(old, axis=1))
        mean_old = steps_old.mean(axis=1)
        noise = step_noise(steps_old)
        noise = np.maximum(noise, 1e-12 * (1.0 + np.abs(pred)))
        z_level = np.abs(new.mean(axis=1) - pred) / (noise * np.sqrt(1.0 / m + var_pred))
        steps_new = np.abs(np.diff(win[:, n - 1 :], axis=1)).mean(axis=1)
        floor = np.maximum(mean_old, noise * 0.7979)
        ratio = np.log((steps_new + 0.05 * floor) / (floor * 1.05))
        z_var = np.abs(ratio) / (0.756 / np.sqrt(m)) * 0.5
        self._hist = e[-(span - 1) :].copy()
        out: FloatArray = np.maximum(z_level, z_var)
        return out

    @property
    def min_history(self) -> int:
        return self.short + self.long

    def _state(self) -> dict[str, Any]:
        return {"short": self.short, "long": self.long, "hist": encode_array(self._hist)}

    def _restore(self, own: dict[str, Any]) -> None:
        self.short = int(own["short"])
        self.long = int(own["long"])
        self._hist = decode_array(own["hist"])
