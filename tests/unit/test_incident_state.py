"""The incident state machine: dedup, episodes, quiet period, anomalies."""

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from medic.alerts import Alert, AlertStatus
from medic.anomaly import AnomalySignal
from medic.feedback import FalsePositive, Matcher, SilenceRecord
from medic.incident import AlertBatch, AnomalyBatch, IncidentState
from tests.support.shop import ctx

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
QUIET = timedelta(minutes=5)


def alert(
    name: str = "HighLatency",
    *,
    status: AlertStatus = AlertStatus.FIRING,
    starts: datetime = T0,
    fp: str | None = None,
    severity: str = "critical",
    service: str = "checkout",
) -> Alert:
    return Alert(
        fingerprint=fp or f"fp-{name}",
        status=status,
        labels={"alertname": name, "severity": severity, "service": service},
        starts_at=starts,
        service=service,
    )


def batch(*alerts: Alert, at: datetime = T0) -> AlertBatch:
    services = sorted({a.service for a in alerts if a.service})
    return AlertBatch(alerts=list(alerts), received_at=at, contexts=[ctx(s) for s in services])


def new_state() -> IncidentState:
    return IncidentState(id="incident-test-1", opened_at=T0)


def kinds(state: IncidentState) -> list[str]:
    return [e.kind for e in state.timeline]


def test_first_firing_alert_sets_summary_fields() -> None:
    state = new_state()
    assert state.apply_alerts(batch(alert()), at=T0)
    assert state.firing_count == 1
    assert (state.severity, state.priority, state.services) == ("critical", "P2", ["checkout"])
    assert state.title == "HighLatency on checkout"
    assert kinds(state) == ["alert.firing", "incident.scored"]
    assert state.impact_detail is not None
    assert {f.name for f in state.impact_detail.factors} == {
        "severity",
        "tier",
        "business",
        "blast_radius",
        "slo_burn",
        "alert_count",
    }
    assert state.quiet_deadline(QUIET) is None


def test_duplicate_delivery_changes_nothing() -> None:
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    before = state.model_dump(exclude={"alerts"})
    assert not state.apply_alerts(batch(alert()), at=T0 + timedelta(seconds=30))
    assert state.model_dump(exclude={"alerts"}) == before
    assert state.alerts["fp-HighLatency"].deliveries == 2


def test_resolve_then_quiet_deadline() -> None:
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    t1 = T0 + timedelta(minutes=1)
    assert state.apply_alerts(batch(alert(status=AlertStatus.RESOLVED)), at=t1)
    assert state.firing_count == 0
    assert state.quiet_deadline(QUIET) == t1 + QUIET
    assert kinds(state)[-2:] == ["alert.resolved", "incident.quiet"]


def test_firing_in_quiet_period_reopens() -> None:
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    state.apply_alerts(batch(alert(status=AlertStatus.RESOLVED)), at=T0 + timedelta(minutes=1))
    later = T0 + timedelta(minutes=2)
    assert state.apply_alerts(batch(alert(starts=later)), at=later)
    assert state.quiet_deadline(QUIET) is None
    assert kinds(state)[-2:] == ["alert.firing", "incident.reopened"]


def test_stale_firing_after_resolve_is_ignored() -> None:
    """HA: a late duplicate 'firing' of the same episode must not undo its 'resolved'."""
    state = new_state()
    state.apply_alerts(batch(alert()), at=T0)
    state.apply_alerts(batch(alert(status=AlertStatus.RESOLVED)), at=T0 + timedelta(minutes=1))
    assert not state.apply_alerts(batch(alert()), at=T0 + timedelta(minutes=2))
    assert state.firing_count == 0


def test_resolved_for_an_older_episode_is_ignored() -> None:
    state = new_state()
    newer = T0 + timedelta(hours=1)
    state.apply_alerts(batch(alert(starts=newer)), at=newer)
    assert not state.apply_alerts(batch(alert(status=AlertStatus.RESOLVED, starts=T0)), at=newer)
    assert state.firing_count == 1


def test_severity_follows_firing_alerts() -> None:
    state = new_state()
    state.apply_alerts(batch(alert("A", severity="critical"), alert("B", severity="warning")), at=T0)
    assert state.priority == "P2"
    state.apply_alerts(batch(alert("A", severity="critical", status=AlertStatus.RESOLVED)), at=T0)
    assert (state.severity, state.priority) == ("warning", "P3")
    assert state.title == "A on checkout (+1 more)"  # (begun before this release: as it was)


def test_a_new_incidents_title_says_more_alerts_not_more() -> None:
    """The title said "(+1 more)", read as one more service (two SLOs of checkout burning); an incident
    begun before keeps its title, which is published to search attributes and memo (a review: two
    recorded histories did not replay when it changed)."""
    state = IncidentState(id="incident-test-1", opened_at=T0, current_reads=True)
    state.apply_alerts(batch(alert("A"), alert("B")), at=T0)
    assert state.title == "A on checkout (+1 more alert)"
    state.apply_alerts(batch(alert("C")), at=T0)
    assert state.title == "A on checkout (+2 more alerts)"


