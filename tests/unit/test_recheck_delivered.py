"""Alertmanager never sends the resolution of an alert that was silenced or inhibited when it resolved
(prometheus/alertmanager#226 and #2754, open; PR #3034 to change it, unmerged): the webhook delivered it
firing, and then nothing. Its incident stayed open for good: the Slack card said firing, the page stayed
open, no postmortem. Medic's own Silence button did it, and so did kube-prometheus's InfoInhibitor (an
info alert delivered beside a warning is inhibited again once the warning ends). Now an incident asks
Alertmanager about its delivered alerts (``IncidentState.recheck_at``, ``settle_rechecked``): one it
holds (muted or not) fires on; one it was seen to hold and holds no more at two checks 5 minutes apart
resolved, and the timeline says so. One it never held (another Alertmanager's, another tenant's) is
never judged by its absence."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

from medic.alerts import HELD_SOURCE, Alert, AlertStatus
from medic.incident import (
    GONE_CONFIRM,
    RECHECK_ASKED,
    RECHECK_FIRST,
    RECHECK_MAX,
    RECHECK_MIN,
    RECHECK_UNANSWERED,
    AlertBatch,
    IncidentState,
)

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def delivered(
    fingerprint: str, at: datetime, *, status: AlertStatus = AlertStatus.FIRING, source: str = "alertmanager"
) -> AlertBatch:
    alert = Alert(
        fingerprint=fingerprint,
        status=status,
        labels={"alertname": f"Alert{fingerprint}", "namespace": "shop", "severity": "warning"},
        starts_at=T0 - timedelta(minutes=1),
        ends_at=at if status is AlertStatus.RESOLVED else None,
        source=source,
    )
    return AlertBatch(alerts=[alert], received_at=at)


def incident(*fingerprints: str, at: datetime = T0) -> IncidentState:
    state = IncidentState(id="incident-shop", opened_at=at)
    for f in fingerprints:
        state.apply_alerts(delivered(f, at), at=at)
    return state


def status(state: IncidentState, fingerprint: str) -> AlertStatus:
    return state.alerts[fingerprint].status


def check(
    state: IncidentState, held: set[str] | None, *, valid: timedelta = timedelta(minutes=4)
) -> datetime:
    """Ask at the time the state says, answering ``held`` (each valid for ``valid`` more: Prometheus'
    endsAt, 4 evaluation intervals of a rule group evaluated every minute); returns when it was asked."""
    at = state.recheck_at()
    assert at is not None
    state.settle_rechecked(
        state.recheck_asked(), None if held is None else dict.fromkeys(held, at + valid), at=at
    )
    return at


def test_an_alert_that_resolved_while_silenced_resolves_after_two_checks() -> None:
    state = incident("a", "b")
    # Alertmanager is asked 2 minutes after the delivery and vouches for both (the one Medic asks is
    # theirs); then they are asked about as long again as they have gone unseen, 10 minutes at least.
    assert check(state, {"a", "b"}) == T0 + RECHECK_FIRST
    assert sorted(state.am_holds) == ["a", "b"]
    assert check(state, {"a", "b"}) == T0 + RECHECK_FIRST + RECHECK_MIN
    third = check(state, {"a", "b"})
    assert third == T0 + 2 * (RECHECK_FIRST + RECHECK_MIN)  # 12 minutes unseen: 12 more
    # a resolved while silenced: Alertmanager holds it no more; one check is no proof
    gone_at = check(state, {"b"})
    assert gone_at == third + (third - T0)
    assert state.alerts["a"].status is AlertStatus.FIRING and state.am_gone == {"a": gone_at}
    assert state.recheck_at() == gone_at + GONE_CONFIRM
    assert check(state, {"b"}) == gone_at + GONE_CONFIRM
    record = state.alerts["a"]
    assert record.status is AlertStatus.RESOLVED and record.ends_at == gone_at
    said = state.timeline[-1]
    assert said.kind == "alert.resolved" and said.actor == HELD_SOURCE
    assert "Alertmanager no longer holds it" in said.message and "silenced or inhibited" in said.message
    assert state.is_firing  # b fires on
    # b resolves the same way; then nothing fires, and nothing more is asked
    check(state, set())
    check(state, set())
    assert not state.is_firing and state.recheck_at() is None
    assert state.am_holds == {} and state.am_gone == {}
    # the webhook's late resolution of the same episode changes nothing
    assert not state.apply_alerts(delivered("a", T0 + timedelta(hours=3), status=AlertStatus.RESOLVED), at=T0)


def test_the_cadence_grows_with_the_time_unseen_to_an_hour_and_a_delivery_starts_it_again() -> None:
    state = incident("a")
    asked = [check(state, {"a"}) for _ in range(9)]
    gaps = [later - earlier for earlier, later in pairwise(asked)]
    assert gaps[0] == RECHECK_MIN and gaps == sorted(gaps) and gaps[-1] == RECHECK_MAX
    # Alertmanager repeats the group: the alert was seen; the next question is RECHECK_MIN after it
    again = asked[-1] + timedelta(minutes=1)
    state.apply_alerts(delivered("a", again), at=again)
    assert state.recheck_at() == again + RECHECK_MIN


def test_an_alert_the_asked_alertmanager_never_held_is_never_judged() -> None:
    """Alerts of another Alertmanager (a second cluster's) or another tenant of Mimir's: the one Medic
    asks never held them, so their absence there says nothing. Asked once after each delivery."""
    state = incident("theirs")
    first = check(state, set())
    assert first == T0 + RECHECK_FIRST
    assert state.recheck_at() is None  # not again until the next delivery
    assert state.alerts["theirs"].status is AlertStatus.FIRING and state.am_holds == {}
    later = T0 + timedelta(hours=4)
    state.apply_alerts(delivered("theirs", later), at=later)
    assert state.recheck_at() == later + RECHECK_FIRST


def test_gone_once_and_back_fires_on_and_no_answer_resolves_nothing() -> None:
    state = incident("a")
    check(state, {"a"})
    gone = check(state, set())  # an Alertmanager restarted empty
    assert state.am_gone == {"a": gone}
    check(state, {"a"})  # Prometheus sent it again within a minute
    assert state.am_gone == {} and state.alerts["a"].status is AlertStatus.FIRING
    # Alertmanager does not answer: asked again RECHECK_UNANSWERED later, nothing resolved
    silent = check(state, None)
    assert state.recheck_at() == max(silent + RECHECK_UNANSWERED, silent)
    for _ in range(5):
        check(state, None)
    assert state.alerts["a"].status is AlertStatus.FIRING


def test_only_delivered_firing_alerts_are_asked_about_the_longest_unseen_first() -> None:
    state = incident("a")
    state.apply_alerts(delivered("grafana", T0, source="grafana"), at=T0)
    state.apply_alerts(delivered("taken", T0, source=HELD_SOURCE), at=T0)
    state.apply_alerts(delivered("over", T0, status=AlertStatus.RESOLVED), at=T0)
    assert state.recheck_asked() == ["a"]
    big = IncidentState(id="incident-storm", opened_at=T0)
    for i in range(RECHECK_ASKED + 5):
        at = T0 + timedelta(seconds=i)
        big.apply_alerts(delivered(f"{i:05d}", at), at=at, derive=False)
    asked = big.recheck_asked()
    assert len(asked) == RECHECK_ASKED and asked[0] == "00000" and asked[-1] == f"{RECHECK_ASKED - 1:05d}"


def test_alertmanagers_word_travels_with_a_merge() -> None:
    child = incident("a")
    check(child, {"a"})
    parent = IncidentState(id="incident-root", opened_at=T0)
    parent.absorb(child, at=T0 + timedelta(minutes=3))
    assert list(parent.am_holds) == ["a"]
    check(parent, set())
    check(parent, set())
    assert parent.alerts["a"].status is AlertStatus.RESOLVED


def test_an_alertmanager_restarted_empty_with_a_slow_rule_group_resolves_nothing() -> None:
    """A rule group evaluated hourly: Prometheus' endsAt is 4 hours ahead, and an Alertmanager that
    restarted without its data has the alert back only at the next evaluation. Nothing is resolved
    before that endsAt, however long it is gone (a review found two checks 5 minutes apart resolving
    it, and its page, for good); gone past it, it is."""
    state = incident("slo")
    asked = check(state, {"slo"}, valid=timedelta(hours=4))  # vouched; valid until asked + 4 h
    gone = check(state, set())  # the restart
    assert state.am_gone == {"slo": gone}
    assert state.recheck_at() == asked + timedelta(hours=4)  # not at gone + 5 minutes
    check(state, {"slo"}, valid=timedelta(hours=4))  # Prometheus evaluated the group again: back
    assert state.am_gone == {} and status(state, "slo") is AlertStatus.FIRING
    check(state, set())
    check(state, set())  # gone past the endsAt it was last given: resolved
    assert status(state, "slo") is AlertStatus.RESOLVED


def test_an_alert_resolved_on_alertmanagers_absence_fires_again_when_delivered() -> None:
    state = incident("a")
    check(state, {"a"})
    check(state, set())
    check(state, set())
    assert status(state, "a") is AlertStatus.RESOLVED and state.am_resolved == ["a"]
    # Alertmanager delivers the same firing episode after all (its repeat_interval): it fires again
    later = T0 + timedelta(hours=4)
    assert state.apply_alerts(delivered("a", later), at=later)
    assert status(state, "a") is AlertStatus.FIRING and state.am_resolved == []
    said = [e.message for e in state.timeline if e.data.get("fingerprint") == "a"][-1]
    assert "fired again" in said and "Alertmanager delivered it" in said
    # a resolution the webhook delivered is final: a stale "firing" after it changes nothing
    plain = incident("b")
    plain.apply_alerts(delivered("b", later, status=AlertStatus.RESOLVED), at=later)
    assert not plain.apply_alerts(delivered("b", later + timedelta(seconds=1)), at=later)


def test_beyond_the_cap_alerts_found_gone_and_not_yet_vouched_are_asked_first_and_nothing_loops() -> None:
    """More firing alerts than a check asks about: one found gone, then delivered again (it moved to
    the most recently seen), must neither stay due unasked (a review found the workflow asking back to
    back for ever) nor wait behind the others."""
    big = IncidentState(id="incident-storm", opened_at=T0)
    for i in range(RECHECK_ASKED + 10):
        at = T0 + timedelta(seconds=i)
        big.apply_alerts(delivered(f"{i:05d}", at), at=at, derive=False)
    first = check(big, {a for a in big.alerts})
    assert len(big.am_holds) == RECHECK_ASKED  # the longest unseen, vouched
    gone = check(big, {a for a in big.alerts if a != "00000"})
    assert big.am_gone == {"00000": gone}
    again = gone + timedelta(seconds=30)
    big.apply_alerts(delivered("00000", again), at=again, derive=False)  # Alertmanager's HA twin
    assert big.am_gone == {}  # delivered: held after all
    late = [f for f in big.alerts if f not in big.am_holds]
    assert big.recheck_asked()[: len(late)] == late  # never vouched: asked first
    due = big.recheck_at()
    assert due is not None and due > gone and first < gone
