"""The postmortem as an incident commander and an engineering manager read it after an incident (a
walk-through that drove real incidents through the workflows, 2026-12-07): who acknowledged it first
when the first acknowledgement was in an incident that merged in, what is still changed on the cluster
after a rollback, which merged incident an entry happened in, when a held anomaly stopped, what a false
positive of a scan's incident says and asks, one follow-up for one failed verification, a merged
incident's own document, and the reason a person gave for resolving it."""

from datetime import UTC, datetime, timedelta

from activities.postmortem import _summary as slack_summary
from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow
from medic.feedback import FalsePositive
from medic.incident import AnomalyBatch, IncidentState, RemediationTrack
from medic.postmortem import render_postmortem
from medic.story import incident_metrics
from medic.timeline import TimelineEntry
from medic.vocab import TimelineKind
from service.chat.replies import render_show
from service.incidents import IncidentDetail
from tests.unit.test_postmortem import alert, at, deliver, resolved

REM = "remediate-deployment-data-pgbouncer-568aaf2e"


def _opened(incident_id: str, when: datetime) -> IncidentState:
    state = IncidentState(id=incident_id, opened_at=when)
    state.record(when, TimelineKind.INCIDENT_OPENED, "Incident opened.")
    return state


def cascade() -> IncidentState:
    """checkout's errors open first and page checkout; its page is acknowledged in PagerDuty; orders-db's
    outage arrives later, absorbs it, and escalates to its second level; nobody acknowledges it."""
    symptom = _opened("incident-checkout", at(10, 0))
    deliver(symptom, at(10, 0), alert("HighErrorRate", "checkout", at(9, 58)))
    symptom.record(
        at(10, 0, 5), TimelineKind.ESCALATION_LEVEL, "Escalation level 1: paging checkout.", level=1
    )
    symptom.acknowledge(at(10, 1, 30), actor="Dana Oncall", source="pagerduty")
    cause = _opened("incident-orders-db", at(10, 3))
    deliver(cause, at(10, 3), alert("PostgresConnectionsExhausted", "orders-db", at(9, 56)))
    cause.absorb(symptom, at=at(10, 3))
    cause.record(at(10, 3, 1), TimelineKind.ESCALATION_LEVEL, "Escalation level 1: paging data.", level=1)
    cause.record(at(10, 8), TimelineKind.ESCALATION_LEVEL, "Escalation level 2: paging data-2.", level=2)
    return cause


def test_an_acknowledgement_in_an_incident_that_merged_in_is_the_first_one() -> None:
    """The symptom's on-call acknowledged its page before the cause absorbed it: the postmortem said
    "Nobody acknowledged it", "Acknowledged: not acknowledged", MTTA "—", Slack "never acknowledged" and
    "Acknowledged by Dana Oncall" in its own timeline."""
    state = cascade()
    state.resolve(at(10, 30))
    markdown = render_postmortem(state, now=at(10, 31))
    m = incident_metrics(state, now=at(10, 31))
    assert m.acknowledged_at == at(10, 1, 30) and m.time_to_acknowledge == timedelta(minutes=1, seconds=30)
    assert "Acknowledged by Dana Oncall 1m 30s after detection." in markdown
    assert "- Acknowledged: 2026-11-23 10:01:30 UTC by Dana Oncall via pagerduty, 1m 30s after detection" in (
        markdown
    )
    assert "| Acknowledged | 2026-11-23 10:01:30 UTC | 1m 30s (MTTA) |" in markdown
    assert "Nobody acknowledged" not in markdown and "not acknowledged" not in markdown
    # orders-db's own chain went to its second level with nobody acknowledging its page: still a follow-up
    assert "- [ ] Review the on-call set-up: the incident escalated before anyone acknowledged its page" in (
        markdown
    )
    assert "acknowledged after 1m 30s" in slack_summary(state, m)
    assert "never acknowledged" not in slack_summary(state, m)


