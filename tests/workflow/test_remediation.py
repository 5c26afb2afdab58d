"""Self-healing on the time-skipping server: guardrails, approvals, verification, rollback, and
exactly-once actions when workers die and deliveries repeat. The cluster and Prometheus are
in-memory fakes here (the Kubernetes adapter is tested against an API double)."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Interceptor, Worker

from activities.notify import NotifyActivities
from activities.remediate import ActionBudgets, FactsRequest, RemediationActivities
from medic.alerts import Alert, AlertStatus
from medic.clusters import ClusterScope
from medic.incident import AlertBatch, IncidentState, IncidentStatus
from medic.keys import service_incident_id
from medic.routing import RoutingPolicy, load_routing
from medic.runbook import Runbook, load_runbook
from remediations.actions import default_registry
from remediations.guardrails import GuardrailFacts, GuardrailSettings
from service.approval_metrics import ApprovalMetrics
from service.metrics import WorkerMetrics
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.support.fakes import FakeChat, FakeCluster, FakeMetrics, FakePager, FakeTracker
from tests.support.shop import ctx, shop
from tests.support.timeskip import time_skipping
from tests.workflow.test_notifications import outage
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentResult, IncidentWorkflow
from workflows.remediation import Decision, RemediationWorkflow

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCALE = load_runbook(
    """
name: scale-checkout
match: {alertname: [CheckoutSlow]}
steps:
  - action: scale
    risk: RISK
    target: {namespace: "${alert.labels.namespace}", name: checkout}
    factor: 2
    max_replicas: 10
approval: high-risk
verify:
  promql: 'latency_ok{service="${incident.service}"}'
  for_seconds: 60
  deadline_seconds: 300
  interval_seconds: 15
