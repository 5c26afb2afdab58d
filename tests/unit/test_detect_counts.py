"""Sparse counts (medic/detect/counts.py): error lines counted over 5 minutes, a minute apart, at 0.02
to 0.05 lines a minute (0 most of the time). One line among zeros is ordinary there; a burst is not."""

import numpy as np
import pytest

from medic.detect import ensemble, make_detector
from medic.detect.counts import CountModel, first_grain
from tests.support.detect import in_batches

T0 = 1_767_225_600.0


def _errors(
    rate: float, days: int = 3, *, burst: tuple[int, float] | None = None, seed: int = 1
) -> np.ndarray:
    """Lines a minute at ``rate`` (more by day), counted over the last 5 minutes at each minute; a
    burst of 15 minutes at ``burst[1]`` lines a minute from minute ``burst[0]``."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(days * 1440)
    daily = 0.4 + 0.96 * np.clip(np.sin((minutes % 1440 - 360) / 1440 * 2 * np.pi), 0, None)
    lam = rate * daily
    if burst is not None:
        lam[burst[0] : burst[0] + 15] = burst[1]
    lines = rng.poisson(lam).astype(float)
    return np.convolve(lines, np.ones(5))[: lines.shape[0]]


def _times(n: int) -> np.ndarray:
    return T0 + 60.0 * np.arange(n)


def test_the_grain_of_a_first_count_and_a_finer_one() -> None:
    assert first_grain(2.0) == 1.0  # lines: whole numbers
    assert first_grain(2 / 300) == 2 / 300  # a rate of lines a second over 5 minutes...
    model = CountModel(first_grain(2 / 300), 0)
    model.mean, model.n = 0.0, 100
    model.surprise(np.array([2 / 300, 3 / 300, 0.0, 1 / 300]), 0)  # ...made finer by its next value
    assert model.valid and model.grain == pytest.approx(1 / 300)
    model.surprise(np.array([1.5 / 300]), 4)  # finer again: a rate over 10 minutes
    assert model.valid and model.grain == pytest.approx(1 / 600)
    model.surprise(np.array([np.pi / 300]), 5)  # on no grain of it: no count
    assert not model.valid


@pytest.mark.parametrize("rate", [0.02, 0.05])
def test_a_line_among_zeros_is_ordinary_and_a_burst_is_found(
    rate: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three days of sparse error counts: with the count model nothing scores 0.5 (without it, ones and
    twos among zeros did, many times a day); a burst of 3 lines a minute for 15 minutes on the third
    day (60 to 150 times the rate) does."""
    quiet = _errors(rate)
    scores = make_detector("ensemble").update(quiet, _times(quiet.shape[0]))
    assert float(scores.max()) < 0.5
    at = 2 * 1440 + 600
    loud = _errors(rate, burst=(at, 3.0))
    found = make_detector("ensemble").update(loud, _times(loud.shape[0]))
    assert float(found[at : at + 20].max()) >= 0.5
    monkeypatch.setattr(ensemble.EnsembleDetector, "_counts_from", lambda self, x, first: None)
    before = make_detector("ensemble").update(quiet, _times(quiet.shape[0]))
    assert int((before >= 0.5).sum()) >= 3  # what the model takes away


def test_batches_and_restores_score_as_the_whole_series() -> None:
    x = _errors(0.05, days=2, burst=(2000, 1.0))
    t = _times(x.shape[0])
    whole = make_detector("ensemble").update(x, t)
    for size in (1, 7, 300, 1000):
        scores, det = in_batches("ensemble", x, t, size)
        np.testing.assert_allclose(scores, whole, rtol=0, atol=1e-12)
    assert isinstance(det, ensemble.EnsembleDetector) and det._counts is not None and det._counts.grain == 1.0


def test_the_tail_of_a_count() -> None:
    """Poisson where the counts vary as a Poisson count does; a negative binomial, with heavier tails,
    where they vary more (errors in bursts); a count at or below its mean is no surprise upward."""
    model = CountModel(1.0, 0)
    model.surprise(np.array([0.0] * 900 + [1.0] * 100), 0)  # mean 0.1, variance 0.09
    [one, three, nine] = model.surprise(np.array([1.0, 3.0, 9.0]), 1000)
    assert one < 2.0 < three < 5.0 < nine
    bursty = CountModel(1.0, 0)
    bursty.surprise(np.array([0.0] * 980 + [5.0] * 20), 0)  # mean 0.1, variance 0.49
    [three_bursty] = bursty.surprise(np.array([3.0]), 1000)
    assert three_bursty < three
    assert np.isinf(model.surprise(np.array([4.0]), 10)[0])  # a place already counted: not again


