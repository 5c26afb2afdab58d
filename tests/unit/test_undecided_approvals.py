"""Which approvals a Teams card and the first page still owe (``approvals-asked-before``): only those still
waiting. A remediation that stopped waiting without a decision (its alerts resolved meanwhile: blocked;
cancelled; lost) recorded no approval entry, and was told later as "No button here: decide in Slack...",
on a card posted afterwards (an escalated channel) and on the page after a reopen."""

from datetime import UTC, datetime, timedelta

from medic.incident import IncidentState
from medic.notify_state import undecided_approvals
from medic.vocab import RemediationOutcome, TimelineKind

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def asked(state: IncidentState, remediation_id: str, minute: int) -> None:
    state.remediation_started(
        T0 + timedelta(minutes=minute),
        remediation_id=remediation_id,
        runbook="scale-up",
        fingerprints=["f1"],
        message=f"Started {remediation_id}.",
    )
    state.remediation_reported(
        T0 + timedelta(minutes=minute),
        remediation_id=remediation_id,
        kind=TimelineKind.APPROVAL_REQUESTED,
        message="Approval requested (high risk): scale. Approve or deny.",
        approval_told=True,
    )


def test_an_approval_whose_remediation_stopped_waiting_is_owed_no_more() -> None:
    state = IncidentState(id="incident-checkout", opened_at=T0)
    asked(state, "rem-resolved", 1)
    state.remediation_reported(  # the alerts resolved while it waited (workflows/remediation.py)
        T0 + timedelta(minutes=2),
        remediation_id="rem-resolved",
        kind=TimelineKind.GUARDRAIL_BLOCKED,
        message="The alerts resolved while waiting for approval; not acting.",
        outcome=RemediationOutcome.BLOCKED,
    )
    asked(state, "rem-lost", 3)
    state.give_up_on_remediations(T0 + timedelta(minutes=4))  # the incident closed without its report
    asked(state, "rem-waiting", 5)
    asked(state, "rem-granted", 6)
    state.remediation_reported(
        T0 + timedelta(minutes=7),
        remediation_id="rem-granted",
        kind=TimelineKind.APPROVAL_GRANTED,
        message="Approved by U1.",
        approval_told=True,
    )
    waiting = undecided_approvals(state.timeline)
    assert [state.timeline[i].data["remediation"] for i in waiting] == ["rem-waiting"]