def test_truncation_is_recorded_once() -> None:
    state = new_state()
    truncated = AlertBatch(alerts=[alert()], received_at=T0, truncated=7)
    assert state.apply_alerts(truncated, at=T0)
    assert not state.apply_alerts(truncated, at=T0)
    assert kinds(state).count("alert.truncated") == 1


def anomaly(end: datetime, *, value: float = 950.0) -> AnomalySignal:
    return AnomalySignal.model_validate(
        {
            "source": "medic-scan",
            "service": "payments",
            "series": {"__name__": "http_request_duration_seconds:p99", "service": "payments"},
            "value": value,
            "expected": {"lower": 100, "upper": 400},
            "score": 0.93,
            "window": {"start": (end - timedelta(minutes=10)).isoformat(), "end": end.isoformat()},
        }
    )


def test_anomaly_keeps_incident_active_until_its_window_ends() -> None:
    state = new_state()
    end = T0 + timedelta(minutes=10)
    assert state.apply_anomalies(AnomalyBatch(signals=[anomaly(end)], received_at=T0), at=T0)
    assert state.services == ["payments"]
    assert state.quiet_deadline(QUIET) == end + QUIET
    assert state.active_anomalies(T0), "the anomaly keeps the incident active inside its window"
    # The same finding again is a no-op; a later window extends the incident.
    assert not state.apply_anomalies(AnomalyBatch(signals=[anomaly(end)], received_at=T0), at=T0)
    later = end + timedelta(minutes=5)
    assert state.apply_anomalies(AnomalyBatch(signals=[anomaly(later)], received_at=T0), at=T0)
    assert state.quiet_deadline(QUIET) == later + QUIET
    assert [k for k in kinds(state) if k.startswith("anomaly")] == ["anomaly.detected", "anomaly.extended"]


def test_an_anomaly_ending_in_9999_no_longer_overflows_and_an_earlier_end_stays_as_it_was() -> None:
    """The quiet deadline overflowed (OverflowError) and failed every task of the incident, and every
    later signal and alert of its service with it (a review, 2026-12-06; the API refuses a window more
    than 31 days ahead now). An end that did not overflow is kept as it was: a first bound, 31 days
    after the anomaly was first seen, changed the deadline of histories holding a window 60 days
    ahead (accepted then), which no longer replayed."""
    state = new_state()
    forever = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert state.apply_anomalies(AnomalyBatch(signals=[anomaly(forever)], received_at=T0), at=T0)
    deadline = state.quiet_deadline(QUIET)
    assert deadline is not None and deadline.year == 9000
    later = new_state()
    far = T0 + timedelta(days=60)
    assert later.apply_anomalies(AnomalyBatch(signals=[anomaly(far)], received_at=T0), at=T0)
    assert later.quiet_deadline(QUIET) == far + QUIET


# ---- invariants ------------------------------------------------------------------------------

EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["A", "B", "C"]),
        st.sampled_from([AlertStatus.FIRING, AlertStatus.RESOLVED]),
        st.integers(min_value=0, max_value=3),  # episode
    ),
    min_size=1,
    max_size=12,
)


def _apply_all(events: list[tuple[str, AlertStatus, int]]) -> IncidentState:
    state = new_state()
    for i, (name, status, episode) in enumerate(events):
        at = T0 + timedelta(seconds=i)
        state.apply_alerts(
            batch(alert(name, status=status, starts=T0 + timedelta(hours=episode)), at=at), at=at
        )
    return state


def _final(state: IncidentState) -> dict[str, tuple[AlertStatus, datetime]]:
    return {fp: (r.status, r.starts_at) for fp, r in state.alerts.items()}


@settings(max_examples=200, deadline=None)
@given(EVENTS)
def test_duplicates_change_nothing(events: list[tuple[str, AlertStatus, int]]) -> None:
    doubled = [e for e in events for _ in range(2)]
    assert _final(_apply_all(doubled)) == _final(_apply_all(events))


@settings(max_examples=200, deadline=None)
@given(EVENTS, st.randoms(use_true_random=False))
def test_final_alert_state_is_independent_of_arrival_order(
    events: list[tuple[str, AlertStatus, int]], rnd: random.Random
) -> None:
    """Each alert ends at its latest episode, resolved if any delivery resolved that episode."""
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert _final(_apply_all(shuffled)) == _final(_apply_all(events))


