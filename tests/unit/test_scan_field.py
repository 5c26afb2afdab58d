"""Anomaly scans against what Prometheus and operations hand them in the field (a review of the scan
path, 2026-12-06): label values that are no service name, +Inf, a query edited in place, a state
lost or kept by another worker, runs further apart than their lookback, label values that hold the
key's own separators, and a prediction's severity."""

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from temporalio.exceptions import ApplicationError

from activities.scan import ScanActivities, ScanInput, ScanStore, StoredScan
from medic.anomaly import AnomalySignal
from medic.scan import (
    RangeSeries,
    ScanSpec,
    SeriesState,
    load_anomaly_config,
    scan_series,
    series_key,
    service_name,
)
from medic.yamldoc import ConfigError

NOW = 1_024_020.0  # a whole number of minutes


def _series(n: int, *, end: float = NOW, seed: int = 0) -> tuple[list[float], list[float]]:
    t = end - 60.0 * (n - 1) + np.arange(n) * 60.0
    return t.tolist(), (10.0 + np.random.default_rng(seed).normal(0, 0.5, n)).tolist()


class Prometheus:
    def __init__(self, series: list[RangeSeries]) -> None:
        self.series = series
        self.calls: list[tuple[float, float]] = []

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        self.calls.append((start, end))
        out = []
        for s in self.series:
            kept = [(t, x) for t, x in zip(s.times, s.values, strict=True) if start <= t <= end]
            if kept:
                out.append(RangeSeries(s.labels, [t for t, _ in kept], [x for _, x in kept]))
        return out


def _activities(
    prom: Prometheus, spec: ScanSpec, store: ScanStore, delivered: list[AnomalySignal], now: list[float]
) -> ScanActivities:
    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        delivered.extend(signals)
        return [f"incident-{s.service}" for s in signals]

    return ScanActivities(
        source=prom, specs=lambda: {spec.name: spec}, store=store, deliver=deliver, clock=lambda: now[0]
    )


def test_a_label_value_that_is_no_service_name_neither_fails_the_run_nor_is_lost(tmp_path: Path) -> None:
    """``service="Checkout API"`` made every run of the whole scan fail (the signal's service must be a
    name): no series after it was scored, no state saved, at every run. Its anomaly now goes under a
    name made of it, the series' labels keep the value as it was, and the other series are scored."""
    t, x = _series(400)
    x[-2] += 30.0
    odd = RangeSeries({"service": "Checkout API", "pod": "a"}, t, x)
    plain = RangeSeries({"service": "checkout", "pod": "b"}, *_series(400, seed=1))
    delivered: list[AnomalySignal] = []
    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=24000)
    store = ScanStore(tmp_path)
    result = asyncio.run(
        _activities(Prometheus([odd, plain]), spec, store, delivered, [NOW + 5]).scan(ScanInput(name="lat"))
    )
    assert result.series == 2 and result.failed == 0 and result.anomalies == 1
    [signal] = delivered
    assert signal.service == "Checkout-API" and signal.series["service"] == "Checkout API"
    assert len(store.load("lat").series) == 2
    assert [service_name(v) for v in ("_internal", "team@x", "___", "x" * 300)] == [
        "internal",
        "team-x",
        "unknown",
        "x" * 128,
    ]


def test_one_series_that_cannot_be_scored_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import activities.scan as module  # noqa: PLC0415

    real = module.scan_series  # type: ignore[attr-defined]

    def fails_for_a(spec, labels, times, values, state, **kw):  # type: ignore[no-untyped-def]
        if labels.get("pod") == "a":
            raise RuntimeError("a defect in one series' detector")
        return real(spec, labels, times, values, state, **kw)

    monkeypatch.setattr(module, "scan_series", fails_for_a)
    series = [
        RangeSeries({"service": "checkout", "pod": p}, *_series(100, seed=i)) for i, p in enumerate("abc")
    ]
    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=6000)
    store = ScanStore(tmp_path)
    store.save(StoredScan(name="lat", series={"pod=a,service=checkout": SeriesState(labels={}, points=7)}))
    result = asyncio.run(
        _activities(Prometheus(series), spec, store, [], [NOW + 5]).scan(ScanInput(name="lat"))
    )
    assert result.failed == 1 and result.series == 2 and result.points == 200
    kept = store.load("lat").series
    assert kept["pod=a,service=checkout"].points == 7  # its state as it was: scored again next run
    assert kept["pod=b,service=checkout"].points == 100 and kept["pod=c,service=checkout"].points == 100


