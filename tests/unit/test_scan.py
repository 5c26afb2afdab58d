"""Anomaly scans without servers: ``anomaly.yaml`` validation, one series scanned across runs (state
kept, points never scored twice, an anomaly and a prediction raised), and the activity with an
in-memory Prometheus, store and sink."""

import asyncio
import re
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from activities import scan as scan_activity
from activities.scan import ScanActivities, ScanInput, ScanStore
from activities.scan_io import ScanResult
from medic.anomaly import AnomalySignal
from medic.incident import AnomalyBatch, IncidentState
from medic.ports import TransientError
from medic.scan import (
    IncidentMarks,
    RangeSeries,
    ScanOutcome,
    ScanSpec,
    SeriesState,
    learn_false_positives,
    load_anomaly_config,
    remember_incidents,
    scan_series,
)
from medic.yamldoc import ConfigError

GOOD = """
scans:
  - name: latency
    query: 'histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m]))'
    every_seconds: 60
  - name: disk
    query: node_filesystem_used_ratio
    service: storage
    capacity: 0.95
    horizon_seconds: 86400
"""


def test_a_good_file() -> None:
    config = load_anomaly_config(GOOD, source="anomaly.yaml")
    assert [s.name for s in config.scans] == ["latency", "disk"]
    assert config.scans[1].capacity == 0.95


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("scans:\n  - name: a\n    query: up\n    detector: magic\n", "unknown 'magic'"),
        ("scans:\n  - name: a\n    query: up\n    capacity: 1\n", "go together"),
        ("scans:\n  - name: A_B\n    query: up\n", "scans[0].name"),
        ("scans:\n  - name: a\n    query: up\n    evry_seconds: 5\n", "evry_seconds"),
        ("scans:\n  - name: a\n    query: up\n  - name: a\n    query: down\n", "defined twice"),
        # a month at one a minute: Prometheus refuses more than 11,000 points a series, every run
        ("scans:\n  - name: a\n    query: up\n    lookback_seconds: 2592000\n", "at most 11,000"),
        # accepted, and then never predicted anything (a review, 2026-12-06)
        ("scans:\n  - name: a\n    query: up\n    capacity: .nan\n    horizon_seconds: 60\n", "capacity"),
        ("scans:\n  - name: a\n    query: up\n    capacity: .inf\n    horizon_seconds: 60\n", "capacity"),
    ],
)
def test_bad_files_say_where(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_anomaly_config(text, source="anomaly.yaml")
    assert says in str(err.value)
    assert "anomaly.yaml:" in str(err.value)


def _series(n: int, start: float = 0.0) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(7)
    t = start + np.arange(n) * 60.0
    return t.tolist(), (10.0 + rng.normal(0, 0.5, n)).tolist()


def test_a_signal_says_whether_its_value_left_the_series_range() -> None:
    """A spike is outside the range the team is shown; a daily rise that did not come is inside it,
    and the summary must not say otherwise (it said "outside the expected" for both). Where the points
    fetched reach back to earlier days, it says what the series did at this time on them."""
    spike = ScanSpec(name="s", query="q", warmup=50, step_seconds=60)
    t, x = _series(400)
    x[350] += 20.0
    first = scan_series(spike, {"instance": "a"}, t[:300], x[:300], None)
    [signal] = scan_series(spike, {"instance": "a"}, t, x, first.state).signals
    assert f"value {signal.value:g} outside [" in (signal.summary or "")
    assert "days before" not in (signal.summary or "")  # under 7 hours fetched
    # five-minute days at 20 by night and 80 by day, for two weeks; day 10 stays at 20
    per, step = 288, 300.0
    days = 1767571200.0 + np.arange(14 * per) * step
    phase = (days % 86400) / 86400
    rng = np.random.default_rng(0)
    y = 20 + 60 / (1 + np.exp(-12 * (phase - 0.3))) - 60 / (1 + np.exp(-12 * (phase - 0.75)))
    y = y + rng.normal(0, 3.0, y.shape[0])
    y[10 * per : 11 * per] = 20 + rng.normal(0, 3.0, per)
    daily = ScanSpec(name="traffic", query="q", step_seconds=300, lookback_seconds=14 * 86400)
    known = scan_series(daily, {"instance": "a"}, days[: 10 * per].tolist(), y[: 10 * per].tolist(), None)
    signals = scan_series(daily, {"instance": "a"}, days.tolist(), y.tolist(), known.state).signals
    inside = [s for s in signals if s.expected.lower <= s.value <= s.expected.upper]
    assert inside, [s.summary for s in signals]
    for s in inside:
        summary = s.summary or ""
        assert f"value {s.value:g} within [" in summary and "outside" not in summary
        # the 7 days before were busy at this time, far above the value
        said = re.search(r"at this time on the 7 days before: ([-0-9.e+]+)\.\.([-0-9.e+]+)", summary)
        assert said, summary
        assert float(said.group(2)) > s.value + 20, summary


def test_runs_continue_the_stream_and_find_a_spike_once() -> None:
    spec = ScanSpec(name="s", query="q", service="checkout", warmup=50, step_seconds=60)
    labels = {"__name__": "latency", "instance": "a"}
    t, x = _series(400)
    x[350] += 20.0
    first = scan_series(spec, labels, t[:300], x[:300], None)
    assert first.scored == 300 and first.signals == []
    # the next fetch overlaps the last one: only the new points are scored
    second = scan_series(spec, labels, t[200:], x[200:], first.state)
    assert second.scored == 100
    assert second.state.points == 400
    [signal] = second.signals
    assert signal.service == "checkout" and signal.series == {**labels, "medic_scan": "s"}
    assert signal.window.start.timestamp() == t[350]
    assert signal.value == pytest.approx(x[350])
    assert signal.expected.lower < 10 < signal.expected.upper < 12
    third = scan_series(spec, labels, t[200:], x[200:], second.state)
    assert third.scored == 0 and third.signals == []


def test_a_scan_whose_step_changed_starts_its_series_over() -> None:
    """A scan moved from one point a minute to one in five: the saved detector counted its days in
    one-minute points, so the series starts over (warm-up again) instead of comparing each point
    with the wrong time of the day before."""
    labels = {"instance": "a"}
    t, x = _series(400)
    minute = ScanSpec(name="s", query="q", warmup=50, step_seconds=60)
    first = scan_series(minute, labels, t[:300], x[:300], None)
    assert first.state.detector is not None and first.state.detector["step"] == 60.0
    five = ScanSpec(name="s", query="q", warmup=50, step_seconds=300)
    t5 = (t[299] + 300.0 * np.arange(1, 41)).tolist()
    later = scan_series(five, labels, t5, x[:40], first.state)
    assert later.state.detector is not None
    assert later.state.detector["seen"] == 40 and later.state.detector["step"] == 300.0
    same = scan_series(minute, labels, t[300:], x[300:], first.state)  # the step kept: it continues
    assert same.state.detector is not None and same.state.detector["seen"] == 400


def filling_disk() -> tuple[ScanSpec, list[float], list[float]]:
    """A disk scan with a prediction, and two hours of a disk filling 0.06 an hour: 0.95 in about 5.5 h."""
    spec = ScanSpec(
        name="disk",
        query="q",
        service="storage",
        capacity=0.95,
        horizon_seconds=6 * 3600,
        lookback_seconds=7200,
    )
    return spec, (np.arange(120) * 60.0).tolist(), (0.5 + np.arange(120) * 0.001).tolist()


def test_a_filling_disk_is_predicted() -> None:
    spec, t, x = filling_disk()
    out = scan_series(spec, {"device": "sda"}, t, x, None)
    [signal] = out.signals
    assert signal.forecast and signal.forecast[-1].value == pytest.approx(0.95)
    assert signal.severity == "warning"  # the scan's (it was always "warning" before 2026-12-06)
    critical = spec.model_copy(update={"severity": "critical"})
    assert [s.severity for s in scan_series(critical, {"device": "sda"}, t, x, None).signals] == ["critical"]
    far = spec.model_copy(update={"horizon_seconds": 3600.0})
    assert scan_series(far, {"device": "sda"}, t, x, None).signals == []


class FakePrometheus:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float, float, float]] = []
        t, x = _series(400, start=1_000_000.0)
        x[390] += 30.0
        self.series = [RangeSeries({"service": "checkout", "pod": "a"}, t, x)]
        self.fails_before: float | None = None  # a query reaching back before this fails
        self.windowed = False

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        """Every point (``windowed``: the points from ``start`` to ``end``, every one: the series are on
        the scan's grid; a series without any is not in the answer, as in Prometheus')."""
        self.calls.append((promql, start, end, step))
        if self.fails_before is not None and start < self.fails_before:
            raise TransientError("Prometheus answered 503")
        if not self.windowed:
            return (
                [s for s in self.series if start <= s.times[0] <= end] if start < 1_000_000.0 else self.series
            )
        out = []
        for series in self.series:
            kept = [(t, x) for t, x in zip(series.times, series.values, strict=True) if start <= t <= end]
            if kept:
                out.append(RangeSeries(series.labels, [t for t, _ in kept], [x for _, x in kept]))
        return out