on_failure: rollback
cooldown_minutes: 30
""".replace("RISK", "low"),
    source="scale.yaml",
)
Handle = WorkflowHandle[IncidentWorkflow, IncidentResult]
ENV: list[WorkflowEnvironment] = []  # the test's environment, for `until` to let time pass


@dataclass
class Facts:
    value: GuardrailFacts = field(default_factory=GuardrailFacts)

    async def gather(self, request: FactsRequest) -> GuardrailFacts:
        return self.value


@dataclass
class Rig:
    env: WorkflowEnvironment
    cluster: FakeCluster
    metrics: FakeMetrics
    facts: Facts
    chat: FakeChat
    settings: GuardrailSettings
    runbook: Runbook
    task_queue: str = field(default_factory=lambda: f"tq-{uuid.uuid4().hex[:6]}")
    scope: ClusterScope = field(default_factory=ClusterScope)  # MEDIC_CLUSTER
    budgets: ActionBudgets | None = None  # the facts' count unless given (service/budgets.py: the worker's)

    def worker(
        self,
        *,
        cache: bool = True,
        interceptors: Sequence[Interceptor] = (),
        pager: FakePager | None = None,
        policy: RoutingPolicy | None = None,
        client: Client | None = None,
        budgets: ActionBudgets | None = None,
    ) -> Worker:
        """A worker on ``client`` (another process's, for two workers on one queue) or the env's."""
        remediate = RemediationActivities(
            cluster=self.cluster,
            metrics=self.metrics,
            runbooks=lambda: [self.runbook],
            registry=default_registry(),
            facts=self.facts,
            guardrails=lambda: self.settings,
            scope=self.scope,
            budgets=budgets or self.budgets,
        )
        notify = NotifyActivities(
            chat=self.chat,
            pager=pager or FakePager(),
            tracker=FakeTracker(),
            policy=(lambda: policy) if policy is not None else RoutingPolicy.default,
        )
        return Worker(
            client or self.env.client,
            task_queue=self.task_queue,
            workflows=WORKFLOWS,
            activities=[*remediate.all(), *notify.all()],
            activity_executor=ThreadPoolExecutor(8),
            max_cached_workflows=100 if cache else 0,
            interceptors=interceptors,
        )

    def scales(self) -> list[object]:
        return [value for verb, _, value in self.cluster.writes if verb == "scale"]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    path = require_binary("temporal-test-server")
    async with time_skipping(path) as env:
        ENV[:] = [env]
        yield Rig(
            env,
            FakeCluster(replicas=2),
            FakeMetrics(),
            Facts(),
            FakeChat(),
            GuardrailSettings(mode="auto"),
            SCALE,
        )


def slow(status: AlertStatus = AlertStatus.FIRING) -> AlertBatch:
    alert = Alert(
        fingerprint="slow-1",
        status=status,
        starts_at=T0,
        service="checkout",
        labels={
            "alertname": "CheckoutSlow",
            "service": "checkout",
            "namespace": "shop",
            "severity": "warning",
        },
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("checkout")])


async def deliver(
    rig: Rig, batch: AlertBatch | None = None, *, service: str = "checkout", **options: Any
) -> Handle:
    incident_id = service_incident_id(service)
    return await rig.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, service=ctx(service), **{"notify": False, **options}),
        id=incident_id,
        task_queue=rig.task_queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[batch or slow()],
    )


async def until(handle: Handle, check: Callable[[IncidentState], bool], what: str) -> IncidentState:
    """Poll, letting time pass in steps of 5 virtual seconds (queries alone do not skip time)."""
    for _ in range(300):
        state = await handle.query(IncidentWorkflow.state)
        if check(state):
            return state
        await asyncio.sleep(0.02)
        await ENV[0].sleep(timedelta(seconds=5))
    raise AssertionError(f"never saw {what}: {[e.kind for e in state.timeline]}")


async def until_outcome(handle: Handle, wanted: str) -> IncidentState:
    """The incident's state once its (only) remediation ended ``wanted``."""
    return await until(handle, lambda s: bool(s.remediations) and outcome(s) == wanted, wanted)


def outcome(state: IncidentState) -> str:
    (track,) = state.remediations.values()
    return track.outcome


def remediation(rig: Rig, state: IncidentState) -> WorkflowHandle[RemediationWorkflow, object]:
    (remediation_id,) = state.remediations
    return rig.env.client.get_workflow_handle(remediation_id)


async def test_auto_mode_acts_once_and_verifies(rig: Rig) -> None:
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: outcome(s) == "verified" if s.remediations else False, "verified"
        )
    assert rig.scales() == [4]  # 2 replicas, factor 2
    assert rig.metrics.queries[0] == 'latency_ok{service="checkout"}'
    kinds = [e.kind for e in state.timeline]
    assert (
        kinds.index("remediation.started")
        < kinds.index("action.started")
        < kinds.index("action.executed")
        < kinds.index("verification.passed")
    )
    (action,) = state.actions
    assert action["before"] == {"replicas": 2} and action["after"] == {"replicas": 4}


async def test_failed_verification_rolls_back_and_escalates(rig: Rig) -> None:
    rig.metrics.healthy = False
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: bool(s.remediations) and outcome(s) == "rolled-back", "rollback"
        )
    assert rig.scales() == [4, 2]  # acted, then put back
    kinds = [e.kind for e in state.timeline]
    assert "verification.failed" in kinds and "rollback.done" in kinds and "remediation.escalated" in kinds
    assert state.notifications.escalate_now


async def test_a_verify_query_prometheus_refuses_is_said_with_the_verdict(rig: Rig) -> None:
    """A query Prometheus refused at every check read only as "did not hold": the author looked for
    what was wrong with the fix (a runbook author's walk-through, 2026-12-07)."""
    rig.metrics.refused = (
        'Prometheus answered 400: bad_data: invalid parameter "query": 1:5: parse error: unclosed left '
        "parenthesis"
    )
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: bool(s.remediations) and outcome(s) == "rolled-back", "rollback"
        )
    (failed,) = [e.message for e in state.timeline if e.kind == "verification.failed"]
    assert "did not hold within" in failed
    assert "The query itself failed at the last check, so whether the fix worked is not known:" in failed
    assert "unclosed left parenthesis" in failed


