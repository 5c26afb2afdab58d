"""Heartbeats (medic.dead_man): which alerts are beats, what tells two heartbeats apart, when one is
armed, due and missing, and what its finding says. The Watchdog labels are kube-prometheus-stack's
(tests/fixtures/alerts/kubernetes-mixin.json, from kube-prometheus's own rule)."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from medic.alerts import Alert, AlertStatus
from medic.catalog import load_catalog
from medic.dead_man import (
    Beat,
    HeartbeatRule,
    HeartbeatState,
    default_heartbeats,
    heartbeat_id,
    heartbeat_of,
    match_digest,
    parse_heartbeat_id,
)
from medic.incident import AnomalyBatch, IncidentState
from medic.routing import RoutingPolicy, load_routing
from medic.yamldoc import ConfigError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "kubernetes-mixin.json"
T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def watchdog_labels() -> dict[str, str]:
    alerts = json.loads(FIXTURE.read_text())["alerts"]
    (found,) = [a for a in alerts if a["alertname"] == "Watchdog"]
    labels: dict[str, str] = found["labels"]
    return labels


def alert(labels: dict[str, str], status: AlertStatus = AlertStatus.FIRING) -> Alert:
    return Alert(fingerprint="f", status=status, labels=labels, starts_at=T0, source="alertmanager")


def beat(
    rule: HeartbeatRule, minutes: float, *, firing: bool = True, labels: dict[str, str] | None = None
) -> Beat:
    return Beat(rule=rule, labels=labels or {}, at=T0 + timedelta(minutes=minutes), firing=firing)


def test_kube_prometheus_watchdog_is_a_beat_of_its_prometheus() -> None:
    labels = watchdog_labels()
    assert labels["severity"] == "none"  # kube-prometheus's, as the fixture keeps it
    found = heartbeat_of(default_heartbeats(), alert(labels), at=T0)
    assert found is not None and found.firing
    assert found.rule.name == "watchdog"
    assert found.labels == {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}
    # another cluster's Prometheus is another heartbeat; a severity changed by a release is the same one
    other = heartbeat_of(default_heartbeats(), alert({**labels, "cluster": "eu-1"}), at=T0)
    info = heartbeat_of(default_heartbeats(), alert({**labels, "severity": "info"}), at=T0)
    assert other is not None and info is not None
    rule = default_heartbeats()[0]
    assert heartbeat_id(rule, other.labels, queue="medic") != heartbeat_id(rule, found.labels, queue="medic")
    assert heartbeat_id(rule, info.labels, queue="medic") == heartbeat_id(rule, found.labels, queue="medic")
    # another installation in the namespace (its own task queue) watches its own
    assert heartbeat_id(rule, found.labels, queue="medic") != heartbeat_id(
        rule, found.labels, queue="medic-b"
    )
    wid = heartbeat_id(rule, found.labels, queue="medic")
    assert parse_heartbeat_id(wid) == ("watchdog", match_digest(rule))
    # a rule whose match changes names other heartbeats (a worker's start retires the old ones)
    wider = rule.model_copy(update={"match": {"alertname": "Watchdog", "severity": "none"}})
    assert parse_heartbeat_id(heartbeat_id(wider, found.labels, queue="medic")) == (
        "watchdog",
        match_digest(wider),
    )
    assert match_digest(wider) != match_digest(rule)
    for name in ("a", "dead-man-0123abcd", "x" * 63):  # names with dashes and digest-like parts
        named = rule.model_copy(update={"name": name})
        assert parse_heartbeat_id(heartbeat_id(named, {"prometheus": "p"}, queue="q")) == (
            name,
            match_digest(named),
        )
    assert parse_heartbeat_id("incident-checkout") is None
    resolved = heartbeat_of(default_heartbeats(), alert(labels, AlertStatus.RESOLVED), at=T0)
    assert resolved is not None and not resolved.firing
    assert heartbeat_of(default_heartbeats(), alert({"alertname": "KubePodCrashLooping"}), at=T0) is None


def test_the_routing_policy_keeps_watchdog_unless_told_otherwise() -> None:
    assert [r.name for r in RoutingPolicy.default().heartbeats] == ["watchdog"]
    assert [r.name for r in load_routing("rules: []\n").heartbeats] == ["watchdog"]
    assert load_routing("heartbeats: []\n").heartbeats == []  # off: Watchdog is an alert again
    own = load_routing(
        "heartbeats:\n  - name: deadman\n    match: {alertname: DeadMansSwitch, team: sre}\n"
        "    service: monitoring\n    missing_after_minutes: 5\n"
    ).heartbeats
    assert [(r.name, r.missing_after) for r in own] == [("deadman", timedelta(minutes=5))]
    assert own[0].key_labels({"alertname": "DeadMansSwitch", "team": "sre", "cluster": "a"}) == {
        "cluster": "a"
    }


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("heartbeats:\n  - name: Watch_Dog\n    match: {alertname: Watchdog}\n", "is not a rule name"),
        ("heartbeats:\n  - name: w\n    match: {}\n", "at least 1 item"),
        (
            "heartbeats:\n  - name: w\n    match: {a: b}\n    missing_after_minutes: 0\n",
            "greater than or equal",
        ),
        ("heartbeats:\n  - {name: w, match: {a: b}}\n  - {name: w, match: {c: d}}\n", "defined twice"),
        ("heartbeats:\n  - {name: w, match: {a: b}, misssing_after_minutes: 5}\n", "misssing_after_minutes"),
    ],
)
def test_a_wrong_heartbeat_is_refused_at_its_line(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_routing(text, source="routing.yaml")
    assert said in str(err.value)
    assert "routing.yaml:" in str(err.value)


def test_check_warns_of_a_heartbeat_service_outside_the_catalog() -> None:
    catalog = load_catalog("services:\n  - {name: monitoring, team: sre, tier: 1}\n")
    text = "heartbeats:\n  - {name: w, match: {alertname: Watchdog}, service: monitorin}\n"
    with pytest.raises(ConfigError) as err:
        load_routing(text, source="routing.yaml", catalog=catalog)
    assert "warning: " in str(err.value) and "did you mean 'monitoring'" in str(err.value)
    # the built-in rule names no catalog service, and is not said to those who never configured it
    load_routing("rules: []\n", catalog=catalog)


def armed(rule: HeartbeatRule, labels: dict[str, str] | None = None) -> HeartbeatState:
    """A heartbeat beaten every minute for half an hour (minutes 0-30): armed."""
    state = HeartbeatState(rule=rule, labels=labels or {})
    for minute in range(31):
        state.take(beat(rule, minute, labels=labels))
    assert state.status == "ok" and state.last_beat_at == T0 + timedelta(minutes=30)
    return state


def test_a_heartbeat_arms_once_its_beats_keep_within_missing_after() -> None:
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})  # 15 minutes
    state = HeartbeatState(rule=rule, labels={})
    assert not state.take(beat(rule, 0))
    assert state.status == "unarmed" and state.due() == T0 + rule.forget_after  # never an outage yet
    for minute in (2, 4, 6):  # three gaps in a row, but over 6 minutes: not yet twice missing_after
        state.take(beat(rule, minute))
    assert state.status == "unarmed"
    state.take(beat(rule, 20))
    state.take(beat(rule, 30))
    assert state.status == "ok" and state.beats == 6
    assert state.due() == T0 + timedelta(minutes=30) + rule.missing_after
    state.take(beat(rule, 40))
    assert state.longest_gap_seconds == 600.0


def test_an_unarmed_heartbeat_says_how_far_it_is_from_arming_and_what_to_do() -> None:
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    state = HeartbeatState(rule=rule, labels={})
    state.take(Beat(rule=rule, labels={}, at=T0, alone=False))
    assert state.arming() == (
        "no beat came alone yet (each came with other alerts of its group): give it its own route"
    )
    for minute in (2, 4):
        state.take(beat(rule, minute))
    assert state.arming() == "1 of 3 gaps within 15m in a row, over 2m of 30m"
    state.take(beat(rule, 24))  # 20 minutes: the route repeats too seldom
    assert state.arming() == (
        "its last beats that came alone were 20m apart, more than missing_after (15m): at that cadence it"
        " never arms; repeat its route every few minutes"
    )
    assert armed(rule).arming() is None


@pytest.mark.parametrize(
    ("why", "seconds"),
    [
        ("the other Alertmanager of an HA pair, 40 ms later", [0.04]),
        ("a webhook retried after a 503", [10]),
        ("another alert of its namespace's group changed, twice", [300, 900]),
        ("HA copies of those resends", [0.04, 300, 300.04, 900, 900.03]),
    ],
)
def test_a_12_hour_route_is_never_armed_by_resends_and_copies(why: str, seconds: list[float]) -> None:
    """kube-prometheus-stack groups Watchdog with its namespace's alerts, repeated every 12 hours."""
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    state = HeartbeatState(rule=rule, labels={})
    for cycle in range(3):
        start = cycle * 12 * 3600
        for at in (0.0, *seconds):
            state.take(Beat(rule=rule, labels={}, at=T0 + timedelta(seconds=start + at)))
    assert state.status == "unarmed", why


