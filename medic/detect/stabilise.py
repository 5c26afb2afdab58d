"""Variance stabilisation: a series whose noise grows with its level (a request rate or a count, with
Poisson noise that grows as the square root of the level; a latency or a byte rate, whose noise is
in proportion) is quieter at night and noisier in the busy hours than its day's average. Measured
in one noise for the whole day, a spike at a quiet hour looks small and an ordinary busy hour looks
surprising. The classical cure is a power transform that makes the noise the same at every level:
the square root for noise that grows as the square root of the level, the logarithm for noise in
proportion (Box and Cox; Anscombe for counts).

``noise_power`` measures how the noise grows with the level, from the first day of a series (or
its first 300 points, whichever is longer): the series is cut into blocks of 20 points, and the
slope of the log of each block's mean absolute step (less its two largest: a level that jumps,
as a daily job's, is no noise) against the log of its median, by Huber's robust regression, is the power
(0: the noise does not grow; 0.5: Poisson; 1: in proportion). It says 0 for a series that goes below
zero, and for one whose level does not vary by a factor of two over the blocks (then any transform
is nearly linear, and the power cannot be told). ``stabilise`` then applies the transform for the
nearest of 0, 1/2 and 1 (none, square root, logarithm), the first line at 0.35, not 0.25: a day
of a series whose noise does not grow measures up to 0.3 (its blocks are few), counts from 0.3 up.
The transform is taken from ``offset`` (the low end of the series' positive values), so that 0
stays 0 and is not an infinite distance from 1.

``quantum`` and ``dither``: a series whose values come in whole steps of a grain (a count at a low
level, a rounded gauge) and whose noise is of the grain's size repeats values exactly, which no
continuous noise does: its median step is 0 and its windows have exact neighbours. The ensemble's
level and k-NN parts see each value moved by up to half a grain (what the reading could have
been), by a fixed function of the point's place in the series.
"""

import functools
import threading
import warnings
from typing import Any

import numpy as np
from numpy.typing import NDArray

from medic.detect.core import FloatArray

__all__ = ["dither", "noise_power", "off_grain", "preload", "quantum", "stabilise"]

_BLOCK = 20  # points per block: a level and a noise each
_MIN_BLOCKS = 8  # blocks with a positive level and noise, before a power is said
_MIN_RANGE = 0.7  # the blocks' levels must span a factor of two (10th to 90th percentile, in logs)


def noise_power(x: FloatArray) -> tuple[float, float]:
    """The power of the level that the noise grows as (0, 0.5 or 1) and the transform's offset."""
    v = x[np.isfinite(x)]
    n = v.shape[0] // _BLOCK
    if n < _MIN_BLOCKS or float(v.min()) < 0.0:
        return 0.0, 1.0
    blocks = v[: n * _BLOCK].reshape(n, _BLOCK)
    level = np.median(blocks, axis=1)
    noise = np.sort(np.abs(np.diff(blocks, axis=1)), axis=1)[:, :-2].mean(axis=1)  # not a jump's step
    ok = (level > 0) & (noise > 0) & np.isfinite(level) & np.isfinite(noise)
    if int(ok.sum()) < _MIN_BLOCKS:
        return 0.0, 1.0
    log_level, log_noise = np.log(level[ok]), np.log(noise[ok])
    lo, hi = np.quantile(log_level, [0.1, 0.9])
    if hi - lo < _MIN_RANGE:
        return 0.0, 1.0
    slope = _robust_slope(log_level, log_noise)
    if not np.isfinite(slope):
        return 0.0, 1.0
    power = 0.0 if slope < 0.35 else (0.5 if slope < 0.75 else 1.0)
    positive = v[v > 0]
    return power, float(np.quantile(positive, 0.1))


_FIT = threading.Lock()  # one fit at a time: the thread limit and the warning filter are the process's


@functools.cache
def _threads() -> Any:
    """The process's thread pools (BLAS, OpenMP), looked up once: a ``ThreadpoolController``.
    scikit-learn (with scipy, 0.7 s and 80 MB) is loaded when a series first decides, not when
    ``medic check`` or the API import the detectors."""
    from threadpoolctl import ThreadpoolController  # noqa: PLC0415

    return ThreadpoolController()


