"""Issue 13: a remediation never acts twice. A worker dies with the scale PATCH in flight (here: the
write lands and its answer is lost), Temporal retries the step; the retry acts only if the target is
still as the plan found it. The cluster is the in-memory fake; tests/doubles/test_kubernetes.py holds
the same precondition against the Kubernetes API double."""

from temporalio.api.enums.v1 import EventType

from medic.ports import TransientError
from tests.workflow.test_remediation import Rig, deliver, outcome, remediation, rig, until

__all__ = ["rig"]  # the fixture, shared with test_remediation.py

TARGET = "deployment/shop/checkout"


def lose_the_answer(rig: Rig, *, then_someone_scales_to: int | None) -> None:
    """The first write lands; before its answer reaches the worker, maybe a person scales the target."""

    def after_write(verb: str, value: object) -> None:
        rig.cluster.after_write = None  # only the first write
        if then_someone_scales_to is not None:
            rig.cluster.replicas[TARGET] = then_someone_scales_to  # kubectl scale, by a person
        raise TransientError("connection reset by peer: the answer was lost")

    rig.cluster.after_write = after_write


async def test_a_retried_step_does_not_write_over_a_change_made_meanwhile(rig: Rig) -> None:
    lose_the_answer(rig, then_someone_scales_to=3)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident,
            lambda s: bool(s.remediations) and outcome(s) == "changed-meanwhile",
            "the retry finding the target changed",
        )
    assert rig.scales() == [4]  # Medic's one write; the retry wrote nothing ...
    assert rig.cluster.replicas[TARGET] == 3  # ... and nothing undid the person's change
    (entry,) = [e for e in state.timeline if e.kind == "remediation.changed_meanwhile"]
    assert f"{TARGET} changed since Medic read it: replicas is 3 (the plan found 2 and would set 4)" in (
        entry.message
    )
    assert not [e for e in state.timeline if e.kind in ("rollback.done", "remediation.failed")]


async def test_a_retry_whose_first_attempt_landed_writes_nothing_and_steps_heartbeat(rig: Rig) -> None:
    lose_the_answer(rig, then_someone_scales_to=None)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(incident, lambda s: bool(s.remediations) and outcome(s) == "verified", "verified")
        history = await remediation(rig, state).fetch_history()
    assert rig.scales() == [4]
    scheduled = {
        attributes.activity_type.name: attributes
        for attributes in (
            e.activity_task_scheduled_event_attributes
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        )
    }
    for name in ("remediate.snapshot", "remediate.apply"):
        assert scheduled[name].heartbeat_timeout.ToSeconds() == 10, name
    assert scheduled["remediate.facts"].heartbeat_timeout.ToSeconds() == 0  # it does not heartbeat
