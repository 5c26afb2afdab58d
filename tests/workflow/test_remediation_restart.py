"""A restart that would restart nothing, through the workflow: acting says why it could not and
escalates; a dry run says why its plan is not known."""

from typing import Any

from medic.ports import TransientError
from medic.postmortem import render_postmortem
from medic.runbook import RestartStep, Target
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef
from tests.support.gitops import deployment
from tests.workflow.test_remediation import SCALE, Rig, deliver, rig, until_outcome

__all__ = ["rig"]  # the fixture, shared


def paused(target: Rig) -> None:
    obj = deployment()
    obj["spec"]["paused"] = True
    target.cluster.objects["deployment/shop/checkout"] = obj
    restart = RestartStep(action="restart", target=Target(namespace="shop", name="checkout"))
    target.runbook = SCALE.model_copy(update={"steps": [restart]})


async def test_a_paused_deployment_is_not_restarted_and_people_are_told_why(rig: Rig) -> None:
    paused(rig)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "failed")
    assert rig.cluster.writes == []
    (failed,) = [e.message for e in state.timeline if e.kind == "remediation.failed"]
    assert (
        "is paused (spec.paused)" in failed and "kubectl rollout resume deployment/checkout -n shop" in failed
    )
    assert state.notifications.escalate_now


async def test_a_dry_run_says_why_it_cannot_tell(rig: Rig) -> None:
    paused(rig)
    rig.settings = GuardrailSettings(mode="dry-run")
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "dry-run")
    (dry,) = [e.message for e in state.timeline if e.kind == "remediation.dry_run"]
    assert "current state unknown: " in dry and "is paused (spec.paused)" in dry


async def test_a_step_that_cannot_act_hands_over_to_the_next_under_next_step(rig: Rig) -> None:
    """``on_failure: next_step``: a paused Deployment's restart cannot act (nothing is written), so the
    runbook's next step (a scale) is tried, as after a step that acted and did not fix it."""
    paused(rig)
    restart, scale = rig.runbook.steps[0], SCALE.steps[0]
    rig.runbook = rig.runbook.model_copy(update={"steps": [restart, scale], "on_failure": "next_step"})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "verified")
    assert rig.scales() == [4]  # the scale acted; the restart wrote nothing
    (failed,) = [e.message for e in state.timeline if e.kind == "action.failed"]
    assert "is paused (spec.paused)" in failed and failed.endswith("Trying the next step.")
    assert not [e for e in state.timeline if e.kind in ("remediation.failed", "remediation.escalated")]
    assert not state.notifications.escalate_now
    postmortem = render_postmortem(state, now=state.timeline[-1].at).replace("\\", "")
    assert f"Review the runbook {rig.runbook.name}: a step could not act" in postmortem


async def test_a_cluster_that_does_not_answer_is_no_step_that_cannot_act(rig: Rig) -> None:
    """The API server unreachable while the first step reads its target (retries spent): the next step,
    often the riskier one (a rollback after a restart), is not tried on a cluster that does not answer;
    the remediation fails and people are told. (Found by a review.)"""
    restart = RestartStep(action="restart", target=Target(namespace="shop", name="checkout"))
    rig.runbook = SCALE.model_copy(update={"steps": [restart, SCALE.steps[0]], "on_failure": "next_step"})
    reads = {"n": 0}
    real_get = rig.cluster.get

    def unreachable_at_first(ref: ObjectRef) -> dict[str, Any] | None:
        reads["n"] += 1
        if reads["n"] <= 5:  # every attempt of the first step's read
            raise TransientError("connection refused: the API server is unreachable")
        return real_get(ref)

    rig.cluster.get = unreachable_at_first  # type: ignore[method-assign]
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "failed")
    assert rig.cluster.writes == []
    assert not [e for e in state.timeline if e.kind == "action.failed"]
    assert state.notifications.escalate_now
