"""The streaming detectors on constructed series: a spike is found, a seasonal peak is not, a
level shift is found once; warm-up, sensitivity, batching and state round trips."""

import json

import numpy as np
import pytest

from medic.detect import DETECTORS, make_detector, restore_detector, surprise_from_score
from medic.detect.core import score_from_surprise
from medic.detect.level import daily_period

KINDS = sorted(DETECTORS)
STEP = 300.0  # five minutes
DAY = int(86400 / STEP)


def noisy(n: int, seed: int = 1, *, daily: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(n) * STEP
    x = 100.0 + daily * np.sin(2 * np.pi * t / 86400.0) + rng.normal(0.0, 1.0, n)
    return t, x


@pytest.mark.parametrize("kind", KINDS)
def test_a_spike_is_the_top_score(kind: str) -> None:
    t, x = noisy(3000)
    x[2500] += 25.0
    s = make_detector(kind).update(x, t)
    assert int(np.argmax(s)) in (2500, 2501)
    assert s[2500:2502].max() > 0.5
    assert ((s >= 0.0) & (s <= 1.0)).all()


@pytest.mark.parametrize("kind", KINDS)
def test_a_level_shift_is_found_once(kind: str) -> None:
    t, x = noisy(3000, seed=2)
    x[2000:] += 12.0
    s = make_detector(kind).update(x, t)
    alarm = 0.5 * s[2000:2030].max()
    assert s[2000:2030].max() > 0.3
    assert np.count_nonzero(s[2000:] >= alarm) <= 3, np.flatnonzero(s[2000:] >= alarm)


@pytest.mark.parametrize("kind", ["level", "ensemble"])
def test_a_daily_peak_is_not_an_anomaly(kind: str) -> None:
    """A sharp peak at the same hour every day: after three days, a spike of the same height at a
    quiet hour is the top score of the day, and the peak scores less than half of it."""
    n = DAY * 6
    t, x = noisy(n, seed=3)
    hour = (t % 86400) / 3600.0
    x += np.where((hour >= 12) & (hour < 13), 15.0, 0.0)
    x[DAY * 5 + DAY // 4] += 15.0  # 06:00 on day 5: a spike at a quiet hour
    s = make_detector(kind).update(x, t)
    peak_day5 = s[DAY * 5 + 144 : DAY * 5 + 156].max()
    spike = s[DAY * 5 + DAY // 4]
    assert spike == s[DAY * 5 : DAY * 6].max() > 0.0
    assert peak_day5 < 0.5 * spike


@pytest.mark.parametrize("kind", KINDS)
def test_warm_up_emits_nothing(kind: str) -> None:
    t, x = noisy(400)
    x[50] += 100.0
    det = make_detector(kind)
    s = det.update(x, t)
    assert (s[: det.warmup] == 0.0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_batching_and_state_round_trips_change_nothing(kind: str) -> None:
    t, x = noisy(2500, seed=4, daily=5.0)
    x[2100] -= 30.0
    x[1200:1300] += np.random.default_rng(9).normal(0, 6, 100)
    whole = make_detector(kind).update(x, t)
    det = make_detector(kind)
    parts = []
    for i in range(0, x.shape[0], 97):
        parts.append(det.update(x[i : i + 97], t[i : i + 97]))
        det = restore_detector(json.loads(json.dumps(det.state())))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("kind", KINDS)
def test_state_is_bounded(kind: str) -> None:
    det = make_detector(kind)
    sizes = []
    for n in (3000, 12000):
        t, x = noisy(n)
        det = make_detector(kind)
        det.update(x, t)
        sizes.append(len(json.dumps(det.state())))
    assert sizes[1] <= sizes[0] * 1.05 + 100
    assert sizes[1] < 64_000


def test_sensitivity_moves_the_threshold() -> None:
    t, x = noisy(2000)
    x[1500] += 8.0
    plain = make_detector("level").update(x, t)[1500]
    keen = make_detector("level", sensitivity=2.0).update(x, t)[1500]
    dull = make_detector("level", sensitivity=0.5).update(x, t)[1500]
    assert dull < plain < keen


def test_missing_points_score_zero_and_do_not_poison_the_state() -> None:
    t, x = noisy(1000)
    x[500:510] = np.nan
    det = make_detector("ensemble")
    s = det.update(x, t)
    assert (s[500:510] == 0.0).all()
    assert np.isfinite(s).all()
    assert s[520:].max() < 0.9


def test_restoring_another_kind_is_refused() -> None:
    det = make_detector("level")
    state = make_detector("knn").state()
    with pytest.raises(ValueError, match="knn"):
        det.restore(state)
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("nope")


def test_the_score_map_is_monotone_and_invertible() -> None:
    z = np.array([0.0, 1.0, 5.0, 20.0, 1e4])
    s = score_from_surprise(z)
    assert (np.diff(s) > 0).all() and s[2] == pytest.approx(0.5)
    assert surprise_from_score(float(s[3])) == pytest.approx(20.0)


def test_daily_period_needs_a_regular_series() -> None:
    assert daily_period(np.arange(100, dtype=np.float64) * 300.0) == 288
    assert (
        daily_period(np.arange(100, dtype=np.float64) * 7.0) == 0
    )  # a day is not a whole number of 7 s steps
    assert daily_period(np.arange(100, dtype=np.float64) * 30.0) == 0  # finer than a minute: no seasonal part
