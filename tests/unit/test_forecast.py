"""Time to exhaustion: the Theil-Sen trend and its interval, the estimate, and the predictive
signal in the anomaly webhook's shape."""

import math

import numpy as np
import pytest

from medic.forecast import exhaustion_signal, theil_sen, time_to_exhaustion


def test_theil_sen_ignores_outliers() -> None:
    t = np.arange(50.0)
    y = 2.0 * t + 3.0
    y[[5, 20, 33]] += 500.0
    slope, icpt, lo, hi = theil_sen(t, y)
    assert slope == pytest.approx(2.0)
    assert icpt == pytest.approx(3.0)
    assert lo <= slope <= hi


def test_the_interval_narrows_with_more_points() -> None:
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 200):
        t = np.arange(float(n))
        _, _, lo, hi = theil_sen(t, t + rng.normal(0, 1, n))
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 5


def test_a_filling_disk() -> None:
    t = np.arange(0.0, 6 * 3600, 60.0)
    used = 40.0 + t * (10.0 / 3600.0)  # 10 points an hour: 100 at 6 h + 0 h... from the last point: 0.01 h
    est = time_to_exhaustion(t, used, capacity=150.0)
    assert est is not None
    gap_h = (150.0 - used[-1]) / 10.0
    assert est.eta / 3600.0 == pytest.approx(gap_h)
    assert est.eta_early == pytest.approx(est.eta) and est.eta_late == pytest.approx(est.eta)
    assert est.within(gap_h * 3600 + 1) and not est.within(gap_h * 3600 - 60)
    assert est.forecast[-1][1] == pytest.approx(150.0)
    assert est.forecast[0][0] > t[-1]


def test_a_draining_resource_and_a_flat_one() -> None:
    t = np.arange(0.0, 3600.0, 60.0)
    free = 100.0 - t / 60.0  # one unit a minute down to 0
    est = time_to_exhaustion(t, free, capacity=0.0)
    assert est is not None and est.eta == pytest.approx(41 * 60.0)
    flat = time_to_exhaustion(t, np.full(t.shape, 5.0), capacity=10.0)
    assert flat is not None and math.isinf(flat.eta) and not flat.within(1e9)
    away = time_to_exhaustion(t, 10.0 - t / 3600.0, capacity=10.0)
    assert away is not None and math.isinf(away.eta)


def test_only_the_window_counts_and_too_few_points_give_nothing() -> None:
    t = np.arange(0.0, 7200.0, 60.0)
    y = np.where(t < 3600, 0.0, (t - 3600) / 60.0)  # flat, then rising one a minute
    est = time_to_exhaustion(t, y, capacity=100.0, window=1800.0)
    assert est is not None and est.slope == pytest.approx(1 / 60.0)
    assert time_to_exhaustion(t[:2], y[:2], capacity=1.0) is None
    assert time_to_exhaustion([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], capacity=10.0) is None


def test_noise_gives_an_interval_around_the_truth() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 12 * 3600, 60.0)
    y = 20.0 + t / 1000.0 + rng.normal(0, 2.0, t.shape[0])
    est = time_to_exhaustion(t, y, capacity=100.0)
    assert est is not None
    truth = (100.0 - (20.0 + t[-1] / 1000.0)) * 1000.0
    assert est.eta_early <= truth <= est.eta_late
    assert abs(est.eta - truth) / truth < 0.05


def test_the_signal_carries_the_forecast() -> None:
    t = np.arange(0.0, 3600.0, 60.0)
    est = time_to_exhaustion(t, 50.0 + t / 360.0, capacity=100.0)
    assert est is not None
    sig = exhaustion_signal(est, service="db", series={"__name__": "disk_used_percent"}, value=59.8)
    assert sig.forecast is not None and len(sig.forecast) == 12
    assert sig.expected.upper == 100.0
    assert 0.0 < sig.score < 1.0
    assert "exhausts 100" in (sig.summary or "")
    assert sig.window.end > sig.window.start