def test_the_activity_keeps_state_outside_and_delivers(tmp_path: Path) -> None:
    prom = FakePrometheus()
    delivered: list[list[AnomalySignal]] = []

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        delivered.append(signals)
        return ["incident-checkout-1"]

    # every 15 minutes: a series' first run raises what happened in the last 15 (its spike, 10 ago)
    spec = ScanSpec(
        name="lat", query="latency", warmup=50, lookback_seconds=3600, step_seconds=60, every_seconds=900
    )
    store = ScanStore(tmp_path / "scans")
    acts = ScanActivities(
        source=prom, specs=lambda: {"lat": spec}, store=store, deliver=deliver, clock=lambda: 1_024_000.0
    )
    result = asyncio.run(acts.scan(ScanInput(name="lat")))
    # on the scan's grid (1,024,000 is not a whole number of minutes): each run's points are the same
    # instants, whatever the clock's jitter
    # (a first run reaches a day back: its detector is warm from the start)
    assert prom.calls[0] == ("latency", 1_023_960.0 - 86400, 1_023_960.0, 60)
    # an anomaly, and the run's hour does not reach a day back: the same hours on the 7 days before,
    # an hour wider either side, for its summary (this series has none: it says nothing of them)
    assert prom.calls[1:] == [
        ("latency", 1_023_960.0 - 3600 - k * 86400 - 3600, 1_023_960.0 - k * 86400 + 3600, 300.0)
        for k in range(1, 8)
    ]
    assert result.series == 1 and result.points == 400 and result.anomalies == 1
    assert result.incidents == ["incident-checkout-1"]
    assert delivered[0][0].service == "checkout"
    stored = store.load("lat")
    assert stored.last_run == 1_024_000.0
    [state] = stored.series.values()
    assert state.points == 400 and state.detector is not None
    again = asyncio.run(acts.scan(ScanInput(name="lat")))
    assert again.points == 0 and again.anomalies == 0 and len(delivered) == 1


