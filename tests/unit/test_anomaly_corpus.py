"""The developers' corpus generator: every suite writes readable series whose labelled windows lie
in them, an earlier suite's draws do not change when a suite is added, and the field suite's noise
is what it claims (counts whose noise grows with the level)."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from bench.anomaly_corpus import SHAPES, SUITES, generate, series
from bench.anomaly_eval import read_series, window_rows


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_each_suite_writes_series_and_windows_inside_them(tmp_path: Path, suite: str) -> None:
    labels = generate(tmp_path, files=len(SUITES[suite]), seed=5, suite=suite)
    assert sorted(labels) == sorted(
        p.relative_to(tmp_path / "data").as_posix() for p in (tmp_path / "data").rglob("*.csv")
    )
    for rel, windows in labels.items():
        s = read_series(tmp_path / "data" / rel)
        assert np.isfinite(s.times).all() and np.isfinite(s.values).all() and s.values.shape[0] >= 2900
        assert len(window_rows(s.times, windows)) == len(windows)  # each window holds rows
        assert ("none/" in rel) == (not windows)


def test_the_classic_draw_is_the_one_the_benchmarks_recorded(tmp_path: Path) -> None:
    """docs/BENCHMARKS.md's figures are for these draws: adding a suite must not change them."""
    generate(tmp_path, files=6, seed=18)
    h = hashlib.sha256()
    for path in sorted(tmp_path.rglob("*.*")):
        h.update(path.relative_to(tmp_path).as_posix().encode())
        h.update(path.read_bytes())
    assert h.hexdigest()[:16] == "8f850e538b7162e1", h.hexdigest()  # as generated before the field suite


def test_field_counts_are_noisier_where_they_are_higher() -> None:
    """Poisson counts: the step noise of the busiest quarter of the points is several times that of
    the quietest (homoscedastic noise, as in the classic suite, would give about 1)."""
    ratios = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        _, x, _ = series(rng, "none", field=True)
        if not np.all(x == np.round(x)) or x.mean() < 5:  # not a count, or too few to say
            continue
        step = np.abs(np.diff(x))
        level = (x[1:] + x[:-1]) / 2
        lo, hi = np.quantile(level, [0.25, 0.75])
        ratios.append(step[level >= hi].mean() / max(step[level <= lo].mean(), 1e-9))
    assert len(ratios) >= 3 and min(ratios) > 1.2, ratios


def test_shapes_suite_names_each_file_by_its_shape_and_draws_them_all(tmp_path: Path) -> None:
    labels = generate(tmp_path, files=16, seed=5, suite="shapes")
    shapes = {rel.split("/")[1].split("_")[0] for rel in labels}
    assert shapes == set(SHAPES)


@pytest.mark.parametrize("seed", range(6))
def test_a_sawtooth_whose_reset_does_not_come_climbs_longest_from_its_label(seed: int) -> None:
    """The ``rhythm`` anomaly of a sawtooth: the resets stop from the labelled row (where one was
    due), so the longest climb of the series (rows between two drops) runs through it, and it
    climbs higher than any cycle before."""
    rng = np.random.default_rng(seed)
    _, x, anomalies = series(rng, "rhythm", shape="sawtooth")
    assert anomalies
    drops = np.flatnonzero(np.diff(x) < -10 * np.median(np.abs(np.diff(x)))) + 1
    runs = np.diff(np.concatenate([[0], drops, [x.shape[0]]]))
    longest = int(np.argmax(runs))
    begin = 0 if longest == 0 else int(drops[longest - 1])
    assert any(begin < a < begin + runs[longest] for a in anomalies), (begin, runs[longest], anomalies)
    assert x[begin : begin + runs[longest]].max() > x[:begin].max()
