"""Issue 13 on the time-skipping server: an undo leaves a person's change alone. The fix did not work
and the runbook says roll back, but a person scaled the Deployment after Medic did: the compensation
finds it changed, writes nothing, and the remediation records ``changed-meanwhile``. Also: the
remediation's MedicServices search attribute is bounded like the incident's."""

from temporalio.api.enums.v1 import EventType

from medic.runbook import Runbook, load_runbook
from remediations.guardrails import GuardrailSettings
from remediations.plan import plan_for
from tests.workflow.test_remediation import Rig, deliver, outcome, remediation, rig, slow, until
from workflows import search_attributes as sa
from workflows.remediation import UNDO_UNLESS_CHANGED_PATCH, RemediationInput, RemediationWorkflow

__all__ = ["rig"]  # the fixture, shared with test_remediation.py

TARGET = "deployment/shop/checkout"


async def test_a_rollback_leaves_a_persons_change_alone(rig: Rig) -> None:
    rig.metrics.healthy = False  # verification fails: the runbook rolls back

    def a_person_scales(verb: str, value: object) -> None:
        rig.cluster.after_write = None
        rig.cluster.replicas[TARGET] = 3  # kubectl scale, after Medic's 4 landed

    rig.cluster.after_write = a_person_scales
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident,
            lambda s: bool(s.remediations) and outcome(s) == "changed-meanwhile",
            "the undo left alone",
        )
        history = await remediation(rig, state).fetch_history()
    assert rig.scales() == [4] and rig.cluster.replicas[TARGET] == 3  # no undo over the person's 3
    (entry,) = [e for e in state.timeline if e.kind == "rollback.changed_meanwhile"]
    assert "replicas is 3 (Medic's step left 4 and would set 2)" in entry.message
    assert "leaves their change as it is" in entry.message
    assert not [e for e in state.timeline if e.kind == "rollback.done"]
    assert any(e.kind == "remediation.escalated" for e in state.timeline)
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    (undo,) = [a for a in scheduled if a.activity_type.name == "remediate.compensate"]
    assert undo.heartbeat_timeout.ToSeconds() == 10  # the undo heartbeats too
    markers = [str(e) for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(UNDO_UNLESS_CHANGED_PATCH in marker for marker in markers)  # the new behaviour, marked


async def test_a_rollback_as_medic_left_it_still_rolls_back(rig: Rig) -> None:
    rig.metrics.healthy = False
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: bool(s.remediations) and outcome(s) == "rolled-back", "rollback"
        )
    assert rig.scales() == [4, 2]
    assert not [e for e in state.timeline if e.kind == "rollback.changed_meanwhile"]


async def test_the_remediation_bounds_its_services_attribute(rig: Rig) -> None:
    """A service too long for one search attribute value (2,100 characters, the issue's probe)."""
    rig.settings = GuardrailSettings(mode="dry-run")
    service = "x" * 2100
    runbook: Runbook = rig.runbook
    plan = plan_for(runbook, slow().alerts[0], incident_id="incident-long", service=service)
    async with rig.worker():
        handle = await rig.env.client.start_workflow(
            RemediationWorkflow.run,
            RemediationInput(plan=plan, guardrails=rig.settings),
            id=plan.workflow_id,
            task_queue=rig.task_queue,
        )
        result = await handle.result()
        described = await handle.describe()
    assert result.outcome == "dry-run"
    assert not described.typed_search_attributes.get(sa.SERVICES)


NEXT_STEP = load_runbook(
    """
name: scale-then-restart
match: {alertname: [CheckoutSlow]}
steps:
  - action: scale
    target: {namespace: "${alert.labels.namespace}", name: checkout}
    factor: 2
    max_replicas: 10
  - action: restart
    target: {namespace: "${alert.labels.namespace}", name: checkout}
approval: high-risk
verify:
  promql: 'latency_ok{service="${incident.service}"}'
  for_seconds: 60
  deadline_seconds: 300
  interval_seconds: 15
on_failure: next_step
cooldown_minutes: 30
""",
    source="next.yaml",
)


async def test_no_next_step_after_an_undo_found_a_persons_change(rig: Rig) -> None:
    """A person is handling the target: Medic does not try its next step on top of them."""
    rig.runbook = NEXT_STEP
    rig.metrics.healthy = False

    def a_person_scales(verb: str, value: object) -> None:
        rig.cluster.after_write = None
        rig.cluster.replicas[TARGET] = 3

    rig.cluster.after_write = a_person_scales
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: bool(s.remediations) and outcome(s) == "changed-meanwhile", "stopped"
        )
    assert rig.cluster.writes == [("scale", TARGET, 4)]  # no undo, and no restart
    assert [e.kind for e in state.timeline if e.kind.startswith("rollback.")] == [
        "rollback.changed_meanwhile"
    ]
    assert any(e.kind == "remediation.escalated" for e in state.timeline)
