"""A Slack user's name, carried beside their id by the requests made in Slack, is what the incident's
workflows write everywhere people read: Teams follow-ups, Opsgenie notes, Jira comments and the attached
postmortem, the Slack thread and card, and an approval's request and timeline. The id stays the actor
(the incident compares it, e.g. "already acknowledged by you"). Without names, all is written as before."""

import pytest

from medic.incident import IncidentState
from medic.postmortem import render_postmortem
from medic.routing import load_routing
from remediations.guardrails import GuardrailSettings
from tests.support.fakes import FakeOpsgenie
from tests.support.shop import shop
from tests.workflow.test_notifications import Harness, harness, open_incident, until
from tests.workflow.test_remediation import Rig, deliver, outcome, remediation, rig
from tests.workflow.test_remediation import until as until_remediated
from workflows.incident import AckRequest, IncidentWorkflow, ResolveRequest
from workflows.remediation import Decision, RemediationWorkflow

__all__ = ["harness", "rig"]  # the fixtures, shared

POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
teams:
  data: {primary: data, secondary: data-2, manager: boss}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
rules:
  - name: p1
    match: {priority: [P1]}
    pagerduty: true
    jira: true
    escalation: critical
    teams_channels: [oncall]
  - {name: rest, teams_channels: [oncall]}
""",
    catalog=shop(),
)
BOB, ERIN = "U0BOB", "U0ERIN"


def everything_said(h: Harness, pager: FakeOpsgenie) -> list[str]:
    return [
        *h.teams.notes_in("oncall"),
        *(text for _, _, text in pager.notes),
        *(text for _, text in h.tracker.comments),
        *(content for _, _, content in h.tracker.attachments),
        *h.chat.thread(),
        *(str(v.blocks) for versions in h.chat.versions.values() for v in versions),
    ]


@pytest.mark.parametrize("named", [True, False], ids=["named", "without-names"])
async def test_a_slack_ack_and_resolve_are_named_wherever_people_read_them(
    harness: Harness, named: bool
) -> None:
    h = harness
    pager = FakeOpsgenie()
    h.pager, h.policy = pager, POLICY
    bob, erin = ("Bob Smith", "Erin Hale") if named else ("", "")
    async with h.worker():
        handle = await open_incident(h)
        await until(
            handle,
            lambda s: (
                "teams:oncall" in s.notifications.chat
                and s.notifications.jira_key is not None
                and s.notifications.pages.get("data") == "trigger"
            ),
            "the card, the issue and the page",
        )
        ack = AckRequest(actor=BOB, actor_name=bob, source="slack")
        await handle.execute_update(IncidentWorkflow.acknowledge, ack)
        await until(
            handle,
            lambda s: (
                s.notifications.note_cursor == len(s.timeline)
                and s.notifications.jira_cursor == len(s.timeline)
            ),
            "the note and the comment",
        )
        resolve = ResolveRequest(actor=ERIN, actor_name=erin, source="slack", reason="fixed")
        result = await handle.execute_update(IncidentWorkflow.resolve, resolve)
        assert (result.acknowledged_by, result.resolved_by) == (BOB, ERIN)  # the ids: what Slack compares
        await handle.result()
    said = everything_said(h, pager)
    if not named:  # as before names: the ids
        assert "Acknowledged by U0BOB (slack)." in h.teams.notes_in("oncall")
        return
    assert not [text for text in said if BOB in text or ERIN in text], said
    assert "Acknowledged by Bob Smith (slack)." in h.teams.notes_in("oncall")
    assert "Resolved by Erin Hale (slack): fixed." in h.teams.notes_in("oncall")
    assert ("data", "incident-orders-db", "Acknowledged by Bob Smith (slack).") in pager.notes
    assert [text for _, text in h.tracker.comments if "Acknowledged" in text] == [
        "Acknowledged by Bob Smith (slack)."
    ]
    ((_, _, attached),) = h.tracker.attachments
    assert "Acknowledged by Bob Smith " in attached and "by Erin Hale: fixed." in attached
    assert "Acknowledged by Bob Smith (slack)." in h.chat.thread()
    assert any("ack by Bob Smith" in str(v.blocks) for vs in h.chat.versions.values() for v in vs)


async def test_an_approval_in_slack_is_named_on_its_request_and_in_the_postmortem(rig: Rig) -> None:
    rig.settings = GuardrailSettings(mode="approve", approval_timeout_seconds=600)
    async with rig.worker():
        incident = await deliver(rig)
        state = await until_remediated(
            incident, lambda s: any(e.kind == "approval.requested" for e in s.timeline), "a request"
        )
        decision = Decision(approve=True, actor="U0ALICE", actor_name="Alice Jones")
        await remediation(rig, state).execute_update(RemediationWorkflow.decide, decision)
        state = await until_remediated(incident, lambda s: outcome(s) == "verified", "verified")
    (versions,) = [v for v in rig.chat.versions.values() if "Approval needed" in v[0].text]
    assert "Approved by Alice Jones." in versions[-1].text
    (granted,) = [e for e in state.timeline if e.kind == "approval.granted"]
    assert granted.actor == "U0ALICE" and state.names == {"U0ALICE": "Alice Jones"}
    postmortem = render_postmortem(state, now=granted.at)
    assert "Approved by Alice Jones." in postmortem and "U0ALICE" not in postmortem


def test_a_state_without_names_is_written_as_it_was() -> None:
    """Names are left out of the payload while there are none: a state (and a request) without them
    serializes to the bytes it did before, so what is sized and sent for recorded histories is unchanged."""
    state = IncidentState.model_validate({"id": "incident-x", "opened_at": "2026-11-23T12:00:00Z"})
    assert (
        "names" not in state.model_dump_json() and "actor_name" not in AckRequest(actor=BOB).model_dump_json()
    )
    state.learn_name(BOB, "Bob")
    assert '"names":{"U0BOB":"Bob"}' in state.model_dump_json()
