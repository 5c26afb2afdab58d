"""How an incident's history reads: times, durations, who acted, lanes, and its MTTA/MTTM/MTTR metrics.

The postmortem (:mod:`medic.postmortem`) and its timeline chart (:mod:`medic.chart`) tell the same
story, so they share this one reading of the state instead of one importing the other. Pure: no
I/O and no clock (``now`` is passed in); naive datetimes are taken as UTC.
"""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel

from medic.alerts import utc
from medic.incident import AlertRecord, IncidentState
from medic.names import name_of, named_text
from medic.timeline import TimelineEntry
from medic.vocab import TimelineKind

__all__ = [
    "LANES",
    "Acknowledgement",
    "IncidentMetrics",
    "detected_at",
    "first_acknowledgement",
    "first_start",
    "fmt_duration",
    "fmt_time",
    "incident_metrics",
    "lane_of",
    "machine_actors",
    "named",
    "ordered_timeline",
    "utc",
]

MEDIC = "medic"
LANES = ("Alerts", "Correlation/scoring", "Notifications", "People", "Remediation")
_REMEDIATION = ("remediation.", "approval.", "guardrail.", "action.", "verification.", "rollback.")
_PEOPLE = ("command.", "silence.", "feedback.")


class IncidentMetrics(BaseModel):
    first_signal_at: datetime
    detected_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    mitigation: Literal["verification", "quiet"] | None = None
    resolved_at: datetime | None
    time_to_detect: timedelta
    time_to_acknowledge: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None
    impact_minutes: float
    estimated_revenue: float
    estimated_users: float


def fmt_time(value: datetime) -> str:
    return f"{utc(value):%Y-%m-%d %H:%M:%S} UTC"