def test_a_signal_says_what_its_series_did_at_this_time_on_the_days_before(tmp_path: Path) -> None:
    """The run fetches 6 hours; the signal's summary says what the series did around them on the
    7 days before (fetched once a run, when an anomaly needs it). Prometheus failing to answer for them
    changes nothing else: the signal goes, without it."""
    prom = FakePrometheus()
    rng = np.random.default_rng(3)
    t = 1_024_000.0 - 8 * 86400 + np.arange(8 * 1440) * 60.0
    x = np.full(t.shape[0], 50.0) + rng.normal(0, 0.5, t.shape[0])
    x[-5] = 20.0  # a drop in the last hour's points
    prom.series = [RangeSeries({"service": "checkout", "pod": "a"}, t.tolist(), x.tolist())]
    prom.windowed = True
    delivered: list[AnomalySignal] = []

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        delivered.extend(signals)
        return []

    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=6 * 3600, step_seconds=60)

    def run(store: str) -> None:
        acts = ScanActivities(
            source=prom,
            specs=lambda: {"lat": spec},
            store=ScanStore(tmp_path / store),
            deliver=deliver,
            clock=lambda: 1_024_000.0,
        )
        asyncio.run(acts.scan(ScanInput(name="lat")))

    run("a")
    [signal] = delivered
    said = re.search(
        r"value 20 outside \[.*\]; at this time on the 7 days before: ([0-9.]+)\.\.([0-9.]+)",
        signal.summary or "",
    )
    assert said, signal.summary
    assert 48 < float(said.group(1)) < 50 < float(said.group(2)) < 52
    prom.fails_before, delivered[:] = 1_023_960.0 - 86400, []  # (the first run's own day answers)
    run("b")
    [signal] = delivered
    assert "value 20 outside" in (signal.summary or "") and "days before" not in (signal.summary or "")