def test_a_service_that_is_no_name_is_refused_by_medic_check() -> None:
    with pytest.raises(ConfigError) as refused:
        load_anomaly_config(
            "scans:\n  - name: a\n    query: q\n    service: Checkout API\n", source="anomaly.yaml"
        )
    assert "anomaly.yaml:4" in str(refused.value) and "service" in str(refused.value)


def test_a_scan_whose_query_changed_starts_its_series_over() -> None:
    """The same scan, its query now in milliseconds: the model of seconds found every point an
    anomaly (score 1.0 on every series at the next run)."""
    labels = {"service": "checkout"}
    t, x = _series(400)
    seconds = ScanSpec(name="lat", query="latency_seconds", warmup=50)
    first = scan_series(seconds, labels, t[:300], x[:300], None)
    millis = seconds.model_copy(update={"query": "latency_seconds * 1000"})
    later = scan_series(millis, labels, t, [v * 1000 for v in x], first.state)
    # the new model learns from all 400 points fetched (not the 100 after the last one scored: it was
    # blind for its warm-up, 2.5 hours at the defaults), and raises nothing of the old ones
    assert later.signals == [] and later.state.detector is not None and later.state.detector["seen"] == 400
    assert later.scored == 100 and later.state.points == 400
    spiked = [v * 1000 for v in x]
    spiked[380] += 20_000.0
    [signal] = scan_series(millis, labels, t, spiked, first.state).signals
    assert signal.window.start.timestamp() == t[380]
    same = scan_series(seconds, labels, t, x, first.state)  # the query kept: it continues
    assert same.state.detector is not None and same.state.detector["seen"] == 400
    # a state saved before the query was kept goes on as it was
    older = first.state.model_copy(update={"query": None})
    assert scan_series(millis, labels, t, x, older).state.detector["seen"] == 400  # type: ignore[index]


def test_plus_inf_is_an_anomaly_not_a_missing_point() -> None:
    """errors / requests when requests fall to 0: Prometheus answers +Inf, which was taken for a
    missing point (score 0, and 16 in a row an outage)."""
    spec = ScanSpec(name="ratio", query="errors / requests", warmup=50)
    t, x = _series(300)
    first = scan_series(spec, {"service": "checkout"}, t[:290], x[:290], None)
    x[-3] = float("inf")
    out = scan_series(spec, {"service": "checkout"}, t, x, first.state)
    [signal] = out.signals
    assert signal.score == 1.0 and "value +Inf outside [" in (signal.summary or "")
    assert signal.value == pytest.approx(np.finfo(np.float64).max)
    # the timeline, the chart and the postmortem read it from the signal: +Inf there too
    assert signal.expected.against(signal.value).startswith("value +Inf outside [")
    AnomalySignal.model_validate_json(signal.model_dump_json())  # as the webhook path takes it
    # a ratio that stays at +Inf is one anomaly where it began, not one at every run: the same finding
    # is held on while it stays there (its window's start, its score), no new one counted
    stuck = list(x[:-3]) + [float("inf")] * 3
    first_inf = scan_series(spec, {"service": "checkout"}, t, stuck, first.state)
    assert len(first_inf.signals) == 1 and first_inf.state.infinite
    more_t = [t[-1] + 60.0 * k for k in range(1, 6)]
    still = scan_series(spec, {"service": "checkout"}, more_t, [float("inf")] * 5, first_inf.state)
    [held] = still.signals
    assert held.key == first_inf.signals[0].key and held.window.start == first_inf.signals[0].window.start
    assert held.score == 1.0 and still.anomaly_at is None and still.scored == 5
    assert still.state.anomalies == first_inf.state.anomalies
    nan = list(x)
    nan[-3] = float("nan")
    assert scan_series(spec, {"service": "checkout"}, t, nan, first.state).signals == []  # NaN: missing


