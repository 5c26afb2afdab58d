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


# The interval's meaning: when the resource's value (trend and noise) reaches the capacity. A seeded
# series is a line to the capacity plus noise; its truth is the time the true line plus one fresh
# draw of the noise reaches the capacity, which the stated 90% interval should hold about 90% of
# the time (a few points more is the price of estimating the noise's correlation and wander).


def _noisy_line(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray, float]:
    n, dt = 240, 60.0
    t = np.arange(n) * dt
    rate = rng.uniform(0.5, 2.0) / 3600.0
    sigma = rng.uniform(0.2, 2.0)
    horizon = rng.uniform(0.1, 4.0) * t[-1]
    if kind == "ar1":  # each minute's noise 0.6 correlated with the last
        noise = np.empty(n)
        noise[0] = rng.normal(0, sigma)
        shocks = rng.normal(0, sigma * math.sqrt(1 - 0.6**2), n)
        for i in range(1, n):
            noise[i] = 0.6 * noise[i - 1] + shocks[i]
        draw = float(rng.normal(0, sigma))
    elif kind == "heavy":  # Student t with 3 degrees of freedom
        noise = rng.standard_t(3, n) * sigma / math.sqrt(3)
        draw = float(rng.standard_t(3)) * sigma / math.sqrt(3)
    else:
        noise = rng.normal(0, sigma, n)
        draw = float(rng.normal(0, sigma))
    y = 100.0 - rate * (t[-1] + horizon - t) + noise
    return t, y, horizon - draw / rate


def test_the_interval_holds_the_truth_about_90_percent_of_the_time() -> None:
    rng = np.random.default_rng(18)
    inside = total = 0
    for i in range(240):
        t, y, truth = _noisy_line(rng, ("white", "ar1", "heavy")[i % 3])
        if truth <= 0:  # the noise already reaches the capacity: no future crossing to check
            continue
        est = time_to_exhaustion(t, y, capacity=100.0)
        assert est is not None
        inside += est.eta_early <= truth <= est.eta_late
        total += 1
    assert total > 200
    assert 0.85 <= inside / total <= 0.97


def test_a_wandering_rate_is_in_the_interval() -> None:
    """The rate drifts as a random walk (1% of itself a minute), barely any noise: the line's slope
    is off and the future drifts further; the interval must say so."""
    rng = np.random.default_rng(7)
    inside = total = 0
    widths = []
    for _ in range(120):
        n, dt = 240, 60.0
        t = np.arange(9 * n) * dt
        rate = rng.uniform(0.5, 2.0) / 3600.0 * (1 + np.cumsum(rng.normal(0, 0.01, t.shape[0])))
        path = np.concatenate([[0.0], np.cumsum(rate[:-1] * dt)])
        horizon = rng.uniform(0.1, 4.0) * t[n - 1]
        capacity = float(np.interp(t[n - 1] + horizon, t, path))
        y = path[:n] + rng.normal(0, 0.02, n)
        ahead = np.flatnonzero(path[n:] + rng.normal(0, 0.02) >= capacity)
        if not ahead.shape[0]:
            continue
        truth = float(t[n + ahead[0]] - t[n - 1])
        est = time_to_exhaustion(t[:n], y, capacity=capacity)
        assert est is not None
        inside += est.eta_early <= truth <= est.eta_late
        widths.append((est.eta_late - est.eta_early) / truth)
        total += 1
    assert total > 100
    # the wander is estimated from the window itself, and that estimate's own error is not in the
    # interval: a little under 90%
    assert 0.8 <= inside / total <= 0.95
    assert float(np.median(widths)) > 0.2  # the noise alone (0.02) would make it a few percent


def test_a_noiseless_line_gives_a_tight_interval_around_the_truth() -> None:
    t = np.arange(0.0, 4 * 3600, 60.0)
    for capacity, y in ((90.0, 10.0 + t / 600.0), (0.0, 80.0 - t / 900.0)):
        est = time_to_exhaustion(t, y, capacity=capacity)
        assert est is not None
        truth = abs(capacity - y[-1]) / abs(y[1] - y[0]) * 60.0
        assert est.eta == pytest.approx(truth)
        assert est.eta_early <= truth * (1 + 1e-9) and est.eta_late >= truth * (1 - 1e-9)
        assert est.eta_late - est.eta_early < 1e-6 * truth
        assert est.within(truth * 1.01)


def test_flat_or_receding_series_never_exhaust() -> None:
    rng = np.random.default_rng(4)
    t = np.arange(0.0, 6 * 3600, 60.0)
    for _ in range(20):
        falling = time_to_exhaustion(t, 50.0 - t / 3600.0 + rng.normal(0, 1.0, t.shape[0]), capacity=80.0)
        assert falling is not None and falling.slope_low < falling.slope < 0
        assert math.isinf(falling.eta) and math.isinf(falling.eta_late) and not falling.within(1e12)
    # flat under noise: the slope's 90% interval leaves 5% on each side, so about one series in
    # twenty looks like rising; no more than that may be called exhausting within 30 days
    alarms = 0
    for _ in range(200):
        flat = time_to_exhaustion(t, 50.0 + rng.normal(0, 1.0, t.shape[0]), capacity=80.0)
        assert flat is not None
        alarms += flat.within(30 * 86400.0)
    assert alarms <= 0.1 * 200


def test_autocorrelated_noise_widens_the_interval() -> None:
    """The same noise level, independent or 0.9 correlated minute to minute: the second says less
    about the slope, so the interval three windows ahead is wider."""
    rng = np.random.default_rng(11)
    t = np.arange(0.0, 4 * 3600, 60.0)
    white = rng.normal(0, 1.0, t.shape[0])
    red = np.empty(t.shape[0])
    red[0] = white[0]
    for i in range(1, t.shape[0]):
        red[i] = 0.9 * red[i - 1] + math.sqrt(1 - 0.81) * white[i]
    widths = []
    for noise in (white, red):
        y = 100.0 - (t[-1] + 3 * 4 * 3600 - t) / 360.0 + noise  # 10 an hour, 100 reached three windows on
        est = time_to_exhaustion(t, y, capacity=100.0)
        assert est is not None
        widths.append(est.eta_late - est.eta_early)
    assert widths[1] > 1.5 * widths[0]


def test_a_few_wild_points_do_not_blow_up_the_interval() -> None:
    rng = np.random.default_rng(2)
    t = np.arange(0.0, 4 * 3600, 60.0)
    y = 20.0 + t / 360.0 + rng.normal(0, 0.5, t.shape[0])
    clean = time_to_exhaustion(t, y, capacity=100.0)
    y[[30, 100, 170]] += 300.0
    spiky = time_to_exhaustion(t, y, capacity=100.0)
    assert clean is not None and spiky is not None
    assert spiky.eta == pytest.approx(clean.eta, rel=0.05)
    assert spiky.eta_late - spiky.eta_early < 1.5 * (clean.eta_late - clean.eta_early)


def test_the_forecast_band_crosses_the_capacity_at_the_interval() -> None:
    rng = np.random.default_rng(9)
    t = np.arange(0.0, 6 * 3600, 60.0)
    y = 30.0 + t / 600.0 + rng.normal(0, 2.0, t.shape[0])
    est = time_to_exhaustion(t, y, capacity=100.0, steps=48)
    assert est is not None and 0 < est.eta_early < est.eta < est.eta_late
    for at, value, lower, upper in est.forecast:
        ahead = at - est.now
        assert lower < value < upper
        assert (upper >= 100.0) == (ahead >= est.eta_early)  # the band's top reaches it at the early end
        assert lower < 100.0  # the forecast stops at the estimate, before the late end
