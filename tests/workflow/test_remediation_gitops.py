"""A remediation on what Argo CD or Flux applies: the workflow does not act on fields the reconciler would
put back, says which reconciler and what to do, and escalates; a runbook with ``reconcilers: ignore`` acts."""

import copy
from datetime import timedelta

from medic.routing import load_routing
from medic.runbook import RestartStep, Target
from remediations.guardrails import GuardrailSettings
from remediations.ports import ObjectRef
from tests.support.fakes import FakePager
from tests.support.gitops import deployment, flux_applied, hpa, kustomization, manifest_of
from tests.support.shop import shop
from tests.workflow.test_remediation import SCALE, Rig, deliver, outcome, rig, until, until_outcome

__all__ = ["rig"]  # the fixture, shared

FLUX = "Flux Kustomization flux-system/apps would put back spec.replicas"


def flux_managed(target: Rig, *, suspended: bool = False) -> None:
    obj = deployment()
    flux_applied(obj, manifest_of(obj))
    ref = ObjectRef(api_version="apps/v1", kind="Deployment", namespace="shop", name="checkout")
    target.cluster.objects[str(ref)] = obj
    flux = kustomization(suspend=suspended)
    flux_ref = ObjectRef(
        api_version=flux["apiVersion"], kind=flux["kind"], namespace="flux-system", name="apps"
    )
    target.cluster.objects[str(flux_ref)] = copy.deepcopy(flux)


async def test_a_step_flux_would_revert_does_not_act_and_says_why(rig: Rig) -> None:
    flux_managed(rig)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "blocked")
    assert rig.cluster.writes == []
    (entry,) = [e for e in state.timeline if e.kind == "guardrail.blocked"]
    blocked = entry.message
    assert entry.data["reconciler"] == "Flux Kustomization flux-system/apps"  # the postmortem names it
    assert "Not acting: scale Deployment replicas of shop/checkout from 2 to 4" in blocked
    assert FLUX in blocked and "flux suspend kustomization apps -n flux-system" in blocked
    # No fix failed, so nothing jumps the escalation chain (found in the field walk: with HPAs on most
    # Deployments, every refusal paged the next level at once); the pages the chain sends say why.
    assert not state.notifications.escalate_now
    assert FLUX in state.self_healing
    assert state.actions == []  # nothing recorded as done


async def test_a_suspended_kustomization_lets_it_act(rig: Rig) -> None:
    flux_managed(rig, suspended=True)
    async with rig.worker():
        incident = await deliver(rig)
        await until_outcome(incident, "verified")
    assert rig.scales() == [4]


async def test_reconcilers_ignore_acts_and_says_so(rig: Rig) -> None:
    flux_managed(rig)
    rig.runbook = SCALE.model_copy(update={"reconcilers": "ignore"})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "verified")
    assert rig.scales() == [4]
    (done,) = [e for e in state.timeline if e.kind == "action.executed"]
    assert f"(reconcilers: ignore, though {FLUX}" in done.message
    (action,) = state.actions
    assert action["before"] == {"replicas": 2}  # the reconciler is said, not recorded as state


async def test_a_dry_run_says_it_would_not_act_for_real(rig: Rig) -> None:
    flux_managed(rig)
    rig.settings = GuardrailSettings(mode="dry-run")
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "dry-run")
    assert rig.cluster.writes == []
    (dry,) = [e.message for e in state.timeline if e.kind == "remediation.dry_run"]
    would = "would scale Deployment replicas of shop/checkout from 2 to 4 (bounds 1..10); undo: back to 2."
    assert would in dry
    assert f"It would not act for real: {FLUX}" in dry


async def test_nobody_is_asked_to_approve_what_would_be_put_back(rig: Rig) -> None:
    flux_managed(rig)
    rig.settings = GuardrailSettings(mode="approve")
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "blocked")
    assert not any(e.kind == "approval.requested" for e in state.timeline)
    assert not any("Approval needed" in text for _, text, _ in rig.chat.posts)