def test_a_large_incident_merges_in_parts_without_losing_anything() -> None:
    """Merges go as a head plus bounded parts (Temporal refuses signals over 2 MB); the result is the
    same as merging the whole state at once."""
    child = IncidentState(id="incident-frontend", opened_at=T0)
    alerts = [alert(f"A{i}", fp=f"fp-{i}", service="frontend") for i in range(1000)]
    child.apply_alerts(batch(*alerts), at=T0)
    whole, parted = new_state(), new_state()
    whole.absorb(child, at=T0)
    head, alert_parts, timeline_parts = child.merge_parts(400)
    assert [len(p) for p in alert_parts] == [400, 400, 200] and head.alerts == {} and head.timeline == []
    parted.absorb(head, at=T0, alert_count=child.alert_count)
    for part in alert_parts:
        parted.absorb_part(child.id, part, [], at=T0)
    for entries in timeline_parts:
        parted.absorb_part(child.id, [], entries, at=T0)
    assert parted.alerts.keys() == whole.alerts.keys() and parted.alert_count == 1000
    assert {e.message for e in whole.timeline} <= {e.message for e in parted.timeline}
    assert not any(e.kind == "incident.reopened" for e in parted.timeline)


def test_a_merge_keeps_what_was_matched_silenced_and_judged() -> None:
    """Nothing of a merged incident is lost: the alert episodes its remediator already matched to
    runbooks (or the parent would ask again what someone denied), its silences, its false positives."""
    child = IncidentState(id="incident-frontend", opened_at=T0)
    child.apply_alerts(batch(alert("A", fp="fp-a", service="frontend"), alert("B", fp="fp-b")), at=T0)
    child.alerts["fp-a"].matched_episode = child.alerts["fp-b"].matched_episode = T0
    silence = SilenceRecord(
        id="s-1",
        matchers=[Matcher(name="alertname", value="A")],
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
        created_by="U1",
    )
    child.add_silence(silence, at=T0)
    child.mark_false_positive(FalsePositive(at=T0, actor="U1", rules=["A"], incident_id=child.id))
    parent = new_state()
    parent.apply_alerts(batch(alert("B", fp="fp-b")), at=T0)  # the same episode, not matched here yet
    head, alert_parts, _ = child.merge_parts(1)
    parent.absorb(head, at=T0, alert_count=child.alert_count)
    for part in alert_parts:
        parent.absorb_part(child.id, part, [], at=T0)
    assert parent.alerts["fp-a"].matched_episode == parent.alerts["fp-b"].matched_episode == T0
    assert [s.id for s in parent.silences] == ["s-1"]
    assert [f.rules for f in parent.false_positives] == [["A"]]
    parent.absorb(head.model_copy(update={"id": "incident-other"}), at=T0)  # absorbing it again adds nothing
    assert len(parent.silences) == 1 and len(parent.false_positives) == 1


def test_a_merge_head_is_a_copy_of_its_own() -> None:
    """The head is handed over after the merging incident has marked itself merged (and recorded it):
    none of that may reach the head, though the alert records are shared to save a deep copy."""
    child = IncidentState(id="incident-frontend", opened_at=T0)
    child.apply_alerts(batch(alert("A", service="frontend")), at=T0)
    child.contexts["frontend"] = ctx("frontend")
    head, alert_parts, _ = child.merge_parts(400)
    child.mark_merged("incident-api", at=T0)
    child.contexts.clear()
    child.notifications.finished = True
    assert head.merged_into is None and head.status is not child.status
    assert head.timeline == [] and "frontend" in head.contexts and not head.notifications.finished
    assert [r.fingerprint for r in alert_parts[0]] == list(child.alerts)


def test_deriving_a_shallow_copy_with_its_own_timeline_leaves_the_state_alone() -> None:
    """Queries derive a copy made that way (a deep copy cost tens of ms on a large incident): deriving
    may replace fields and append entries, never change anything deeper."""
    state = new_state()
    state.apply_alerts(batch(alert("A", service="api", severity="warning")), at=T0)
    state.derive(T0)
    state.apply_alerts(
        batch(alert("B", fp="fp-b", service="db", severity="critical", starts=T0 - timedelta(minutes=3))),
        at=T0 + timedelta(minutes=1),
        derive=False,
    )
    before = state.model_dump()
    copy = state.model_copy(update={"timeline": list(state.timeline)})
    copy.derive(T0 + timedelta(minutes=1))
    assert copy.severity == "critical" and copy.root_causes[0].service == "db"
    assert len(copy.timeline) > len(state.timeline)
    assert state.model_dump() == before