async def test_dry_run_changes_nothing(rig: Rig) -> None:
    rig.settings = GuardrailSettings(mode="dry-run")
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(incident, lambda s: bool(s.remediations) and outcome(s) == "dry-run", "dry run")
    assert rig.cluster.writes == []
    assert any(
        "Dry run, not acting: would scale Deployment replicas of shop/checkout from 2 to 4" in e.message
        for e in state.timeline
    )


@pytest.mark.parametrize(
    ("facts", "settings", "reason"),
    [
        (GuardrailFacts(kill_switch=True, kill_switch_by="U1 ops"), {}, "kill switch is on (set by U1 ops)"),
        (GuardrailFacts(last_action_on_target_at=datetime.now(UTC)), {}, "cooling down"),
        (GuardrailFacts(actions_on_service_last_hour=3), {}, "3 actions on this service in the last hour"),
        (GuardrailFacts(), {"namespaces": ["payments"]}, "namespace 'shop' is not in"),
    ],
)
async def test_guardrails_block_with_a_reason(
    rig: Rig, facts: GuardrailFacts, settings: dict[str, object], reason: str
) -> None:
    rig.facts.value = facts
    rig.settings = GuardrailSettings(mode="auto", **settings)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(incident, lambda s: bool(s.remediations) and outcome(s) == "blocked", "a block")
    assert rig.cluster.writes == []
    assert any(e.kind == "guardrail.blocked" and reason in e.message for e in state.timeline), [
        e.message for e in state.timeline if e.kind == "guardrail.blocked"
    ]


async def test_a_scale_out_already_at_its_bound_ends_blocked_not_failed(rig: Rig) -> None:
    """A Deployment at 12 with max_replicas 10: the step does not act (it would have scaled it down). It
    ended "failed" and escalated ("Could not act"), counted as an action (its cooldown began, the
    failures alert counted it), though nothing was tried (a review, 2026-12-07)."""
    rig.cluster = FakeCluster(replicas=12)
    policy = load_routing('rules:\n  - {name: all, slack_channels: ["#checkout"]}\n', catalog=shop())
    async with rig.worker(policy=policy):
        incident = await deliver(rig, notify=True)
        state = await until(incident, lambda s: bool(s.remediations) and outcome(s) == "blocked", "blocked")
        state = await until(
            incident, lambda s: any("Self-healing did not act" in t for t in rig.chat.thread()), "told"
        )
    assert rig.cluster.writes == []
    kinds = [e.kind for e in state.timeline]
    assert "remediation.escalated" not in kinds and "remediation.failed" not in kinds
    (blocked,) = [e.message for e in state.timeline if e.kind == "guardrail.blocked"]
    assert "the Deployment runs 12, at or above the step's max_replicas 10" in blocked
    assert "(it would scale it down)" in blocked


async def test_a_block_while_the_alerts_fire_is_said_where_people_look(rig: Rig) -> None:
    """The kill switch (a cooldown, the hourly budget) blocked self-healing on the timeline only: the
    channel never learnt that Medic had not acted, nor why, and the card said nothing of it."""
    rig.facts.value = GuardrailFacts(kill_switch=True, kill_switch_by="U1 ops")
    policy = load_routing('rules:\n  - {name: all, slack_channels: ["#checkout"]}\n', catalog=shop())
    async with rig.worker(policy=policy):
        incident = await deliver(rig, notify=True)
        state = await until(
            incident, lambda s: any("Self-healing did not act" in t for t in rig.chat.thread()), "a reply"
        )
    (said,) = [e.message for e in state.timeline if e.kind == "remediation.refused"]
    assert said.startswith("Self-healing did not act: [scale-checkout] Guardrail blocked scale of runbook")
    assert "kill switch is on (set by U1 ops)" in state.self_healing
    assert rig.cluster.writes == []


