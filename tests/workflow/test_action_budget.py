"""MEDIC_REMEDIATION_MAX_PER_HOUR under a storm, on the time-skipping server with the worker's own budget
(service/budgets.py: one ActionBudgetWorkflow per service). A field walk-through saw a limit of 1 let
four restarts through: four remediations of one Alertmanager group each counted the acted ones before
any had acted."""

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState
from medic.runbook import load_runbook
from remediations.budget import BudgetLedger, budget_key, budget_workflow_id
from remediations.guardrails import GuardrailSettings
from service.budgets import TemporalBudgets
from tests.support.shop import ctx
from tests.workflow.test_remediation import T0, Rig, deliver, rig, until
from workflows.budget import ActionBudgetWorkflow
from workflows.incident import ALERTS_SIGNAL
from workflows.remediation import Decision, RemediationWorkflow

__all__ = ["rig"]  # the fixture, shared

NAMES = ["checkout", "checkout-worker", "checkout-api", "checkout-events"]
RESTART = load_runbook(
    """
name: restart-crashloop
match: {alertname: [KubePodCrashLooping]}
steps:
  - action: restart
    risk: low
    target: {namespace: shop, name: "${alert.labels.deployment}"}
approval: high-risk
verify: {alerts_resolved: true, for_seconds: 0, deadline_seconds: 600}
on_failure: escalate
cooldown_minutes: 60
""",
    source="restart.yaml",
)


def crashing(*names: str, at: timedelta = timedelta(0)) -> AlertBatch:
    alerts = [
        Alert(
            fingerprint=f"crash-{name}",
            status=AlertStatus.FIRING,
            starts_at=T0 + at,
            service="checkout",
            labels={
                "alertname": "KubePodCrashLooping",
                "service": "checkout",
                "namespace": "shop",
                "deployment": name,
                "severity": "warning",
            },
        )
        for name in names
    ]
    return AlertBatch(alerts=alerts, received_at=T0 + at, contexts=[ctx("checkout")])


def budgeted(rig: Rig, *, mode: str) -> None:
    rig.runbook = RESTART
    rig.settings = GuardrailSettings(mode=mode, max_actions_per_service_per_hour=1)
    rig.budgets = TemporalBudgets(rig.env.client, task_queue=rig.task_queue)


def ended(state: IncidentState) -> dict[str, str]:
    return {rid: track.outcome for rid, track in state.remediations.items()}


def blocked(state: IncidentState) -> list[str]:
    return [e.message for e in state.timeline if e.kind == "guardrail.blocked"]


async def holds(rig: Rig) -> list[str]:
    handle = rig.env.client.get_workflow_handle_for(
        ActionBudgetWorkflow.run, budget_workflow_id(budget_key("checkout", "shop"))
    )
    ledger: BudgetLedger = await handle.query(ActionBudgetWorkflow.budget)
    return [h.label for h in ledger.holds]


async def test_four_remediations_at_once_with_a_limit_of_one_act_once(rig: Rig) -> None:
    """The walk-through: four Deployments of checkout crash-loop in one group, limit 1, two workers."""
    budgeted(rig, mode="auto")
    other = await Client.connect(  # a second worker process: its own client
        rig.env.client.service_client.config.target_host,
        namespace=rig.env.client.namespace,
        data_converter=pydantic_data_converter,
    )
    mine = TemporalBudgets(other, task_queue=rig.task_queue)
    async with rig.worker(), rig.worker(client=other, budgets=mine, cache=False):  # replays every task
        incident = await deliver(rig, crashing(*NAMES))
        state = await until(
            incident,
            lambda s: len(s.remediations) == 4 and len(blocked(s)) == 3,
            "one restart and three blocks",
        )
        held = await holds(rig)
    restarted = [target for verb, target, _ in rig.cluster.writes if verb == "patch"]
    assert len(restarted) == 1, rig.cluster.writes
    (acted,) = restarted
    assert held == [f"restart-crashloop on {acted} ({state.id})"]
    for message in blocked(state):
        assert (
            "1 actions on this service in the last hour (limit 1): "
            f"restart-crashloop on {acted} ({state.id})" in message
        ), message
    assert sorted(ended(state).values()).count("blocked") == 3


async def test_a_hold_that_did_not_act_is_given_back(rig: Rig) -> None:
    """A step awaiting approval holds the budget (another is refused, naming it); denied, it gives the
    hold back and the next remediation of the service may act."""
    budgeted(rig, mode="approve")
    async with rig.worker():
        incident = await deliver(rig, crashing("checkout"))
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        (first,) = state.remediations
        await incident.signal(ALERTS_SIGNAL, crashing("checkout-worker", at=timedelta(seconds=30)))
        state = await until(incident, lambda s: len(blocked(s)) == 1, "the second one refused")
        assert (
            "(limit 1): restart-crashloop on deployment/shop/checkout (incident-checkout)"
            in blocked(state)[0]
        )

        await rig.env.client.get_workflow_handle(first).execute_update(
            RemediationWorkflow.decide, Decision(approve=False, actor="U-BOB", reason="not now")
        )
        await until(incident, lambda s: s.remediations[first].outcome == "denied", "the denial")
        assert await holds(rig) == []

        await incident.signal(ALERTS_SIGNAL, crashing("checkout-api", at=timedelta(seconds=60)))
        state = await until(
            incident,
            lambda s: sum(e.kind == "approval.requested" for e in s.timeline) == 2,
            "the third one asking",
        )
        (third,) = [rid for rid in state.remediations if "checkout-api" in rid]
        await rig.env.client.get_workflow_handle(third).execute_update(
            RemediationWorkflow.decide, Decision(approve=True, actor="U-ALICE")
        )
        state = await until(
            incident, lambda s: any(e.kind == "action.executed" for e in s.timeline), "the restart"
        )
        assert await holds(rig) == [f"restart-crashloop on deployment/shop/checkout-api ({state.id})"]
    assert [target for verb, target, _ in rig.cluster.writes if verb == "patch"] == [
        "deployment/shop/checkout-api"
    ]