def test_a_merge_appends_so_what_was_already_told_is_not_told_again() -> None:
    """The notifier threads the timeline by position: a merge must not slide older entries in
    before its cursor (they would be posted to Slack and JIRA a second time)."""
    state = new_state()
    state.apply_alerts(batch(alert("A", starts=T0 + timedelta(minutes=5))), at=T0 + timedelta(minutes=5))
    told = [e.message for e in state.timeline]
    child = IncidentState(id="incident-frontend", opened_at=T0)  # its entries are older than ours
    child.apply_alerts(batch(alert("B", fp="fp-b", service="frontend")), at=T0)
    state.absorb(child, at=T0 + timedelta(minutes=6))
    assert [e.message for e in state.timeline[: len(told)]] == told
    after = state.timeline[len(told) :]
    assert {e.message for e in child.timeline} <= {e.message for e in after}


def test_truncation_is_news_only_when_it_grows() -> None:
    """Deliveries of different groups say different things: 5, 0, 5, 0 is one entry, not four."""
    state = new_state()
    for truncated in (5, 0, 5, 0):
        state.apply_alerts(AlertBatch(alerts=[alert()], received_at=T0, truncated=truncated), at=T0)
    assert kinds(state).count("alert.truncated") == 1


def test_acknowledging_what_is_acknowledged_changes_nothing() -> None:
    state = new_state()
    state.apply_alerts(batch(alert("A")), at=T0)
    state.acknowledge(T0, actor="U1", source="slack")
    revision, entries = state.revision, len(state.timeline)
    state.acknowledge(T0 + timedelta(minutes=1), actor="U2", source="slack")
    assert (state.revision, len(state.timeline), state.acknowledged_by) == (revision, entries, "U1")


def test_the_title_names_the_root_causes_own_alert() -> None:
    """A merged cascade: the symptom fired first, the cause later; the title pairs the cause's own
    alert with the cause's service, and counts the symptoms as services."""
    from tests.support.shop import ctx  # noqa: PLC0415

    state = IncidentState(id="incident-orders-db", opened_at=T0)
    symptom = Alert(
        fingerprint="co",
        status=AlertStatus.FIRING,
        labels={"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
        starts_at=T0,
        service="checkout",
    )
    cause = Alert(
        fingerprint="db",
        status=AlertStatus.FIRING,
        labels={"alertname": "PostgresDown", "service": "orders-db", "severity": "critical"},
        starts_at=T0 + timedelta(seconds=30),
        service="orders-db",
    )
    state.apply_alerts(AlertBatch(alerts=[symptom], received_at=T0, contexts=[ctx("checkout")]), at=T0)
    later = T0 + timedelta(seconds=30)
    state.apply_alerts(AlertBatch(alerts=[cause], received_at=later, contexts=[ctx("orders-db")]), at=later)
    assert state.root_causes[0].service == "orders-db"
    assert state.title == "PostgresDown on orders-db (+1 more service)"


def test_what_people_read_says_whether_the_value_left_its_band() -> None:
    """The timeline, the postmortem's signal table and the chart said "outside [lo, hi]" for every
    anomaly; one whose value stays inside its band (a daily rise that did not come) says so."""
    from medic.chart import render_timeline_svg  # noqa: PLC0415
    from medic.postmortem import render_postmortem  # noqa: PLC0415

    end = T0 + timedelta(minutes=10)
    for value, said, not_said in (
        (250.0, "within [100, 400]", "outside"),
        (950.0, "outside [100, 400]", "within"),
    ):
        state = new_state()
        state.apply_anomalies(AnomalyBatch(signals=[anomaly(end, value=value)], received_at=T0), at=T0)
        [entry] = [e for e in state.timeline if e.kind.startswith("anomaly")]
        postmortem = render_postmortem(state, now=end)
        chart = render_timeline_svg(state, now=end)
        for text in (entry.message, postmortem.replace("\\", ""), chart):  # Markdown escapes brackets
            assert f"value {value:g} {said}" in text
            assert f"value {value:g} {not_said}" not in text


def test_grafana_truncation_and_a_merge_in_parts_are_worded_as_they_are() -> None:
    """Grafana's truncatedAlerts was said as "Alertmanager left 20 alerts out ... (its max_alerts)"; a merge
    whose alerts come in parts said "(6 alerts on unknown services)" of a catalog service (a Grafana team's
    walk-through, 2026-12-07)."""
    state = new_state()
    grafana = alert().model_copy(update={"source": "grafana"})
    cut = AlertBatch(alerts=[grafana], received_at=T0, truncated=20, contexts=[ctx("checkout")])
    state.apply_alerts(cut, at=T0)
    (said,) = [e for e in state.timeline if e.kind == "alert.truncated"]
    assert said.actor == "grafana" and said.message.startswith(
        "Grafana left 20 alerts out of its last notification"
    )
    other = IncidentState(id="incident-cart", opened_at=T0)
    state.absorb(other, at=T0, alert_count=6)
    (merged,) = [e.message for e in state.timeline if e.kind == "incident.merged"]
    assert merged == "Merged incident-cart (6 alerts): it shares this incident's cause."