def test_each_escalation_chain_is_judged_by_its_own_acknowledgement() -> None:
    """The symptom's chain escalated after its page was acknowledged, the cause's before its own was: only
    the cause's is a follow-up. A chain in a merged incident that escalated unanswered is named."""
    state = cascade()
    state.acknowledge(at(10, 5), actor="U0BOB", source="slack")  # before orders-db's level 2 at 10:08
    follow_ups = render_postmortem(state, now=at(10, 31)).split("## Follow-up items")[1]
    assert "escalated before anyone acknowledged" not in follow_ups
    symptom = _opened("incident-checkout", at(10, 0))
    deliver(symptom, at(10, 0), alert("HighErrorRate", "checkout", at(9, 58)))
    symptom.record(at(10, 2), TimelineKind.ESCALATION_LEVEL, "Escalation level 2: checkout-2.", level=2)
    cause = _opened("incident-orders-db", at(10, 3))
    deliver(cause, at(10, 3), alert("PostgresConnectionsExhausted", "orders-db", at(9, 56)))
    cause.absorb(symptom, at=at(10, 3))
    cause.acknowledge(at(10, 4), actor="U0BOB", source="slack")
    follow_ups = render_postmortem(cause, now=at(10, 31)).split("## Follow-up items")[1]
    assert (
        "- [ ] Review the on-call set-up: incident-checkout escalated before anyone acknowledged its page"
        in (follow_ups)
    )
    assert "the incident escalated" not in follow_ups


def test_its_own_acknowledgement_still_counts_when_it_came_first() -> None:
    state = cascade()
    state.acknowledge(at(10, 4), actor="U0BOB", source="slack")
    assert state.acknowledged_by == "U0BOB"  # the incident's own, as before
    markdown = render_postmortem(state, now=at(10, 31))
    assert "by Dana Oncall via pagerduty" in markdown  # the first one, earlier
    state.timeline = [e for e in state.timeline if e.data.get("from_incident") is None]
    markdown = render_postmortem(state, now=at(10, 31))
    assert "- Acknowledged: 2026-11-23 10:04:00 UTC by U0BOB via slack, 1m 00s after detection" in markdown


def test_entries_of_an_incident_that_merged_in_say_which_it_was() -> None:
    """A cascade's postmortem read "Incident opened." twice and "Escalation level 1" for two teams."""
    markdown = render_postmortem(cascade(), now=at(10, 31))
    assert "| incident.opened | medic | In incident-checkout: Incident opened. |" in markdown
    assert "| 2026-11-23 10:03:00 UTC | incident.opened | medic | Incident opened. |" in markdown
    assert "`escalation.level`: In incident-checkout: Escalation level 1: paging checkout." in markdown
    assert "`escalation.level`: Escalation level 1: paging data." in markdown
    assert (
        "| Dana Oncall | incident.acknowledged | In incident-checkout: Acknowledged by Dana Oncall"
        in markdown
    )


def _scaled(state: IncidentState) -> None:
    """A scale step of pgbouncer-scale acted, as the Remediator records its ActionRecord."""
    state.remediations[REM] = RemediationTrack(runbook="pgbouncer-scale", fingerprints=[])
    action = {
        "step": 0,
        "action": "scale",
        "target": "deployment/data/pgbouncer",
        "description": "scale Deployment replicas of data/pgbouncer from 2 to 4",
        "risk": "high",
        "status": "executed",
        "at": "2026-11-23T10:10:00Z",
    }
    state.remediation_reported(
        at(10, 10),
        remediation_id=REM,
        kind="action.executed",
        message="[pgbouncer-scale] Done.",
        action=action,
    )


