"""Streaming anomaly detectors: pure (numpy; scikit-learn for the stabiliser's one robust fit a
series), bounded state per series, past points only, scores in [0, 1] comparable across series.
``make_detector()`` gives the default (the ensemble)."""

from medic.detect.change import ChangeDetector
from medic.detect.core import StreamDetector, score_from_surprise, surprise_from_score
from medic.detect.ensemble import DETECTORS, EnsembleDetector, make_detector, restore_detector
from medic.detect.knn import KnnDetector
from medic.detect.level import LevelDetector

__all__ = [
    "DETECTORS",
    "ChangeDetector",
    "EnsembleDetector",
    "KnnDetector",
    "LevelDetector",
    "StreamDetector",
    "make_detector",
    "restore_detector",
    "score_from_surprise",
    "surprise_from_score",
]
