"""The shipped crashloop-restart runbook end to end (the real workflows on the time-skipping server, Medic's
real Kubernetes adapter against the API double): a Deployment runs bad 2.0 (revision 2) over good 1.0 (1).
Step 1 restarts it, which makes revision 3 of the same release; the pods still crash, so step 2 rolls back
with a person's approval. It used to roll back to revision 2, the crashing release again, behind an
approval that named only numbers; it goes to revision 1 now, and the approval names the images. The dry
run names the same release."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.remediate import FactsRequest, RemediationActivities
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState
from medic.keys import service_incident_id
from medic.routing import RoutingPolicy
from medic.runbook import load_runbook
from remediations.actions import default_registry
from remediations.guardrails import GuardrailFacts, GuardrailSettings
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.doubles.kubernetes import KubernetesDouble
from tests.doubles.kubernetes_store import DEPLOYMENTS
from tests.support.fakes import FakeChat, FakePager, FakeTracker
from tests.support.kube import adapter
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow.test_remediation import T0, Handle
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow
from workflows.remediation import Decision, RemediationWorkflow

RUNBOOK = load_runbook(
    (Path(__file__).resolve().parents[2] / "runbooks" / "crashloop-restart.yaml").read_text(),
    source="crashloop-restart.yaml",
)
GOOD, BAD = "registry.example.com/checkout:1.0-good", "registry.example.com/checkout:2.0-bad"
ENDED = {"verified", "rolled-back", "failed", "blocked", "dry-run", "changed-meanwhile", "denied"}


class Facts:
    async def gather(self, request: FactsRequest) -> GuardrailFacts:
        return GuardrailFacts()


@dataclass
class Restarts:
    """Prometheus as verification asks it: the restarts stop once the good release runs."""

    kube: KubernetesDouble
    queries: list[str] = field(default_factory=list)

    def holds(self, promql: str) -> bool:
        self.queries.append(promql)
        return image(self.kube) == GOOD


@dataclass
class Shop:
    env: WorkflowEnvironment
    kube: KubernetesDouble
    settings: GuardrailSettings = field(default_factory=lambda: GuardrailSettings(mode="auto"))
    task_queue: str = field(default_factory=lambda: f"tq-{uuid.uuid4().hex[:6]}")

    def worker(self) -> Worker:
        remediate = RemediationActivities(
            cluster=adapter(self.kube.url),
            metrics=Restarts(self.kube),
            runbooks=lambda: [RUNBOOK],
            registry=default_registry(),
            facts=Facts(),
            guardrails=lambda: self.settings,
        )
        notify = NotifyActivities(
            chat=FakeChat(), pager=FakePager(), tracker=FakeTracker(), policy=RoutingPolicy.default
        )
        return Worker(
            self.env.client,
            task_queue=self.task_queue,
            workflows=WORKFLOWS,
            activities=[*remediate.all(), *notify.all()],
            activity_executor=ThreadPoolExecutor(4),
        )

    async def crashloop(self) -> Handle:
        alert = Alert(
            fingerprint="crash-1",
            status=AlertStatus.FIRING,
            starts_at=T0,
            service="checkout",
            labels={
                "alertname": "KubePodCrashLooping",
                "namespace": "shop",
                "pod": "checkout-7d9f8b6c5d-x2k4q",
                "container": "checkout",
                "severity": "warning",
            },
        )
        incident_id = service_incident_id("checkout")
        return await self.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id=incident_id, service=ctx("checkout"), notify=False),
            id=incident_id,
            task_queue=self.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("checkout")])],
        )

    async def until(self, handle: Handle, check: Callable[[IncidentState], bool], what: str) -> IncidentState:
        for _ in range(400):
            state = await handle.query(IncidentWorkflow.state)
            if check(state):
                return state
            await asyncio.sleep(0.02)
            await self.env.sleep(timedelta(seconds=5))
        raise AssertionError(f"never saw {what}: {[(e.kind, e.message) for e in state.timeline]}")


def image(kube: KubernetesDouble) -> str:
    found: str = kube.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    return found


@pytest.fixture
async def shop() -> AsyncIterator[Shop]:
    """Its own time-skipping server: both tests open the same incident (checkout's)."""
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout", image=BAD, history=[GOOD])
    with kube.store.lock:  # an old release: crashloop-restart's side of the pair
        for rs in kube.store.owned_replicasets(kube.store.get(DEPLOYMENTS, "shop", "checkout")):
            rs["metadata"]["creationTimestamp"] = "2020-01-01T00:00:00Z"
    with kube.serve():
        async with time_skipping(require_binary("temporal-test-server")) as env:
            yield Shop(env, kube)


def messages(state: IncidentState, kind: str) -> list[str]:
    return [e.message for e in state.timeline if e.kind == kind]


async def test_restart_then_rollback_lands_on_the_good_release(shop: Shop) -> None:
    async with shop.worker():
        incident = await shop.crashloop()
        state = await shop.until(incident, lambda s: bool(messages(s, "approval.requested")), "approval")
        (remediation_id,) = state.remediations
        await shop.env.client.get_workflow_handle(remediation_id).execute_update(
            RemediationWorkflow.decide, Decision(approve=True, actor="U-SRE")
        )
        state = await shop.until(
            incident,
            lambda s: bool(s.remediations) and all(t.outcome in ENDED for t in s.remediations.values()),
            "the remediation's end",
        )
    (track,) = state.remediations.values()
    assert track.outcome == "verified"
    assert image(shop.kube) == GOOD
    # revision 1's ReplicaSet re-used as 4; the restart's (3) and the bad release's (2) kept
    assert shop.kube.revisions("shop", "checkout") == {2: BAD, 3: BAD, 4: GOOD}
    (asked,) = messages(state, "approval.requested")
    said = (
        f"roll back Deployment shop/checkout from revision 3 ({BAD}) to revision 1 ({GOOD}), the newest "
        "earlier release (revision 2 differs from the running one only by a restart)"
    )
    assert said in asked


async def test_the_dry_run_names_the_release_the_real_run_goes_to(shop: Shop) -> None:
    shop.settings = GuardrailSettings(mode="dry-run")
    async with shop.worker():
        incident = await shop.crashloop()
        state = await shop.until(
            incident,
            lambda s: bool(s.remediations) and all(t.outcome in ENDED for t in s.remediations.values()),
            "the dry run's end",
        )
    restart, rollback = messages(state, "remediation.dry_run")
    assert "rolling restart of Deployment shop/checkout" in restart
    # no restart happened, so the numbers are one lower than the real run's; the release is the same
    assert (
        f"would roll back Deployment shop/checkout from revision 2 ({BAD}) to revision 1 ({GOOD});"
        in rollback
    )
    assert shop.kube.revisions("shop", "checkout") == {1: GOOD, 2: BAD}