def test_series_gone_from_the_query_are_forgotten_after_a_while(tmp_path: Path) -> None:
    """A query over pods: each rollout brings new label sets. A series the query stops returning is kept
    while it may come back, and forgotten once its last point is older than forget_after_seconds."""
    prom = FakePrometheus()
    now = [1_024_000.0]

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    spec = ScanSpec(name="lat", query="latency", warmup=50, forget_after_seconds=7200)
    store = ScanStore(tmp_path / "scans")
    acts = ScanActivities(
        source=prom, specs=lambda: {"lat": spec}, store=store, deliver=deliver, clock=lambda: now[0]
    )
    asyncio.run(acts.scan(ScanInput(name="lat")))
    (old_pod,) = store.load("lat").series
    t, x = _series(60, start=now[0] + 60)
    prom.series = [RangeSeries({"service": "checkout", "pod": "b"}, t, x)]  # pod a was replaced
    now[0] += 3600
    first = asyncio.run(acts.scan(ScanInput(name="lat")))
    assert first.forgotten == 0 and old_pod in store.load("lat").series  # an hour: it may come back
    now[0] += 7200
    later = asyncio.run(acts.scan(ScanInput(name="lat")))
    kept = store.load("lat").series
    assert later.forgotten == 1 and old_pod not in kept and len(kept) == 1