async def test_a_runbooks_approval_auto_does_not_lower_the_operators_risk_bar(rig: Rig) -> None:
    """`approval: auto` let a high-risk step act with nobody asked, where the guardrails table says high
    risk needs a human (MEDIC_REMEDIATION_APPROVAL_RISK), as the impact bar did (a runbook author's
    walk-through, 2026-12-07)."""
    step = SCALE.steps[0].model_copy(update={"risk": "high"})
    rig.runbook = SCALE.model_copy(update={"approval": "auto", "steps": [step]})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
    assert rig.cluster.writes == []
    (asked,) = [e.message for e in state.timeline if e.kind == "approval.requested"]
    assert "the step is high risk" in asked


async def test_approval_granted_by_an_allowed_person(rig: Rig) -> None:
    rig.settings = GuardrailSettings(mode="approve", approvers={"low": ["U-ALICE"]})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        handle = remediation(rig, state)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(RemediationWorkflow.decide, Decision(approve=True, actor="U-MALLORY"))
        assert rig.cluster.writes == []
        await handle.execute_update(RemediationWorkflow.decide, Decision(approve=True, actor="U-ALICE"))
        state = await until(incident, lambda s: outcome(s) == "verified", "verified after approval")
    assert rig.scales() == [4]
    assert any(e.kind == "approval.granted" and e.actor == "U-ALICE" for e in state.timeline)
    assert any("Approval needed" in text for _, text, _ in rig.chat.posts)


async def test_approval_denied_or_timed_out_does_nothing(rig: Rig) -> None:
    rig.settings = GuardrailSettings(mode="approve", approval_timeout_seconds=600)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        await remediation(rig, state).execute_update(
            RemediationWorkflow.decide, Decision(approve=False, actor="U-BOB", reason="not now")
        )
        state = await until(incident, lambda s: outcome(s) == "denied", "the denial")
        assert "Denied by U-BOB: not now." in " ".join(e.message for e in state.timeline)
    assert rig.cluster.writes == []