def test_a_step_medic_rolled_back_is_not_shown_as_still_in_place() -> None:
    """Verification failed and the scale was undone: the incident's actions (GET /incidents/{id}) and the
    postmortem's table of changes on the cluster still said "executed"."""
    state = cascade()
    _scaled(state)
    state.remediation_reported(
        at(10, 15),
        remediation_id=REM,
        kind="rollback.done",
        message="[pgbouncer-scale] Undid scale on deployment/data/pgbouncer (the fix did not work).",
    )
    assert [a["status"] for a in state.actions] == ["compensated"]
    markdown = render_postmortem(state, now=at(10, 31))
    assert "| scale | deployment/data/pgbouncer | compensated | high |" in markdown


def test_a_step_that_could_not_be_undone_or_was_changed_meanwhile_says_so() -> None:
    impossible = cascade()
    _scaled(impossible)
    impossible.remediation_reported(
        at(10, 15),
        remediation_id=REM,
        kind="rollback.impossible",
        message="[pgbouncer-scale] scale on deployment/data/pgbouncer cannot be undone (it did not work).",
    )
    assert [a["status"] for a in impossible.actions] == ["not-undoable"]
    kept = cascade()
    _scaled(kept)
    kept.remediation_reported(
        at(10, 15),
        remediation_id=REM,
        kind="rollback.changed_meanwhile",
        message="[pgbouncer-scale] Did not undo scale on deployment/data/pgbouncer (it did not work): ...",
    )
    other = cascade()
    _scaled(other)
    other.remediation_reported(
        at(10, 15),
        remediation_id=REM,
        kind="rollback.done",
        message="[pgbouncer-scale] Undid scale on deployment/data/pgbouncer-replica (the fix did not work).",
    )
    assert [a["status"] for a in kept.actions] == [a["status"] for a in other.actions] == ["executed"]


def test_a_failed_verification_is_one_follow_up() -> None:
    state = cascade()
    _scaled(state)
    for kind, message in (
        ("verification.failed", "Verification failed: `pg_ok` for 60s did not hold within 300s."),
        ("remediation.failed", "Remediation did not fix it; escalating with what was tried."),
    ):
        state.remediation_reported(
            at(10, 15), remediation_id=REM, kind=kind, message=f"[pgbouncer-scale] {message}"
        )
    follow_ups = render_postmortem(state, now=at(10, 31)).split("## Follow-up items")[1]
    assert follow_ups.count("Review the runbook pgbouncer-scale") == 1
    assert "a step failed its verification" in follow_ups
    # a failure of another kind is still followed up
    state.remediations["other"] = RemediationTrack(runbook="restart", fingerprints=[])
    state.remediation_reported(
        at(10, 16), remediation_id="other", kind="remediation.failed", message="[restart] It is paused."
    )
    assert "Review the runbook restart: the remediation failed" in render_postmortem(state, now=at(10, 31))


def _shift(start: datetime, end: datetime) -> AnomalySignal:
    return AnomalySignal(
        source="medic-scan",
        service="checkout",
        series={SCAN_LABEL: "errors", "service": "checkout"},
        value=40.0,
        expected=ExpectedBand(lower=9.0, upper=11.0),
        score=0.99,
        window=TimeWindow(start=start, end=end),
        summary="scan errors: value 40 outside [9, 11]",
    )


def held_shift() -> IncidentState:
    """A scan's level shift, found at 10:02 and told again at every 5-minute run until 11:00, its window
    reaching past the next run each time (how a held shift keeps its incident open)."""
    state = _opened("incident-checkout", at(10, 2))
    run = at(10, 2)
    while run <= at(11, 0):
        batch = AnomalyBatch(signals=[_shift(at(9, 59), run + timedelta(minutes=6))], received_at=run)
        state.apply_anomalies(batch, at=run)
        run += timedelta(minutes=5)
    return state


