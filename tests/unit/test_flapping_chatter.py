"""Which quiet and reopened turns are a flapping alert's (chatter: on the timeline, not in the chats).
An alert's flapping flag stays on until its next episode, so the first version marked the quiet after a
three-hour outage, and another alert firing during the quiet period, as chatter (found by a review)."""

from datetime import UTC, datetime, timedelta

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState
from tests.support.shop import ctx

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def _batch(name: str, start: datetime, status: AlertStatus, at: datetime) -> AlertBatch:
    alert = Alert(
        fingerprint=f"fp-{name}",
        status=status,
        starts_at=start,
        service="orders-db",
        labels={"alertname": name, "service": "orders-db", "severity": "critical"},
    )
    return AlertBatch(alerts=[alert], received_at=at, contexts=[ctx("orders-db")])


def _turns(state: IncidentState, kind: str) -> list[bool]:
    return [bool(e.data.get("chatter")) for e in state.timeline if e.kind == kind]


def _flaps(state: IncidentState, name: str, start: datetime, times: int, every: timedelta) -> datetime:
    t = start
    for _ in range(times):
        state.apply_alerts(_batch(name, t, AlertStatus.FIRING, t), at=t)
        state.apply_alerts(_batch(name, t, AlertStatus.RESOLVED, t + MIN), at=t + MIN)
        t += every
    return t


def test_the_turns_of_a_flapping_alert_are_chatter_and_the_first_are_not() -> None:
    s = IncidentState(id="incident-orders-db", opened_at=T0)
    _flaps(s, "PostgresDown", T0, 5, 2 * MIN)
    quiet = _turns(s, "incident.quiet")
    assert quiet[0] is False and quiet[-1] is True  # news until it flaps, then its turns are not


def test_the_quiet_after_an_outage_that_lasted_is_news() -> None:
    s = IncidentState(id="incident-orders-db", opened_at=T0)
    out = _flaps(s, "PostgresDown", T0, 3, 4 * MIN)
    s.apply_alerts(_batch("PostgresDown", out, AlertStatus.FIRING, out), at=out)  # then 3 hours down
    end = out + timedelta(hours=3)
    s.apply_alerts(_batch("PostgresDown", out, AlertStatus.RESOLVED, end), at=end)
    assert _turns(s, "incident.quiet")[-1] is False


def test_another_alert_firing_in_the_quiet_period_is_news() -> None:
    s = IncidentState(id="incident-orders-db", opened_at=T0)
    t = _flaps(s, "ReplicaLag", T0, 3, 2 * MIN)
    late = t + 3 * MIN
    s.apply_alerts(_batch("PostgresDown", late, AlertStatus.FIRING, late), at=late)
    assert _turns(s, "incident.reopened")[-1] is False