def test_beats_resent_for_other_alerts_of_their_group_keep_it_alive_but_never_arm_it() -> None:
    """kube-prometheus-stack's grouping (by namespace) and 12-hour repeat, with a neighbour of the
    group flapping for two hours: Alertmanager resends the group, Watchdog in it, every 5 minutes."""
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    state = HeartbeatState(rule=rule, labels={})
    state.take(beat(rule, 0))  # alone: the group's first notification, before the neighbour fired
    for minute in range(5, 125, 5):
        state.take(Beat(rule=rule, labels={}, at=T0 + timedelta(minutes=minute), alone=False))
    assert state.status == "unarmed" and state.shared == 24 and state.beats == 25
    # the route's own repeat, alone: 12 hours apart, never within missing_after
    state.take(beat(rule, 12 * 60))
    assert state.status == "unarmed"
    armed_state = armed(rule)  # once armed, a shared beat keeps it alive
    armed_state.take(Beat(rule=rule, labels={}, at=T0 + timedelta(minutes=40), alone=False))
    assert armed_state.due() == T0 + timedelta(minutes=55)


def test_a_resolved_beat_and_a_repeated_one_are_no_beats() -> None:
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    state = armed(rule)
    state.take(beat(rule, 30.2))  # the other Alertmanager of an HA pair, 12 s later
    state.take(beat(rule, 33, firing=False))
    assert state.beats == 31 and state.last_beat_at == T0 + timedelta(minutes=30)
    assert state.resolved_at == T0 + timedelta(minutes=33)
    assert state.due() == T0 + timedelta(minutes=45)
    state.missing_since = state.last_beat_at  # the outage (as the workflow begins it)
    finding = state.finding(T0 + timedelta(minutes=45))
    assert "Alertmanager sent it resolved at 10:33 UTC" in (finding.summary or "")