def preload() -> None:
    """Load scikit-learn now rather than when the first series decides (a benchmark keeps the
    loading out of its clock, as it does numpy's)."""
    import sklearn.linear_model  # noqa: F401, PLC0415

    _threads()


def _robust_slope(x: FloatArray, y: FloatArray) -> float:
    """The slope of Huber's regression of ``y`` on ``x`` (scikit-learn's): a block whose noise an
    anomaly or a job's edge set is an outlier to it, not a lever as to least squares (on the
    developers' field suite, 0.5 points better; the classic and ops suites decide alike)."""
    from sklearn.exceptions import ConvergenceWarning  # noqa: PLC0415 - see _threads
    from sklearn.linear_model import HuberRegressor  # noqa: PLC0415

    # one thread: a fit of a few dozen points gains nothing from more, and the BLAS threads it
    # would wake spin on the other cores after it (CPU a pod's limit counts)
    with _FIT, warnings.catch_warnings(), _threads().limit(limits=1):  # neither is thread-safe
        warnings.simplefilter("ignore", ConvergenceWarning)  # 100 iterations place the line well enough
        fit = HuberRegressor().fit(x[:, None], y)
    return float(fit.coef_[0])


def stabilise(x: FloatArray, power: float, offset: float) -> FloatArray:
    """``x`` with its noise made the same at every level (``power`` as ``noise_power`` said; NaN
    stays NaN; a value below 0, which the series had not shown, is mirrored)."""
    if power <= 0.0:
        return x
    a = np.abs(x)
    u = a / offset
    if power >= 1.0:  # log(1 + u), and as log(a + offset) - log(offset) where u overflows
        y = np.where(u < 1e300, np.log1p(np.minimum(u, 1e300)), np.log(a + offset) - np.log(offset))
    else:  # 2 (sqrt(1 + u) - 1), with the square root of a before the division
        y = 2.0 * (np.sqrt(a + offset) / np.sqrt(offset) - 1.0)
    out: FloatArray = np.sign(x) * y
    return out


_TIES = 0.05  # steps that are exactly 0, of all, from which the values' grain matters


def quantum(x: FloatArray) -> float:
    """The grain of a series whose values come in whole steps of it (counts, a rounded percentage,
    a value printed with one decimal), when its noise is of the grain's size: at least 5% of the
    steps between points are exactly 0, and at least 5% are not (a value that mostly holds and
    now and then moves, a status or a noiseless square wave, has no noise to spread); else 0."""
    v = x[np.isfinite(x)]
    steps = np.abs(np.diff(v))
    if steps.shape[0] < _MIN_BLOCKS * _BLOCK:
        return 0.0
    tiny = 1e-9 * (1.0 + float(np.median(np.abs(v))))  # below it, a float's rounding, not a step
    moved = steps[steps > tiny]
    ties = float(np.mean(steps <= tiny))
    if not _TIES <= ties <= 1.0 - _TIES:
        return 0.0
    q = float(moved.min())
    return 0.0 if off_grain(moved / q).any() else q


def off_grain(grains: FloatArray) -> NDArray[np.bool_]:
    """Which of these amounts, in grains, are not whole numbers of grains (beyond a float's
    rounding of a value printed in decimals: 0.3 / 0.1 is 2.9999999999999996); NaN and inf are not."""
    with np.errstate(invalid="ignore"):
        off: NDArray[np.bool_] = np.abs(grains - np.rint(grains)) > 1e-6 * np.abs(grains) + 1e-6
    return off


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _uniform(first: int, n: int) -> FloatArray:
    """``n`` numbers uniform in [0, 1), a fixed function of each point's place in the series from
    ``first`` (SplitMix64), so that batching and restoring do not change them."""
    z = np.arange(first, first + n, dtype=np.uint64) * _GOLDEN + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    out: FloatArray = (z >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


def dither(x: FloatArray, q: float, first: int) -> FloatArray:
    """``x`` spread over its grain: each value moved by up to half of ``q``, by a fixed function of
    its place in the series (``first`` is the place of ``x[0]``), so that values that are equal
    only because they were counted or rounded are no longer exactly equal (NaN stays NaN)."""
    if q <= 0.0 or x.shape[0] == 0:
        return x
    out: FloatArray = x + q * (_uniform(first, x.shape[0]) - 0.5)
    return out