def test_a_series_scored_for_the_first_time_raises_only_what_this_run_is_there_for(tmp_path: Path) -> None:
    """Two workers each with their own file store (the chart's default before 2026-12-06), or a
    state lost with its pod: the run re-scored its lookback and handed over anomalies hours old
    again, as new incidents once the first had resolved. A detector made now learns from the whole
    lookback and raises only what happened in the last ``every_seconds``."""
    t, x = _series(360)
    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=21600)
    labels = {"service": "checkout"}
    y = list(x)
    y[-2] += 30.0  # within the last 5 minutes
    [signal] = scan_series(spec, labels, t, y, None).signals
    assert signal.window.start.timestamp() == t[-2]
    x[200] += 30.0  # 2.6 hours before the run
    fresh = scan_series(spec, labels, t, x, None)
    assert fresh.signals == [] and fresh.state.points == 360
    # with its state kept, the series raises the same spike when it comes
    known = scan_series(spec, labels, t[:150], x[:150], None)
    [again] = scan_series(spec, labels, t, x, known.state).signals
    assert again.window.start.timestamp() == t[200]


def test_runs_further_apart_than_their_lookback_score_the_points_between(tmp_path: Path) -> None:
    """every_seconds 3 hours, lookback 10 minutes: each run saw its last 10 minutes, and a jump
    between runs was never scored. A run now reaches back to the last run's end (at most
    Prometheus's 11,000 points), and a series' stream has no hole."""
    t, x = _series(600, end=NOW + 3 * 3600)
    x[500] += 40.0  # between the two runs (t[419] is NOW)
    prom = Prometheus([RangeSeries({"service": "checkout"}, t, x)])
    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=600, every_seconds=10800)
    store = ScanStore(tmp_path)
    now = [NOW + 5]
    delivered: list[AnomalySignal] = []
    acts = _activities(prom, spec, store, delivered, now)
    store.save(StoredScan(name="lat"))
    first = asyncio.run(acts.scan(ScanInput(name="lat")))
    assert prom.calls[-1] == (NOW - 86400, NOW) and first.points == 420  # (a first run: a day back)
    # a state that had scored up to NOW (warm): the next run, 3 hours later, scores the 180 points since
    state = scan_series(spec, {"service": "checkout"}, t[:420], x[:420], None).state
    stored = store.load("lat")
    stored.series = {series_key({"service": "checkout"}): state}
    store.save(stored)
    now[0] += 3 * 3600
    asked = len(prom.calls)
    later = asyncio.run(acts.scan(ScanInput(name="lat")))
    assert prom.calls[asked] == (NOW, NOW + 3 * 3600)  # (then the days before, for the summary)
    assert later.points == 180 and [s.window.start.timestamp() for s in delivered] == [t[500]]
    # after a month away, a day back at most (2,000 series of 11,000 points would outlast the
    # activity's timeout, and a long range Prometheus's own limits)
    now[0] += 30 * 86400
    asked = len(prom.calls)
    asyncio.run(acts.scan(ScanInput(name="lat")))
    start, end = prom.calls[asked]
    assert (end - start) / 60 == 1440


def test_label_values_holding_the_keys_separators_keep_their_own_state() -> None:
    one, two = {"a": "x,b=y"}, {"a": "x", "b": "y"}
    assert series_key(one) != series_key(two)
    assert series_key({"pod": "p-1", "service": "checkout"}) == "pod=p-1,service=checkout"  # as before


def test_prometheus_timeouts_partial_answers_and_their_words(caplog: pytest.LogCaptureFixture) -> None:
    """Each query asks Prometheus to give up a second before Medic does (each of Medic's retries
    started another evaluation it kept running); a 503 says Prometheus's own words; the warnings of a
    partial answer (Thanos, Mimir, Cortex) are logged, where they were dropped without a word."""
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415
    from medic.ports import TransientError  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415

    double = PrometheusAlertsDouble()
    double.set_range(
        [
            {
                "metric": {"service": "checkout"},
                "values": [[NOW, "1.5"], [NOW + 60, "+Inf"], [NOW + 120, "NaN"]],
            }
        ],
        warnings=["partial response: store 10.0.0.7:10901 unavailable"],
    )
    with double.serve() as url:
        prometheus = PrometheusMetrics(url, timeout=10.0)
        with caplog.at_level("WARNING", logger="activities.adapters.prometheus"):
            [series] = prometheus.query_range("latency", start=NOW, end=NOW + 120, step=60)
        assert series.values[:2] == [1.5, float("inf")] and np.isnan(series.values[2])
        assert (
            "partial response: store 10.0.0.7:10901 unavailable" in caplog.text and "'latency'" in caplog.text
        )
        [asked] = double.requests("GET /api/v1/query_range")
        assert {"timeout=9000ms", "partial_response=false"} <= set(asked.query.split("&"))
        double.faults.push(
            "server_error",
            status=503,
            body={
                "status": "error",
                "errorType": "timeout",
                "error": "query timed out in expression evaluation",
            },
        )
        with pytest.raises(TransientError) as failed:
            prometheus.query_range("latency", start=NOW, end=NOW + 120, step=60)
    assert "(503): query timed out in expression evaluation" in str(failed.value)