def test_an_outage_finding_extends_while_it_lasts_and_ends_when_the_beats_return() -> None:
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"}, service="monitoring")
    labels = {"prometheus": "monitoring/k8s"}
    state = armed(rule, labels)
    now = T0 + timedelta(minutes=45)
    assert state.due() == now
    state.missing_since = state.last_beat_at
    first = state.finding(now)
    assert first.service == "monitoring" and first.severity == "critical" and first.score == 1.0
    assert first.series == {
        "alertname": "Watchdog",
        "prometheus": "monitoring/k8s",
        "medic_heartbeat": "watchdog",
    }
    assert first.window.start == T0 + timedelta(minutes=30)
    assert first.window.end == now + 2 * rule.repeat  # repeat: 5 minutes
    assert first.value == 15 * 60
    assert first.headline() == "No heartbeat watchdog (prometheus=monitoring/k8s)"
    assert first.described() == (
        "No heartbeat watchdog (alertname=Watchdog from prometheus=monitoring/k8s) since 2026-12-07 10:30"
        " UTC (15m; expected within 15m). Prometheus, Alertmanager or their route to Medic is down:"
        " alerts may not be reaching anyone."
    )
    state.told_until = first.window.end
    assert state.due() == now + rule.repeat  # said again while it lasts
    assert state.take(beat(rule, 70, labels=labels))  # back
    last = state.finding(T0 + timedelta(minutes=70), back=True)
    assert last.key == first.key  # the same finding: its incident takes it as the outage's last word
    assert last.window.end == first.window.end + timedelta(seconds=1)
    assert "is back at 11:10 UTC after 40m without a beat" in last.described()
    state.end_outage()
    assert state.status == "ok" and state.told == [] and state.missing_since is None


