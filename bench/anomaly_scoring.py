"""The windowed score of ``bench.anomaly_eval``, in the style of the Numenta Anomaly Benchmark
(NAB), standard profile: A_TP = 1, A_FP = -0.11, A_FN = -1.

Per file, the first ``min(15% of rows, 750)`` rows are a probation period (not scored; a window that
ends inside it is not scored either, neither found nor missed, as NAB's sweeper leaves it out). A detection
is a row whose score reaches the threshold. In each labelled window only the best (earliest)
detection counts, weighted by a scaled sigmoid of its position, 1 at the window's first row falling
to 0 at its end; a window with none costs A_FN. A detection outside every window costs A_FP times
a weight: the full weight before the first window, falling off with the distance after the
previous window's end (the same sigmoid), so a detection just after a window costs little. One
threshold is chosen over the whole corpus (the one with the best total). The total is normalised
so a perfect detector (every window at its first row, nothing else) scores 100 and one that never
fires 0.
"""

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = ["CorpusScore", "FileRows", "corpus_score", "probation", "scaled_sigmoid"]

A_TP, A_FP, A_FN = 1.0, -0.11, -1.0


def scaled_sigmoid(position: float) -> float:
    """NAB's: 2 / (1 + e^(5 x)) - 1 for x <= 3, else -1."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


_MAX_TP = scaled_sigmoid(-1.0)


def probation(rows: int) -> int:
    return min(math.floor(0.15 * rows), 750)


@dataclass
class FileRows:
    """One scored file: the score of every row, and the windows as inclusive row-index ranges."""

    scores: NDArray[np.float64]
    windows: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class CorpusScore:
    score: float
    threshold: float
    raw: float
    windows: int
    detected: int
    false_positives: int


def _weights(rows: FileRows) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per row: the weighted contribution if detected, and the index of its window in
    ``sorted(rows.windows)`` (-1 outside windows)."""
    n = rows.scores.shape[0]
    weight = np.empty(n)
    win = np.full(n, -1, dtype=np.int64)
    spans = sorted(rows.windows)
    j = 0
    prev: tuple[int, int] | None = None
    for i in range(n):
        while j < len(spans) and spans[j][1] < i:
            prev = spans[j]
            j += 1
        if j < len(spans) and spans[j][0] <= i <= spans[j][1]:
            lo, hi = spans[j]
            width = hi - lo + 1
            weight[i] = A_TP * scaled_sigmoid(-(hi - i + 1) / width) / _MAX_TP
            win[i] = j
        elif prev is None:
            weight[i] = -A_FP * -1.0
        else:
            lo, hi = prev
            width = max(hi - lo, 1)
            weight[i] = -A_FP * scaled_sigmoid(abs(hi - i) / width)
    return weight, win


def corpus_score(files: list[FileRows]) -> CorpusScore | None:
    """The normalised score at the best single threshold, or None when no file has a window after its
    probation period."""
    scores, weights, wins = [], [], []
    base = 0
    for f in files:
        # A window within the probation period still shapes the rows after it (a detection just
        # after it costs little), but is neither found nor missed.
        w, win = _weights(f)
        p = probation(f.scores.shape[0])
        kept = np.array([hi >= p for _, hi in sorted(f.windows)], dtype=bool)
        ids = np.where(kept, base + np.cumsum(kept) - 1, -1)  # scored windows numbered on from base
        if kept.any():
            win = np.where(win >= 0, ids[np.maximum(win, 0)], -1)
        base += int(kept.sum())
        scores.append(f.scores[p:])
        weights.append(w[p:])
        wins.append(win[p:])
    total_windows = base
    if total_windows == 0:
        return None  # every window lies in a probation period: nothing to score
    s = np.concatenate(scores)
    w = np.concatenate(weights)
    win = np.concatenate(wins)
    order = np.argsort(-s, kind="stable")
    s, w, win = s[order], w[order], win[order]
    null = A_FN * total_windows
    # running total as the threshold falls past each row: FP rows add their weight; a window
    # adds (its best weight so far) - (its previous best), the first time also removing its A_FN
    delta = np.where(win < 0, w, 0.0)
    best = np.full(total_windows, np.nan)
    detected_at = np.zeros(s.shape[0], dtype=np.int64)
    for i in np.flatnonzero(win >= 0).tolist():
        k = int(win[i])
        old = best[k]
        if math.isnan(old):
            best[k] = w[i]
            delta[i] = w[i] - A_FN
            detected_at[i] = 1
        elif w[i] > old:
            best[k] = w[i]
            delta[i] = w[i] - old
    running = null + np.cumsum(delta)
    fp_count = np.cumsum(win < 0)
    det_count = np.cumsum(detected_at)
    # a threshold can only sit between distinct scores: take the last row of each run of ties
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))
    if last.shape[0] == 0:
        return CorpusScore(0.0, 1.0, null, total_windows, 0, 0)
    pick = last[int(np.argmax(running[last]))]
    raw = float(running[pick])
    if raw <= null:
        return CorpusScore(0.0, float("inf"), null, total_windows, 0, 0)
    perfect = A_TP * total_windows
    norm = 100.0 * (raw - null) / (perfect - null)
    return CorpusScore(norm, float(s[pick]), raw, total_windows, int(det_count[pick]), int(fp_count[pick]))
