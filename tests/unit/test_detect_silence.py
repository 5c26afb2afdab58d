"""Silence (medic/detect/silence.py): log lines counted over 5 minutes, a minute apart, that stop.
Where nothing was nearly impossible a run of zeros is found within minutes; where zeros are ordinary
(few lines, bursts, an evening idle every day) it is not."""

import json

import numpy as np
import pytest

from medic.detect import ensemble, make_detector, restore_detector
from medic.detect.silence import Silence
from tests.support.detect import in_batches

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
AT = 2 * 1440 + 600  # day 3, 10:00


def _lines(
    rate: float,
    days: int = 3,
    *,
    silent: tuple[int, int] | None = None,
    seed: int = 1,
    bursty: bool = False,
    hours: tuple[int, int] | None = None,
) -> np.ndarray:
    """Lines a minute at ``rate`` (more by day; ``bursty``: the rate itself drawn from a gamma of
    shape 0.5 each minute, errors in bursts; ``hours``: only from the first hour to the second each
    day, sharply), none for ``silent[1]`` minutes from ``silent[0]``, counted over the last 5 minutes."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(days * 1440)
    lam = rate * (0.4 + 0.96 * np.clip(np.sin((minutes % 1440 - 360) / 1440 * 2 * np.pi), 0, None))
    if bursty:
        lam = rng.gamma(0.5, lam / 0.5)
    if hours is not None:
        lam = np.where((minutes % 1440 >= hours[0] * 60) & (minutes % 1440 < hours[1] * 60), rate, 0.0)
    lines = rng.poisson(lam).astype(float)
    if silent is not None:
        lines[silent[0] : silent[0] + silent[1]] = 0
    return np.convolve(lines, np.ones(5))[: lines.shape[0]]


def _times(n: int) -> np.ndarray:
    return T0 + 60.0 * np.arange(n)


def _first_alarm(x: np.ndarray, at: int = AT) -> int | None:
    scores = make_detector("ensemble").update(x, _times(x.shape[0]))
    hits = np.flatnonzero(scores[at : at + 45] >= 0.5)
    return int(hits[0]) if hits.shape[0] else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_service_that_stops_logging_is_found_within_minutes(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3.7 lines a minute at 10:00 that stop for 40 minutes: the window is empty 5 minutes after the
    last line, and a few minutes of zeros later the chance of them is a 5-sigma one; without the
    model the ensemble took 17 to 27 minutes (``still``'s run of repeats)."""
    x = _lines(3.0, silent=(AT, 40), seed=seed)
    with_model = _first_alarm(x)
    assert with_model is not None and with_model <= 15
    monkeypatch.setattr(ensemble, "Silence", lambda *a, **k: None)
    without = _first_alarm(x)
    assert without is None or without > with_model


@pytest.mark.parametrize(("rate", "bursty"), [(3.0, False), (0.3, False), (1.0, True)])
def test_zeros_where_they_are_ordinary_are_no_silence(rate: float, bursty: bool) -> None:
    """Three days without a silence: the model's own surprise stays under 5 (a score of 0.5) where
    zeros are ordinary (few lines at night, errors in bursts), and it is made for each series."""
    x = _lines(rate, seed=11, bursty=bursty)
    det = make_detector("ensemble")
    det.update(x, _times(x.shape[0]))
    assert isinstance(det, ensemble.EnsembleDetector) and det._silence is not None
    fresh = Silence(1.0, 0)
    assert float(fresh.surprise(x, 0, 1440).max()) < 5.0