async def test_timeout_escalates_instead_of_acting(rig: Rig) -> None:
    rig.settings = GuardrailSettings(mode="approve", approval_timeout_seconds=600)
    async with rig.worker():
        incident = await deliver(rig)
        await until(incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request")
        await rig.env.sleep(timedelta(minutes=11))
        state = await until(incident, lambda s: outcome(s) == "timed-out", "the timeout")
    assert rig.cluster.writes == []
    assert state.notifications.escalate_now


async def test_approvals_are_counted_by_outcome_once_whatever_the_replays(rig: Rig) -> None:
    """``medic_approvals_total{outcome}`` (service/approval_metrics.py): without a workflow cache every
    task replays the history so far, and nothing is counted twice."""
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    rig.settings = GuardrailSettings(mode="approve", approval_timeout_seconds=600)
    async with rig.worker(cache=False, interceptors=[ApprovalMetrics(metrics.approval)]):
        incident = await deliver(rig)
        await until(incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request")
        await rig.env.sleep(timedelta(minutes=11))
        await until(incident, lambda s: outcome(s) == "timed-out", "the timeout")

    def count(outcome: str) -> float | None:
        return registry.get_sample_value("medic_approvals_total", {"outcome": outcome})

    assert (count("requested"), count("timed_out"), count("approved")) == (
        1.0,
        1.0,
        0.0,
    )  # (exported at 0 from the start)


async def test_resolved_alert_is_never_acted_on(rig: Rig) -> None:
    rig.settings = GuardrailSettings(mode="approve")
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        await incident.signal(IncidentWorkflow.alerts, slow(AlertStatus.RESOLVED))
        # The remediation stops waiting by itself: there is nothing left to approve ...
        state = await until(incident, lambda s: outcome(s) == "blocked", "the block")
        # ... and a late approval is refused (the remediation has finished).
        with pytest.raises((WorkflowUpdateFailedError, RPCError)):
            await remediation(rig, state).execute_update(
                RemediationWorkflow.decide, Decision(approve=True, actor="U1")
            )
    assert rig.cluster.writes == []
    assert any("alerts resolved while waiting for approval" in e.message for e in state.timeline)


async def test_worker_lost_between_action_and_verification(rig: Rig) -> None:
    """The action happened; a new worker replays, verifies and (failing) undoes it, never acting twice."""
    rig.metrics.healthy = False
    async with rig.worker(cache=False):
        incident = await deliver(rig)
        await until(incident, lambda s: any(e.kind == "action.executed" for e in s.timeline), "the action")
    async with rig.worker(cache=False):
        await rig.env.sleep(timedelta(minutes=6))
        await until(incident, lambda s: outcome(s) == "rolled-back", "the rollback on the new worker")
    assert rig.scales() == [4, 2]


async def test_duplicate_deliveries_act_once(rig: Rig) -> None:
    """HA copies of the alert and a second API replica's signal-with-start: one remediation, one action.
    (Two worker processes on one target: tests/integration/test_remediation_e2e.py.)"""
    async with rig.worker():
        incident = await deliver(rig)
        for _ in range(5):
            await incident.signal(IncidentWorkflow.alerts, slow())
        await deliver(rig)
        state = await until(incident, lambda s: bool(s.remediations) and outcome(s) == "verified", "verified")
    assert rig.scales() == [4]
    assert len(state.remediations) == 1


def firing(service: str, name: str) -> AlertBatch:
    """One firing alert no runbook matches (the rig's runbook is for CheckoutSlow)."""
    alert = Alert(
        fingerprint=f"{service}-{name}",
        status=AlertStatus.FIRING,
        starts_at=T0,
        service=service,
        labels={"alertname": name, "service": service, "severity": "critical"},
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx(service)])


async def test_a_merge_does_not_ask_again_for_what_was_denied(rig: Rig) -> None:
    """The incident that absorbs another takes over which alert episodes were already matched to
    runbooks: a step someone denied is not put to them again because the incident merged."""
    rig.settings = GuardrailSettings(mode="approve")
    async with rig.worker():
        checkout = await deliver(rig)
        state = await until(
            checkout, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "approval asked"
        )
        await remediation(rig, state).execute_update(
            RemediationWorkflow.decide, Decision(approve=False, actor="U1")
        )
        await until(checkout, lambda s: outcome(s) == "denied", "denied")
        root = await deliver(rig, firing("orders-db", "PostgresDown"), service="orders-db")
        await until(root, lambda s: "slow-1" in s.alerts, "checkout merged into orders-db")
        # One more signal, and wait until the remediator has looked at it: it looked at the merged
        # alerts in that pass too.
        await root.signal(ALERTS_SIGNAL, firing("orders-db", "PostgresSlow"))
        merged = await until(
            root,
            lambda s: (
                s.alerts.get("orders-db-PostgresSlow") is not None
                and s.alerts["orders-db-PostgresSlow"].matched_episode == T0
            ),
            "the remediator's look after the merge",
        )
    asked = [e for e in merged.timeline if e.kind == "approval.requested"]
    assert [e.data.get("from_incident") for e in asked] == ["incident-checkout"]
    assert rig.cluster.writes == []


async def test_a_quiet_incident_waits_for_its_remediation_without_spinning_and_not_for_ever(rig: Rig) -> None:
    """Quiet with a fix still being verified: the incident waits for its outcome on one timer (not a
    timer every millisecond), and closes anyway, saying so, when the fix never reports."""
    rig.metrics.healthy = False  # verification never holds: it would run to its deadline
    async with rig.worker():
        incident = await deliver(rig, quiet_period_seconds=5, remediation_wait_seconds=600)
        state = await until(
            incident, lambda s: bool(s.remediations) and outcome(s) == "executed", "the action"
        )
        await remediation(rig, state).terminate("an operator stopped it")
        await incident.signal(ALERTS_SIGNAL, slow(AlertStatus.RESOLVED))
        await until(incident, lambda s: s.quiet_since is not None, "quiet")
        before = (await incident.describe()).raw_description.workflow_execution_info.history_length
        await rig.env.sleep(timedelta(seconds=60))  # well past the quiet period, within the wait
        waiting = await incident.query(IncidentWorkflow.state)
        after = (await incident.describe()).raw_description.workflow_execution_info.history_length
        assert waiting.status is not IncidentStatus.RESOLVED and outcome(waiting) == "executed"
        assert after - before < 20, (before, after)  # a few events, not one timer per millisecond
        closed = await until(incident, lambda s: s.status is IncidentStatus.RESOLVED, "closed")
    assert outcome(closed) == "lost"
    assert "remediation.lost" in [e.kind for e in closed.timeline]


async def test_a_symptoms_runbook_waits_for_its_cause_and_runs_only_if_the_symptom_outlasts_it(
    rig: Rig,
) -> None:
    """checkout is slow because orders-db is down: scaling checkout would act on a symptom. It waits
    while orders-db fires; when orders-db recovers and checkout is still slow, it runs."""
    async with rig.worker():
        db = await deliver(rig, outage(), service="orders-db", settle_seconds=5)
        await deliver(rig, slow(), settle_seconds=5)
        merged = await until(
            db, lambda s: "incident-checkout" in s.absorbed, "checkout merged into orders-db"
        )
        assert merged.root_causes[0].service == "orders-db"
        waiting = await until(
            db, lambda s: any(e.kind == "remediation.waiting" for e in s.timeline), "the runbook waiting"
        )
        assert waiting.remediations == {} and rig.scales() == []
        await rig.env.sleep(timedelta(minutes=2))
        assert (await db.query(IncidentWorkflow.state)).remediations == {}
        await db.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
        started = await until(
            db, lambda s: bool(s.remediations), "the symptom's runbook once its cause cleared"
        )
        assert [t.runbook for t in started.remediations.values()] == ["scale-checkout"]
        await until(db, lambda s: bool(rig.scales()), "checkout scaled")


async def test_a_symptom_that_clears_with_its_cause_needs_no_remediation(rig: Rig) -> None:
    async with rig.worker():
        db = await deliver(rig, outage(), service="orders-db", settle_seconds=5)
        await deliver(rig, slow(), settle_seconds=5)
        await until(
            db, lambda s: any(e.kind == "remediation.waiting" for e in s.timeline), "the runbook waiting"
        )
        resolved = AlertBatch(
            alerts=[*outage(AlertStatus.RESOLVED).alerts, *slow(AlertStatus.RESOLVED).alerts],
            received_at=T0,
            contexts=[ctx("orders-db"), ctx("checkout")],
        )
        await db.signal(ALERTS_SIGNAL, resolved)
        final = await until(db, lambda s: s.quiet_since is not None, "both cleared")
        await rig.env.sleep(timedelta(minutes=1))
        assert final.remediations == {} and rig.scales() == []
        assert (await db.query(IncidentWorkflow.state)).remediations == {}


async def test_an_executed_action_is_a_change_event_where_the_incident_paged(rig: Rig) -> None:
    """Issue 15: a remediation is a change; PagerDuty shows it next to the incident it paged for."""
    pager = FakePager()
    policy = load_routing("rules:\n  - {name: all, pagerduty: true}\n", catalog=shop())
    async with rig.worker(pager=pager, policy=policy):
        incident = await deliver(rig, notify=True)
        await until(incident, lambda s: outcome(s) == "verified" if s.remediations else False, "verified")
        await until(incident, lambda s: s.notifications.change_cursor >= len(s.timeline) - 1, "the change")
    assert pager.events[0] == ("trigger", "checkout", "incident-checkout")
    (change,) = pager.changes
    assert change.routing_key_name == "checkout"
    assert change.summary.startswith("Medic (incident-checkout): [scale-checkout] Done: scale Deployment")
    assert change.custom_details["kind"] == "action.executed"
