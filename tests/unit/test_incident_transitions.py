"""The incident's transitions that the workflows ask for: each changes the state, records itself on
the timeline and bumps the revision (the notifier and the publisher wake on it), or changes nothing."""

from datetime import timedelta

from medic.alerts import HELD_SOURCE, Alert, AlertStatus
from medic.feedback import FalsePositive
from medic.incident import IncidentState, IncidentStatus
from medic.routing import ChatTarget
from medic.vocab import RemediationOutcome
from tests.unit.test_incident_state import T0, alert, batch, kinds, new_state

LATER = T0 + timedelta(minutes=1)


def outcome_of(state: IncidentState, remediation_id: str) -> RemediationOutcome:
    return state.remediations[remediation_id].outcome


def test_reopen_if_firing_only_when_closing_and_firing() -> None:
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    assert not state.reopen_if_firing(LATER)  # open: nothing to reopen
    state.resolve(LATER)
    revision = state.revision
    assert state.reopen_if_firing(LATER)
    assert state.status is IncidentStatus.OPEN and state.resolved_at is None
    assert state.revision == revision + 1 and kinds(state)[-1] == "incident.reopened"
    state.apply_alerts(batch(alert(status=AlertStatus.RESOLVED)), at=LATER)
    state.resolve(LATER)
    assert not state.reopen_if_firing(LATER)  # nothing fires


def test_merge_failed_stands_alone_again() -> None:
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    state.mark_merged("incident-orders-db", at=T0)
    revision = state.revision
    assert not state.merge_failed("incident-other", at=LATER)  # not the one we merged into
    assert state.merge_failed("incident-orders-db", at=LATER)
    assert state.merged_into is None and state.status is IncidentStatus.OPEN
    assert state.revision == revision + 1 and kinds(state)[-1] == "incident.merge_failed"


def test_notes_wake_the_notifier_only_when_worth_a_thread_reply() -> None:
    state = new_state()
    revision = state.revision
    state.add_note(T0, kind="note.added", message="looked at the dashboards", actor="U1", data={})
    assert state.revision == revision and kinds(state)[-1] == "note.added"
    state.add_note(T0, kind="command.refused", message="not allowed", actor="U2", data={"via": "slack"})
    assert state.revision == revision + 1
    assert state.timeline[-1].data == {"via": "slack"} and state.timeline[-1].actor == "U2"


def test_remediation_lifecycle() -> None:
    state = new_state()
    revision = state.revision
    state.remediation_started(T0, remediation_id="r1", runbook="restart", fingerprints=["fp"], message="go")
    assert outcome_of(state, "r1") is RemediationOutcome.STARTED
    assert state.remediations["r1"].started_at == T0 and state.revision == revision + 1
    state.remediation_reported(
        LATER, remediation_id="r1", kind="action.executed", message="done", action={"action": "restart"}
    )
    assert outcome_of(state, "r1") is RemediationOutcome.EXECUTED
    assert state.actions == [{"action": "restart"}] and state.revision == revision + 2
    state.remediation_reported(
        LATER,
        remediation_id="r1",
        kind="verification.failed",
        message="still failing",
        outcome=RemediationOutcome.ROLLED_BACK,
        escalate=True,
    )
    assert outcome_of(state, "r1") is RemediationOutcome.ROLLED_BACK
    assert state.notifications.escalate_now and kinds(state)[-2:] == [
        "verification.failed",
        "remediation.escalated",
    ]
    state.remediation_blocked(LATER, remediation_id="r2", message="another one acts")
    assert kinds(state)[-1] == "guardrail.blocked" and state.revision == revision + 4


def test_giving_up_marks_only_running_remediations_lost() -> None:
    state = new_state()
    state.remediation_started(T0, remediation_id="r1", runbook="a", fingerprints=[], message="go")
    state.remediation_started(T0, remediation_id="r2", runbook="b", fingerprints=[], message="go")
    state.remediation_reported(
        T0, remediation_id="r2", kind="x", message="ok", outcome=RemediationOutcome.VERIFIED
    )
    state.give_up_on_remediations(LATER)
    assert outcome_of(state, "r1") is RemediationOutcome.LOST
    assert outcome_of(state, "r2") is RemediationOutcome.VERIFIED
    assert kinds(state).count("remediation.lost") == 1


def test_escalation_levels_and_their_channels() -> None:
    state = new_state()
    revision = state.revision
    war_room, teams = ChatTarget(kind="slack", channel="#war-room"), ChatTarget(kind="teams", channel="ops")
    state.escalated(T0, level=2, keys=["data-2"], chats=[war_room, teams], note="no ack after 5 min")
    state.escalated(LATER, level=3, keys=[], chats=[war_room], note="")
    n = state.notifications
    assert n.escalation_done == 3 and n.escalated == [war_room, teams]
    assert [e.message for e in state.timeline if e.kind == "escalation.level"] == [
        "Escalation level 2: paging data-2 (no ack after 5 min).",
        "Escalation level 3: paging nobody.",
    ]
    assert state.revision == revision + 2


def test_silences_and_false_positives_bump_the_revision_once() -> None:
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    revision = state.revision
    mark = FalsePositive(actor="U1", rules=["HighLatency"], at=LATER, incident_id=state.id)
    assert state.mark_false_positive(mark) and state.revision == revision + 1
    assert not state.mark_false_positive(mark) and state.revision == revision + 1


def _held(ends: timedelta) -> Alert:
    """An alert taken from Alertmanager's API before it delivered it: firing until its endsAt."""
    return alert("PostgresDown", service="orders-db").model_copy(
        update={"source": HELD_SOURCE, "ends_at": T0 + ends}
    )


