"""Scans whose source is Loki, through the scan activity and the Loki adapter against the Loki double:
which source a scan asks, and what a step without a point is (Loki answers none for a range that held
no line: ``absent: zero``, its default, scores it as 0; ``missing`` as a gap)."""

import asyncio
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from activities.adapters.loki import LokiMetrics
from activities.scan import ScanActivities, ScanInput, ScanStore
from medic.anomaly import AnomalySignal
from medic.scan import ScanSpec, load_anomaly_config
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
    step of the run (57 zeros, 3 ones); with ``missing`` at the three steps Loki answered."""
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
    assert points == {"zero": 1441, "missing": 3}
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
    assert "no Loki configured (MEDIC_LOKI_URL)" in str(refused.value) and refused.value.non_retryable


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
