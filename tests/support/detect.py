"""Feeding a streaming detector in batches, saved to JSON and restored after each (what a scan
does between its runs), to compare with the whole series at once."""

import json

import numpy as np

from medic.detect import make_detector, restore_detector
from medic.detect.core import StreamDetector

__all__ = ["in_batches"]


def in_batches(kind: str, x: np.ndarray, t: np.ndarray, size: int) -> tuple[np.ndarray, StreamDetector]:
    """The scores of ``x`` fed in batches of ``size``, the detector saved to JSON and restored after
    each, and the last detector."""
    det = make_detector(kind)
    parts = []
    for i in range(0, x.shape[0], size):
        parts.append(det.update(x[i : i + size], t[i : i + size]))
        det = restore_detector(json.loads(json.dumps(det.state())))
    return np.concatenate(parts), det
