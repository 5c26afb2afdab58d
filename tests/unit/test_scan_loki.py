"""Scans whose source is Loki, through the scan activity and the Loki adapter against the Loki double:
which source a scan asks, and what a step without a point is (Loki answers none for a range that held
no line: ``absent: zero``, its default, scores it as 0; ``missing`` as a gap)."""

import asyncio
from pathlib import Path

import numpy as np
import pytest
from temporalio.exceptions import ApplicationError

from activities.adapters.loki import LokiMetrics
from activities.scan import ScanActivities, ScanInput, ScanStore
from medic.anomaly import AnomalySignal
from medic.scan import RangeSeries, ScanSpec, SeriesState, load_anomaly_config
from medic.yamldoc import ConfigError
from tests.doubles.loki import LokiDouble

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
QUERY = 'sum by (service) (count_over_time({namespace="shop"} |= "error" [1m]))'


def _activities(spec: ScanSpec, url: str | None, store: ScanStore, now: list[float]) -> ScanActivities:
    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return [f"incident-{s.service}" for s in signals]

    return ScanActivities(
        source=None,
        loki=LokiMetrics(url) if url else None,
        specs=lambda: {spec.name: spec},
        store=store,
        deliver=deliver,
        clock=lambda: now[0],
    )


def _spec(**kw: object) -> ScanSpec:
    fields: dict[str, object] = {
        "name": "errors",
        "query": QUERY,
        "source": "loki",
        "step_seconds": 60,
        "lookback_seconds": 3600,
        "every_seconds": 3600,
        "forget_after_seconds": 7200,
        **kw,
    }
    return ScanSpec.model_validate(fields)


def test_a_step_without_a_line_is_a_zero_by_default_and_a_gap_when_said(tmp_path: Path) -> None:
    """Error lines at three minutes of an hour: with ``absent: zero`` the series is scored at every
    step of the run but its last (a day back, one a minute: 1,437 zeros and 3 ones; the step at the
    run's end may not be taken in yet, and is the next run's); with ``missing`` at the three steps
    Loki answered."""
    double = LokiDouble()
    for minute in (10, 20, 30):
        double.push({"namespace": "shop", "service": "checkout"}, T0 + 86400 + minute * 60 - 30, "error")
    with double.serve() as url:
        points = {}
        for absent in ("zero", "missing"):
            spec = _spec(absent=absent) if absent == "missing" else _spec()
            store, now = ScanStore(tmp_path / absent), [T0 + 86400 + 3600.0]
            acts = _activities(spec, url, store, now)
            asyncio.run(acts.scan(ScanInput(name="errors")))  # a first run: a day back, one a minute
            [state] = store.load("errors").series.values()
            points[absent] = state.points
            assert state.last_seen == T0 + 86400 + 30 * 60  # the last point Loki answered
    assert points == {"zero": 1440, "missing": 3}
    assert _spec().absent_is_zero and not _spec(absent="missing").absent_is_zero
    assert not _spec(source="prometheus", query="up").absent_is_zero
    assert _spec(source="prometheus", query="up", absent="zero").absent_is_zero


def test_a_series_without_a_line_in_a_run_is_scored_as_zeros_then_forgotten(tmp_path: Path) -> None:
    """A series Loki does not answer at all in a run (no line in the range) is scored at 0 while the
    last line it had is recent (``forget_after_seconds``); then it is forgotten like any series the
    query no longer returns, however many zeros were filled in for it."""
    double = LokiDouble()
    double.push({"namespace": "shop", "service": "checkout"}, T0 + 3000, "error")
    double.push({"namespace": "shop", "service": "orders"}, T0 + 3000, "error")
    for hour in range(1, 5):
        double.push({"namespace": "shop", "service": "orders"}, T0 + 3000 + hour * 3600, "error")
    store, now = ScanStore(tmp_path), [T0 + 3600.0]
    with double.serve() as url:
        acts = _activities(_spec(), url, store, now)
        seen = []
        for _ in range(4):
            result = asyncio.run(acts.scan(ScanInput(name="errors")))
            stored = store.load("errors")
            seen.append((sorted(s.labels["service"] for s in stored.series.values()), result.forgotten))
            now[0] += 3600
    checkout = [services for services, _ in seen]
    assert checkout[0] == ["checkout", "orders"] and checkout[1] == ["checkout", "orders"]
    # its last line at 00:50: at 03:00 it is more than forget_after_seconds (2 h) old, and goes
    assert seen[2] == (["orders"], 1) and seen[3] == (["orders"], 0)


