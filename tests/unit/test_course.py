"""The level part's course test: a daily rise or fall that did not come is found however gradual
it is, while a level that shifted, a day a little larger than the others and a series' first
weekend are not; its sums and its state do not depend on how the series was batched."""

import json

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from medic.detect import make_detector
from medic.detect.level import LevelDetector, _window_sums
from tests.support.detect import in_batches

T0 = 1767571200.0  # Monday 2026-01-05, 00:00 UTC


def days_of(
    step: float, days: int, *, noise: float, seed: int = 0, slope: float = 12.0
) -> tuple[np.ndarray, np.ndarray]:
    """Quiet nights at 20 and busy days at 80, the rise and the fall each taking hours
    (``slope`` 12: from a tenth to nine tenths of the way in nine hours), with noise."""
    n = int(days * 86400 / step)
    t = T0 + np.arange(n) * step
    phase = (t % 86400) / 86400
    day = 20 + 60 / (1 + np.exp(-slope * (phase - 0.3))) - 60 / (1 + np.exp(-slope * (phase - 0.75)))
    return t, day + np.random.default_rng(seed).normal(0.0, noise, n)


@pytest.mark.parametrize("step", [60.0, 300.0])
@pytest.mark.parametrize("noise", [0.5, 3.0])
def test_a_gradual_day_that_did_not_come_is_found(step: float, noise: float) -> None:
    per = int(86400 / step)
    t, x = days_of(step, 14, noise=noise)
    gone = slice(10 * per, 11 * per)
    x[gone] = 20 + np.random.default_rng(1).normal(0.0, noise, per)
    s = make_detector("ensemble").update(x, t)
    # before the course test the missing day scored 0.10-0.49: its rise is never a departure from
    # the recent level, and never sharp enough for the absence test
    assert s[gone].max() > 0.6, s[gone].max()
    others = np.ones(x.shape[0], dtype=bool)
    others[10 * per : 11 * per + per // 3] = False  # and the 8 hours the four-hour changes reach back
    others[: 2 * per] = False
    assert s[others].max() < 0.5, s[others].max()


def test_the_course_test_is_what_sees_it() -> None:
    t, x = days_of(300.0, 14, noise=3.0)
    x[2880:3168] = 20 + np.random.default_rng(1).normal(0.0, 3.0, 288)
    level = LevelDetector()
    z = level.surprise(x, t)
    assert z[2880:3168].max() < 4.0  # the departure test: the value stays at its recent level
    assert level.side[2880:3168].max() > 6.0  # the course test (the absence test alone: under 3)
    assert level.side[2 * 288 : 2880].max() < 3.0


def test_a_level_shift_is_not_news_again_on_the_days_after() -> None:
    t, x = days_of(300.0, 14, noise=3.0)
    x[9 * 288 + 100 :] += 30.0  # the whole day moves up, for good
    level = LevelDetector()
    level.surprise(x, t)
    # the days' changes stay what they were: from the next day on, nothing for the course test
    assert level.side[10 * 288 :].max() < 3.0, level.side[10 * 288 :].max()


def test_a_day_a_little_larger_is_no_evidence() -> None:
    t, x = days_of(300.0, 14, noise=0.5)
    x[10 * 288 : 11 * 288] = 20 + (x[10 * 288 : 11 * 288] - 20) * 1.08  # 8% busier
    s = make_detector("ensemble").update(x, t)
    assert s[10 * 288 : 11 * 288].max() < 0.5


@pytest.mark.parametrize("step", [60.0, 300.0])
def test_the_first_weekend_is_not_a_day_that_did_not_come(step: float) -> None:
    per = int(86400 / step)
    t, x = days_of(step, 13, noise=3.0)
    weekend = ((t - T0) // 86400) % 7 >= 5
    x[weekend] = 20 + np.random.default_rng(2).normal(0.0, 3.0, int(weekend.sum()))
    level = LevelDetector()
    level.surprise(x, t)
    # no week to go by on the first Saturday (the week before is one to compare with after it)
    assert level.side[5 * per : 7 * per].max() < 3.0, level.side[5 * per : 7 * per].max()
    assert level.side[12 * per :].max() < 3.0  # the second Saturday: as the week before


@pytest.mark.parametrize("step", [60.0, 300.0])
@pytest.mark.parametrize(("begin", "hours"), [(5, 4), (2, 10), (16, 4)])
def test_an_outage_over_a_rise_or_a_fall_is_no_change_when_it_ends(
    step: float, begin: int, hours: int
) -> None:
    """The values carried over an outage end in a jump to the live level: no change of the day
    (the review's series: 1 to 12 alarms in the 12 hours after, at one point a minute)."""
    per = int(86400 / step)
    t, x = days_of(step, 10, noise=2.0, slope=40.0)
    gone = slice(9 * per + begin * per // 24, 9 * per + (begin + hours) * per // 24)
    x[gone] = np.nan
    s = make_detector("ensemble").update(x, t)
    after = s[gone.stop : gone.stop + per // 2]
    assert after.max() < 0.5, after.max()


@pytest.mark.parametrize("step", [60.0, 300.0])
def test_a_rise_four_hours_late_is_found(step: float) -> None:
    per = int(86400 / step)
    n = 14 * per
    t = T0 + np.arange(n) * step
    phase = (t % 86400) / 86400
    late = np.where((t - T0) // 86400 == 10, 4 / 24, 0.0)  # day 10's rise comes four hours late
    x = 20 + 60 / (1 + np.exp(-40 * (phase - late - 0.3))) - 60 / (1 + np.exp(-40 * (phase - 0.75)))
    x = x + np.random.default_rng(0).normal(0.0, 2.0, n)
    s = make_detector("ensemble").update(x, t)
    assert s[10 * per : 11 * per].max() > 0.55  # 0.35-0.53 before the course test
    assert s[2 * per : 10 * per].max() < 0.5


@pytest.mark.parametrize("step", [60.0, 300.0])
def test_a_clock_moved_by_daylight_saving_time_is_no_change_that_did_not_come(step: float) -> None:
    """A day in local time moves an hour in UTC: within the hour either side, and the jump at the
    change passes the days' change rather than falls short of it (a steeper change is the other
    tests'). Matching only within half an hour, or a change that passed them, alarmed once a
    series on the day."""
    per = int(86400 / step)
    n = 14 * per
    t = T0 + np.arange(n) * step
    local = t + np.where(t >= T0 + 10 * 86400, 3600.0, 0.0)
    x = 50 + 30 * np.sin(2 * np.pi * (local % 86400) / 86400) + np.random.default_rng(2).normal(0.0, 2.0, n)
    level = LevelDetector()
    level.surprise(x, t)
    assert level.side[10 * per : 12 * per].max() < 3.0, level.side[10 * per : 12 * per].max()


@pytest.mark.parametrize(("step", "size"), [(60.0, 1999), (300.0, 97), (3600.0, 7)])
def test_batching_and_round_trips_change_nothing(step: float, size: int) -> None:
    days = 9 if step < 3600 else 30
    per = int(86400 / step)
    t, x = days_of(step, days, noise=3.0)
    x[8 * per : 8 * per + per // 2] = 20.0
    whole = make_detector("ensemble").update(x, t)
    batched, det = in_batches("ensemble", x, t, size)
    np.testing.assert_allclose(batched, whole, rtol=0, atol=1e-12)
    assert whole[8 * per : 9 * per].max() > 0.5  # and the course test saw it
    assert len(json.dumps(det.state())) < 130_000  # a 1-minute series: three days and 16 hours


@pytest.mark.parametrize("h", [4, 12, 60])
@pytest.mark.parametrize("first", [0, 5, -7, 1234])
def test_the_window_sums_are_the_sums_and_do_not_depend_on_where_a_batch_began(h: int, first: int) -> None:
    e = np.random.default_rng(h).normal(1e6, 3.0, 700)
    sums = _window_sums(e, first, h)
    plain = sliding_window_view(e, h).sum(axis=1)
    begin = (-first) % h  # the first place that begins a block of the series' count
    np.testing.assert_allclose(sums[begin : e.shape[0] - h + 1], plain[begin:], rtol=1e-13)
    assert np.isnan(sums[:begin]).all() and np.isnan(sums[e.shape[0] - h + 1 :]).all()
    # the same windows, seen from a history that begins 3 blocks and 5 places later: the same sums
    later = _window_sums(e[3 * h + 5 :], first + 3 * h + 5, h)
    both = ~np.isnan(later)
    assert both.any()
    assert np.array_equal(later[both], sums[3 * h + 5 :][both])