def test_a_scan_defined_twice_is_reported_at_its_own_line() -> None:
    text = "scans:\n  - name: a\n    query: q\n  - name: b\n    query: q\n  - name: a\n    query: q\n"
    with pytest.raises(ConfigError) as refused:
        load_anomaly_config(text, source="anomaly.yaml")
    assert "anomaly.yaml:6: scans[2].name: scan 'a' is defined twice" in str(refused.value)


def test_a_bearer_token_file_is_read_again_at_every_query(tmp_path: Path) -> None:
    """A Thanos querier behind OpenShift's oauth-proxy, a managed Prometheus: a bearer token from a file
    (a projected service-account token rotates, so it is read at every query)."""
    from pydantic import SecretStr  # noqa: PLC0415

    from medic.ports import PermanentError  # noqa: PLC0415
    from service.prometheus import prometheus  # noqa: PLC0415
    from service.settings import Settings  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415

    token = tmp_path / "token"
    token.write_text("first\n")
    double = PrometheusAlertsDouble()
    with double.serve() as url:
        settings = Settings(
            _env_file=None,
            webhook_token=SecretStr("t" * 32),
            prometheus_url=url,
            prometheus_bearer_token_file=token,
            prometheus_timeout_seconds=2.5,
        )
        source = prometheus(settings)
        assert source is not None
        source.query_range("up", start=NOW, end=NOW + 60, step=60)
        token.write_text("second")
        source.query_range("up", start=NOW, end=NOW + 60, step=60)
        sent = [r.headers.get("authorization") for r in double.requests("GET /api/v1/query_range")]
        assert sent == ["Bearer first", "Bearer second"]
        assert all("timeout=1500ms" in r.query.split("&") for r in double.requests("GET /api/v1/query_range"))
        token.unlink()
        with pytest.raises(PermanentError, match=r"bearer token file .* unreadable"):
            source.query_range("up", start=NOW, end=NOW + 60, step=60)
    assert prometheus(Settings(_env_file=None, webhook_token=SecretStr("t" * 32))) is None