def test_a_loki_scan_asks_loki_and_says_what_is_missing_without_it(tmp_path: Path) -> None:
    now = [T0 + 3600.0]
    acts = _activities(_spec(), None, ScanStore(tmp_path), now)
    with pytest.raises(ApplicationError) as refused:
        asyncio.run(acts.scan(ScanInput(name="errors")))
    # retried: another worker may have it
    assert "no Loki configured on this worker (MEDIC_LOKI_URL)" in str(refused.value)
    assert not refused.value.non_retryable


@pytest.mark.parametrize(
    ("scan", "said"),
    [
        (
            'query: \'{namespace="shop"} |= "error"\'\n    source: loki',
            "anomaly.yaml:3: scans[0].query: a log query (a stream selector at its top): Loki answers",
        ),
        (
            'query: \'{namespace="shop"} |= "error" | json\'',
            "anomaly.yaml:3: scans[0].query: a LogQL query (a stream selector and a pipeline), asked",
        ),
        (
            "query: 'count_over_time({a=\"b\"} [5m])'\n    source: tempo",
            "anomaly.yaml:4: scans[0].source: Input should be 'prometheus' or 'loki'",
        ),
        (
            "query: up\n    absent: none",
            "anomaly.yaml:4: scans[0].absent: Input should be 'missing' or 'zero'",
        ),
    ],
)
def test_medic_check_refuses_a_log_query_and_says_which_source(scan: str, said: str) -> None:
    text = f"scans:\n  - name: errors\n    {scan}\n"
    with pytest.raises(ConfigError) as refused:
        load_anomaly_config(text, source="anomaly.yaml", queries=True)
    assert said in str(refused.value)


def test_medic_check_takes_promqls_own_selectors_and_loki_metric_queries() -> None:
    text = """scans:
  - name: up
    query: '{__name__="up", job=~"a|b"}'
  - name: errors
    source: loki
    query: 'sum by (service) (rate({namespace="shop"} |~ "error|fatal" [5m]))'
"""
    config = load_anomaly_config(text, source="anomaly.yaml", queries=True)
    assert [s.source for s in config.scans] == ["prometheus", "loki"]


