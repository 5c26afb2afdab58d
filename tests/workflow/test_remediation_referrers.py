"""What drives a workload by reference, end to end (the real workflows on the time-skipping server, Medic's
real Kubernetes adapter against the API double, the shipped saturation-scale-out runbook): an Argo Rollout
whose workloadRef is the Deployment, a KEDA ScaledObject paused at a count. Neither owns the Deployment, so
no owner reference, no HPA said anything, and Medic scaled it: 0 -> 2 under the Rollout (pods outside its
canary that take the next release at once), 3 -> 6 under the pin (a runbook author's walk-through,
2026-12-07). The step does not act now, and the timeline, the dry run and the chats say why."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

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
from tests.support.fakes import FakeChat, FakePager, FakeTracker
from tests.support.kube import adapter
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow.test_remediation import T0
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

RUNBOOK = load_runbook(
    (Path(__file__).resolve().parents[2] / "runbooks" / "saturation-scale-out.yaml").read_text(),
    source="saturation-scale-out.yaml",
)
ENDED = {"verified", "rolled-back", "failed", "blocked", "dry-run", "changed-meanwhile", "denied"}
ROLLOUT = {
    "apiVersion": "argoproj.io/v1alpha1",
    "kind": "Rollout",
    "metadata": {"name": "checkout", "namespace": "shop"},
    "spec": {
        "replicas": 4,
        "selector": {"matchLabels": {"app": "checkout"}},
        "workloadRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "checkout",
            "scaleDown": "onsuccess",
        },
        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}},
    },
}
PAUSED = {
    "apiVersion": "keda.sh/v1alpha1",
    "kind": "ScaledObject",
    "metadata": {
        "name": "checkout",
        "namespace": "shop",
        "annotations": {"autoscaling.keda.sh/paused-replicas": "3"},
    },
    "spec": {"scaleTargetRef": {"name": "checkout"}, "minReplicaCount": 1, "maxReplicaCount": 10},
}


class Facts:
    async def gather(self, request: FactsRequest) -> GuardrailFacts:
        return GuardrailFacts()


class Slow:
    def holds(self, promql: str) -> bool:
        return False


@dataclass
class Shop:
    env: WorkflowEnvironment
    kube: KubernetesDouble
    settings: GuardrailSettings = field(default_factory=lambda: GuardrailSettings(mode="auto"))
    task_queue: str = field(default_factory=lambda: f"tq-{uuid.uuid4().hex[:6]}")

    def worker(self) -> Worker:
        remediate = RemediationActivities(
            cluster=adapter(self.kube.url),
            metrics=Slow(),
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

    async def slow_and_ended(self) -> IncidentState:
        alert = Alert(
            fingerprint="slow-1",
            status=AlertStatus.FIRING,
            starts_at=T0,
            service="checkout",
            labels={
                "alertname": "HighLatency",
                "namespace": "shop",
                "service": "checkout",
                "severity": "warning",
            },
        )
        incident_id = service_incident_id("checkout")
        async with self.worker():
            handle = await self.env.client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(incident_id=incident_id, service=ctx("checkout"), notify=False),
                id=incident_id,
                task_queue=self.task_queue,
                start_signal=ALERTS_SIGNAL,
                start_signal_args=[AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("checkout")])],
            )
            for _ in range(400):
                state = await handle.query(IncidentWorkflow.state)
                if state.remediations and all(t.outcome in ENDED for t in state.remediations.values()):
                    return state
                await asyncio.sleep(0.02)
                await self.env.sleep(timedelta(seconds=5))
        raise AssertionError(f"never ended: {[(e.kind, e.message) for e in state.timeline]}")


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with time_skipping(require_binary("temporal-test-server")) as env:
        yield env


def messages(state: IncidentState, kind: str) -> list[str]:
    return [e.message for e in state.timeline if e.kind == kind]


@pytest.mark.parametrize(
    ("replicas", "referrer", "said", "remedy"),
    [
        (
            0,
            ROLLOUT,
            "Argo Rollout shop/checkout takes over spec.replicas (it runs its own pods from "
            "deployment/shop/checkout's pod template (spec.workloadRef)",
            "Scale the Rollout instead (kubectl scale rollout/checkout --replicas=<n> -n shop)",
        ),
        (
            3,
            PAUSED,
            "KEDA ScaledObject shop/checkout would put back spec.replicas (it is paused at 3 replicas "
            "(autoscaling.keda.sh/paused-replicas)",
            "Change or remove the annotation autoscaling.keda.sh/paused-replicas of ScaledObject "
            "shop/checkout",
        ),
    ],
)
async def test_a_scale_of_what_another_drives_by_reference_does_not_act(
    env: WorkflowEnvironment, replicas: int, referrer: dict[str, Any], said: str, remedy: str
) -> None:
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout", replicas=replicas)
    group, version = referrer["apiVersion"].split("/")
    kube.add_custom(group, version, referrer["kind"].lower() + "s", referrer)
    with kube.serve():
        state = await Shop(env, kube).slow_and_ended()
        (track,) = state.remediations.values()
        assert track.outcome == "blocked"
        assert [w for w in kube.writes() if w.method != "GET"] == []
        assert kube.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["replicas"] == replicas
        (blocked,) = messages(state, "guardrail.blocked")
        assert said in blocked and remedy in blocked
        assert said in state.self_healing  # the chats and pages say it too


async def test_the_dry_run_says_it_would_not_act_for_real(env: WorkflowEnvironment) -> None:
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout", replicas=0)
    kube.add_custom("argoproj.io", "v1alpha1", "rollouts", ROLLOUT)
    with kube.serve():
        state = await Shop(env, kube, settings=GuardrailSettings(mode="dry-run")).slow_and_ended()
    (would,) = messages(state, "remediation.dry_run")
    assert would.startswith(
        "[saturation-scale-out] Dry run, not acting: would scale Deployment replicas of shop/checkout"
    )
    assert "It would not act for real: Argo Rollout shop/checkout takes over spec.replicas" in would
    assert kube.writes() == []