def test_a_catch_up_prometheus_cannot_answer_falls_back_to_the_lookback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The range back to the last run's end is longer than the lookback; when Prometheus refuses it
    (its timeout, its sample limit), the run fetches its lookback as it always did. A run that failed
    the catch-up kept ``last_run`` where it was, and asked the same range, longer, at every run. A
    blip (a connection reset) is retried first, so it does not cost the catch-up; a query Prometheus
    refuses for itself is not sent twice."""
    import activities.scan as module  # noqa: PLC0415
    from medic.ports import PermanentError, TransientError  # noqa: PLC0415

    failure: list[Exception] = [
        TransientError("Prometheus unavailable (503): query timed out in expression evaluation")
    ]

    class Limited(Prometheus):
        def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
            if (end - start) / step > 100:
                self.calls.append((start, end))
                raise failure[0]
            return super().query_range(promql, start=start, end=end, step=step)

    t0, x0 = _series(400, end=NOW + 3 * 3600)
    blip = Limited([RangeSeries({"service": "checkout"}, t0, x0)])
    failure[0] = TransientError("Prometheus unreachable while trying to run a scan's range query: reset")
    spec0 = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=1800)
    store0 = ScanStore(tmp_path / "blip")
    store0.save(StoredScan(name="lat", last_run=NOW))
    acts0 = _activities(blip, spec0, store0, [], [NOW + 3 * 3600 + 5])
    with pytest.raises(ApplicationError) as retried:
        asyncio.run(acts0.scan(ScanInput(name="lat")))
    assert not retried.value.non_retryable and blip.calls == [(NOW, NOW + 3 * 3600)]
    assert store0.load("lat").last_run == NOW  # nothing moved: the retry asks the same range
    monkeypatch.setattr(module, "_attempt", lambda: 2)  # the retry: the catch-up fails again
    assert asyncio.run(acts0.scan(ScanInput(name="lat"))).points == 31
    monkeypatch.setattr(module, "_attempt", lambda: 1)
    failure[0] = PermanentError(
        'Prometheus rejected the query: {"errorType":"bad_data","error":"parse error"}'
    )
    store0.save(StoredScan(name="lat", last_run=NOW))
    blip.calls.clear()
    with pytest.raises(ApplicationError) as refused:
        asyncio.run(acts0.scan(ScanInput(name="lat")))
    assert refused.value.non_retryable and len(blip.calls) == 1
    failure[0] = TransientError("Prometheus unavailable (503): query timed out in expression evaluation")

    t, x = _series(400, end=NOW + 3 * 3600)
    prom = Limited([RangeSeries({"service": "checkout"}, t, x)])
    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=1800)
    store = ScanStore(tmp_path)
    store.save(StoredScan(name="lat", last_run=NOW))
    result = asyncio.run(_activities(prom, spec, store, [], [NOW + 3 * 3600 + 5]).scan(ScanInput(name="lat")))
    assert prom.calls == [(NOW, NOW + 3 * 3600), (NOW + 3 * 3600 - 1800, NOW + 3 * 3600)]
    assert result.points == 31 and store.load("lat").last_run == NOW + 3 * 3600 + 5


def test_a_series_that_appeared_while_the_scan_was_down_raises_what_came_since_its_last_run(
    tmp_path: Path,
) -> None:
    """A new pod during a 3-hour outage, its spike 2 hours before the run: a known series raises it,
    and a new one now too (its cut-off is the previous run's end, not the last every_seconds)."""
    end = NOW + 3 * 3600
    a, b = _series(600, end=end, seed=1), _series(600, end=end, seed=2)
    a[1][-120] += 30.0
    b[1][-120] += 30.0
    prom = Prometheus([RangeSeries({"service": "checkout", "pod": "a"}, *a)])
    spec = ScanSpec(name="lat", query="latency", warmup=50, lookback_seconds=21600)
    store = ScanStore(tmp_path)
    delivered: list[AnomalySignal] = []
    now = [NOW + 5]
    acts = _activities(prom, spec, store, delivered, now)
    asyncio.run(acts.scan(ScanInput(name="lat")))  # pod a known up to NOW
    prom.series.append(RangeSeries({"service": "checkout", "pod": "b"}, *b))
    now[0] = end + 5
    asyncio.run(acts.scan(ScanInput(name="lat")))
    assert sorted(s.series["pod"] for s in delivered) == ["a", "b"]
    assert {s.window.start.timestamp() for s in delivered} == {a[0][-120]}


def test_a_state_saved_under_the_key_before_escaping_moves_to_the_new_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels = {"handler": "/api?x=1", "service": "checkout"}
    t, x = _series(100)
    spec = ScanSpec(name="lat", query="latency", warmup=50)
    old = scan_series(spec, labels, t[:60], x[:60], None).state
    store = ScanStore(tmp_path)
    legacy = StoredScan(name="lat", last_run=t[59], series={"handler=/api?x=1,service=checkout": old})
    store.save(legacy)
    prom = Prometheus([RangeSeries(labels, t, x)])
    asyncio.run(_activities(prom, spec, store, [], [t[-1] + 5]).scan(ScanInput(name="lat")))
    kept = store.load("lat").series
    assert list(kept) == [series_key(labels)] and kept[series_key(labels)].points == 100
    # a series that fails to score keeps its state where it was, under its old key
    import activities.scan as module  # noqa: PLC0415

    def fails(*args, **kw):  # type: ignore[no-untyped-def]
        raise RuntimeError("a defect")

    store.save(legacy)
    monkeypatch.setattr(module, "scan_series", fails)
    asyncio.run(_activities(prom, spec, store, [], [t[-1] + 5]).scan(ScanInput(name="lat")))
    assert store.load("lat").series == {"handler=/api?x=1,service=checkout": old}
    monkeypatch.undo()
    # {a: "1,b=2"} had the old key of {a: "1", b: "2"}: it never takes the other's state
    plain, odd = {"a": "1", "b": "2"}, {"a": "1,b=2"}
    both = Prometheus([RangeSeries(plain, t, x), RangeSeries(odd, t, x)])
    store.save(
        StoredScan(
            name="lat",
            last_run=t[59],
            series={"a=1,b=2": scan_series(spec, plain, t[:60], x[:60], None).state},
        )
    )
    asyncio.run(_activities(both, spec, store, [], [t[-1] + 5]).scan(ScanInput(name="lat")))
    kept = store.load("lat").series
    assert kept[series_key(plain)].labels == plain and kept[series_key(plain)].points == 100
    assert (
        kept[series_key(odd)].labels == odd and kept[series_key(odd)].points == 61
    )  # its own: the run's hour


def test_prometheus_infos_are_logged_once_a_query_its_warnings_at_every_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Prometheus 3 answers a rate() over a gauge-named series with an info ("metric might not be a
    counter") at every query: logged at WARNING at every scan run, they buried the warnings that
    matter. An info is logged once per query and text; a warning (a partial answer) every time."""
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415

    info = 'PromQL info: metric might not be a counter, name does not end in _total: "queue_size"'
    double = PrometheusAlertsDouble()
    double.set_range([{"metric": {}, "values": [[NOW, "1"]]}], infos=[info])
    with double.serve() as url:
        prometheus = PrometheusMetrics(url, timeout=10.0)
        with caplog.at_level("DEBUG", logger="activities.adapters.prometheus"):
            for _ in range(3):
                prometheus.query_range("rate(queue_size[5m])", start=NOW, end=NOW, step=60)
            prometheus.query_range("rate(queue_depth[5m])", start=NOW, end=NOW, step=60)
            double.set_range([{"metric": {}, "values": [[NOW, "1"]]}], warnings=["partial response"])
            for _ in range(2):
                prometheus.query_range("rate(queue_size[5m])", start=NOW, end=NOW, step=60)
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "Prometheus" in r.getMessage()]
    infos = [(level, "queue_depth" in text) for level, text in said if "infos" in text]
    assert infos == [("INFO", False), ("DEBUG", False), ("DEBUG", False), ("INFO", True)]
    assert [level for level, text in said if "warnings" in text] == ["WARNING", "WARNING"]


async def test_the_scans_view_redacts_series_labels_and_says_503_when_the_state_is_unreachable(
    tmp_path: Path,
) -> None:
    """A series label holding a URL with a password or a key came back as it was from GET
    /anomalies/scans, where its signals, timeline and logs redact it; and a ConfigMap store that
    could not be set up or reached answered 500 (a review, 2026-12-06)."""

    from medic.scan import SeriesState  # noqa: PLC0415
    from tests.unit.test_api import get_scans  # noqa: PLC0415

    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "anomaly.yaml").write_text("scans:\n  - name: lat\n    query: up\n")
    labels = {"instance": "https://admin:s3cr3tpassw0rd@db.internal:5432", "job": "db"}
    ScanStore(tmp_path / "scans").save(StoredScan(name="lat", series={"k": SeriesState(labels=labels)}))

    shown = await get_scans(tmp_path)
    assert shown.status_code == 200, shown.text
    [scan] = shown.json()
    [series] = scan["series"]
    assert "s3cr3tpassw0rd" not in shown.text and series["labels"]["job"] == "db"
    unreachable = await get_scans(
        tmp_path, scan_state="configmap", scan_state_namespace="medic", kubeconfig=tmp_path / "none"
    )
    assert unreachable.status_code == 503 and "the scans' state could not be read" in unreachable.text
    assert unreachable.headers["Retry-After"]


def test_a_scans_first_run_is_warm(tmp_path: Path) -> None:
    """The docs' example (an hour's lookback at one point a minute, a warm-up of 150 points) fetched an
    hour on its first run and scored it 0 throughout: blind for its first 100 minutes, its view saying
    0 meanwhile. A first run now reaches a day back, as a catch-up does, and finds what its last
    minutes hold."""
    t, x = _series(1440)
    x[-2] += 40.0  # a minute before the first run
    prom = Prometheus([RangeSeries({"service": "checkout"}, t, x)])
    spec = ScanSpec(name="lat", query="latency", lookback_seconds=3600, every_seconds=300)
    store = ScanStore(tmp_path)
    delivered: list[AnomalySignal] = []
    result = asyncio.run(_activities(prom, spec, store, delivered, [NOW + 5]).scan(ScanInput(name="lat")))
    assert prom.calls[0] == (NOW - 86400, NOW) and result.points == 1440
    assert [s.window.start.timestamp() for s in delivered] == [t[-2]]


def test_a_first_run_reaches_1440_points_back_and_its_retry_the_lookback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 15 s a day is 5,761 points a series: 2,000 series took about 70 s and 2.5 GB to parse in an
    owner review, and a first run that outlasted its timeout would have asked it again at every retry
    and every run after (its state never saved). 1,440 points a series at most; a retry asks the
    lookback."""
    import activities.scan as scan_activity  # noqa: PLC0415

    t, x = _series(6000)
    prom = Prometheus([RangeSeries({"service": "checkout"}, t, x)])
    spec = ScanSpec(name="lat", query="latency", step_seconds=15, lookback_seconds=3600, every_seconds=300)
    asyncio.run(_activities(prom, spec, ScanStore(tmp_path / "a"), [], [NOW + 5]).scan(ScanInput(name="lat")))
    assert prom.calls[0] == (NOW - 1440 * 15, NOW)
    monkeypatch.setattr(scan_activity, "_attempt", lambda: 2)
    prom.calls.clear()
    asyncio.run(_activities(prom, spec, ScanStore(tmp_path / "b"), [], [NOW + 5]).scan(ScanInput(name="lat")))
    assert prom.calls[0] == (NOW - 3600, NOW)


def test_a_first_run_stays_on_the_scans_grid_with_a_step_that_does_not_divide_a_day(tmp_path: Path) -> None:
    t, x = _series(100)
    prom = Prometheus([RangeSeries({"service": "checkout"}, t, x)])
    spec = ScanSpec(name="lat", query="latency", step_seconds=70, lookback_seconds=3500, every_seconds=300)
    asyncio.run(_activities(prom, spec, ScanStore(tmp_path), [], [NOW + 5]).scan(ScanInput(name="lat")))
    start, end = prom.calls[0]
    assert (end - start) % 70 == 0 and 86400 <= end - start < 86400 + 70, (start, end)


@pytest.mark.parametrize(
    ("status", "error_type", "said"),
    [
        # Prometheus (promql/engine.go; web/api/v1/api.go)
        (422, "execution", "query processing would load too many samples into memory in query execution"),
        (
            400,
            "bad_data",
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
            "the query resolution (?step=XX)",
        ),
        # Mimir and Cortex (pkg/util/validation: ErrQueryTooLong; Mimir's query-frontend and querier limits)
        (400, "bad_data", "the query time range exceeds the limit (query length: 745h0m0s, limit: 721h0m0s)"),
        (
            400,
            "bad_data",
            "the total query time range exceeds the limit (query length: 745h0m0s, limit: "
            "721h0m0s) (err-mimir-max-total-query-length)",
        ),
        (
            422,
            "execution",
            "the query exceeded the maximum number of chunks (limit: 2000000 chunks) "
            "(err-mimir-max-chunks-per-query). Consider reducing the time range and/or number of series",
        ),
        (
            422,
            "execution",
            "the query exceeded the maximum number of series (limit: 100000 series) "
            "(err-mimir-max-series-per-query)",
        ),
        (
            422,
            "execution",
            "the query exceeded the aggregated chunks size limit (limit: 20000000000 bytes) "
            "(err-mimir-max-chunks-bytes-per-query)",
        ),
        # Cortex and Amazon Managed Prometheus (cortex pkg/util/limiter/query_limiter.go), the
        # store-gateway's bytes limit
        (
            422,
            "execution",
            "the query hit the max number of chunks limit while fetching chunks from "
            'ingesters for series {__name__="up"} (limit: 2000000)',
        ),
        (422, "execution", "the query hit the max number of series limit (limit: 100000 series)"),
        (422, "execution", "the query hit the aggregated chunks size limit (limit: 0 bytes)"),
        (422, "execution", "the query hit the aggregated data size limit (limit: 1 bytes)"),
        (422, "execution", "expanding series: exceeded bytes limit while fetching chunks: limit 1 violated"),
        # Thanos (store limits)
        (422, "execution", "expanding series: exceeded series limit: limit 100000 violated (got 100001)"),
    ],
)
def test_a_range_too_long_for_mimir_thanos_or_prometheus_falls_back_to_the_lookback(
    status: int, error_type: str, said: str
) -> None:
    """The words each says of a range too long for it, as the adapter reports them (the double answers
    with their error bodies), are taken for one the lookback alone may fit; a parse error is not."""
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415
    from activities.scan import _too_long  # noqa: PLC0415
    from medic.ports import PermanentError  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415

    double = PrometheusAlertsDouble()
    with double.serve() as url:
        prometheus = PrometheusMetrics(url, timeout=5.0)
        double.refuse_range(said, status=status, error_type=error_type)
        with pytest.raises(PermanentError) as refused:
            prometheus.query_range("up", start=NOW, end=NOW + 60, step=60)
        assert said[:60] in str(refused.value) and _too_long(refused.value)
        double.refuse_range("1:3: parse error: unclosed left parenthesis")
        with pytest.raises(PermanentError) as parse:
            prometheus.query_range("up(", start=NOW, end=NOW + 60, step=60)
        assert not _too_long(parse.value)
        # the words are the server's, not the query's: a query on a metric named for timeouts
        with pytest.raises(PermanentError) as named:
            prometheus.query_range("rate(http_client_timeout_total[5m]", start=NOW, end=NOW + 60, step=60)
        assert "http_client_timeout_total" in str(named.value) and not _too_long(named.value)


def test_native_histogram_series_are_counted_and_said_once_per_query(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A query on a native histogram (``rate(http_request_duration_seconds[5m])`` once the metric moved
    to native histograms) answers series of ``histograms``, not ``values`` (Prometheus's HTTP API,
    "Native histograms"; its encoder writes both for a series that changed type). They were kept as
    series of no points, and the scan went quiet without a word. Now the worker says it at WARNING the
    first time a query answers them, whatever their number (DEBUG after), and every run counts the
    series of histograms alone in ``last_result.histograms`` (GET /anomalies/scans), scoring the rest."""
    from activities.adapters.prometheus import PrometheusMetrics  # noqa: PLC0415
    from tests.doubles.prometheus import PrometheusAlertsDouble  # noqa: PLC0415
    from tests.unit.test_api import get_scans  # noqa: PLC0415

    histogram = {"count": "10", "sum": "3.5", "buckets": [[0, "0.25", "0.5", "4"], [0, "0.5", "1", "6"]]}
    t, x = _series(200, end=NOW)

    def answer(histogram_services: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"metric": {"service": name}, "histograms": [[ts, histogram] for ts in t[-3:]]}
            for name in histogram_services
        ]
        both = {
            "metric": {"service": "cart"},
            "values": [[ts, str(v)] for ts, v in zip(t[:-1], x[:-1], strict=True)],
        }
        return [*out, {**both, "histograms": [[t[-1], histogram]]}]

    double = PrometheusAlertsDouble()
    query = "rate(http_request_duration_seconds[5m])"
    spec = ScanSpec(name="lat", query=query, warmup=50, lookback_seconds=12000)
    store = ScanStore(tmp_path / "scans")  # where the API reads it, data_dir/scans
    with double.serve() as url:
        prometheus = PrometheusMetrics(url, timeout=5.0)
        acts = ScanActivities(
            source=prometheus,
            specs=lambda: {"lat": spec},
            store=store,
            deliver=lambda signals: _none(),
            clock=lambda: NOW + 5,
        )
        with caplog.at_level("DEBUG", logger="activities.adapters.prometheus"):
            double.set_range(answer(["checkout"]))
            [alone, both] = prometheus.query_range(query, start=NOW - 12000, end=NOW, step=60)
            results = []
            for services in (["checkout", "orders"], ["checkout"], ["checkout", "orders", "pay"]):
                double.set_range(answer(services))
                results.append(asyncio.run(acts.scan(ScanInput(name="lat"))))
    assert (alone.labels, alone.values, alone.histograms) == ({"service": "checkout"}, [], 3)
    assert both.labels == {"service": "cart"} and len(both.values) == 199 and both.histograms == 1
    said = [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name == "activities.adapters.prometheus" and "native histograms" in r.getMessage()
    ]
    assert [level for level, _ in said] == ["WARNING", "DEBUG", "DEBUG", "DEBUG"]
    assert (
        "native histograms for 2 series of 'rate(http_request_duration_seconds[5m])' (1 of them" in said[0][1]
    )
    assert "histogram_quantile(0.99" in said[0][1]
    assert [(r.series, r.histograms) for r in results] == [(1, 2), (1, 1), (1, 3)]
    assert set(store.load("lat").series) == {"service=cart"}  # no state for what is not scored
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    (tmp_path / "anomaly.yaml").write_text(f"scans:\n  - name: lat\n    query: '{query}'\n")
    shown = asyncio.run(get_scans(tmp_path))
    [scan] = shown.json()
    assert (scan["last_result"]["series"], scan["last_result"]["histograms"]) == (1, 3)


async def _none() -> list[str]:
    return []