@pytest.mark.parametrize("step", [60, 30])
def test_an_idle_every_night_is_found_the_first_night_only(step: int) -> None:
    """A job that logs 2 lines a minute from 08:00 to 18:00 and nothing after, sharply: its first
    night is a silence, the next are not, all night long (a run as long the day before, measured
    from its own first zero: clipped to the hour around this time, a night of 14 hours alarmed again
    every night from 22:00, a review); a stop at 14:00 on the fifth day is found. At 30 s too, where
    a day is 2,880 points (more than the level part keeps days of)."""
    per_minute = _lines(2.0, days=5, hours=(8, 18))
    per_minute[4 * 1440 + 14 * 60 : 4 * 1440 + 16 * 60] = 0
    x = np.repeat(per_minute, 60 // step)
    a_day = 86400 // step
    z = Silence(1.0, 0).surprise(x, 0, a_day)
    nights = [float(z[d * a_day + a_day * 3 // 4 : (d + 1) * a_day + a_day // 3].max()) for d in range(4)]
    assert nights[0] >= 5.0 and nights[1:] == [0.0, 0.0, 0.0]
    afternoon = 4 * a_day + a_day * 14 // 24
    assert float(z[afternoon : afternoon + a_day // 72].max()) >= 5.0


def test_the_chance_of_a_run_of_zeros() -> None:
    """Independent Poisson counts of mean 10: a first 0 has the chance exp(-10), each next one as
    much again (a window of one point); counts summed over 5 points share 4 of them with the point
    before, so each next 0 adds a fifth."""
    rng = np.random.default_rng(3)
    single = Silence(1.0, 0)
    single.surprise(rng.poisson(10.0, 1500).astype(float), 0, 0)
    summed = Silence(1.0, 0)
    summed.surprise(np.convolve(rng.poisson(2.0, 1505), np.ones(5))[4:1504].astype(float), 0, 0)
    assert single.day_var / single.day_half == pytest.approx(1.0, abs=0.2)
    assert summed.day_var / summed.day_half == pytest.approx(5.0, abs=1.0)
    one = single.surprise(np.zeros(3), 1500, 0)
    five = summed.surprise(np.zeros(3), 1500, 0)
    # normal deviates of exp(-10), exp(-20), exp(-30) less half a deviate, within the estimates' noise
    assert one == pytest.approx([3.7, 5.6, 7.0], abs=0.4)
    assert five[0] == pytest.approx(3.7, abs=0.4) and five[2] < one[1]


def test_batches_and_restores_score_as_the_whole_series() -> None:
    x = _lines(3.0, days=2, silent=(1440 + 600, 30))
    t = _times(x.shape[0])
    whole = make_detector("ensemble").update(x, t)
    for size in (1, 7, 300, 1000):
        scores, det = in_batches("ensemble", x, t, size)
        np.testing.assert_allclose(scores, whole, rtol=0, atol=1e-12)
    assert isinstance(det, ensemble.EnsembleDetector) and det._silence is not None
    again = Silence.restored(json.loads(json.dumps(det._silence.state())))
    assert again == det._silence


def test_no_count_has_none_and_a_value_off_the_grain_or_below_zero_drops_it() -> None:
    t = _times(2000)
    gauge = make_detector("ensemble")
    gauge.update(np.round(np.random.default_rng(1).normal(50, 5, 2000), 3), t)
    assert isinstance(gauge, ensemble.EnsembleDetector) and gauge._silence is None
    for bad in (2.5, -1.0):
        x = _lines(3.0, days=1)
        det = make_detector("ensemble")
        det.update(x[:1000], t[:1000])
        assert isinstance(det, ensemble.EnsembleDetector) and det._silence is not None
        det.update(np.array([bad]), t[1000:1001])
        assert det._silence is None


def test_a_state_saved_before_silences_gets_one() -> None:
    """A series of counts whose state was saved before the model existed gets one from its next
    point; a series that is no count does not."""
    x = _lines(3.0, days=1)
    det = make_detector("ensemble")
    det.update(x[:1000], _times(1000))
    old = det.state()
    del old["own"]["silence"]
    again = restore_detector(json.loads(json.dumps(old)))
    assert isinstance(again, ensemble.EnsembleDetector) and again._silence is not None
    assert again._silence.place == 1000


def _queue(seed: int, days: int = 1) -> np.ndarray:
    """A queue's depth a minute apart: a batch of 500 to 2,000 every 40 to 80 minutes, drained to 0
    in 20 to 40 minutes (a gauge of whole items, at 0 between batches)."""
    rng = np.random.default_rng(seed)
    x = np.zeros(days * 1440)
    i = 0
    while i < x.shape[0]:
        i += int(rng.uniform(40, 80))
        size, took = rng.uniform(500, 2000), int(rng.uniform(20, 40))
        for j in range(min(took, x.shape[0] - i)):
            x[i + j] = max(0.0, round(size * (1 - j / took) + rng.normal(0, 20)))
        i += took
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_queue_drained_between_batches_is_silent_three_times_at_most(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue at 0 after each drain (20 times a day, at no fixed hour): under the level before it a
    0 is impossible, but once three such runs were anomalies within a day, being at 0 is the queue's
    way (without that rule, 12 to 14 of its first day's drains alarmed)."""
    x = _queue(seed)

    def alarmed() -> int:
        loud = Silence(1.0, 0).surprise(x, 0, 1440) >= 5.0
        return int(loud[0]) + int(np.sum(loud[1:] & ~loud[:-1]))

    assert alarmed() <= 3
    monkeypatch.setattr("medic.detect.silence._AGAIN", 10**6)
    assert alarmed() >= 8


def test_a_stop_for_good_is_never_its_own_day_before() -> None:
    """A service that stops for good: two days on, the day before lies inside the same run, and the
    run was compared with itself (from 46 hours on its zeros scored 0, a review). Only what came
    before its first zero counts there, so it stays a silence; a step of a day has no day before."""
    rng = np.random.default_rng(1)
    lines = rng.poisson(3.0, 7 * 1440).astype(float)
    stop = 3 * 1440 + 600
    lines[stop:] = 0
    x = np.convolve(lines, np.ones(5))[: lines.shape[0]]
    z = Silence(1.0, 0).surprise(x, 0, 1440)
    assert bool((z[stop + 10 :] > 0).all())
    assert ensemble._whole_day(86400) == 0 and ensemble._whole_day(3600) == 24
    assert ensemble._whole_day(30) == 2880


def test_a_runs_evidence_grows_over_an_hour_at_any_step() -> None:
    """At a 15 s step an hour is 240 points: a service at 0.3 lines a minute silent for 2 hours reaches a
    5-sigma chance (its evidence capped at 60 points, 15 minutes there, it stayed under 4)."""
    rng = np.random.default_rng(2)
    minute = 0.4 + 0.96 * np.clip(np.sin((np.arange(3 * 1440) % 1440 - 360) / 1440 * 2 * np.pi), 0, None)
    lines = rng.poisson(np.repeat(minute, 4) * 0.3 / 4).astype(float)  # 0.3 a minute, more by day
    stop = (2 * 1440 + 600) * 4
    lines[stop : stop + 480] = 0
    x = np.convolve(lines, np.ones(20))[: lines.shape[0]]  # count_over_time(...[5m]) at 15 s
    z = Silence(1.0, 0).surprise(x, 0, 5760)
    assert float(z[stop : stop + 480].max()) >= 5.0


def test_the_detector_says_whether_its_series_silence_now_is_unusual() -> None:
    """``silence()``, what a scan asks of each series (a silence most series share): the run of zeros'
    surprise at the last point, 0 where the day before excuses it, in batches as in one."""
    stop = _lines(3.0, silent=(AT, 40), seed=1)
    det = make_detector("ensemble")
    det.update(stop[: AT + 20], _times(AT + 20))
    assert (det.silence() or 0.0) > 3.0  # 15 minutes of nothing where 3 lines a minute came
    assert not det.silence_ordinary()
    restored = restore_detector(json.loads(json.dumps(det.state())))
    assert restored.silence() == det.silence()
    det.update(stop[AT + 20 : AT + 60], _times(AT + 60)[AT + 20 :])
    assert det.silence() == 0.0  # the lines came back
    # idle from 18:00 every day: the first evening unusual, the third excused by the day before
    nights = _lines(3.0, hours=(6, 18), days=3)[6 * 60 :]  # from 06:00
    det = make_detector("ensemble")
    first, third = 14 * 60, 2 * 1440 + 14 * 60  # 20:00
    det.update(nights[:first], _times(first))
    assert (det.silence() or 0.0) > 0.0
    det.update(nights[first:third], _times(third)[first:])
    assert det.silence() == 0.0 and det.silence_ordinary()
    assert make_detector("level").silence() is None  # no model of a count falling to nothing