def test_errors_that_had_not_happened_yet_are_a_count_from_their_first_line() -> None:
    """A day of zeros (Loki's empty ranges, filled in: the errors had not happened yet), then lines at
    0.05 a minute: the first lines are rare counts, not jumps off a flat line (without the zeros known
    as counts, the first line after the 300th point was never modelled and scored 1.0); a burst is
    found; fed a point at a time, restored after each, the same."""
    x = np.concatenate([np.zeros(1440), _errors(0.05, days=2, burst=(2000, 3.0))])
    t = _times(x.shape[0])
    whole = make_detector("ensemble").update(x, t)
    assert float(whole[: 1440 + 2000].max()) < 0.5
    assert float(whole[1440 + 2000 : 1440 + 2020].max()) >= 0.5
    scores, det = in_batches("ensemble", x, t, 5)
    np.testing.assert_allclose(scores, whole, rtol=0, atol=1e-12)
    assert isinstance(det, ensemble.EnsembleDetector) and det._counts is not None


@pytest.mark.parametrize("zeros", [30, 400])
def test_a_series_that_became_steady_or_busy_is_not_muted(zeros: int) -> None:
    """A count model made at a series' first count after zeros muted what came once it was busy (a
    review): 3 replicas then 0 for 30 points scored 0.0 (0.997 without the model), a jump from 50 to
    150 requests 0.34 (0.70). Its usual count reaching one a point drops it, and a fall is measured
    by the recent level's own spread too."""
    steady = np.concatenate([np.zeros(zeros), np.full(200, 3.0), np.zeros(30)])
    scores = make_detector("ensemble").update(steady, _times(steady.shape[0]))
    assert float(scores[zeros + 200 :].max()) >= 0.5
    rng = np.random.default_rng(4)
    busy = np.concatenate([np.zeros(10), rng.poisson(50, 150), rng.poisson(150, 30)]).astype(float)
    det = make_detector("ensemble")
    scores = det.update(busy, _times(busy.shape[0]))
    assert float(scores[160:].max()) >= 0.5
    assert isinstance(det, ensemble.EnsembleDetector) and det._counts is None and not det._counts_open


def test_an_error_series_born_in_an_incident_keeps_its_model() -> None:
    """A third review: the model, judged busy by its share of zeros over its first 30 points, was
    dropped when a series' first errors were an incident (a 20-minute burst), and the ones and twos
    among zeros after it alarmed again (153 alarms in 10 seeds). Its usual count decides now, and a
    burst moves it little."""
    x = np.concatenate([np.zeros(600), np.full(20, 25.0), _errors(0.02, days=2)])
    det = make_detector("ensemble")
    scores = det.update(x, _times(x.shape[0]))
    assert float(scores[650:].max()) < 0.5
    assert isinstance(det, ensemble.EnsembleDetector) and det._counts is not None


def test_a_gauge_of_three_decimals_is_no_count_and_a_steady_one_that_stops_is_found() -> None:
    """A latency rounded to milliseconds (0 where no request came) was taken for counts of 0.001 (its
    first value's grain made 213 times finer), and its jumps capped; a grain is made finer 20 times at
    most now. A steady count of 1 for 90 points that stops scored 0 with the model (its spread floor
    was half a grain)."""
    rng = np.random.default_rng(2)
    latency = np.round(rng.lognormal(np.log(0.2), 0.2, 1500), 3) * (rng.uniform(size=1500) < 0.4)
    latency = np.concatenate([np.zeros(300), latency])
    det = make_detector("ensemble")
    det.update(latency, _times(latency.shape[0]))
    assert isinstance(det, ensemble.EnsembleDetector) and det._counts is None and not det._counts_open
    steady = np.concatenate([np.zeros(300), np.ones(90), np.zeros(60)])
    scores = make_detector("ensemble").update(steady, _times(steady.shape[0]))
    assert float(scores[390:].max()) >= 0.5
