"""What people receive when a runbook acts on what a GitOps reconciler applies: Medic acting anyway (as it
did before it asked, or with ``reconcilers: ignore``) against Medic refusing (``reconcilers: refuse``, the
default), on the time-skipping server with the real workflows and activities.

The cluster is an in-memory one with a reconciler that applies Git: Argo CD with self-heal puts a field Git
sets back right after any write; Flux puts it back at its next interval (10 minutes). The service is
healthy while the fix holds (scaled to 4, or rolled back off the bad release), and the alert fires while it
is not. Each scenario runs for 15 virtual minutes after the alert.

    python -m bench.reconciler_fight

Figures per scenario and mode: Medic's writes, the reconciler's reverts, pod rollouts (template changes),
what the remediation ended as and when, whether the service was healthy at the end, whether a fix was
reported verified and then undone, and whether the incident's Slack channel was told which reconciler and
what to do.
"""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.remediate import RemediationActivities
from bench.harness import machine
from medic.keys import service_incident_id
from medic.routing import RoutingPolicy
from medic.runbook import Runbook, load_runbook
from medic.vocab import TimelineKind
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef, RolloutInfo
from service.devserver import find_binary
from service.worker import WORKFLOWS
from tests.support.fakes import FakeChat, FakeCluster, FakePager, FakeTracker
from tests.support.gitops import (
    application,
    argo_applied,
    deployment,
    flux_applied,
    kustomization,
    manifest_of,
)
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow.test_remediation import Facts, slow
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["main"]

DEPLOYMENT = ObjectRef(api_version="apps/v1", kind="Deployment", namespace="shop", name="checkout")
_VERIFY = "verify: {promql: 'latency_ok{service=\"checkout\"}', for_seconds: 60, deadline_seconds: 300}"
SCALE = load_runbook(
    f"""
name: scale-checkout
match: {{alertname: [CheckoutSlow]}}
steps: [{{action: scale, target: {{namespace: shop, name: checkout}}, factor: 2}}]
approval: auto
{_VERIFY}
""",
    source="scale.yaml",
)
ROLLBACK = load_runbook(
    f"""
name: rollback-checkout
match: {{alertname: [CheckoutSlow]}}
steps: [{{action: rollback, target: {{namespace: shop, name: checkout}}}}]
approval: auto
{_VERIFY}
""",
    source="rollback.yaml",
)
WINDOW = timedelta(minutes=15)


def _now() -> datetime | None:
    """The workflows' clock, as the activity calling the cluster was scheduled (time skips)."""
    return activity.info().current_attempt_scheduled_time if activity.in_activity() else None


class Reconciled(FakeCluster):
    """A cluster whose Deployment Git holds at 2 replicas on the bad release v3, applied by ``tool``:
    ``argo`` (self-heal: back right after a write) or ``flux`` (back at the first call an interval after
    it). Medic's writes are ``writes``; the reconciler's are counted apart."""

    def __init__(self, tool: str, interval: timedelta = timedelta(minutes=10)) -> None:
        super().__init__(replicas=2)
        self.tool, self.interval = tool, interval
        self.reverts, self.rollouts = 0, 0
        self.dirty_at: datetime | None = None
        obj = deployment()
        if tool == "argo":
            argo_applied(obj, manifest_of(obj))
            reconciler = application()
        else:
            flux_applied(obj, manifest_of(obj))
            reconciler = kustomization()
        meta = reconciler["metadata"]
        ref = ObjectRef(
            api_version=reconciler["apiVersion"],
            kind=reconciler["kind"],
            namespace=meta["namespace"],
            name=meta["name"],
        )
        self.objects[str(ref)] = reconciler
        self.objects[str(DEPLOYMENT)] = obj
        self.after_write = self._written

    def _written(self, verb: str, value: object) -> None:
        if verb == "rollback":
            self.rollouts += 1
        if self.tool == "argo":
            self._revert()
        elif self.dirty_at is None:
            self.dirty_at = _now()

    def _revert(self) -> None:
        with self._lock:
            changed = False
            if self.replicas.get(str(DEPLOYMENT), 2) != 2:
                self.replicas[str(DEPLOYMENT)] = 2
                changed = True
            if self.running != "v3":
                self.deploy("v3")
                self.rollouts += 1
                changed = True
            self.reverts += changed
            self.dirty_at = None

    def tick(self, now: datetime | None = None) -> None:
        now = now or _now()
        if self.dirty_at is not None and now is not None and now - self.dirty_at >= self.interval:
            self._revert()

    def get_replicas(self, ref: ObjectRef) -> int:
        self.tick()
        return super().get_replicas(ref)

    def rollout(self, ref: ObjectRef) -> RolloutInfo:
        self.tick()
        return super().rollout(ref)

    def healthy(self, runbook: Runbook) -> bool:
        if runbook is SCALE:
            return self.replicas.get(str(DEPLOYMENT), 2) >= 4
        return self.running != "v3"