def test_an_anomaly_held_for_an_hour_resolves_since_it_stopped() -> None:
    """It said "Resolved: nothing has fired since 10:02:00Z", its first finding, after the shift was held
    for an hour (quiet counts from the anomaly's last window, as the quiet period does)."""
    state = held_shift()
    state.resolve(at(11, 10))
    (resolved_entry,) = [e for e in state.timeline if e.kind == TimelineKind.INCIDENT_RESOLVED]
    assert resolved_entry.message == "Resolved: nothing has fired since 11:03:00Z."
    markdown = render_postmortem(state, now=at(11, 10))
    assert "(first signal to its anomalies stopped)" in markdown
    assert "| Mitigated (its anomalies stopped) | 2026-11-23 11:03:00 UTC | 1h 04m 00s (MTTM) |" in markdown


def test_a_resolution_on_another_day_says_the_date_it_went_quiet() -> None:
    state = _opened("incident-payments", at(23, 40))
    a = alert("PaymentsLatencyHigh", "payments", at(23, 37))
    deliver(state, at(23, 40), a)
    deliver(state, at(23, 58), resolved(a, at(23, 58)))
    state.resolve(datetime(2026, 11, 24, 0, 3, tzinfo=UTC))
    assert state.timeline[-1].message == "Resolved: nothing has fired since 2026-11-23 23:58:00Z."


def test_a_false_positive_of_a_scan_incident_names_the_scan_and_asks_to_review_it() -> None:
    """Marked from the card: the mark names no alert rule (there is none). The postmortem said "marked
    all alerts as a false positive" (0 alerts), asked nothing of the scan, left the mark out of its
    summary, and gave the revenue at risk as if the outage were real."""
    state = held_shift()
    state.mark_false_positive(
        FalsePositive(at=at(10, 57), actor="U0FRANK", rules=state.rules(), incident_id=state.id)
    )
    state.resolve(at(11, 10))
    markdown = render_postmortem(state, now=at(11, 10))
    assert "Marked a false positive by U0FRANK." in markdown.split("## Impact")[0]
    assert "| U0FRANK marked its anomaly signals as a false positive. |" in markdown  # the timeline's
    assert "U0FRANK marked its signals (the anomaly scan errors on checkout) as a false positive" in markdown
    assert "all alerts" not in markdown and "all its alerts" not in markdown
    assert "- [ ] Review the anomaly scan errors on checkout: it was marked a false positive" in markdown
    assert "every signal was marked a false positive, so likely none" in markdown


def test_an_alert_rule_marked_a_false_positive_is_said_in_the_summary() -> None:
    state = cascade()
    state.mark_false_positive(
        FalsePositive(at=at(10, 9), actor="U0X", rules=["HighErrorRate"], incident_id=state.id)
    )
    markdown = render_postmortem(state, now=at(10, 31))
    assert "HighErrorRate marked a false positive by U0X." in markdown
    assert "so likely none" not in markdown  # PostgresConnectionsExhausted was not
    assert "Review the anomaly" not in markdown


def test_the_merged_incidents_own_document_points_to_the_one_it_merged_into() -> None:
    """GET /incidents/incident-checkout/postmortem read "Final: resolved ... by merging", "Resolved 5m
    after the first signal" and an MTTR, for an outage that went on for 30 more minutes elsewhere."""
    symptom = _opened("incident-checkout", at(10, 0))
    deliver(symptom, at(10, 0), alert("HighErrorRate", "checkout", at(9, 58)))
    symptom.mark_merged("incident-orders-db", at=at(10, 3))
    markdown = render_postmortem(symptom, now=at(10, 31))
    assert "**Merged** into incident-orders-db at 2026-11-23 10:03:00 UTC" in markdown
    assert "incident-orders-db's postmortem is the whole incident's" in markdown
    assert "Merged into incident-orders-db 5m 00s after the first signal." in markdown
    assert (
        "| Merged into incident-orders-db | 2026-11-23 10:03:00 UTC | 5m 00s (not resolved here) |"
        in markdown
    )
    assert "(first signal to the merge)" in markdown
    assert "Final" not in markdown and "(MTTR)" not in markdown and "Resolved 5m" not in markdown


