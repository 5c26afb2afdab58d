"""A team on Teams and Opsgenie, with no Slack: a remediation that waits for approval is told in the
incident's Teams channel and noted on its Opsgenie alert, saying how to decide (neither has a button),
and so is its outcome. Before, the request went only to Slack's thread: the Teams-only team never heard
of it, and every fix that needed approval timed out and escalated (patch ``approvals-told``). Found by a
field walk-through (Teams, Opsgenie EU, Jira Data Center)."""

import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from temporalio import activity
from temporalio.worker import Worker

from activities.remediate import MatchRequest, MatchResult
from medic.vocab import TimelineKind
from remediations.plan import RemediationEvent
from service.worker import WORKFLOWS
from tests.support.shop import ctx
from tests.support.stack import wait_until
from tests.workflow.opsgenie_stack import INCIDENT, OpsgenieStack, batch, burn, opsgenie_stack
from tests.workflow.test_notifications import until
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow
from workflows.remediation import REMEDIATION_EVENT

__all__ = ["opsgenie_stack"]

RID = "remediate-deployment-shop-checkout-0a1b2c3d"
ASKED = (
    "[checkout-restart] Approval requested (medium risk, MEDIC_REMEDIATION_MODE is approve): restart "
    f"Deployment shop/checkout. Approve or deny {RID} step 0."
)
HOW = f"POST /remediations/{RID}/decision"


@activity.defn(name="remediate.match")
def no_runbook(request: MatchRequest) -> MatchResult:
    """No runbook matches here: the remediation's reports are the test's own signals."""
    return MatchResult()


def _worker(stack: OpsgenieStack, queue: str) -> Worker:
    return Worker(
        stack.env.client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=[*stack.activities, no_runbook],
        activity_executor=ThreadPoolExecutor(4),
    )


def said(stack: OpsgenieStack, text: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return any(text in t for t in stack.teams_texts())

    return check


async def test_an_approval_is_told_in_teams_and_noted_in_opsgenie(opsgenie_stack: OpsgenieStack) -> None:
    s = opsgenie_stack
    queue = f"tq-{uuid.uuid4().hex[:6]}"
    worker = _worker(s, queue)
    async with worker:
        handle = await s.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id=INCIDENT, service=ctx("checkout"), quiet_period_seconds=300),
            id=INCIDENT,
            task_queue=queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[batch(burn())],
        )
        await until(handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "level 1")
        await wait_until(said(s, "CheckoutHighErrorRate"), timeout=60, what="the card in Teams")
        await handle.signal(
            REMEDIATION_EVENT,
            RemediationEvent(remediation_id=RID, kind=TimelineKind.APPROVAL_REQUESTED, message=ASKED),
        )
        await wait_until(said(s, HOW), timeout=60, what="the request in Teams")
        await handle.signal(
            REMEDIATION_EVENT,
            RemediationEvent(
                remediation_id=RID,
                kind=TimelineKind.APPROVAL_GRANTED,
                message="[checkout-restart] Approved by api:operator-token.",
                data={"actor": "api:operator-token"},
            ),
        )
        await wait_until(said(s, "Approved by api:operator-token"), timeout=60, what="the decision")
        state = await until(
            handle,
            lambda st: (
                st.notifications.note_cursor is not None and st.notifications.note_cursor >= len(st.timeline)
            ),
            "the notes",
        )
    (request,) = [t for t in s.teams_texts() if HOW in t]
    assert request.startswith(ASKED) and "MEDIC_OPERATOR_TOKEN" in request
    assert "Slack" not in request  # (a Teams-only team was told to decide in Slack; a review)
    assert sum("Approval requested" in t for t in s.teams_texts()) == 1
    notes = s.opsgenie.alert(INCIDENT).notes
    assert [n for n in notes if HOW in n] == [request]
    assert "[checkout-restart] Approved by api:operator-token." in notes
    told = [e for e in state.timeline if e.kind == TimelineKind.APPROVAL_REQUESTED]
    assert [e.data.get("told") for e in told] == [True]
    assert s.slack.posts == []  # no Slack here


async def test_an_approval_asked_before_the_first_page_is_noted_on_it(opsgenie_stack: OpsgenieStack) -> None:
    """The pager's notes begin with its first page: an approval asked a moment before it (a Teams card
    that took longer to post than the approval took to be asked) was told in Teams and never on the
    Opsgenie alert, 0 notes in 2 runs of 2 (found recording r17). Asked before any worker runs here, so
    both are in the history before the first page; noted once it is sent, and told in Teams after its
    card (approvals-asked-before)."""
    s = opsgenie_stack
    queue = f"tq-{uuid.uuid4().hex[:6]}"
    handle = await s.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=INCIDENT, service=ctx("checkout"), quiet_period_seconds=300),
        id=INCIDENT,
        task_queue=queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[batch(burn())],
    )
    await handle.signal(
        REMEDIATION_EVENT,
        RemediationEvent(remediation_id=RID, kind=TimelineKind.APPROVAL_REQUESTED, message=ASKED),
    )
    worker = _worker(s, queue)
    async with worker:
        await until(handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "level 1")
        state = await until(
            handle,
            lambda st: (
                st.notifications.note_cursor is not None
                and not st.notifications.note_backlog
                and st.notifications.note_cursor >= len(st.timeline)
            ),
            "the notes",
        )
    asked = [i for i, e in enumerate(state.timeline) if e.kind == TimelineKind.APPROVAL_REQUESTED]
    paged = [i for i, e in enumerate(state.timeline) if e.kind == TimelineKind.NOTIFICATION_SENT]
    assert asked and paged and asked[0] < paged[0]  # asked before the page went
    notes = s.opsgenie.alert(INCIDENT).notes
    assert [n for n in notes if HOW in n] == [n for n in s.teams_texts() if HOW in n] and len(notes) >= 1
