"""What the approval request in Slack says once nobody need press it any more: approved, denied, timed
out, or no longer needed because the alerts resolved. Before, it read "Approval needed" with its Approve
and Deny buttons for ever (pressing one was refused: stale, never unsafe)."""

from datetime import timedelta

import pytest

from medic.alerts import AlertStatus
from remediations.guardrails import GuardrailSettings
from tests.workflow.test_remediation import Rig, deliver, outcome, remediation, rig, slow, until
from workflows.incident import IncidentWorkflow
from workflows.remediation import Decision, RemediationWorkflow

__all__ = ["rig"]  # the fixture, shared


@pytest.mark.parametrize(
    ("how", "ends", "said"),
    [
        ("approve", "verified", "Approved by U-ALICE."),
        ("deny", "denied", "Denied by U-BOB: not now."),
        ("wait", "timed-out", "Timed out: nobody decided within 600s."),
        ("resolve", "blocked", "No longer needed: the alerts resolved."),
        ("cancel", "cancelled", "Cancelled: not acting."),
    ],
)
async def test_the_approval_request_says_what_became_of_it(rig: Rig, how: str, ends: str, said: str) -> None:
    rig.settings = GuardrailSettings(mode="approve", approval_timeout_seconds=600)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        handle = remediation(rig, state)
        if how == "approve":
            await handle.execute_update(RemediationWorkflow.decide, Decision(approve=True, actor="U-ALICE"))
        elif how == "deny":
            decision = Decision(approve=False, actor="U-BOB", reason="not now")
            await handle.execute_update(RemediationWorkflow.decide, decision)
        elif how == "wait":
            await rig.env.sleep(timedelta(minutes=11))
        elif how == "cancel":  # an operator (the Temporal UI), or the incident closing
            await handle.cancel()
        else:
            await incident.signal(IncidentWorkflow.alerts, slow(AlertStatus.RESOLVED))
        await until(incident, lambda s: outcome(s) == ends, ends)
    (versions,) = [v for v in rig.chat.versions.values() if "Approval needed" in v[0].text]
    assert len(versions) == 2, [v.text for v in versions]  # posted, then edited once
    last = versions[-1]
    assert said in last.text and "Approval needed" not in last.text
    assert not [b for b in last.blocks if b["type"] == "actions"]  # no button left to press
    assert said in str(last.blocks)


async def test_an_approval_the_kill_switch_then_blocks_says_so_on_the_request(rig: Rig) -> None:
    """Approved in Slack while the kill switch had been turned on meanwhile: the request read "Approved
    by ..." and nothing happened, unsaid (a field walk-through). It now says why it does not act."""
    rig.settings = GuardrailSettings(mode="approve", approval_timeout_seconds=600)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        rig.facts.value = rig.facts.value.model_copy(update={"kill_switch": True, "kill_switch_by": "U0SRE"})
        decision = Decision(approve=True, actor="U-ALICE")
        await remediation(rig, state).execute_update(RemediationWorkflow.decide, decision)
        await until(incident, lambda s: outcome(s) == "blocked", "the block")
    (versions,) = [v for v in rig.chat.versions.values() if "Approval needed" in v[0].text]
    said = versions[-1].text
    assert said.startswith("Approval for") and "Approved by U-ALICE, but not acting:" in said
    assert "kill switch" in said and rig.cluster.writes == []