def test_an_outage_muted_by_hand_says_nothing_more_and_ends_at_the_next_beat() -> None:
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    state = armed(rule)
    state.missing_since, state.told_until = state.last_beat_at, T0 + timedelta(minutes=55)
    state.muted_at = T0 + timedelta(minutes=50)  # a person resolved its incident
    assert state.status == "muted" and state.due() == T0 + timedelta(minutes=30) + rule.forget_after
    assert not state.take(beat(rule, 90))  # back, but its incident is closed: no last word
    assert state.status == "ok" and state.missing_since is None and state.muted_at is None


def test_a_retired_heartbeat_says_who_retired_it() -> None:
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    state = armed(rule)
    state.missing_since, state.told_until = state.last_beat_at, T0 + timedelta(minutes=55)
    last = state.finding(T0 + timedelta(minutes=50), retired="retired by operator (DELETE /heartbeats)")
    assert "retired after 20m without a beat: retired by operator (DELETE /heartbeats)" in last.described()
    assert last.window.end == T0 + timedelta(minutes=55, seconds=1)


@pytest.mark.parametrize(("minutes", "repeat"), [(0.1, 1), (6, 2), (15, 5), (120, 5)])
def test_the_finding_is_said_again_every_repeat(minutes: float, repeat: float) -> None:
    rule = HeartbeatRule(name="w", match={"a": "b"}, missing_after_minutes=minutes)
    assert rule.repeat == timedelta(minutes=repeat)


def test_a_heartbeat_silent_past_forget_after_is_forgotten() -> None:
    rule = HeartbeatRule(name="w", match={"a": "b"}, forget_after_hours=2)
    state = armed(rule)
    state.missing_since = state.last_beat_at
    state.told_until = T0 + timedelta(minutes=100)
    assert state.due() == T0 + timedelta(minutes=95)  # said again a repeat (5 minutes) before its end
    state.told_until = T0 + timedelta(minutes=160)
    assert state.due() == T0 + timedelta(minutes=150)  # forget_after comes first
    assert state.forgotten(T0 + timedelta(minutes=150))
    gone = state.finding(T0 + timedelta(minutes=150), forgotten=True)
    assert "forgotten" in gone.described() and gone.window.end == state.told_until + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("severity", "priority", "scored"),
    [("critical", "P2", "P4"), ("error", "P3", "P4"), ("warning", "P4", "P5")],
)
def test_a_missing_heartbeat_is_at_least_p2_wherever_its_service_is(
    severity: str, priority: str, scored: str
) -> None:
    """The built-in rule's service is in no catalog (P4 by its score: the default policy pages P1 and P2
    only): a dead pipeline must page all the same."""
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"}, severity=severity)
    state = armed(rule)
    state.missing_since = state.last_beat_at
    incident = IncidentState(id="incident-alerting-pipeline", opened_at=T0)
    finding = state.finding(T0 + timedelta(minutes=45))
    assert incident.apply_anomalies(AnomalyBatch(signals=[finding], received_at=T0), at=T0)
    assert incident.impact_detail is not None and incident.impact_detail.score < 35  # P4 or P5 by its score
    assert incident.priority == priority
    said = incident.impact_detail.explain()
    assert f"at least {priority}: the alerting pipeline's heartbeat stopped" in said
    # a finding of anything else keeps its score's priority: one without the label, or another
    # detector's that carries it (POST /webhooks/anomaly takes any series)
    for other in (
        finding.model_copy(update={"series": {"alertname": "Watchdog"}}),
        finding.model_copy(update={"source": "grafana-ml"}),
    ):
        plain = IncidentState(id="incident-alerting-pipeline", opened_at=T0)
        plain.apply_anomalies(AnomalyBatch(signals=[other], received_at=T0), at=T0)
        assert plain.priority == scored
