"""The anomaly scan activity with its state in ConfigMaps (``MEDIC_SCAN_STATE=configmap``), against the
Kubernetes API double: a scan's runs land on different workers and still continue one state (nothing
scored or delivered twice), the API shows what the workers saved, and a store that cannot keep the state
fails the run with the reason (not retried when retrying cannot help)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from kubernetes.client import Configuration
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.adapters.scan_state import MAX_BYTES, ConfigMapScanStore
from activities.scan import ScanActivities, ScanInput, ScanStateStore
from medic.anomaly import AnomalySignal
from medic.scan import RangeSeries, ScanSpec
from service.scans import ScansReader, scan_store
from service.settings import Settings
from tests.doubles.kubernetes import KubernetesDouble
from tests.support.kube import write_kubeconfig

NS = "medic"
NOW = 1_024_000.0
SPEC = ScanSpec(name="latency", query="latency", warmup=50, lookback_seconds=3600, step_seconds=60)


class Prometheus:
    """``series`` series of ``points`` points a minute apart up to NOW; the first has a spike near the end
    (within the last run's 5 minutes: a series' first run raises only what happened since the run before)."""

    def __init__(self, series: int = 1, points: int = 400) -> None:
        rng = np.random.default_rng(7)
        t = (NOW - 60.0 * points + np.arange(points) * 60.0).tolist()
        self.series = []
        self.calls = 0
        for i in range(series):
            x = (10.0 + rng.normal(0, 0.5, points)).tolist()
            if i == 0:
                x[-4] += 30.0
            self.series.append(RangeSeries({"service": "checkout", "pod": f"p{i}"}, t, x))

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        self.calls += 1
        return self.series


class Incidents:
    def __init__(self) -> None:
        self.delivered: list[list[AnomalySignal]] = []

    async def deliver(self, signals: list[AnomalySignal]) -> list[str]:
        self.delivered.append(signals)
        return ["incident-checkout-1"]


def _store(k8s: KubernetesDouble) -> ConfigMapScanStore:
    configuration = Configuration()
    configuration.host = k8s.url
    return ConfigMapScanStore(configuration, namespace=NS, timeout=2.0, connect_timeout=1.0)


def _worker(
    store: ScanStateStore, source: Prometheus, incidents: Incidents, spec: ScanSpec = SPEC
) -> ScanActivities:
    return ScanActivities(
        source=source,
        specs=lambda: {spec.name: spec},
        store=store,
        deliver=incidents.deliver,
        clock=lambda: NOW,
    )


def test_runs_on_different_workers_continue_one_state(k8s: KubernetesDouble) -> None:
    prometheus, incidents = Prometheus(), Incidents()
    first, second = _store(k8s), _store(k8s)
    result = asyncio.run(_worker(first, prometheus, incidents).scan(ScanInput(name="latency")))
    assert result.points == 400 and result.anomalies == 1 and len(incidents.delivered) == 1
    # the next run lands on the other worker: it continues from the state the first saved
    again = asyncio.run(_worker(second, prometheus, incidents).scan(ScanInput(name="latency")))
    assert again.series == 1 and again.points == 0 and again.anomalies == 0
    assert len(incidents.delivered) == 1  # the anomaly is not delivered twice
    stored = _store(k8s).load("latency")
    [state] = stored.series.values()
    assert state.points == 400 and state.incidents == ["incident-checkout-1"]
    assert stored.last_result == again
    first.close()
    second.close()


def test_the_api_shows_what_the_workers_saved(k8s: KubernetesDouble, tmp_path: Path) -> None:
    (tmp_path / "anomaly.yaml").write_text("scans:\n  - name: latency\n    query: latency\n    warmup: 50\n")
    settings = Settings(
        _env_file=None,
        catalog=tmp_path / "catalog.yaml",
        webhook_token=SecretStr("t" * 32),
        kubeconfig=write_kubeconfig(tmp_path / "kubeconfig", k8s.url),
        scan_state="configmap",
        scan_state_namespace=NS,
    )
    store = scan_store(settings)
    assert isinstance(store, ConfigMapScanStore) and store.namespace == NS
    asyncio.run(_worker(store, Prometheus(), Incidents()).scan(ScanInput(name="latency")))
    [view] = asyncio.run(ScansReader(None, settings).list())
    assert view.name == "latency" and view.last_run is not None and view.last_run.timestamp() == NOW
    [series] = view.series
    assert series.labels == {"service": "checkout", "pod": "p0"} and series.points == 400
    assert series.anomalies == 1 and series.state_bytes > 0
    store.close()


def test_a_state_too_large_fails_the_run_for_good(k8s: KubernetesDouble) -> None:
    spec = SPEC.model_copy(update={"detector": "level", "lookback_seconds": 3 * 86400})
    store = _store(k8s)
    store.max_shards = 1  # 70 series fit in the default 8 ConfigMaps: one is not enough
    with pytest.raises(ApplicationError) as failed:
        asyncio.run(
            _worker(store, Prometheus(series=70, points=2500), Incidents(), spec).scan(
                ScanInput(name="latency")
            )
        )
    assert failed.value.non_retryable and failed.value.type == "PermanentError"
    assert "anomaly scan latency" in str(failed.value) and f"over the {MAX_BYTES} bytes" in str(failed.value)
    # none of the state is saved: one write, the run's failure alone (for GET /anomalies/scans)
    assert [w.method for w in k8s.writes()] == ["POST"]
    kept = store.load("latency")
    assert kept.series == {} and kept.last_run is None and kept.failures_in_a_row == 1
    assert kept.last_error is not None and "over the" in kept.last_error.error
    store.close()


def test_a_store_that_cannot_answer_now_is_retried(k8s: KubernetesDouble) -> None:
    k8s.faults.push("server_error", status=503, route="GET /api/v1/namespaces/{namespace}/configmaps/{name}")
    store = _store(k8s)
    with pytest.raises(ApplicationError) as failed:
        asyncio.run(_worker(store, Prometheus(), Incidents()).scan(ScanInput(name="latency")))
    assert not failed.value.non_retryable and failed.value.type == "TransientError"
    assert "503" in str(failed.value)
    store.close()