def test_a_person_who_resolved_it_is_named_with_their_reason() -> None:
    state = cascade()
    state.resolve_by_hand(
        at(10, 25), actor="U0ERIN", source="slack", reason="promoted the replica | see *INC-42*"
    )
    markdown = render_postmortem(state, now=at(10, 31))
    assert (
        "**Final**: resolved at 2026-11-23 10:25:00 UTC by U0ERIN: promoted the replica | see \\*INC-42\\*."
        in markdown
    )


def test_show_names_a_false_positive_mark_without_rules() -> None:
    """`/medic show` read "*Marked false positive:*  by U0FRANK" for a scan's incident."""
    state = held_shift()
    mark = FalsePositive(at=at(10, 57), actor="U0FRANK", rules=[], incident_id=state.id)
    detail = IncidentDetail(
        id=state.id,
        title="Anomaly in errors on checkout",
        status="open",
        priority="P3",
        impact=52.0,
        services=["checkout"],
        opened_at=state.opened_at,
        alert_count=0,
        severity="warning",
        alerts=[],
        anomalies=[],
        timeline=[],
        false_positives=[mark],
    )
    text = render_show(detail, ui_url=None, now=at(11, 0)).text
    # a Slack id is a mention inside Slack: Slack shows the person's name
    assert "*Marked false positive:* all its signals by <@U0FRANK>" in text


def test_show_says_when_a_resolved_incident_ended_and_dates_an_older_days_entries() -> None:
    """`/medic show` of a resolved incident said when it opened and nothing of its end; "Why P1: P1 ..."
    said the priority twice; the last entries of yesterday's incident read as this morning's."""
    state = held_shift()
    entry = TimelineEntry(at=at(10, 57), kind="incident.resolved", actor="medic", message="Resolved.")
    detail = IncidentDetail(
        id=state.id,
        title="Anomaly in errors on checkout",
        status="resolved",
        priority="P3",
        impact=52.0,
        services=["checkout"],
        opened_at=state.opened_at,
        resolved_at=at(10, 57),
        alert_count=0,
        severity="warning",
        alerts=[],
        anomalies=[],
        timeline=[entry],
        impact_explanation=state.impact_detail,
    )
    same_day = render_show(detail, ui_url=None, now=at(11, 0)).text
    assert " · resolved 3m ago" in same_day and "• 10:57:00Z Resolved." in same_day, same_day
    assert state.impact_detail is not None
    why = state.impact_detail.explain()
    assert f"*Why:* {why[:20]}" in same_day or (
        not why.startswith("P3") and f"*Why P3:* {why[:20]}" in same_day
    ), same_day
    next_day = render_show(detail, ui_url=None, now=at(11, 0) + timedelta(days=1)).text
    assert "• 2026-11-23 10:57:00Z Resolved." in next_day, next_day


def test_an_alert_that_reached_medic_late_says_since_when_it_fired() -> None:
    """The table is in the order Medic recorded things: the cause, delivered at 10:03 but firing since
    9:56, read as coming after its symptom (firing since 9:58), with nothing to say otherwise."""
    state = cascade()
    prompt = alert("OrdersDbReplicaLag", "orders-db", at(10, 9, 30))
    deliver(state, at(10, 10), prompt)  # 30 s later: Alertmanager's group wait, nothing to say
    markdown = render_postmortem(state, now=at(10, 31))
    assert (
        "| alertmanager | PostgresConnectionsExhausted fired (service orders-db). "
        "Firing since 2026-11-23 09:56:00 UTC. |"
    ) in markdown
    assert (
        "In incident-checkout: HighErrorRate fired (service checkout). Firing since 2026-11-23 09:58:00 UTC."
        in (markdown)
    )
    assert "| OrdersDbReplicaLag fired (service orders-db). |" in markdown
    assert "In the order Medic recorded them" in markdown