async def test_an_hpas_replicas_are_not_scaled_whatever_the_runbook_says(rig: Rig) -> None:
    rig.cluster.objects["horizontalpodautoscaler/shop/checkout"] = hpa()
    rig.runbook = SCALE.model_copy(update={"reconcilers": "ignore"})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "blocked")
    assert rig.cluster.writes == []
    (blocked,) = [e.message for e in state.timeline if e.kind == "guardrail.blocked"]
    assert "HorizontalPodAutoscaler shop/checkout would put back spec.replicas" in blocked
    assert "hpa: checkout in the step raises its minReplicas" in blocked


async def test_a_refused_step_gives_way_to_the_next_when_the_runbook_says_so(rig: Rig) -> None:
    """on_failure: next_step: the scale Flux would put back is not done, the restart (which it would not)
    is; the refusal is on the timeline."""
    flux_managed(rig)
    restart = RestartStep(action="restart", target=Target(namespace="shop", name="checkout"))
    rig.runbook = SCALE.model_copy(update={"steps": [*SCALE.steps, restart], "on_failure": "next_step"})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "verified")
    assert rig.scales() == []
    assert [verb for verb, _, _ in rig.cluster.writes] == ["patch"]  # the restart's annotation
    assert any(
        e.kind == "guardrail.blocked" and f"{FLUX}" in e.message and "Trying the next step." in e.message
        for e in state.timeline
    )


async def test_the_person_paged_reads_why_self_healing_handed_over(rig: Rig) -> None:
    """The escalation's next page carries what the remediation said (the reconciler and what to do), on the
    chain's own timer."""
    flux_managed(rig)
    pager = FakePager()
    policy = load_routing(
        "teams:\n  checkout: {primary: checkout, secondary: checkout-lead}\n"
        "escalations:\n  chain:\n    - {after_minutes: 0, page: [primary]}\n"
        "    - {after_minutes: 30, page: [secondary]}\n"
        "rules:\n  - {name: all, pagerduty: true, escalation: chain}\n",
        catalog=shop(),
    )
    async with rig.worker(pager=pager, policy=policy):
        incident = await deliver(rig, notify=True)
        state = await until(
            incident, lambda s: outcome(s) == "blocked" if s.remediations else False, "a block"
        )
        assert len(pager.pages) == 1  # the chain keeps its timers: the second level is not paged at once
        await rig.env.sleep(timedelta(minutes=31))
        state = await until(incident, lambda s: len(pager.pages) >= 2, "the second level's page")
    assert "remediation.escalated" not in [e.kind for e in state.timeline]
    second = pager.pages[1]
    assert second.routing_key_name == "checkout-lead"
    said = str(second.custom_details["self_healing"])
    assert FLUX in said and "flux suspend kustomization apps -n flux-system" in said


async def test_the_incidents_channel_is_told_of_a_refusal(rig: Rig) -> None:
    """Found by review: without the escalation, the refusal reached nobody (its timeline kind went to no
    chat). It is a reply in the incident's thread now, with what to do."""
    flux_managed(rig)
    async with rig.worker():
        incident = await deliver(rig, notify=True)
        await until(incident, lambda s: outcome(s) == "blocked" if s.remediations else False, "a block")
        await until(
            incident,
            lambda s: any("Self-healing could not act" in text for _, text, _ in rig.chat.posts),
            "the thread's reply",
        )
    (reply,) = [(text, thread) for _, text, thread in rig.chat.posts if "Self-healing could not act" in text]
    assert reply[1] is not None  # in the incident's thread
    assert FLUX in reply[0] and "flux suspend kustomization apps -n flux-system" in reply[0]


async def test_a_refusal_after_a_step_that_acted_and_failed_escalates(rig: Rig) -> None:
    """Found by review: on_failure next_step, the restart acted and did not fix it, the scale is refused:
    a fix did fail, so the incident escalates as it did before refusals were quiet."""
    flux_managed(rig)
    rig.metrics.healthy = False
    restart = RestartStep(action="restart", target=Target(namespace="shop", name="checkout"))
    rig.runbook = SCALE.model_copy(update={"steps": [restart, *SCALE.steps], "on_failure": "next_step"})
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_outcome(incident, "blocked")
    assert [verb for verb, _, _ in rig.cluster.writes] == ["patch"]  # the restart alone
    assert state.notifications.escalate_now
    assert any(e.message == "Self-healing did not fix it: escalating to people." for e in state.timeline)
