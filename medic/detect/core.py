"""What every streaming detector shares: the score scale, warm-up, sensitivity, alarm suppression and
compact state.

A detector turns each point into a *surprise* in "robust standard deviations" (about 1 for an
ordinary point, 5 or more for a notable one), computed from past points only. The shared part then:

1. zeroes it until the detector's windows hold real points (``min_history``), calibrates it to the
   series' own typical surprise (``_calibrate``), and zeroes the warm-up (``warmup`` points per
   series: no alarm before the detector has seen enough);
2. multiplies by the series' ``sensitivity`` (2.0 alarms at half the surprise: it moves the
   threshold for that series alone, so one threshold serves every series);
3. suppresses repeats: a surprise counts only when it exceeds 1.5 times the decaying memory of the
   recent ones, so one incident (a spike, a shift that stays) is reported once, not at every point
   until the detector has adapted, and a later, stronger departure is still reported;
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
    "FloatArray",
    "StreamDetector",
    "decode_array",
    "encode_array",
    "score_from_surprise",
    "surprise_from_score",
]

FloatArray = NDArray[np.float64]

_HALF = 5.0  # surprise at which the score is 0.5
_SETTLE = 20  # points before the calibration speaks (its first estimates are too rough)


def score_from_surprise(z: FloatArray) -> FloatArray:
    """The one fixed, monotone map from surprise to a score in [0, 1)."""
    z2 = np.square(z)
    out: FloatArray = z2 / (z2 + _HALF * _HALF)
    return out


def surprise_from_score(score: float) -> float:
    """The inverse of ``score_from_surprise``: the surprise a score threshold stands for."""
    s = min(max(score, 0.0), 1.0 - 1e-12)
    return float(_HALF * np.sqrt(s / (1.0 - s)))


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

    # -- the public surface -------------------------------------------------------------------
    def update(self, values: Any, times: Any = None) -> FloatArray:
        """Score a batch of points (in order; ``times`` in epoch seconds, optional)."""
        z = self.surprise(values, times)
        return score_from_surprise(self._suppress(z * self.sensitivity))

    def surprise(self, values: Any, times: Any = None) -> FloatArray:
        """The calibrated surprise of each point (warm-up zeroed, before sensitivity and suppression)."""
        x = np.array(values, dtype=np.float64, ndmin=1)
        n = x.shape[0]
        if n == 0:
            return np.zeros(0)
        t = (
            np.arange(self.seen, self.seen + n, dtype=np.float64)
            if times is None
            else np.array(times, dtype=np.float64, ndmin=1)
        )
        missing = ~np.isfinite(x)
        if missing.any():
            x = self._fill(x, missing)
        z = self._surprise(x, t)
        z[missing] = 0.0
        z = np.nan_to_num(np.maximum(z, 0.0), nan=0.0, posinf=1e6)
        early = min(max(self.min_history - self.seen, 0), n)
        z[:early] = 0.0  # windows still padded: not evidence, and kept out of the calibration
        if self.calibrates:
            z[early:] = self._calibrate(z[early:])
        warm = self.warmup - self.seen
        if warm > 0:
            z[:warm] = 0.0
        self.seen += n
        self._last = float(x[-1])
        return z

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
        self._restore(state["own"])

    # -- for subclasses -----------------------------------------------------------------------
    @property
    def min_history(self) -> int:
        """Points before this detector's windows hold only real points (its surprise is 0 until then,
        whatever ``warmup`` says)."""
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
        out = x.copy()
        last = self._last if np.isfinite(self._last) else 0.0
        for i in range(out.shape[0]):
            if missing[i]:
                out[i] = last
            else:
                last = out[i]
        return out

    def _calibrate(self, z: FloatArray) -> FloatArray:
        """In units of this series' own typical surprise (a slow root mean square of the past ones,
        each capped at 10; 0 for the first ``_SETTLE`` points), so a series whose ordinary points are
        all a little surprising (heavy tails, autocorrelated noise) does not alarm more often than a
        quiet one."""
        ms = self._rms
        c = self._calibrated
        out = z.tolist()
        for i, v in enumerate(out):
            out[i] = v / math.sqrt(ms) if ms > 0 and c >= _SETTLE else 0.0
            c += 1
            q = v * v if v < 10.0 else 100.0
            ms += (q - ms) / (c if c < 2000 else 2000)
        self._rms, self._calibrated = ms, c
        return np.asarray(out, dtype=np.float64)

    def _suppress(self, z: FloatArray) -> FloatArray:
        """Report a departure once: a surprise under the decaying memory of recent ones is damped."""
        decay = 0.5 ** (1.0 / self.refractory)
        m = self._memory
        out = z.tolist()
        for i, v in enumerate(out):
            if v <= 1.5 * m:
                out[i] = 0.0
            m = max(m * decay, v)
        self._memory = m
        return np.asarray(out, dtype=np.float64)
