"""A recorded history of a remediation whose first step another controller would undo, which every later
version of the workflows must replay (in ``test_replay``):

    python -m tests.workflow.reconcilers_history

- ``remediate-deployment-shop-checkout-2b1bb843@r14``: a runbook of two steps with ``on_failure:
  next_step`` on a Deployment Flux applies: the scale is refused (Flux's Kustomization would put the
  replicas back), the restart acts and is verified.
- ``incident-checkout-refused@r14``: the incident of a one-step runbook refused the same way, telling it
  in its Slack thread (patch refusals-told); terminated once told.
"""

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.remediate import RemediationActivities
from medic.keys import service_incident_id
from medic.routing import RoutingPolicy
from medic.runbook import Runbook, load_runbook
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef
from service.devserver import find_binary
from service.worker import WORKFLOWS
from tests.support.fakes import FakeChat, FakeCluster, FakeMetrics, FakePager, FakeTracker
from tests.support.gitops import deployment, flux_applied, kustomization, manifest_of
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow.histories import HISTORIES
from tests.workflow.test_remediation import Facts, slow
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["record_reconcilers"]

RELEASE = "r14"  # a step another controller would undo is not done (reconcilers-heeded)
QUEUE = "reconcilers"
RUNBOOK = load_runbook(
    """
name: scale-checkout
match: {alertname: [CheckoutSlow]}
steps:
  - action: scale
    risk: low
    target: {namespace: shop, name: checkout}
    factor: 2
  - action: restart
    risk: low
    target: {namespace: shop, name: checkout}
approval: auto
verify: {promql: 'latency_ok{service="checkout"}', for_seconds: 60, deadline_seconds: 300}
on_failure: next_step
cooldown_minutes: 30
""",
    source="scale.yaml",
)


def flux_cluster() -> FakeCluster:
    cluster = FakeCluster(replicas=2)
    obj = deployment()
    flux_applied(obj, manifest_of(obj))
    cluster.objects[
        str(ObjectRef(api_version="apps/v1", kind="Deployment", namespace="shop", name="checkout"))
    ] = obj
    flux = kustomization()
    cluster.objects[
        str(
            ObjectRef(api_version=flux["apiVersion"], kind=flux["kind"], namespace="flux-system", name="apps")
        )
    ] = copy.deepcopy(flux)
    return cluster


@contextlib.asynccontextmanager
async def rig(
    server: Path, cluster: FakeCluster, runbook: Runbook, chat: FakeChat
) -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping server and a worker with the real activities over ``cluster`` and ``chat``."""
    remediate = RemediationActivities(
        cluster=cluster,
        metrics=FakeMetrics(),
        runbooks=lambda: [runbook],
        registry=default_registry(),
        facts=Facts(),
        guardrails=lambda: GuardrailSettings(mode="auto"),
    )
    notify = NotifyActivities(
        chat=chat, pager=FakePager(), tracker=FakeTracker(), policy=RoutingPolicy.default
    )
    async with (
        time_skipping(server) as env,
        Worker(
            env.client,
            task_queue=QUEUE,
            workflows=WORKFLOWS,
            activities=[*remediate.all(), *notify.all()],
            activity_executor=ThreadPoolExecutor(4),
        ),
    ):
        yield env


async def record_reconcilers() -> list[Path]:
    server = find_binary("temporal-test-server")
    cluster = flux_cluster()
    async with rig(server, cluster, RUNBOOK, FakeChat()) as env:
        incident_id = service_incident_id("checkout")
        incident = await env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id=incident_id, service=ctx("checkout"), notify=False),
            id=incident_id,
            task_queue=QUEUE,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[slow()],
        )
        for _ in range(200):
            state = await incident.query(IncidentWorkflow.state)
            if state.remediations and next(iter(state.remediations.values())).outcome == "verified":
                break
            await env.sleep(15)
        else:
            raise AssertionError("the remediation never verified")
        assert [verb for verb, _, _ in cluster.writes] == ["patch"], cluster.writes  # the restart alone
        assert any("Trying the next step" in e.message for e in state.timeline)
        (remediation_id,) = state.remediations
        handle = env.client.get_workflow_handle(remediation_id)
        await handle.result()
        history = await handle.fetch_history()
        path = HISTORIES / f"{remediation_id}@{RELEASE}.json"
        path.write_text(history.to_json())
    return [path, await _refused(server)]


REFUSED = RUNBOOK.model_copy(update={"steps": RUNBOOK.steps[:1], "on_failure": "rollback"})


async def _refused(server: Path) -> Path:
    """``incident-checkout-refused@r14``: the incident of a one-step runbook whose scale Flux would undo,
    telling it (patch refusals-told): a remediation.refused entry, a reply in its Slack thread."""
    chat = FakeChat()
    async with rig(server, flux_cluster(), REFUSED, chat) as env:
        incident = await env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id="incident-checkout-refused", service=ctx("checkout")),
            id="incident-checkout-refused",
            task_queue=QUEUE,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[slow()],
        )
        for _ in range(200):
            if any("Self-healing could not act" in text for _, text, _ in chat.posts):
                break
            await env.sleep(15)
        else:
            raise AssertionError("the refusal was never told")
        state = await incident.query(IncidentWorkflow.state)
        assert [e.kind for e in state.timeline].count("remediation.refused") == 1
        await incident.terminate("recorded")
        history = await incident.fetch_history()
        path = HISTORIES / f"incident-checkout-refused@{RELEASE}.json"
        path.write_text(history.to_json())
        return path


if __name__ == "__main__":
    for written in asyncio.run(record_reconcilers()):
        print(written)