def test_a_held_alert_is_due_at_its_end_and_a_webhook_delivery_confirms_it() -> None:
    state = new_state()
    state.apply_alerts(batch(_held(timedelta(minutes=4))), at=T0)
    assert state.held_until() == T0 + timedelta(minutes=4)
    assert state.held_due(T0 + timedelta(minutes=3)) == []
    assert state.held_due(T0 + timedelta(minutes=4)) == ["fp-PostgresDown"]
    # A later take moves its end on; an earlier one does not.
    assert state.apply_alerts(batch(_held(timedelta(minutes=6))), at=T0 + timedelta(minutes=2))
    assert not state.apply_alerts(batch(_held(timedelta(minutes=5))), at=T0 + timedelta(minutes=2))
    assert state.held_until() == T0 + timedelta(minutes=6)
    # Alertmanager delivers it (firing, no end): it is the webhook's now, and nothing is due any more.
    revision = state.revision
    assert state.apply_alerts(batch(alert("PostgresDown", service="orders-db")), at=T0 + timedelta(minutes=3))
    record = state.alerts["fp-PostgresDown"]
    assert (record.source, record.ends_at, record.status) == ("alertmanager", None, AlertStatus.FIRING)
    assert state.held_until() is None and state.revision > revision
    assert kinds(state).count("alert.firing") == 1  # the same alert, told once


def test_settle_held_resolves_what_alertmanager_no_longer_holds_and_extends_the_rest() -> None:
    state = new_state()
    second = _held(timedelta(minutes=4)).model_copy(update={"fingerprint": "fp-2"})
    state.apply_alerts(batch(_held(timedelta(minutes=4)), second), at=T0)
    later = T0 + timedelta(minutes=4)
    state.settle_held({"fp-2": later + timedelta(minutes=4)}, ["fp-PostgresDown"], at=later)
    gone, still = state.alerts["fp-PostgresDown"], state.alerts["fp-2"]
    assert (gone.status, gone.ends_at) == (AlertStatus.RESOLVED, later)
    assert still.status is AlertStatus.FIRING and state.held_until() == later + timedelta(minutes=4)
    entry = next(e for e in state.timeline if e.kind == "alert.resolved")
    assert "Alertmanager no longer holds it" in entry.message and entry.actor == HELD_SOURCE
    # A webhook alert (not taken) is never resolved so, whatever is asked.
    state.apply_alerts(batch(alert("HighLatency")), at=later)
    state.settle_held({}, ["fp-HighLatency"], at=later)
    assert state.alerts["fp-HighLatency"].status is AlertStatus.FIRING


def _webhook(
    starts: timedelta = timedelta(microseconds=456), status: AlertStatus = AlertStatus.FIRING
) -> Alert:
    """The same alert from the webhook: its start finer than the API's milliseconds."""
    return alert("PostgresDown", service="orders-db", status=status, starts=T0 + starts)


def test_alertmanagers_word_is_the_last_a_gone_alert_it_delivers_fires_again() -> None:
    state = new_state()
    state.apply_alerts(batch(_held(timedelta(minutes=4))), at=T0)
    later = T0 + timedelta(minutes=4)
    state.settle_held({}, ["fp-PostgresDown"], at=later)  # judged gone (say Alertmanager had restarted)
    assert state.apply_alerts(batch(_webhook()), at=later + timedelta(seconds=30))
    record = state.alerts["fp-PostgresDown"]
    assert (record.status, record.source) == (AlertStatus.FIRING, "alertmanager")
    assert record.episode_starts == [T0 + timedelta(microseconds=456)]
    assert any(e.message.startswith("PostgresDown fired again") for e in state.timeline)
    assert state.timeline[-1].kind == "incident.reopened"  # it had gone quiet


def test_a_new_episode_taken_from_alertmanager_is_checked_as_one() -> None:
    state = new_state()
    state.apply_alerts(batch(_webhook(timedelta(0))), at=T0)
    state.apply_alerts(batch(_webhook(timedelta(0), AlertStatus.RESOLVED)), at=T0 + timedelta(minutes=1))
    again = _held(timedelta(minutes=9)).model_copy(update={"starts_at": T0 + timedelta(minutes=5)})
    state.apply_alerts(batch(again), at=T0 + timedelta(minutes=5))
    record = state.alerts["fp-PostgresDown"]
    assert (record.status, record.source) == (AlertStatus.FIRING, HELD_SOURCE)
    assert state.held_until() == T0 + timedelta(minutes=9)


def test_the_webhooks_finer_start_is_the_same_episode_either_way_and_keeps_its_runbook_match() -> None:
    # Taken first, then delivered: the episode (and the runbooks matched to it) moves to the finer start.
    state = new_state()
    state.apply_alerts(batch(_held(timedelta(minutes=4))), at=T0)
    state.alerts["fp-PostgresDown"].matched_episode = T0
    state.apply_alerts(batch(_webhook()), at=T0 + timedelta(seconds=30))
    record = state.alerts["fp-PostgresDown"]
    assert record.matched_episode == record.starts_at == T0 + timedelta(microseconds=456)
    state.apply_alerts(batch(_webhook(status=AlertStatus.RESOLVED)), at=T0 + timedelta(minutes=2))
    assert len(record.episode_starts) == 1 and record.status is AlertStatus.RESOLVED
    # Delivered first, then taken (Alertmanager lists delivered alerts too): nothing new, one episode.
    state = new_state()
    state.apply_alerts(batch(_webhook()), at=T0)
    assert not state.apply_alerts(batch(_held(timedelta(minutes=4))), at=T0 + timedelta(seconds=10))
    record = state.alerts["fp-PostgresDown"]
    assert record.source == "alertmanager" and len(record.episode_starts) == 1 and not record.flapping
