"""Whether a person resolved a missing heartbeat's incident (service.heartbeats.resolved_since): only
then is the heartbeat muted. An incident that resolved by itself (its finding's window ended while the
tellings failed, or no worker ran), one merged into an incident that did, and one that cannot be read
now are told again. And what ``/medic heartbeats`` says."""

from datetime import UTC, datetime, timedelta

import pytest

from medic.incident import IncidentState, IncidentStatus
from service.heartbeats import HeartbeatView, render_heartbeats, resolved_since
from service.incidents import IncidentNotFound, IncidentUnreadable

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


class Reader:
    def __init__(self, *states: IncidentState, broken: bool = False) -> None:
        self.states = {s.id: s for s in states}
        self.broken = broken

    async def state(self, incident_id: str) -> IncidentState:
        if self.broken:
            raise IncidentUnreadable(f"{incident_id}: the query timed out")
        if incident_id not in self.states:
            raise IncidentNotFound(incident_id)
        return self.states[incident_id]


def resolved(
    incident_id: str, *, by: str | None, minutes: float = 30, into: str | None = None
) -> IncidentState:
    state = IncidentState(id=incident_id, opened_at=T0)
    state.status = IncidentStatus.RESOLVED
    state.resolved_at = T0 + timedelta(minutes=minutes)
    state.resolved_by = by
    state.merged_into = into
    return state


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ((resolved("incident-monitoring", by="U0ALICE"),), True),
        ((resolved("incident-monitoring", by=None),), False),  # by itself: its window ended
        ((resolved("incident-monitoring", by="U0ALICE", minutes=5),), False),  # before this outage was told
        ((IncidentState(id="incident-monitoring", opened_at=T0),), False),  # open
        ((), False),  # never was
        (
            (
                resolved("incident-monitoring", by=None, into="incident-prometheus"),
                resolved("incident-prometheus", by="U0BOB"),
            ),
            True,
        ),
        (
            (
                resolved("incident-monitoring", by=None, into="incident-prometheus"),
                resolved("incident-prometheus", by=None),
            ),
            False,
        ),
    ],
)
async def test_only_a_persons_resolution_mutes(states: tuple[IncidentState, ...], expected: bool) -> None:
    check = resolved_since(Reader(*states))
    assert await check("incident-monitoring", T0 + timedelta(minutes=10)) is expected


async def test_an_incident_that_cannot_be_read_is_told_again() -> None:
    check = resolved_since(Reader(resolved("incident-monitoring", by="U0ALICE"), broken=True))
    assert await check("incident-monitoring", T0) is False


def test_slack_heartbeats_escape_labels_and_say_what_to_do() -> None:
    """``/medic heartbeats``: label values come from alerts (a `<!channel>` must stay text), an unarmed
    one says why, and none at all says where to look."""
    base = {
        "service": "monitoring",
        "first_beat_at": T0,
        "missing_after_seconds": 900.0,
        "longest_gap_seconds": None,
        "next_check_at": None,
        "forget_at": None,
        "missing_since": None,
        "muted_at": None,
        "resolved_at": None,
        "outages": 0,
        "incidents": [],
    }
    views = [
        HeartbeatView(
            id="heartbeat-watchdog-0-0",
            name="watchdog",
            labels={"prometheus": "<!channel> p"},
            status="unarmed",
            beats=3,
            beats_with_other_alerts=2,
            last_beat_at=T0,
            arming="1 of 3 gaps within 15m in a row, over 2m of 30m",
            **base,
        )
    ]
    said = render_heartbeats(views, now=T0 + timedelta(minutes=7, seconds=30))
    assert "&lt;!channel&gt; p" in said and "<!channel>" not in said
    assert "unarmed, last beat 7m ago; not armed: 1 of 3 gaps within 15m in a row, over 2m of 30m" in said
    assert "(2 came with other alerts of their group)" in said
    assert render_heartbeats([], now=T0).startswith("No heartbeat yet: no Watchdog reached Medic.")
