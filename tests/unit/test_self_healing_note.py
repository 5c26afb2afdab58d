"""What the incident keeps of why self-healing handed over to people (sent with the escalation's pages) and
how its timeline words it (found by review: decided per incident, it said "did not fix it" of a
remediation that never acted because an earlier one had; an undo that failed was overwritten by the
remediation's end)."""

from datetime import UTC, datetime, timedelta

from medic.cards import IncidentCard, render_card
from medic.incident import IncidentState, RemediationTrack
from medic.vocab import RemediationOutcome, TimelineKind

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def report(s: IncidentState, minutes: int, rid: str, kind: str, message: str, **options: object) -> None:
    at = T0 + timedelta(minutes=minutes)
    s.remediation_reported(at, remediation_id=rid, kind=kind, message=message, **options)  # type: ignore[arg-type]


def refused(s: IncidentState, minutes: int) -> None:
    """rem-b's step refused: Argo CD would undo it."""
    report(
        s,
        minutes,
        "rem-b",
        TimelineKind.GUARDRAIL_BLOCKED,
        "[rollback-checkout] Not acting: ..., but Argo CD ...",
        outcome=RemediationOutcome.BLOCKED,
        reconciler="Argo CD Application argocd/checkout",
    )


def escalations(s: IncidentState) -> list[str]:
    return [e.message for e in s.timeline if e.kind == TimelineKind.REMEDIATION_ESCALATED]


def incident() -> IncidentState:
    s = IncidentState(id="incident-checkout", opened_at=T0)
    for rid, runbook in (("rem-a", "scale-checkout"), ("rem-b", "rollback-checkout")):
        s.remediations[rid] = RemediationTrack(runbook=runbook, fingerprints=["fp-1"])
    return s


def test_each_remediation_is_worded_by_what_it_did() -> None:
    s = incident()
    report(s, 1, "rem-a", TimelineKind.ACTION_EXECUTED, "[scale-checkout] Done: scale ...")
    report(
        s,
        5,
        "rem-a",
        TimelineKind.REMEDIATION_FAILED,
        "[scale-checkout] Remediation did not fix it.",
        outcome=RemediationOutcome.ROLLED_BACK,
        escalate=True,
    )
    refused(s, 6)
    assert s.self_healing == "[rollback-checkout] Not acting: ..., but Argo CD ..."  # for the next pages
    assert escalations(s) == ["Self-healing did not fix it: escalating to people."]  # rem-a's alone
    report(
        s,
        7,
        "rem-b",
        TimelineKind.APPROVAL_TIMED_OUT,
        "[rollback-checkout] Nobody approved within 900s.",
        outcome=RemediationOutcome.TIMED_OUT,
        escalate=True,
    )
    assert escalations(s) == [  # a refusal is no escalation (it jumps no timer)
        "Self-healing did not fix it: escalating to people.",
        "Self-healing could not act: escalating to people.",
    ]
    assert s.self_healing == "[rollback-checkout] Nobody approved within 900s."
    (blocked,) = [e for e in s.timeline if e.kind == TimelineKind.GUARDRAIL_BLOCKED]
    assert blocked.data["reconciler"] == "Argo CD Application argocd/checkout"


def test_an_undo_that_failed_stays_first_in_what_the_page_says() -> None:
    s = incident()
    report(s, 1, "rem-a", TimelineKind.ACTION_EXECUTED, "[scale-checkout] Done: scale ...")
    undo = "[scale-checkout] Could not undo scale on deployment/shop/checkout: 403. A human must check it."
    report(s, 5, "rem-a", TimelineKind.ROLLBACK_FAILED, undo, escalate=True)
    end = "[scale-checkout] Could not act: the cluster refused; escalating."
    report(
        s, 5, "rem-a", TimelineKind.REMEDIATION_FAILED, end, outcome=RemediationOutcome.FAILED, escalate=True
    )
    assert s.self_healing == f"{undo} {end}"
    # another remediation's word follows what a human must check, never replaces it (found by review)
    report(
        s,
        9,
        "rem-b",
        TimelineKind.GUARDRAIL_BLOCKED,
        "[rollback-checkout] Not acting.",
        outcome=RemediationOutcome.BLOCKED,
        reconciler="Argo CD Application argocd/checkout",
    )
    assert s.self_healing == f"{undo} [rollback-checkout] Not acting."
    (refused,) = [e for e in s.timeline if e.kind == TimelineKind.REMEDIATION_REFUSED]
    assert refused.message == "Self-healing could not act: [rollback-checkout] Not acting."
    assert refused.data["reconciler"] == "Argo CD Application argocd/checkout"


def test_a_merge_keeps_what_self_healing_said() -> None:
    cause, symptom = IncidentState(id="incident-orders-db", opened_at=T0), incident()
    report(
        symptom, 2, "rem-b", TimelineKind.GUARDRAIL_BLOCKED, "[rollback-checkout] Not acting.", escalate=True
    )
    assert cause.absorb(symptom, at=T0 + timedelta(minutes=3))
    assert cause.self_healing == "[rollback-checkout] Not acting."


def test_the_card_says_it_where_a_late_channel_reads_it() -> None:
    """On the card too (found by review: a refusal logged before the card was posted, in quiet hours, reached
    no reply), escaped as every outside value is; not once the incident resolved."""
    card = IncidentCard(
        incident_id="incident-checkout",
        title="checkout slow",
        status="open",
        priority="P2",
        impact=60.0,
        opened_at=T0,
        self_healing="[scale-checkout] Not acting: <!channel> Flux Kustomization flux-system/apps would put",
    )
    text = str(render_card(card).blocks)
    assert "*Self-healing:* [scale-checkout] Not acting: &lt;!channel&gt; Flux Kustomization" in text
    resolved = card.model_copy(update={"status": "resolved"})
    assert "Self-healing" not in str(render_card(resolved).blocks)


def test_a_later_fix_that_worked_is_what_the_card_says() -> None:
    """A refusal, then another runbook's fix verified: the card and the next pages say the latest word (a
    review found the refusal stayed on the card for good)."""
    s = incident()
    refused(s, 1)
    report(s, 2, "rem-a", TimelineKind.ACTION_EXECUTED, "[scale-checkout] Done: scale ...")
    verified = "[scale-checkout] Verified: `latency_ok` for 60s held; the fix worked."
    report(s, 4, "rem-a", TimelineKind.VERIFICATION_PASSED, verified, outcome=RemediationOutcome.VERIFIED)
    assert s.self_healing == verified
    quiet = incident()  # a fix that simply worked, with nothing said before: no note
    report(quiet, 4, "rem-a", TimelineKind.VERIFICATION_PASSED, verified, outcome=RemediationOutcome.VERIFIED)
    assert quiet.self_healing == ""
