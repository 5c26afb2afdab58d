"""The rhythm detector (a scan may choose it; not a part of the default ensemble): a series that
repeats every so many points (up to 146, and half a day) and breaks its rhythm (a run that does not
come, runs twice as often); silent on a series without an exact rhythm, and on one whose runs vary
from run to run more than its own past shows."""

import numpy as np
import pytest

from medic.detect import make_detector
from medic.detect.ensemble import EnsembleDetector
from medic.detect.rhythm import RhythmDetector, period_of
from tests.support.detect import in_batches

STEP = 60.0  # one point a minute: half a day is 720 points


def cron(
    n: int = 6000, period: int = 45, width: int = 5, seed: int = 3, missing: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """A job every ``period`` minutes that lifts the value by 12 noises for ``width`` minutes, in
    noise of 1, with ``missing`` of the points missing (NaN)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    x = 50.0 + 12.0 * ((i % period) < width) + rng.normal(0.0, 1.0, n)
    x[rng.random(n) < missing] = np.nan
    return i * STEP, x


@pytest.mark.parametrize("period", [12, 45, 300])
def test_the_period_of_a_job_is_found_through_missing_points(period: int) -> None:
    _, x = cron(period=period)
    assert period_of(x[-1024:], 720)[0] == period


def test_a_series_without_an_exact_rhythm_has_none() -> None:
    rng = np.random.default_rng(5)
    n = 1024
    i = np.arange(n)
    noise = rng.normal(0.0, 1.0, n)
    spikes = noise + 12.0 * (rng.random(n) < 1 / 40)  # spikes at random
    burst = noise.copy()
    burst[300:500] *= 8.0  # a burst of noise: its edges recur at short lags, there only
    ends = np.cumsum(np.round(100 * rng.uniform(0.8, 1.2, 20)).astype(int))
    saw = noise + 0.4 * (i - ends[np.searchsorted(ends, i, side="right") - 1].clip(0))  # resets +-20%
    saw[i < ends[0]] = noise[i < ends[0]]
    for x in (noise, spikes, burst, saw):
        assert period_of(x, 720)[0] == 0


def test_the_day_is_the_level_parts() -> None:
    """A job once a day at one point in 5 minutes (288 a day): its rhythm is the level part's
    (the absence test), so the rhythm part takes periods up to half a day only."""
    t, x = cron(n=288 * 12, period=288, width=12)
    det = RhythmDetector()
    det.update(x, t * 5)
    assert det._period == 0
    assert period_of(x[-1024:], 1024)[0] == 288


def test_a_run_that_does_not_come_is_found_and_the_rest_is_quiet() -> None:
    kind = "rhythm"
    t, x = cron()
    plain = make_detector(kind).update(x, t)
    assert plain[600:].max() < 0.3
    x[4500:4505] -= 12.0  # the run at 4,500 does not come
    missed = make_detector(kind).update(x, t)
    assert missed[4500:4506].max() > 0.6
    assert np.delete(missed, np.arange(4500, 4515))[600:].max() < 0.3


def test_runs_twice_as_often_are_found() -> None:
    t, x = cron()
    i = np.arange(x.shape[0])
    extra = (i >= 4000) & (i < 4200) & ((i + 22) % 45 < 5)  # halfway between the runs
    x[extra] += 12.0
    s = make_detector("rhythm").update(x, t)
    assert s[4000:4200].max() > 0.6 and s[600:4000].max() < 0.3


def test_a_level_that_moves_is_news_once() -> None:
    """Each value is taken from its cycle's level, so a shift of the whole series is compared
    with the cycles before it only until its own cycle's level has moved: not three cycles."""
    t, x = cron()
    x[3000:] += 20.0
    det = RhythmDetector()
    s = det.update(x, t)
    assert s[3000:3045].max() > 0.6 and s[3045 + 45 :].max() < 0.3


def test_runs_whose_load_varies_from_run_to_run_are_no_rhythm_to_keep() -> None:
    """A job whose load differs from run to run (10 to 30 noises): three earlier cycles that happen
    to agree made an ordinary run surprising. The period is kept only where the window it was
    decided from would not alarm, so the detector stays silent."""
    rng = np.random.default_rng(7)
    n = 6000
    i = np.arange(n)
    x = 50.0 + ((i % 45) < 3) * np.repeat(rng.uniform(10.0, 30.0, n // 45 + 1), 45)[:n] + rng.normal(0, 1, n)
    det = RhythmDetector()
    s = det.update(x, i * STEP)
    assert s[1500:].max() < 0.5


@pytest.mark.parametrize("size", [1, 7, 499, 1000])
def test_batching_and_round_trips_change_nothing(size: int) -> None:
    t, x = cron(n=4000, period=140)  # near the longest period (146: six cycles in the window)
    x[3100:3105] -= 12.0
    whole = make_detector("rhythm").update(x, t)
    batched, det = in_batches("rhythm", x, t, size)
    assert det._period == 140  # type: ignore[attr-defined]
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-12)


def test_the_ensemble_has_no_rhythm_part() -> None:
    assert not any(
        isinstance(p, RhythmDetector) for p in (*EnsembleDetector().parts, *EnsembleDetector().alone)
    )
