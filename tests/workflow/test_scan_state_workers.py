"""Anomaly scan runs through Temporal on two workers whose scan state lives in ConfigMaps (the Kubernetes
API double): whichever worker takes each run, the runs continue one state, so the second run scores
nothing twice and delivers nothing twice; a state too large for a ConfigMap fails the run at once, with
the reason, and is not retried."""

import uuid
from collections.abc import AsyncIterator

import pytest
from kubernetes.client import Configuration
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.adapters.scan_state import ConfigMapScanStore
from activities.scan import ScanActivities, ScanInput, ScanResult
from service.worker import WORKFLOWS
from tests.adapters.test_scan_state_activity import NOW, SPEC, Incidents, Prometheus
from tests.doubles.kubernetes import KubernetesDouble
from workflows.scan import AnomalyScanWorkflow

NS = "medic"


class Rig:
    def __init__(
        self, k8s: KubernetesDouble, prometheus: Prometheus, spec_detector: str = "ensemble"
    ) -> None:
        self.prometheus, self.incidents = prometheus, Incidents()
        self.spec = SPEC.model_copy(update={"detector": spec_detector, "lookback_seconds": 3 * 86400})
        self.stores: list[ConfigMapScanStore] = []
        self.k8s = k8s

    def activities(self) -> ScanActivities:
        """One worker's activities: its own store (its own client, nothing shared in memory)."""
        configuration = Configuration()
        configuration.host = self.k8s.url
        self.stores.append(ConfigMapScanStore(configuration, namespace=NS, timeout=2.0, connect_timeout=1.0))
        return ScanActivities(
            source=self.prometheus,
            specs=lambda: {self.spec.name: self.spec},
            store=self.stores[-1],
            deliver=self.incidents.deliver,
            clock=lambda: NOW,
        )


@pytest.fixture
async def two_workers(env: WorkflowEnvironment, k8s: KubernetesDouble) -> AsyncIterator[tuple[str, Rig]]:
    """Two workers on one task queue, each with its own client (as two processes would be: the SDK
    refuses two workers of one client on one queue)."""
    queue = f"tq-{uuid.uuid4()}"
    rig = Rig(k8s, Prometheus(series=70, points=2500))
    other = await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    async with (
        Worker(env.client, task_queue=queue, workflows=WORKFLOWS, activities=rig.activities().all()),
        Worker(other, task_queue=queue, workflows=WORKFLOWS, activities=rig.activities().all()),
    ):
        yield queue, rig
    for store in rig.stores:
        store.close()


async def _run(env: WorkflowEnvironment, queue: str) -> ScanResult:
    result: ScanResult = await env.client.execute_workflow(
        AnomalyScanWorkflow.run,
        ScanInput(name="latency"),
        id=f"anomaly-scan-{uuid.uuid4()}",
        task_queue=queue,
    )
    return result


async def test_runs_on_either_worker_continue_one_state(
    env: WorkflowEnvironment, two_workers: tuple[str, Rig]
) -> None:
    queue, rig = two_workers
    rig.prometheus.series = rig.prometheus.series[:3]  # a few series: fits a ConfigMap
    first = await _run(env, queue)
    assert first.series == 3 and first.anomalies == 1 and first.incidents == ["incident-checkout-1"]
    for _ in range(3):  # whichever worker takes them
        again = await _run(env, queue)
        assert again.points == 0 and again.anomalies == 0
    assert len(rig.incidents.delivered) == 1
    stored = rig.stores[0].load("latency")
    assert {s.points for s in stored.series.values()} == {2500}


async def test_a_state_too_large_fails_the_run_without_retries(
    env: WorkflowEnvironment, two_workers: tuple[str, Rig]
) -> None:
    queue, rig = two_workers
    rig.spec = rig.spec.model_copy(update={"detector": "level"})
    for store in rig.stores:
        store.max_shards = 1  # 70 series fit in the default 8 ConfigMaps: one is not enough
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(env, queue)
    activity_error = failed.value.cause
    assert isinstance(activity_error, ActivityError)
    cause = activity_error.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PermanentError" and cause.non_retryable
    assert "anomaly scan latency" in cause.message and "70 series" in cause.message
    assert rig.prometheus.calls == 1  # one attempt of the three the retry policy allows
    # none of the state is saved: the run's failure alone (for GET /anomalies/scans)
    kept = rig.stores[0].load("latency")
    assert kept.series == {} and kept.failures_in_a_row == 1 and kept.last_error is not None