def fmt_duration(value: timedelta | None) -> str:
    if value is None:
        return "—"
    seconds = round(value.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h {minutes:02d}m {secs:02d}s"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m {secs:02d}s"
    return f"{sign}{minutes}m {secs:02d}s" if minutes else f"{sign}{secs}s"


def named(state: IncidentState) -> IncidentState:
    """The incident as people outside Slack read it: each Slack id its requests named (``state.names``)
    written as the person's name, as an actor (timeline entries, acknowledged and resolved by, false
    positives, silences) and in the messages. A copy; the state itself keeps the ids. Without names, the
    state as it is."""
    names = state.names
    if not names:
        return state

    def entry(e: TimelineEntry) -> TimelineEntry:
        data = e.data
        if isinstance(data.get("actor"), str) and data["actor"] in names:
            data = {**data, "actor": names[data["actor"]]}
        return e.model_copy(
            update={"actor": name_of(e.actor, names), "message": named_text(e.message, names), "data": data}
        )

    return state.model_copy(
        update={
            "timeline": [entry(e) for e in state.timeline],
            "acknowledged_by": state.acknowledged_by and name_of(state.acknowledged_by, names),
            "resolved_by": state.resolved_by and name_of(state.resolved_by, names),
            "false_positives": [
                f.model_copy(update={"actor": name_of(f.actor, names)}) for f in state.false_positives
            ],
            "silences": [
                s.model_copy(update={"created_by": name_of(s.created_by, names)}) for s in state.silences
            ],
        }
    )


def ordered_timeline(state: IncidentState) -> list[TimelineEntry]:
    """The timeline by time; entries at the same instant keep the order they were recorded in."""
    return sorted(state.timeline, key=lambda e: utc(e.at))


def machine_actors(state: IncidentState) -> frozenset[str]:
    """Actors that are not people: Medic and the alert and anomaly sources."""
    names = {MEDIC, "alertmanager", "grafana"}
    names.update(a.source for a in state.alerts.values())
    names.update(r.signal.source for r in state.anomalies.values())
    names.update(e.actor for e in state.timeline if e.kind.startswith(("alert.", "anomaly.")))
    return frozenset(names)


def lane_of(entry: TimelineEntry, machines: frozenset[str]) -> str:
    if entry.actor not in machines or entry.kind.startswith(_PEOPLE):
        return "People"
    if entry.kind.startswith(("alert.", "anomaly.")):
        return "Alerts"
    if entry.kind.startswith(("notification.", "escalation.")):
        return "Notifications"
    if entry.kind.startswith(_REMEDIATION):
        return "Remediation"
    return "Correlation/scoring"


def first_start(record: AlertRecord) -> datetime:
    """When the alert first fired, over all its episodes."""
    return min(utc(t) for t in [record.starts_at, *record.episode_starts])


def _mitigation(state: IncidentState) -> tuple[datetime | None, Literal["verification", "quiet"] | None]:
    passed = [utc(e.at) for e in state.timeline if e.kind == TimelineKind.VERIFICATION_PASSED]
    if passed:
        return min(passed), "verification"
    if state.quiet_since is not None:
        # quiet once no alert fires and no anomaly holds on (an incident of anomalies only is "quiet"
        # from its first one: its postmortem said "Duration: 0s" for an hour of a scan's findings)
        held = [utc(r.active_until) for r in state.anomalies.values()]
        since = max([utc(state.quiet_since), *held])
        if state.resolved_at is not None:
            since = min(since, utc(state.resolved_at))
        return since, "quiet"
    quiet: datetime | None = None
    for entry in ordered_timeline(state):
        if entry.kind == TimelineKind.INCIDENT_QUIET:
            quiet = utc(entry.at)
        elif entry.kind == TimelineKind.INCIDENT_REOPENED:
            quiet = None
    return quiet, ("quiet" if quiet else None)


def detected_at(state: IncidentState) -> datetime:
    """When Medic first knew of any part of the incident: the earliest opening among it and the incidents
    that merged into it (their ``incident.opened`` entries came along with their timelines)."""
    opened = [utc(e.at) for e in state.timeline if e.kind == TimelineKind.INCIDENT_OPENED]
    return min([utc(state.opened_at), *opened])


class Acknowledgement(BaseModel):
    at: datetime
    by: str
    source: str = ""


def first_acknowledgement(state: IncidentState) -> Acknowledgement | None:
    """The first time anyone owned any part of the incident: its own acknowledgement, or one in an
    incident that merged into it (its ``incident.acknowledged`` entry came along with its timeline). A
    symptom's page acknowledged in PagerDuty before its cause absorbed it was "never acknowledged",
    its MTTA "—", beside that acknowledgement in the same postmortem's timeline."""
    found = [
        Acknowledgement(
            at=utc(e.at), by=str(e.data.get("actor") or e.actor), source=str(e.data.get("source") or "")
        )
        for e in state.timeline
        if e.kind == TimelineKind.INCIDENT_ACKNOWLEDGED
    ]
    if state.acknowledged_at is not None:
        own = utc(state.acknowledged_at)
        source = next((a.source for a in found if a.at == own), "")
        found.append(Acknowledgement(at=own, by=state.acknowledged_by or "someone", source=source))
    return min(found, key=lambda a: a.at) if found else None


def incident_metrics(state: IncidentState, *, now: datetime) -> IncidentMetrics:
    detected = detected_at(state)
    signals = [detected, *(first_start(a) for a in state.alerts.values())]
    signals += [utc(r.first_start) for r in state.anomalies.values()]
    first = min(signals)
    ack = first_acknowledgement(state)
    acked = ack.at if ack is not None else None
    resolved = utc(state.resolved_at) if state.resolved_at else None
    mitigated, how = _mitigation(state)
    if mitigated is not None and mitigated > utc(now):  # an anomaly still holds on: not yet
        mitigated, how = None, None
    end = mitigated or resolved or utc(now)
    minutes = max(0.0, (end - first).total_seconds() / 60)
    contexts = [state.contexts[name] for name in sorted(state.contexts)]
    return IncidentMetrics(
        first_signal_at=first,
        detected_at=detected,
        acknowledged_at=acked,
        mitigated_at=mitigated,
        mitigation=how,
        resolved_at=resolved,
        time_to_detect=detected - first,
        time_to_acknowledge=acked - detected if acked else None,
        time_to_mitigate=mitigated - first if mitigated else None,
        time_to_resolve=resolved - first if resolved else None,
        impact_minutes=minutes,
        estimated_revenue=sum(c.business.revenue_per_minute * minutes for c in contexts),
        estimated_users=sum(c.business.users_per_minute * minutes for c in contexts),
    )