@dataclass
class Health:
    cluster: Reconciled
    runbook: Runbook
    queries: list[str] = field(default_factory=list)

    def holds(self, promql: str) -> bool:
        self.queries.append(promql)
        self.cluster.tick()
        return self.cluster.healthy(self.runbook)


async def one(env: WorkflowEnvironment, tool: str, runbook: Runbook, mode: str) -> dict[str, Any]:
    cluster = Reconciled(tool)
    chosen = runbook.model_copy(update={"reconcilers": mode})
    remediate = RemediationActivities(
        cluster=cluster,
        metrics=Health(cluster, runbook),
        runbooks=lambda: [chosen],
        registry=default_registry(),
        facts=Facts(),
        guardrails=lambda: GuardrailSettings(mode="auto"),
    )
    chat = FakeChat()
    notify = NotifyActivities(
        chat=chat, pager=FakePager(), tracker=FakeTracker(), policy=RoutingPolicy.default
    )
    queue = f"fight-{uuid.uuid4().hex[:6]}"
    incident_id = service_incident_id("checkout") + f"-{queue}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[*remediate.all(), *notify.all()],
        activity_executor=ThreadPoolExecutor(4),
    ):
        started = await env.get_current_time()
        incident = await env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id=incident_id, service=ctx("checkout")),
            id=incident_id,
            task_queue=queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[slow()],
        )
        ended_at: datetime | None = None
        outcome, verified_ever = "", False
        while await env.get_current_time() - started < WINDOW:
            await env.sleep(timedelta(seconds=15))
            state = await incident.query(IncidentWorkflow.state)
            cluster.tick(await env.get_current_time())  # Flux runs at its interval, asked or not
            if state.remediations:
                now_outcome = str(next(iter(state.remediations.values())).outcome)
                if now_outcome not in ("started", "executed", "awaiting-approval") and now_outcome != outcome:
                    outcome, ended_at = now_outcome, await env.get_current_time()
                verified_ever |= now_outcome == "verified"
        state = await incident.query(IncidentWorkflow.state)
        await incident.terminate("benchmark over")
    # told: what the incident's Slack channel received (its card and the thread's replies), not the timeline
    told = [text for _, text, _ in chat.posts] + [text for _, _, text in chat.updates]
    named = any(
        ("Argo CD" in m or "Flux" in m) and ("argocd app set" in m or "flux suspend" in m) for m in told
    )
    healthy_end = cluster.healthy(runbook)
    return {
        "medic_writes": len(cluster.writes),
        "reverts": cluster.reverts,
        "rollouts": cluster.rollouts,
        "outcome": outcome or "none",
        "outcome_after_s": round((ended_at - started).total_seconds()) if ended_at else None,
        "verified_then_undone": verified_ever and not healthy_end,
        "escalated": any(e.kind == TimelineKind.REMEDIATION_ESCALATED for e in state.timeline),
        "told_which_and_what": named,
    }


async def run() -> list[tuple[str, str, dict[str, Any]]]:
    rows = []
    async with time_skipping(find_binary("temporal-test-server")) as env:
        for tool, runbook in (("argo", SCALE), ("argo", ROLLBACK), ("flux", SCALE)):
            for mode in ("ignore", "refuse"):
                rows.append((f"{tool} {runbook.name}", mode, await one(env, tool, runbook, mode)))
    return rows


def main() -> None:
    rows = asyncio.run(run())
    print(f"# reconciler fight, {machine()}")
    print(
        "| scenario | Medic | Medic's writes | reverts | rollouts | outcome (after) | verified, then undone "
        "| escalated | told which reconciler and what to do |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for scenario, mode, r in rows:
        acted = "acts (before; reconcilers: ignore)" if mode == "ignore" else "refuses (now)"
        print(
            f"| {scenario} | {acted} | {r['medic_writes']} | {r['reverts']} | {r['rollouts']} | "
            f"{r['outcome']} ({r['outcome_after_s']} s) | {'yes' if r['verified_then_undone'] else 'no'} | "
            f"{'yes' if r['escalated'] else 'no'} | {'yes' if r['told_which_and_what'] else 'no'} |"
        )


if __name__ == "__main__":
    main()
