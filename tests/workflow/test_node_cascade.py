"""Issue 14: a node going NotReady and a crash loop of a service whose pod runs on it, firing together,
end as one incident whose root cause is the node (time-skipping server; assignment as the API does it,
with the fixtures' cluster as the lookup)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from medic.alerts import normalise_webhook
from medic.assign import Assignment, assign_alerts
from medic.incident import IncidentStatus
from service.temporal import register_search_attributes
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.unit.test_assign_kubernetes import fixture_catalog, payload
from tests.unit.test_subject import K8S_ALERTS, FakeCluster
from tests.workflow.test_correlation import Handle, eventually
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

T0 = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
NODE_ID = "KubeNodeNotReady/ip-10-0-1-12.eu-west-1.compute.internal"
CRASH_ID = "KubePodCrashLooping/shop/checkout"


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A server of its own, as in test_correlation: the incidents' ids are per service."""
    path = require_binary("temporal-test-server")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(path), data_converter=pydantic_data_converter
    ) as environment:
        await register_search_attributes(environment.client, environment.client.namespace)
        async with Worker(environment.client, task_queue="medic", workflows=WORKFLOWS):
            yield environment


async def deliver(env: WorkflowEnvironment, assignment: Assignment) -> Handle:
    """What the API does: signal-with-start the incident with the assignment's context and batch."""
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=assignment.incident_id, service=assignment.service, notify=False, remediate=False
        ),
        id=assignment.incident_id,
        task_queue="medic",
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[assignment.alert_batch(T0)],
    )


async def test_a_node_failure_absorbs_the_crash_loop_of_a_pod_on_it(env: WorkflowEnvironment) -> None:
    entries = [e for e in K8S_ALERTS if e["id"] in (NODE_ID, CRASH_ID)]
    body = payload(entries)
    assignments = {
        a.service.name: a
        for a in assign_alerts(
            fixture_catalog(), body, normalise_webhook(body, received_at=T0), FakeCluster()
        )
        if a.service is not None
    }
    node = assignments["node/ip-10-0-1-12.eu-west-1.compute.internal"]
    assert node.service is not None and "checkout" in node.service.hosts
    checkout = await deliver(env, assignments["checkout"])
    root = await deliver(env, node)
    state = await eventually(
        root, lambda s: "incident-checkout" in s.absorbed, "the node's incident absorbing checkout's"
    )
    assert state.alert_count == 2
    assert [c.service for c in state.root_causes] == [node.service.name, "checkout"]
    assert "1 failing service(s) depend on it: checkout" in state.root_causes[0].reasons
    child = await checkout.query(IncidentWorkflow.state)
    assert child.merged_into == node.incident_id and child.status is IncidentStatus.RESOLVED