def test_past_the_states_a_scan_keeps_the_series_gone_longest_go_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pods deployed every run: a day of replaced pods was kept (6,000 states for a scan of 2,000 pods,
    1.5 GiB of worker at each run's load and save; a walk-through, 2026-12-07). Past MAX_KEPT states
    (here 3), the series the query no longer returns go, the longest gone first; the returned ones stay."""
    monkeypatch.setattr(scan_activity, "MAX_KEPT", 3)
    prom = FakePrometheus()
    now = [1_024_000.0]

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    spec = ScanSpec(name="lat", query="latency", warmup=50)  # forgotten after a day otherwise
    store = ScanStore(tmp_path / "scans")
    acts = ScanActivities(
        source=prom, specs=lambda: {"lat": spec}, store=store, deliver=deliver, clock=lambda: now[0]
    )

    def deploy(*pods: str) -> ScanResult:
        t, x = _series(60, start=now[0] - 3600)
        prom.series = [RangeSeries({"service": "checkout", "pod": p}, t, x) for p in pods]
        result = asyncio.run(acts.scan(ScanInput(name="lat")))
        now[0] += 600
        return result

    def kept() -> list[str]:
        return sorted(key.rpartition("pod=")[2].split(",")[0] for key in store.load("lat").series)

    assert deploy("a").forgotten == 0
    assert deploy("b").forgotten == 0 and kept() == ["a", "b"]
    assert deploy("c", "d").forgotten == 1 and kept() == ["b", "c", "d"]
    assert deploy("e", "f", "g").forgotten == 3 and kept() == ["e", "f", "g"]
    assert deploy("e").forgotten == 0 and kept() == ["e", "f", "g"]


def test_pods_replaced_within_the_lookback_are_not_kept_past_the_cap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's answer holds every pod replaced within its lookback, beside the running ones, and scores
    the latest (MAX_SERIES): kept because "returned", the replaced pods' states grew past the cap
    (2,000 pods deployed every run: 12,000 states after 5 runs, bench/scan_memory.py). Past MAX_KEPT the
    states of series this run did not score go."""
    monkeypatch.setattr(scan_activity, "MAX_SERIES", 2)
    monkeypatch.setattr(scan_activity, "MAX_KEPT", 3)
    prom = FakePrometheus()
    now = [1_024_000.0]

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    store = ScanStore(tmp_path / "scans")
    spec = ScanSpec(name="lat", query="latency", warmup=50)
    acts = ScanActivities(
        source=prom, specs=lambda: {"lat": spec}, store=store, deliver=deliver, clock=lambda: now[0]
    )
    answers: list[RangeSeries] = []
    for deploy in range(4):  # two pods a deploy, each replacing the last two; all within the lookback
        t, x = _series(60, start=now[0] - 3600)
        answers = [RangeSeries(s.labels, s.times[:-5], s.values[:-5]) for s in answers]  # ended earlier
        answers += [RangeSeries({"service": "checkout", "pod": f"d{deploy}-{i}"}, t, x) for i in (0, 1)]
        prom.series = answers
        asyncio.run(acts.scan(ScanInput(name="lat")))
        now[0] += 300
    kept = sorted(key.rpartition("pod=")[2].split(",")[0] for key in store.load("lat").series)
    assert len(kept) == 3 and {"d3-0", "d3-1"} <= set(kept), kept


def test_medic_check_validates_the_anomaly_file(tmp_path: Path) -> None:
    from pydantic import SecretStr  # noqa: PLC0415

    from service.config_files import check_all  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.support.shop import SHOP_YAML  # noqa: PLC0415

    (tmp_path / "catalog.yaml").write_text(SHOP_YAML)
    settings = Settings(_env_file=None, catalog=tmp_path / "catalog.yaml", webhook_token=SecretStr("t"))
    checked, problems = check_all(settings)
    assert problems == [] and not any("anomaly" in c for c in checked)  # no file: no scans, no problem
    (tmp_path / "anomaly.yaml").write_text(GOOD.replace("service: storage", "service: orders-db"))
    checked, problems = check_all(settings)
    assert problems == [] and f"{tmp_path / 'anomaly.yaml'}: 2 anomaly scans" in checked
    (tmp_path / "anomaly.yaml").write_text(GOOD)  # `service: storage`, which the catalog does not know
    _, problems = check_all(settings)
    assert [(p.line, p.field) for p in problems] == [(8, "scans[1].service")]
    (tmp_path / "anomaly.yaml").write_text("scans:\n  - name: a\n    query: up\n    detector: magic\n")
    _, problems = check_all(settings)
    assert [p.source for p in problems] == [str(tmp_path / "anomaly.yaml")]


def test_false_positive_marks_make_a_series_less_sensitive(tmp_path: Path) -> None:
    prom = FakePrometheus()
    marks: dict[str, IncidentMarks] = {}
    asked: list[list[str]] = []
    now = 1_024_000.0

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return ["incident-checkout-1"]

    async def false_positives(ids: list[str]) -> dict[str, IncidentMarks]:
        asked.append(ids)
        return {i: m for i, m in marks.items() if i in ids}

    spec = ScanSpec(
        name="lat", query="latency", warmup=50, lookback_seconds=3600, step_seconds=60, every_seconds=900
    )
    store = ScanStore(tmp_path / "scans")
    acts = ScanActivities(
        source=prom,
        specs=lambda: {"lat": spec},
        store=store,
        deliver=deliver,
        false_positives=false_positives,
        clock=lambda: now,
    )
    asyncio.run(acts.scan(ScanInput(name="lat")))
    [state] = store.load("lat").series.values()
    assert state.incidents == ["incident-checkout-1"] and state.sensitivity == 1.0
    assert state.joined == {"incident-checkout-1": (now, now)}
    marks["incident-checkout-1"] = IncidentMarks(opened_at=now - 60, marks=[now + 30])
    asyncio.run(acts.scan(ScanInput(name="lat")))
    assert asked == [["incident-checkout-1"]]
    [state] = store.load("lat").series.values()
    assert state.sensitivity == pytest.approx(0.7) and state.false_positives == 1
    asyncio.run(acts.scan(ScanInput(name="lat")))  # counted once
    [state] = store.load("lat").series.values()
    assert state.sensitivity == pytest.approx(0.7) and state.false_positives == 1


def test_one_mark_counts_once_for_the_series_that_were_in_it() -> None:
    """One false-positive click moved a series from 1.0 to 0.70, 0.49, 0.34 and 0.24 at the next runs
    (the series rejoined the still-open marked incident at each, and the mark was counted again); a
    series that joined after the mark was cut too; and a mark on the service's next, unrelated incident
    (the same id) cut every series that had ever joined the first (a review, 2026-12-06)."""
    t0 = 1_000_000.0
    a = remember_incidents(SeriesState(labels={"s": "a"}), ["incident-checkout"], t0)
    marked = {"incident-checkout": IncidentMarks(opened_at=t0 - 60, marks=[t0 + 300])}
    for run in range(1, 5):  # four more runs: a's anomaly goes on, it rejoins the marked incident
        a = learn_false_positives(a, marked, t0 + 900 * run)
        a = remember_incidents(a, ["incident-checkout"], t0 + 900 * run)
    assert a.false_positives == 1 and a.sensitivity == pytest.approx(0.7, abs=1e-3)
    # b's first anomaly joined the incident after the mark: the mark was not about it
    b = remember_incidents(SeriesState(labels={"s": "b"}), ["incident-checkout"], t0 + 600)
    assert learn_false_positives(b, marked, t0 + 900).sensitivity == 1.0
    # the service's next incident (a new run of the same id, opened after a last joined) is marked
    c = remember_incidents(SeriesState(labels={"s": "c"}), ["incident-checkout"], t0)
    later = {"incident-checkout": IncidentMarks(opened_at=t0 + 86400, marks=[t0 + 90000])}
    assert learn_false_positives(c, later, t0 + 90000).sensitivity == 1.0


def test_the_learned_sensitivity_has_a_floor_comes_back_and_moves_the_threshold() -> None:
    """At the old floor of 0.1 a drop to 0 scored 0.2 and a 20-sigma spike 0.1: a few clicks blinded a
    series for good. The floor is 0.5, and half of what marks took comes back in two weeks."""
    t0 = 1_000_000.0
    state = SeriesState(labels={"a": "b"})
    ids = [f"i{k}" for k in range(30)]
    state = remember_incidents(state, ids, t0)
    assert len(state.incidents) == 20 and state.incidents[-1] == "i29" and len(state.joined) == 20
    marks = {i: IncidentMarks(opened_at=t0, marks=[t0 + 1]) for i in ids}
    low = learn_false_positives(state, marks, t0 + 10)
    assert low.sensitivity == 0.5 and low.false_positives == 20
    back = learn_false_positives(low, marks, t0 + 10 + 14 * 86400)  # nothing new, two weeks on
    assert back.sensitivity == pytest.approx(0.75) and back.false_positives == 20
    spec = ScanSpec(name="s", query="q", warmup=50)
    t, x = _series(400)
    x[350] += 6.0
    keen = scan_series(spec, {"a": "b"}, t, x, None)
    dull = scan_series(spec, {"a": "b"}, t, x, SeriesState(labels={"a": "b"}, sensitivity=0.5))
    assert dull.state.max_score < keen.state.max_score


def test_a_point_off_the_grid_is_not_scored_twice_over() -> None:
    """A second review: an answer not on the scan's grid (the range query's end was not a whole
    number of steps) put a point a fraction of a step after the last one scored, so a day was 1,578
    points at one a minute, not 1,440. A point within half a step of the last scored is left out."""
    spec = ScanSpec(name="lat", query="latency", step_seconds=60)
    t, x = _series(200, start=1_000_000.0)
    first = scan_series(spec, {"pod": "a"}, t[:100], x[:100], None)
    shifted = [v + 0.4 for v in t[99:]]  # the next run's answer, 0.4 s off the grid
    second = scan_series(spec, {"pod": "a"}, shifted, x[99:], first.state)
    assert second.scored == 100 and second.state.points == 200


def test_a_state_the_release_cannot_read_starts_the_series_over() -> None:
    """A second review: a detector state with a null where a number was (a non-finite value stored
    as null) raised on restore, and the scan failed on every later run, for all its series."""
    spec = ScanSpec(name="lat", query="latency", step_seconds=60)
    t, x = _series(200, start=1_000_000.0)
    first = scan_series(spec, {"pod": "a"}, t[:100], x[:100], None)
    broken = first.state.model_copy()
    assert broken.detector is not None
    broken.detector = {**broken.detector, "rms": None}
    again = scan_series(spec, {"pod": "a"}, t[100:], x[100:], broken)
    assert again.scored == 100 and again.state.detector is not None


def test_a_sparse_series_is_not_started_over_at_every_run() -> None:
    """A third review: a series present at every other step (a `> 0` filter) measures twice the
    scan's step, and the detector was thrown away at every run that decided its step (64 times in
    576 runs: it never scored). The step the scan asked for is kept with the state instead."""
    spec = ScanSpec(name="lat", query="latency", step_seconds=60, warmup=20)
    t, x = _series(2000, start=1_000_000.0)
    state = None
    for run in range(0, 2000, 50):
        out = scan_series(spec, {"pod": "a"}, t[run : run + 50 : 2], x[run : run + 50 : 2], state)
        state = out.state
    assert state is not None and state.step_seconds == 60 and state.detector is not None
    assert state.detector["seen"] >= 1000  # one detector all along


def test_a_changed_detector_or_warmup_reaches_existing_series() -> None:
    """A third review: the kind and warm-up in anomaly.yaml reached only new series."""
    spec = ScanSpec(name="lat", query="latency", step_seconds=60)
    t, x = _series(200, start=1_000_000.0)
    first = scan_series(spec, {"pod": "a"}, t[:100], x[:100], None)
    changed = spec.model_copy(update={"detector": "change", "warmup": 10})
    again = scan_series(changed, {"pod": "a"}, t[100:], x[100:], first.state)
    assert again.state.detector is not None
    assert (again.state.detector["kind"], again.state.detector["warmup"]) == ("change", 10)


def test_series_are_scored_off_the_event_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scoring a series is CPU (and its state's decoding): on the worker's event loop, a scan of
    thousands of series held up the notifications, remediations and workflow tasks it also runs."""
    threads: list[int] = []

    def spy(*args: Any, **kw: Any) -> ScanOutcome:
        threads.append(threading.get_ident())
        return scan_series(*args, **kw)

    monkeypatch.setattr("activities.scan.scan_series", spy)

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    spec = ScanSpec(name="lat", query="latency", warmup=50)
    acts = ScanActivities(
        source=FakePrometheus(),
        specs=lambda: {"lat": spec},
        store=ScanStore(tmp_path / "scans"),
        deliver=deliver,
        clock=lambda: 1_024_000.0,
    )

    async def run() -> int:
        await acts.scan(ScanInput(name="lat"))
        return threading.get_ident()

    loop_thread = asyncio.run(run())
    assert threads and loop_thread not in threads


def test_the_scan_loop_benchmark_runs() -> None:
    """``python -m bench.scan_loop`` at a tiny size runs, and reports the loop's longest wait and the
    plain loop's time (figures, not asserted: docs/BENCHMARKS.md)."""
    from bench.scan_loop import run  # noqa: PLC0415 - the benchmark, only here

    result = asyncio.run(run(3, 120))
    assert result["series"] == 3 and result["points_per_run"] == 120
    assert {
        "run1_loop_longest_gap_ms",
        "run2_loop_longest_gap_ms",
        "raw_scan_series_s",
        "run1_over_raw",
    } <= set(result)


def test_a_prediction_alone_is_not_what_a_mark_teaches_the_detector(tmp_path: Path) -> None:
    """A false-positive mark on a prediction's incident made the series' anomaly detector less sensitive
    at each run, while the prediction kept coming (a review, 2026-12-06): the detector learns only from
    the incidents its anomalies joined."""
    t = (1_000_000.0 + np.arange(120) * 60.0).tolist()
    filling = RangeSeries({"service": "storage", "device": "sda"}, t, (0.5 + np.arange(120) * 0.001).tolist())

    class Filling(FakePrometheus):
        def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
            return [filling]

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        assert all(s.forecast for s in signals)
        return ["incident-storage"]

    spec, _, _ = filling_disk()
    store = ScanStore(tmp_path / "scans")
    acts = ScanActivities(
        source=Filling(), specs=lambda: {"disk": spec}, store=store, deliver=deliver, clock=lambda: t[-1] + 30
    )
    result = asyncio.run(acts.scan(ScanInput(name="disk")))
    assert result.predictions == 1 and result.incidents == ["incident-storage"]
    [state] = store.load("disk").series.values()
    assert state.incidents == [] and state.joined == {}


def test_a_prediction_counts_from_the_run_and_holds_its_incident_only_to_the_run_after_next() -> None:
    """Three defects a review found (2026-12-06): a series that stopped three hours before the run (a
    deleted pod) was still predicted from its last point, into the past; a prediction held its incident
    open until the predicted exhaustion, up to 30 days, after the disk was cleaned; and the timeline
    read "value 0.75 within [0.75, 0.95], its course unusual" where the summary says when it runs out."""
    spec, t, x = filling_disk()
    end = t[-1] + 60.0
    [signal] = scan_series(spec, {"device": "sda"}, t, x, None, end=end).signals
    assert (
        signal.window.end.timestamp()
        == end + 2 * max(spec.every_seconds, spec.step_seconds) + spec.step_seconds
    )
    assert signal.summary is not None
    assert signal.summary.startswith("scan disk (device=sda): exhausts in about")
    state = IncidentState(id="incident-storage", opened_at=datetime.fromtimestamp(end, UTC))
    state.apply_anomalies(AnomalyBatch(signals=[signal], received_at=state.opened_at), at=state.opened_at)
    [entry] = [e for e in state.timeline if e.kind == "anomaly.detected"]
    assert signal.summary in entry.message and "its course unusual" not in entry.message
    # the same points, the run three hours after the last of them: nothing predicted
    assert scan_series(spec, {"device": "sda"}, t, x, None, end=end + 3 * 3600).signals == []


def test_a_used_ratio_past_its_capacity_is_exhausted_when_the_scan_says_it_rises() -> None:
    """At 0.97 of a 0.95 capacity and still filling, no prediction: Medic took a series above its
    capacity for one falling to it (a free amount above its floor). ``direction: rising`` says which."""
    t = (np.arange(120) * 60.0).tolist()
    x = (0.96 + np.arange(120) * 0.0001).tolist()
    spec = ScanSpec(
        name="disk", query="q", service="storage", capacity=0.95, horizon_seconds=6 * 3600, direction="rising"
    )
    [signal] = scan_series(spec, {"device": "sda"}, t, x, None, end=t[-1]).signals
    assert signal.summary is not None and signal.summary.startswith("scan disk (device=sda): exhausted")
    cleaned = (0.99 - np.arange(120) * 0.0002).tolist()  # past it, and being cleaned up: on its way back
    assert scan_series(spec, {"device": "sda"}, t, cleaned, None, end=t[-1]).signals == []


def test_the_example_in_the_docs_is_a_valid_file() -> None:
    import re  # noqa: PLC0415

    docs = (Path(__file__).parents[2] / "docs" / "anomaly.md").read_text()
    found = re.search(r"```yaml\n(scans:.*?)```", docs, re.S)
    assert found is not None
    # as `medic check` reads it, the query and timing checks included
    config = load_anomaly_config(found.group(1), source="docs/anomaly.md", queries=True)
    disk = next(s for s in config.scans if s.capacity is not None)
    # a day's horizon from more than a day: a daily rotation is seen as one, not as a fill
    assert disk.direction == "rising" and disk.horizon_seconds is not None
    assert disk.lookback_seconds > disk.horizon_seconds


def test_marks_are_counted_across_a_late_first_task_and_old_states_meet_the_floor() -> None:
    """An owner review (2026-12-06): an incident whose first workflow task ran 75 s after the join
    (or a worker 90 s behind Temporal) opened "after" the series last joined it, and its mark was
    never counted; a state saved at 0.1 before the floor stayed under it for two weeks."""
    t0 = 1_000_000.0
    late = remember_incidents(SeriesState(labels={"s": "a"}), ["incident-checkout"], t0)
    marks = {"incident-checkout": IncidentMarks(opened_at=t0 + 90, marks=[t0 + 300])}
    assert learn_false_positives(late, marks, t0 + 900).false_positives == 1
    old = SeriesState(labels={"s": "a"}, sensitivity=0.1)  # learned before 2026-12-06: no learned_at
    assert learn_false_positives(old, {}, t0).sensitivity == 0.5