class _Answers:
    """A source that answers a busy count of 50 at every instant ``start + k * step`` it is asked for,
    up to ``until`` (the step at a run's end not taken in yet), for the series it holds."""

    def __init__(self) -> None:
        self.until = 0.0
        self.services = ["a"]
        self.asked: list[float] = []

    def query_range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        self.asked.append(start)
        times = [start + k * step for k in range(int((end - start) // step) + 1)]
        times = [t for t in times if t < self.until]
        return [RangeSeries({"service": s}, times, [50.0] * len(times)) for s in self.services]


def _runs(
    spec: ScanSpec, source: _Answers, store: ScanStore, now: list[float], runs: int, *, quiet: bool = True
) -> list[int]:
    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return [f"incident-{s.service}" for s in signals]

    acts = ScanActivities(
        source=source,
        loki=source,
        specs=lambda: {spec.name: spec},
        store=store,
        deliver=deliver,
        clock=lambda: now[0],
    )
    points = []
    for _ in range(runs):
        source.until = now[0] - 30
        result = asyncio.run(acts.scan(ScanInput(name=spec.name)))
        assert result.histograms == 0
        assert result.anomalies == 0 or not quiet  # a busy count of 50 throughout: nothing
        points.append(result.points)
        now[0] += spec.every_seconds
    return points


def test_the_step_at_a_runs_end_is_the_next_runs_when_loki_has_not_taken_it_in(tmp_path: Path) -> None:
    """With ``absent: zero`` the step at a run's end was filled with 0 when Loki had not taken its lines
    in yet, and the next run started past it: a spurious 0 at every run (and a false anomaly), the
    late value never scored. It is left to the next run, as with ``missing``."""
    spec = _spec(lookback_seconds=600, every_seconds=300)
    store, now = ScanStore(tmp_path), [T0 + 86400.0 + 10]
    assert _runs(spec, _Answers(), store, now, 4) == [1440, 5, 5, 5]
    [state] = store.load("errors").series.values()
    assert state.last_value == 50.0


def test_a_lookback_that_is_no_whole_number_of_steps_asks_on_the_scans_grid(tmp_path: Path) -> None:
    """A Loki (or Thanos) aligning range queries to the step answers other instants than ``end -
    lookback + k * step``; Medic filled zeros beside them (65 points an hour at one a minute). Every
    run now starts on the grid its end is on: 60 points an hour."""
    spec = _spec(lookback_seconds=3630)
    source, now = _Answers(), [T0 + 86400.0]
    assert _runs(spec, source, ScanStore(tmp_path), now, 3)[1:] == [60, 60]
    assert all(start % 60 == 0 for start in source.asked)


def test_a_state_saved_before_last_seen_is_forgotten_on_time(tmp_path: Path) -> None:
    """A series saved without ``last_seen`` (a release before it; a Prometheus scan given ``absent:
    zero``) that the source no longer returns: its filled zeros moved its last point on, and it was
    kept and scored for ever. Its last point is taken as the last one answered."""
    spec = _spec(source="prometheus", query="up", absent="zero")
    store, now = ScanStore(tmp_path), [T0 + 86400.0]
    source = _Answers()
    _runs(spec, source, store, now, 1)
    stored = store.load("errors")
    [state] = stored.series.values()
    stored.series = {
        k: SeriesState.model_validate({**v.model_dump(), "last_seen": None}) for k, v in stored.series.items()
    }
    assert state.last_seen is not None and next(iter(stored.series.values())).last_seen is None
    store.save(stored)
    source.services = []
    assert _runs(spec, source, store, now, 3, quiet=False) == [60, 0, 0]  # forget_after_seconds: 2 hours
    assert store.load("errors").series == {}


class _Partial(_Answers):
    """Loki at a run's end: the last step's range not all taken in yet (1 line of the 5 it will hold)."""

    def query_range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        self.asked.append(start)
        times = [start + k * step for k in range(int((end - start) // step) + 1)]
        return [RangeSeries({"service": "a"}, times, [1.0 if t >= end else 5.0 for t in times])]


@pytest.mark.parametrize("absent", ["zero", "missing"])
def test_the_runs_last_step_is_scored_when_it_is_whole(tmp_path: Path, absent: str) -> None:
    """A count Loki answers at a run's end may be short of its lines (they are taken in a few seconds
    late): it was scored, and the next run skipped the whole count at that instant (a spurious fall at
    every run). The run's last step is the next run's, whatever Loki answered for it, gaps or zeros."""
    spec = _spec(lookback_seconds=600, every_seconds=300, absent=absent)
    store, now = ScanStore(tmp_path), [T0 + 86400.0]
    _runs(spec, _Partial(), store, now, 4)
    [state] = store.load("errors").series.values()
    assert state.last_value == 5.0 and state.last_time == now[0] - 300 - 60


def test_a_run_starts_on_its_grid_at_a_step_of_a_tenth_of_a_second() -> None:
    from activities.scan import _on_grid  # noqa: PLC0415

    rng = np.random.default_rng(0)
    for step in (0.1, 0.2, 1 / 3, 15.0, 86400.0):
        for end in (np.floor(rng.uniform(1.6e9, 1.9e9, 200) / step) * step).tolist():
            for k in (1, 7, 600):
                assert _on_grid(end - k * step, step) == pytest.approx(end - k * step, abs=step / 100)
