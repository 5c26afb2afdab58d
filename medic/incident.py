"""The incident as a pure state machine.

The workflow owns one :class:`IncidentState` and feeds it alert and anomaly batches with
the workflow's clock; everything that decides *what changed* lives here, so it is unit
tested without Temporal and replays deterministically.

Ordering rules (HA Alertmanager delivers at least once and not always in order):

* an alert is identified by its fingerprint; its episode by ``starts_at``;
* a delivery that repeats the known state of an alert changes nothing;
* ``resolved`` for the current episode is final for that episode: a late duplicate
  ``firing`` with the same ``starts_at`` is stale and ignored;
* a ``firing`` with a later ``starts_at`` is a new episode (the alert fired again);
* a ``resolved`` for an older episode than the one held is stale and ignored.
"""

import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import AliasChoices, BaseModel, Field

from medic.alerts import HELD_SOURCE, Alert, AlertStatus, utc
from medic.anomaly import HEARTBEAT_LABEL, HEARTBEAT_SOURCE, PREDICTION_SOURCE, SCAN_LABEL, AnomalySignal
from medic.correlation import (
    FLAP_WINDOW,
    RootCauseCandidate,
    ServiceObservation,
    is_flapping,
    rank_root_causes,
)
from medic.feedback import FalsePositive, SilenceRecord
from medic.grafana_alerts import datasource_alert, datasource_error_text, datasource_floor, datasource_title
from medic.impact import Impact, burn_floor, score_impact
from medic.insights import IncidentOutcome, anomaly_rule, incident_rules, rules_before_scans
from medic.limits import runs_within
from medic.matchers import format_duration
from medic.names import MAX_NAMES, SLACK_USER_ID, clean_name, empty
from medic.notify_plan import ChatTarget
from medic.notify_state import THREADED_KINDS, ChatPosted, NotificationState
from medic.pipeline_alerts import SEVERITY_FLOOR, pipeline_floor
from medic.severity import canonical_severity, worst_severity
from medic.slo import SloBurn, slo_burn
from medic.subject import Subject
from medic.timeline import TimelineEntry
from medic.topology import ServiceContext
from medic.vocab import ACTED, RUNNING, Priority, RemediationOutcome, TimelineKind

__all__ = [
    "LATE",
    "AlertBatch",
    "AlertRecord",
    "AnomalyBatch",
    "AnomalyRecord",
    "IncidentState",
    "IncidentStatus",
    "RemediationTrack",
]

# A re-score is worth a timeline entry when the priority changes or the score moves this much.
_RESCORE_POINTS = 5.0
_ALERT_KINDS = {
    AlertStatus.FIRING: TimelineKind.ALERT_FIRING,
    AlertStatus.RESOLVED: TimelineKind.ALERT_RESOLVED,
}
# What a rollback entry makes of the action it names (the ActionRecord's status vocabulary).
_UNDONE: dict[str, str] = {
    TimelineKind.ROLLBACK_DONE: "compensated",
    TimelineKind.ROLLBACK_IMPOSSIBLE: "not-undoable",
}


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"


class AlertBatch(BaseModel):
    """Alerts for one incident from one or more deliveries: the unit of a workflow signal."""

    alerts: list[Alert]
    received_at: datetime
    # Alerts Alertmanager left out of the delivery (its max_alerts); the incident says so.
    truncated: int = 0
    # Catalog slices of the services these alerts are about, for correlation and scoring.
    contexts: list[ServiceContext] = Field(default_factory=list)


class AnomalyBatch(BaseModel):
    signals: list[AnomalySignal]
    received_at: datetime
    contexts: list[ServiceContext] = Field(default_factory=list)


class AlertRecord(BaseModel):
    fingerprint: str
    name: str
    status: AlertStatus
    severity: str
    service: str | None = None
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None
    source: str
    # Grafana's links (dashboard, panel, silence) and its query's values when it first fired
    links: dict[str, str] = Field(default_factory=dict)
    values: str | None = None
    # The Kubernetes object the alert is about, and why it went to its service (medic.assign.decide).
    subject: Subject | None = None
    why: str | None = None
    first_seen_at: datetime
    last_seen_at: datetime
    deliveries: int = 1
    episode_starts: list[datetime] = Field(default_factory=list)
    flapping: bool = False
    # The firing episode (its starts_at) already matched to runbooks: kept on the record so that it
    # travels with the alert through merges and continue-as-new, and a parent never asks again.
    matched_episode: datetime | None = None


class RemediationTrack(BaseModel):
    """A remediation this incident started: which alerts called for it, and what became of it."""

    runbook: str
    fingerprints: list[str]
    outcome: RemediationOutcome = RemediationOutcome.STARTED
    told_resolved: bool = False
    started_at: datetime | None = None


_FAR = datetime(9000, 1, 1, tzinfo=UTC)  # far enough, and centuries short of datetime.max


class AnomalyRecord(BaseModel):
    key: str
    signal: AnomalySignal
    first_seen_at: datetime
    last_seen_at: datetime
    started_at: datetime | None = Field(
        default=None,
        description="its first signal's window start: each later signal of the series (a scan's next "
        "run, a prediction) moves the window, and a prediction's starts at its run",
    )

    @property
    def first_start(self) -> datetime:
        """When it began: its first window's start (the signal's own, for a record from before)."""
        return self.started_at if self.started_at is not None else self.signal.window.start

    @property
    def active_until(self) -> datetime:
        """The signal's window end, never past year 9000: a window ending in 9999 overflowed the quiet
        deadline and failed every task of its incident, and every later signal and alert of its service
        with it (the API refuses a window more than 31 days ahead since). Any end a history holds that
        did not overflow is kept as it was, so the histories replay."""
        return min(self.signal.active_until, _FAR)


def _burn(record: AlertRecord, *, current: bool = False) -> SloBurn | None:
    """Sloth, Pyrra, plain multi-window and explicit ``burn_rate`` alerts (medic.slo)."""
    return slo_burn(record.labels, record.annotations, current=current)


# A finding that arrived longer than this after its window ended is late: no live cause (two steps of a
# scan at one point an hour; a scan catching up after an outage of hours is later).
LATE = timedelta(hours=2)
# Asking Alertmanager about alerts its webhook delivered (IncidentState.recheck_at).
RECHECK_FIRST = timedelta(minutes=2)
RECHECK_MIN = timedelta(minutes=10)
RECHECK_ASKED = 2000  # alerts asked about at once (IncidentState.recheck_asked says which first)
RECHECK_MAX = timedelta(hours=1)
RECHECK_UNANSWERED = timedelta(minutes=15)
GONE_CONFIRM = timedelta(minutes=5)


def late(arrived: datetime, ended: datetime, window: timedelta = timedelta(0)) -> bool:
    """Whether a finding whose window ended at ``ended`` came late, arriving at ``arrived``: over
    ``LATE`` after it, or over the correlation ``window`` where that is longer. No live cause then."""
    return arrived - ended > max(window, LATE)


class IncidentState(BaseModel):
    """Everything an incident knows. Serialisable, so it survives continue-as-new and merges."""

    id: str
    title: str = "new incident"
    status: IncidentStatus = IncidentStatus.OPEN
    opened_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    quiet_since: datetime | None = None
    last_fired_at: datetime | None = None
    severity: str = "info"
    priority: Priority = Priority.P5
    impact: float = 0.0
    impact_detail: Impact | None = None
    services: list[str] = Field(default_factory=list)
    contexts: dict[str, ServiceContext] = Field(default_factory=dict)
    root_causes: list[RootCauseCandidate] = Field(default_factory=list)
    alerts: dict[str, AlertRecord] = Field(default_factory=dict)
    anomalies: dict[str, AnomalyRecord] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    merged_into: str | None = None
    absorbed: list[str] = Field(default_factory=list)
    truncated_alerts: int = 0
    left_out: dict[str, int] = Field(
        default_factory=dict,
        description="what a read of the state left out to fit one answer (alerts, anomalies): counted, "
        "not shown; set only on the copy a query answers with",
    )
    notifications: NotificationState = Field(default_factory=NotificationState)
    remediations: dict[str, RemediationTrack] = Field(
        default_factory=dict, description="remediation id -> track"
    )
    actions: list[dict[str, object]] = Field(default_factory=list, description="what remediations did")
    self_healing: str = Field(
        default="",
        description="why self-healing handed over to people, as the remediation said it: sent with the "
        "escalation's page, so the person paged reads what was tried or why nothing was",
    )
    silences: list[SilenceRecord] = Field(default_factory=list, description="silences created from Slack")
    # Delivered alerts Medic's Alertmanager was seen to hold (its word about them counts: alerts of
    # another Alertmanager or tenant are never judged by it), each with the latest endsAt it gave (its
    # "valid until": Prometheus sends a firing alert again before then); those of them it no longer
    # held at a check (since when); those Medic resolved for it (a later delivery of the same firing
    # episode fires them again); and when it was last asked (see :meth:`recheck_at`).
    am_holds: dict[str, datetime] = Field(default_factory=dict)
    am_gone: dict[str, datetime] = Field(default_factory=dict)
    am_resolved: list[str] = Field(default_factory=list)
    # The monitoring stack's critical alerts raise it to P2 (medic.pipeline_alerts): set from the
    # workflow's input, False in incidents started before that (their replay must score as it did).
    pipeline_floor: bool = False
    # Read and worded as this release does: SLO burns (medic.slo: Sloth v0.11, Pyrra's windows, the paging
    # floor) and the title's "(+N more alerts)". False for an incident begun before: its priority (the pages
    # it asked for) and its title (published to search attributes and memo) replay as they were.
    current_reads: bool = Field(  # (named slo_current in this release's first commits: still read)
        default=False, validation_alias=AliasChoices("current_reads", "slo_current")
    )
    # A node's incident is told to the team of the catalog service on it that ranks first (a node is in no
    # catalog, and its default key may be none); set by the workflow for new node incidents, False in
    # those started before (their plans replay as they were).
    hosts_route: bool = False
    am_checked_at: datetime | None = None
    am_ask_after: datetime | None = None
    false_positives: list[FalsePositive] = Field(default_factory=list, description="false-positive marks")
    # Who the Slack ids on the timeline are (id -> name), from the requests made in Slack: written as the
    # name outside Slack (medic.names). Left out of the payload while empty, so a state without names
    # (every incident before them) serializes, and is sized, as it was.
    names: dict[str, str] = Field(
        default_factory=dict,
        exclude_if=empty,
        description="Slack user id -> the person's name, as their Slack requests carried it",
    )
    revision: int = 0
    derived_revision: int = -1

    # ---- reading -------------------------------------------------------------------------------

    @property
    def firing_count(self) -> int:
        return sum(1 for a in self.alerts.values() if a.status is AlertStatus.FIRING)

    @property
    def is_firing(self) -> bool:
        """Whether any alert fires: stops at the first one, where counting walks every alert (this is
        asked after every delivery; counting made a storm's deliveries quadratic)."""
        return any(a.status is AlertStatus.FIRING for a in self.alerts.values())

    def active_since(self) -> datetime | None:
        """When the outage the incident stands for began, for the correlation window: the earliest start
        of its firing alerts (an anomaly counts from when it was first seen). None while it fires
        nothing (quiet, resolved or merged): such an incident neither absorbs nor joins another."""
        if self.status is IncidentStatus.RESOLVED or self.merged_into is not None or self.quiet_since:
            return None
        starts = [a.starts_at for a in self.alerts.values() if a.status is AlertStatus.FIRING]
        starts += [a.first_seen_at for a in self.anomalies.values()]
        return min(starts, default=None)

    def anomalies_since(self, at: datetime, window: timedelta, *, live: bool = False) -> datetime | None:
        """For correlation, when no alert fires: anomalies never fire (an incident of anomalies only is
        quiet from its first one), so such an incident neither joined nor absorbed its neighbours', and
        a cause seen only by a detector left its symptoms' incidents apart. When the anomalies seen
        within ``window`` of ``at`` were first seen; None when none was, or it is resolved or merged.

        ``live``: only anomalies that arrived within ``LATE`` (or ``window``, if longer) of their own
        window's end count. A finding delivered late (its window ended 13 days ago: the docs' example
        posted as it was; a scan catching up after an outage of hours) tells of an outage long over, not
        of one beginning when it arrived: counted from its arrival, it took in checkout's live incident
        (a review, 2026-12-06). Judged at its arrival, not now: a scan at a step of an hour hands over a
        finding whose window ended up to two steps before (its last point is on the step grid), which a
        test against the correlation window from now took for late (a second review)."""
        if self.status is IncidentStatus.RESOLVED or self.merged_into is not None or self.is_firing:
            return None
        # a prediction (a disk full in 5 hours) is no outage now: it absorbed a dependent's real outage
        # and handed its page to the predicted service's team (a review, 2026-12-06)
        seen = [
            a.first_seen_at
            for a in self.anomalies.values()
            if a.last_seen_at >= at - window
            and a.signal.source != PREDICTION_SOURCE
            and (not live or not late(a.last_seen_at, a.active_until, window))
        ]
        return min(seen, default=None)

    @property
    def alert_count(self) -> int:
        return len(self.alerts)

    def active_anomalies(self, at: datetime) -> list[AnomalyRecord]:
        return [a for a in self.anomalies.values() if a.active_until > at]

    def quiet_deadline(self, quiet_period: timedelta) -> datetime | None:
        """When the incident may resolve if nothing fires before then; None while firing."""
        if self.quiet_since is None or self.is_firing:
            return None
        start = self.quiet_since
        for record in self.anomalies.values():
            start = max(start, record.active_until)
        return start + quiet_period

    # ---- changing ------------------------------------------------------------------------------

    def record(
        self, at: datetime, kind: TimelineKind, message: str, *, actor: str = "medic", **data: object
    ) -> None:
        """An entry of Medic's own on the timeline."""
        self.relay(at, kind, message, actor=actor, **data)

    def relay(self, at: datetime, kind: str, message: str, *, actor: str = "medic", **data: object) -> None:
        """An entry whose kind someone else chose (a remediation's report, a person's note): kept as it
        came, whether or not this version knows it."""
        self.timeline.append(TimelineEntry(at=at, kind=kind, actor=actor, message=message, data=dict(data)))

    def apply_alerts(self, batch: AlertBatch, *, at: datetime, derive: bool = True) -> bool:
        """Apply one delivery; True when anything changed (a duplicate delivery returns False).

        ``derive=False`` leaves priority, root causes and title for one :meth:`derive` after all the
        deliveries of a workflow activation: recomputing them per delivery is quadratic on an incident
        with thousands of alerts, enough to starve a workflow task."""
        self._learn(batch.contexts)
        changed = False
        for alert in batch.alerts:
            changed = self._apply_alert(alert, at) or changed
        # Deliveries of different groups say different things: only a larger truncation is news (a
        # duplicate, or a 0 from another group, changes nothing).
        if batch.truncated > self.truncated_alerts:
            self.truncated_alerts = batch.truncated
            grafana = bool(batch.alerts) and all(a.source == "grafana" for a in batch.alerts)
            self.record(
                at,
                TimelineKind.ALERT_TRUNCATED,
                f"Grafana left {batch.truncated} alerts out of its last notification (its contact point's "
                "Max alerts); they are not shown here."
                if grafana
                else f"Alertmanager left {batch.truncated} alerts out of its last "
                "delivery (its max_alerts setting); they are not shown here.",
                actor="grafana" if grafana else "alertmanager",
            )
            changed = True
        if changed:
            self._after_change(at, derive=derive)
        return changed

    def apply_anomalies(self, batch: AnomalyBatch, *, at: datetime, derive: bool = True) -> bool:
        self._learn(batch.contexts)
        changed = False
        for signal in batch.signals:
            changed = self._apply_anomaly(signal, at) or changed
        if changed:
            self._after_change(at, derive=derive)
        return changed

    def absorb(
        self, other: "IncidentState", *, at: datetime, derive: bool = True, alert_count: int | None = None
    ) -> bool:
        """Fold another incident into this one (it shares our cause). Nothing of it is lost: alerts keep
        their latest episode, anomalies their latest window, its timeline is kept. A large incident comes
        as a head (``alert_count`` says how many alerts follow) and parts, see :meth:`merge_parts`."""
        if other.id in self.absorbed or other.id == self.id:
            return False
        self.absorbed.append(other.id)
        self._learn(list(other.contexts.values()))
        self._take(other.id, list(other.alerts.values()), other.timeline)
        for key, anomaly in other.anomalies.items():
            mine = self.anomalies.get(key)
            if mine is None or anomaly.signal.window.end > mine.signal.window.end:
                began = anomaly.first_start if mine is None else min(anomaly.first_start, mine.first_start)
                self.anomalies[key] = anomaly.model_copy(update={"started_at": began})
            elif anomaly.first_start < mine.first_start:  # ours is newer; theirs began earlier
                mine.started_at = anomaly.first_start
        for absorbed in other.absorbed:
            if absorbed not in self.absorbed:
                self.absorbed.append(absorbed)
        # Its remediations report here from now on (the merged incident forwards their events).
        for remediation_id, track in other.remediations.items():
            self.remediations.setdefault(remediation_id, track)
        self.actions.extend(a for a in other.actions if a not in self.actions)
        self.self_healing = self.self_healing or other.self_healing
        known = {s.id for s in self.silences}
        self.silences.extend(s for s in other.silences if s.id not in known)
        self.false_positives.extend(f for f in other.false_positives if f not in self.false_positives)
        # Its chats' cards (and those of incidents merged into it before): told of the postmortem
        theirs = {**other.notifications.merged_chats, **other.notifications.chat}
        for key, posted in theirs.items():
            if key not in self.notifications.merged_chats:
                self.notifications.merged_chats[key] = ChatPosted(target=posted.target, ref=posted.ref)
        for actor, name in other.names.items():  # who its people are: named here too
            if actor not in self.names:
                self.learn_name(actor, name)
        if other.am_holds:  # Alertmanager's word about its alerts carries over (recheck_at)
            self.am_holds = {**other.am_holds, **self.am_holds}
        self.am_resolved += [f for f in other.am_resolved if f not in self.am_resolved]
        count = other.alert_count if alert_count is None else alert_count
        # (a merge in parts brings its alerts after this: no services known yet is not "unknown services")
        on = f" on {', '.join(other.services)}" if other.services else ""
        self.record(
            at,
            TimelineKind.INCIDENT_MERGED,
            f"Merged {other.id} ({count} alerts{on}): it shares this incident's cause.",
            merged=other.id,
        )
        self._after_change(at, derive=derive)
        return True

    def absorb_part(
        self,
        source: str,
        alerts: list[AlertRecord],
        timeline: list[TimelineEntry],
        *,
        at: datetime,
        derive: bool = True,
    ) -> bool:
        """The alerts and timeline of a merged incident that did not fit in its head."""
        if not alerts and not timeline:
            return False
        self._take(source, alerts, timeline)
        self._after_change(at, derive=derive)
        return True

    def merge_parts(
        self, size: int, max_bytes: int | None = None
    ) -> tuple["IncidentState", list[list[AlertRecord]], list[list[TimelineEntry]]]:
        """Split for handing over: a head without alerts and timeline, and chunks of at most ``size``
        items (and ``max_bytes`` of JSON: 400 alerts with 32 KB annotations are 12 MB), so no signal
        exceeds Temporal's payload limit however large the incident grew."""
        # The head is a copy of its own; the alert records and entries are shared, not copied (a deep
        # copy of a large incident cost more than the rest of its merge): the merged incident hands
        # them over as they are and never changes them again.
        head = self.model_copy(update={"alerts": {}, "timeline": []}).model_copy(deep=True)
        records = list(self.alerts.values())
        if max_bytes is None:
            alerts = [records[i : i + size] for i in range(0, len(records), size)]
            timeline = [self.timeline[i : i + size] for i in range(0, len(self.timeline), size)]
        else:
            alerts = [records[r.start : r.stop] for r in runs_within(records, room=max_bytes, max_items=size)]
            entries = self.timeline
            timeline = [
                entries[r.start : r.stop] for r in runs_within(entries, room=max_bytes, max_items=size)
            ]
        return head, [a for a in alerts if a], [t for t in timeline if t]

    def _take(self, source: str, alerts: list[AlertRecord], timeline: list[TimelineEntry]) -> None:
        for theirs in alerts:
            mine = self.alerts.get(theirs.fingerprint)
            if mine is None or (theirs.starts_at, theirs.status.value) > (mine.starts_at, mine.status.value):
                self.alerts[theirs.fingerprint] = theirs
            elif theirs.matched_episode == mine.starts_at:
                mine.matched_episode = theirs.matched_episode  # matched over there: not again here
        # Appended, never re-sorted: the notifier's Slack and JIRA cursors walk the timeline by position,
        # and inserting older entries before them would send what was sent again. Readers that want
        # time order sort (the API, the postmortem).
        for entry in timeline:
            self.timeline.append(entry.model_copy(update={"data": {**entry.data, "from_incident": source}}))

    def mark_merged(self, into: str, *, at: datetime) -> None:
        self.merged_into = into
        self.status = IncidentStatus.RESOLVED
        self.resolved_at = at
        self.record(
            at,
            TimelineKind.INCIDENT_MERGED_INTO,
            f"Merged into {into}, which shares its cause; new alerts for it go there.",
            into=into,
        )
        self.revision += 1

    def unmerge(self, *, at: datetime, reason: str) -> None:
        """Stand alone again (the incident we merged into has closed); what we handed over stays there."""
        into, self.merged_into = self.merged_into, None
        self.alerts.clear()
        self.anomalies.clear()
        self.status = IncidentStatus.OPEN
        self.resolved_at = None
        self.quiet_since = None
        self.record(
            at, TimelineKind.INCIDENT_UNMERGED, f"No longer merged into {into}: {reason}.", previous=into
        )
        self.revision += 1

    def learn_name(self, actor: str, name: str) -> None:
        """``actor`` (a Slack user id) is the person called ``name``: their entries read so outside
        Slack. A name for anything but a Slack id, or past :data:`medic.names.MAX_NAMES`, is not kept."""
        name = clean_name(name)
        if not name or name == actor or not SLACK_USER_ID.fullmatch(actor):
            return
        if actor in self.names or len(self.names) < MAX_NAMES:
            self.names[actor] = name

    def acknowledge(self, at: datetime, *, actor: str, source: str, name: str = "") -> None:
        """Someone owns it. Acknowledging what is acknowledged changes nothing (a second press of the
        button is not news for the thread); after a reopen it is news again."""
        if self.status is not IncidentStatus.OPEN and self.acknowledged_at is not None:
            return
        self.learn_name(actor, name)
        if self.status is IncidentStatus.OPEN:
            self.status = IncidentStatus.ACKNOWLEDGED
        self.acknowledged_at = self.acknowledged_at or at
        self.acknowledged_by = self.acknowledged_by or actor
        self.record(
            at,
            TimelineKind.INCIDENT_ACKNOWLEDGED,
            f"Acknowledged by {actor} ({source}).",
            actor=actor,
            source=source,
        )
        self.revision += 1

    def resolve_by_hand(self, at: datetime, *, actor: str, source: str, reason: str, name: str = "") -> None:
        self.learn_name(actor, name)
        self.status = IncidentStatus.RESOLVED
        self.resolved_at = at
        self.resolved_by = actor
        why = f": {reason}" if reason else ""
        self.record(
            at,
            TimelineKind.INCIDENT_RESOLVED,
            f"Resolved by {actor} ({source}){why}.",
            actor=actor,
            source=source,
        )
        self.revision += 1

    def add_silence(self, silence: SilenceRecord, *, at: datetime) -> bool:
        """A silence someone created for this incident; a repeated delivery changes nothing."""
        if any(s.id == silence.id for s in self.silences):
            return False
        self.silences.append(silence)
        self.learn_name(silence.created_by, silence.created_by_name)
        matchers = " ".join(str(m) for m in silence.matchers)
        self.record(
            at,
            TimelineKind.SILENCE_CREATED,
            f"Silenced {matchers} until {silence.ends_at:%Y-%m-%d %H:%M}Z by {silence.created_by}"
            + (f": {silence.comment}" if silence.comment else "")
            + ".",
            actor=silence.created_by,
            silence_id=silence.id,
            ends_at=silence.ends_at.isoformat(),
            url=silence.url,
        )
        self.revision += 1
        return True

    def mark_false_positive(self, mark: FalsePositive) -> bool:
        """Someone judged these alert rules a false positive here; each rule once per person."""
        already = {r for f in self.false_positives if f.actor == mark.actor for r in f.rules}
        fresh = [r for r in mark.rules if r not in already]
        if not fresh and (mark.rules or any(f.actor == mark.actor for f in self.false_positives)):
            return False
        mark = mark.model_copy(update={"rules": fresh})
        self.false_positives.append(mark)
        self.learn_name(mark.actor, mark.actor_name)
        note = f": {mark.note}" if mark.note else ""
        self.record(
            mark.at,
            TimelineKind.FEEDBACK_FALSE_POSITIVE,
            f"{mark.actor} marked {', '.join(mark.rules) or self._all_signals()} as a false positive{note}.",
            actor=mark.actor,
            rules=mark.rules,
        )
        self.revision += 1
        return True

    def _all_signals(self) -> str:
        """What a mark naming no rule covers: the alerts, or an incident of anomalies' signals (a scan's
        incident read "marked the alerts as a false positive", with no alert in it)."""
        return "the alerts" if self.alerts else "its anomaly signals"

    # ---- transitions the workflows ask for: each records itself and bumps the revision ------------

    def reopen_if_firing(self, at: datetime) -> bool:
        """A signal fired as the incident was closing (resolved, not yet ended): open again."""
        if self.status is not IncidentStatus.RESOLVED or not self.is_firing:
            return False
        self.status, self.resolved_at = IncidentStatus.OPEN, None
        self.record(
            at, TimelineKind.INCIDENT_REOPENED, "A signal arrived as the incident was closing; reopened."
        )
        self.revision += 1
        return True

    def merge_failed(self, target: str, *, at: datetime) -> bool:
        """The incident we were merging into closed before it took us: nothing was handed over."""
        if self.merged_into != target:
            return False
        self.merged_into = None
        self.status, self.resolved_at = IncidentStatus.OPEN, None
        self.record(
            at,
            TimelineKind.INCIDENT_MERGE_FAILED,
            f"{target} closed before it could take this incident; it stays on its own.",
        )
        self.revision += 1
        return True

    def add_note(
        self, at: datetime, *, kind: str, message: str, actor: str, data: dict[str, Any], name: str = ""
    ) -> None:
        """A person's note (or a refused command) on the timeline; one worth a thread reply wakes the
        notifier (a new revision), others only wait for the next change."""
        self.learn_name(actor, name)
        self.relay(at, kind, message, actor=actor, **data)
        if kind in THREADED_KINDS:
            self.revision += 1

    def remediation_started(
        self, at: datetime, *, remediation_id: str, runbook: str, fingerprints: list[str], message: str
    ) -> None:
        self.remediations[remediation_id] = RemediationTrack(
            runbook=runbook, fingerprints=fingerprints, started_at=at
        )
        self.record(at, TimelineKind.REMEDIATION_STARTED, message, remediation=remediation_id)
        self.revision += 1

    def remediation_blocked(self, at: datetime, *, remediation_id: str, message: str) -> None:
        self.record(at, TimelineKind.GUARDRAIL_BLOCKED, message, remediation=remediation_id)
        self.revision += 1

    def remediation_reported(
        self,
        at: datetime,
        *,
        remediation_id: str,
        kind: str,
        message: str,
        outcome: RemediationOutcome | None = None,
        action: dict[str, Any] | None = None,
        actor: str = "medic",
        actor_name: str = "",
        escalate: bool = False,
        reconciler: str = "",
        told: bool = False,
        approval_told: bool = False,
    ) -> None:
        """What a remediation reports: its outcome so far, what it changed, whether people must be told
        now (it did not work), and which controller would have undone a step it refused (kept on the
        timeline entry: the postmortem's follow-ups name it). ``told``: a guardrail's block said where
        people look, as a refusal is. ``approval_told``: an approval asked or decided, told in chats
        without buttons (Teams) and on the pager's alerts (``medic.notify_state.approval_told``)."""
        track = self.remediations.get(remediation_id)
        if track is not None and outcome is not None:
            track.outcome = outcome
        elif track is not None and kind == TimelineKind.ACTION_EXECUTED:
            track.outcome = RemediationOutcome.EXECUTED
        if action is not None:
            self.actions.append(action)
        elif kind in _UNDONE:
            self._mark_undone(message, _UNDONE[kind])
        extra: dict[str, object] = {"reconciler": reconciler} if reconciler else {}
        if approval_told:
            extra["told"] = True
        self.learn_name(actor, actor_name)
        self.relay(at, kind, message, actor=actor, remediation=remediation_id, **extra)
        refused = (bool(reconciler) or told) and outcome is RemediationOutcome.BLOCKED
        if refused and not escalate:
            # Another controller would undo the fix. No fix failed, so nothing jumps the escalation chain;
            # it is said where people look (the incident's chats, pager notes, the issue) and goes with the
            # pages the incident sends on its own timers.
            self._note_self_healing(message)
            self.record(
                at,
                TimelineKind.REMEDIATION_REFUSED,
                f"Self-healing {'could not' if reconciler else 'did not'} act: {message}",
                remediation=remediation_id,
                **({"reconciler": reconciler} if reconciler else {}),
            )
        if outcome is RemediationOutcome.VERIFIED and self.self_healing:
            # a later fix worked: the card and the next pages say so, not an earlier one's refusal alone
            self._note_self_healing(message)
        if escalate and self.status is not IncidentStatus.RESOLVED:
            self.notifications.escalate_now = True
            self._note_self_healing(message)
            acted = any(
                e.kind == TimelineKind.ACTION_EXECUTED and e.data.get("remediation") == remediation_id
                for e in self.timeline
            )
            did = "did not fix it" if acted else "could not act"
            self.record(
                at,
                TimelineKind.REMEDIATION_ESCALATED,
                f"Self-healing {did}: escalating to people.",
                remediation=remediation_id,
            )
        self.revision += 1

    def _mark_undone(self, message: str, status: str) -> None:
        """The action a rollback entry names (``Undid scale on deployment/data/pgbouncer (...)``, ``scale
        on ... cannot be undone``) as it ended: the latest one still ``executed`` (undos run in reverse).
        Before, a step Medic rolled back stayed "executed" in the incident's actions and the postmortem's
        table of what was changed on the cluster, as if the change were still in place."""
        for done in reversed(self.actions):
            said = re.escape(f"{done.get('action')} on {done.get('target')}")
            if done.get("status") == "executed" and re.search(rf"(?<!\S){said}(?=[\s.])", message):
                done["status"] = status
                return

    def _note_self_healing(self, message: str) -> None:
        """What the next pages say of self-healing: the latest word, after an earlier one that a human must
        check something (an undo that failed, any remediation's), which is never dropped."""
        said = "A human must check it."
        keep = (
            self.self_healing[: self.self_healing.rfind(said) + len(said)]
            if said in self.self_healing
            else ""
        )
        self.self_healing = f"{keep} {message}".strip()[:1000]

    def give_up_on_remediations(self, at: datetime) -> None:
        """Closing with fixes that never reported: say so, rather than wait (and escalate) for ever.
        No new revision: the incident is closing, and its closing pass tells what is on the timeline."""
        for remediation_id, track in self.remediations.items():
            if track.outcome in RUNNING:
                track.outcome = RemediationOutcome.LOST
                self.record(
                    at,
                    TimelineKind.REMEDIATION_LOST,
                    f"Remediation {remediation_id} never reported its outcome; the incident closes "
                    "without it. Check that workflow in the Temporal UI.",
                    remediation=remediation_id,
                )

    def escalated(
        self, at: datetime, *, level: int, keys: list[str], chats: list[ChatTarget], note: str
    ) -> None:
        """Escalation level ``level`` (1-based) is due: who is paged and which chat channels join."""
        n = self.notifications
        n.escalation_done = level
        for target in chats:
            if target.key not in {t.key for t in n.escalated}:
                n.escalated.append(target)
        channels = [t.channel for t in chats]
        who = ", ".join(keys) or "nobody"
        reason = f" ({note})" if note else ""
        self.record(
            at,
            TimelineKind.ESCALATION_LEVEL,
            f"Escalation level {level}: paging {who}{reason}.",
            level=level,
            routing_key_names=keys,
            channels=channels,
        )
        self.revision += 1

    def rules(self) -> list[str]:
        """The alert rules (alertname) behind this incident, for feedback."""
        return sorted({a.name for a in self.alerts.values()} - {""})

    def learning_rules(self) -> list[str]:
        """The rules as learning counts them (``medic.insights.incident_rules``)."""
        return incident_rules(
            (a.name for a in self.alerts.values()),
            (anomaly_rule(r.signal.source, r.signal.series.get(SCAN_LABEL)) for r in self.anomalies.values()),
        )

    def learning_rules_before_scans(self) -> list[str]:
        """The rules as learning counted them before 0.2.0 (``medic.insights.rules_before_scans``)."""
        return rules_before_scans(
            (a.name for a in self.alerts.values()), (r.signal.source for r in self.anomalies.values())
        )

    def outcome(self) -> IncidentOutcome | None:
        """What learning needs of this incident; None when it never opened, or when it merged into
        another (its alerts count in that one: a cascade's symptoms were counted again, as incidents
        nobody acted on that went by themselves, at the merge)."""
        if self.opened_at is None or self.merged_into is not None:
            return None
        plan = self.notifications.plan
        owner = self.owner
        return IncidentOutcome(
            incident_id=self.id,
            rules=self.learning_rules(),
            # whose routing notified it (a demoted plan names the team it was demoted for)
            team=plan.demoted.team if plan is not None and plan.demoted is not None else owner and owner.team,
            opened_at=self.opened_at,
            resolved_at=self.resolved_at,
            # paged: what the pager was sent (a plan demoted by learning counts as the page it would
            # have been, so a demotion is not proposed away); a chat-only rule's incidents page nobody
            paged=bool(self.notifications.pages) or (plan is not None and plan.demoted is not None),
            acknowledged=self.acknowledged_by is not None,
            resolved_by_person=self.resolved_by is not None,
            remediated=any(t.outcome in ACTED for t in self.remediations.values()),
            false_positive=bool(self.false_positives),
            # the rules the marks name (a mark without rules covers them all)
            false_positive_rules=None
            if any(not f.rules for f in self.false_positives)
            else sorted({r for f in self.false_positives for r in f.rules} | self._marked_anomaly_rules()),
            firing_seconds=self._firing(),
        )

    def _marked_anomaly_rules(self) -> set[str]:
        """The anomaly rules a false-positive mark covers: a mark names the incident's alert rules (the
        Slack button's), and the findings the incident held when it was made were judged with them
        (a noisy scan whose findings joined alert incidents was credited as acted on, a review)."""
        marks = [f.at for f in self.false_positives]
        return {
            anomaly_rule(r.signal.source, r.signal.series.get(SCAN_LABEL))
            for r in self.anomalies.values()
            if any(r.first_seen_at <= at for at in marks)
        }

    def _firing(self) -> dict[str, float]:
        """Per alert rule, the longest its alerts fired: from the alert's start (Prometheus starts it
        once its ``for:`` has passed) to its end, or to the incident's resolution when it never ended
        (resolved by hand while firing). An incident's own duration adds the quiet period after the
        last alert (5 minutes by default) and the time until someone resolved it."""
        out: dict[str, float] = {}
        for a in self.alerts.values():
            end = (
                a.ends_at if a.status is AlertStatus.RESOLVED and a.ends_at is not None else self.resolved_at
            )
            if end is None or end < a.starts_at:
                continue
            out[a.name] = max(out.get(a.name, 0.0), (end - a.starts_at).total_seconds())
        return out

    def held_until(self) -> datetime | None:
        """When the first alert taken from Alertmanager's API (``HELD_SOURCE``) that Alertmanager has not
        delivered since is due to be checked: its ``ends_at``, Alertmanager's own "valid until"."""
        due = [
            a.ends_at
            for a in self.alerts.values()
            if a.source == HELD_SOURCE and a.status is AlertStatus.FIRING and a.ends_at is not None
        ]
        return min(due) if due else None

    def held_due(self, at: datetime) -> list[str]:
        """The fingerprints of held alerts whose ``ends_at`` has come (see :meth:`held_until`)."""
        return sorted(
            a.fingerprint
            for a in self.alerts.values()
            if a.source == HELD_SOURCE
            and a.status is AlertStatus.FIRING
            and a.ends_at is not None
            and a.ends_at <= at
        )

    def rechecked(self) -> list[AlertRecord]:
        """Firing alerts Alertmanager's webhook delivered: it never sends the resolution of one that
        was silenced or inhibited when it resolved (alertmanager#226, #2754), so Medic asks."""
        return [
            a for a in self.alerts.values() if a.source == "alertmanager" and a.status is AlertStatus.FIRING
        ]

    def recheck_asked(self) -> list[str]:
        """What a check asks about: every delivered firing alert, at most ``RECHECK_ASKED``: those
        found gone first, then those not vouched for yet, then the longest unseen; the schedule
        (:meth:`recheck_at`) is theirs, so none waits behind another's, and none is due unasked."""

        def order(a: AlertRecord) -> tuple[int, datetime, str]:
            rank = 0 if a.fingerprint in self.am_gone else 2 if a.fingerprint in self.am_holds else 1
            return rank, a.last_seen_at, a.fingerprint

        return [a.fingerprint for a in sorted(self.rechecked(), key=order)[:RECHECK_ASKED]]

    def recheck_at(self) -> datetime | None:
        """When to ask Alertmanager about delivered alerts next (None: no need).

        An alert is asked about ``RECHECK_FIRST`` after a delivery until Alertmanager vouches for it
        (holds it, muted or not): only then does its absence say anything. A vouched one is asked about
        after ``RECHECK_MIN`` unseen, then as long again as it has been unseen (at most
        ``RECHECK_MAX``); one found gone is asked about once more ``GONE_CONFIRM`` later (an
        Alertmanager restarted empty has its alerts back from Prometheus within a minute), and not
        before the endsAt Alertmanager last gave it (Prometheus sends a firing alert again before then,
        however slowly its rule group is evaluated)."""
        checked, holds, due = self.am_checked_at, self.am_holds, list[datetime]()
        for f in self.recheck_asked():
            a = self.alerts[f]
            gone = self.am_gone.get(a.fingerprint)
            if gone is not None:
                due.append(max(gone + GONE_CONFIRM, holds.get(a.fingerprint, gone)))
            elif a.fingerprint in holds:
                since = a.last_seen_at if checked is None else max(a.last_seen_at, checked)
                unseen = since - a.last_seen_at
                due.append(since + min(max(unseen, RECHECK_MIN), RECHECK_MAX))
            elif checked is None or checked < a.last_seen_at + RECHECK_FIRST:
                due.append(a.last_seen_at + RECHECK_FIRST)
        if not due:
            return None
        first = min(due)
        return first if self.am_ask_after is None else max(first, self.am_ask_after)

    def settle_rechecked(self, asked: list[str], held: dict[str, datetime] | None, *, at: datetime) -> None:
        """Alertmanager's answer about delivered alerts (``held``: those it holds now, muted or not,
        each with its endsAt; None: it did not answer, asked again in ``RECHECK_UNANSWERED``). A vouched
        alert found gone at two checks ``GONE_CONFIRM`` apart, the second after the endsAt
        Alertmanager last gave it, resolved while muted: resolved here, saying so."""
        if held is None:
            self.am_ask_after = at + RECHECK_UNANSWERED
            return
        self.am_checked_at, self.am_ask_after = at, None
        holds = self.am_holds
        resolved = False
        for fingerprint in asked:
            record = self.alerts.get(fingerprint)
            if record is None or record.status is not AlertStatus.FIRING or record.source != "alertmanager":
                continue
            if fingerprint in held:
                holds[fingerprint] = held[fingerprint]
                self.am_gone.pop(fingerprint, None)
                continue
            if fingerprint not in holds:
                continue  # never vouched for: another Alertmanager's (or tenant's), or resolving now
            gone = self.am_gone.setdefault(fingerprint, at)
            if at - gone < GONE_CONFIRM or at < holds[fingerprint]:
                continue  # (an Alertmanager restarted empty: Prometheus sends it again before its endsAt)
            resolved = True
            self.am_resolved.append(fingerprint)
            self._resolved_by_alertmanager(
                record,
                ended=gone,
                at=at,
                why=f"Alertmanager no longer holds it (asked at {gone:%H:%M:%S}Z and {at:%H:%M:%S}Z). It "
                "sends no resolution for an alert that was silenced or inhibited when it resolved.",
            )
        firing = {a.fingerprint for a in self.rechecked()}
        self.am_holds = {f: t for f, t in holds.items() if f in firing}
        self.am_gone = {f: t for f, t in self.am_gone.items() if f in firing}
        self.am_resolved = [  # (a merge's head may name alerts its parts have not brought yet)
            f
            for f in self.am_resolved
            if (r := self.alerts.get(f)) is None or r.status is AlertStatus.RESOLVED
        ]
        if resolved:
            self._after_change(at, derive=True)

    def settle_held(
        self, still: dict[str, datetime], gone: list[str], *, at: datetime, unanswered: bool = False
    ) -> None:
        """Alertmanager's answer for held alerts that came due: ``still`` held (until when), ``gone``
        (resolved, or expired there, before Alertmanager ever delivered them: it never will).
        ``unanswered``: Alertmanager said nothing; ``still`` is when to ask again, ``gone`` is given up."""
        changed = False
        for fingerprint, until in still.items():
            held = self.alerts.get(fingerprint)
            if held is None or held.source != HELD_SOURCE:
                continue
            if not unanswered:
                held.last_seen_at = at  # Alertmanager vouched for it
            if held.ends_at != until:
                held.ends_at, changed = until, True
        for fingerprint in gone:
            held = self.alerts.get(fingerprint)
            if held is None or held.source != HELD_SOURCE or held.status is not AlertStatus.FIRING:
                continue
            changed = True
            self._resolved_by_alertmanager(
                held,
                ended=at,
                at=at,
                why="Alertmanager has not answered for hours; it never delivered it."
                if unanswered
                else "Alertmanager no longer holds it, never delivered.",
            )
        if changed:
            self._after_change(at, derive=True)

    def _resolved_by_alertmanager(
        self, held: AlertRecord, *, ended: datetime, at: datetime, why: str
    ) -> None:
        """An alert Medic resolves on Alertmanager's word (or its long silence), since no delivery will."""
        held.status, held.ends_at = AlertStatus.RESOLVED, ended
        self.record(
            at,
            TimelineKind.ALERT_RESOLVED,
            f"{held.name} resolved{_where(held)}: {why}",
            actor=HELD_SOURCE,
            fingerprint=held.fingerprint,
        )

    def _confirm_held(self, held: AlertRecord, alert: Alert, at: datetime) -> bool:
        """The same firing episode again, for an alert taken from Alertmanager's API. A webhook delivery
        confirms it (Alertmanager owes its resolution from then on); a later take moves its end on. Either
        fires it again should Medic have judged it gone meanwhile: Alertmanager's word is the last."""
        later = alert.ends_at is not None and (held.ends_at is None or alert.ends_at > held.ends_at)
        if alert.source != HELD_SOURCE:
            held.source = alert.source
        elif held.status is AlertStatus.FIRING and not later:
            return False
        held.ends_at = alert.ends_at
        if held.status is AlertStatus.RESOLVED:
            held.status, self.last_fired_at = AlertStatus.FIRING, at
            self._alert_entry(
                at,
                alert,
                AlertStatus.FIRING,
                f"{held.name} fired again{_where(held)}: Alertmanager holds it after all.",
            )
        return True

    def resolve(self, at: datetime) -> None:
        self.status = IncidentStatus.RESOLVED
        self.resolved_at = at
        since = self._last_active(at)
        self.record(at, TimelineKind.INCIDENT_RESOLVED, f"Resolved: nothing has fired since {since}.")
        self.revision += 1

    def _last_active(self, at: datetime) -> str:
        """When the last signal stopped, as the quiet period counts it (an anomaly holds on until its window
        ends): an incident of a level shift held for an hour said "nothing has fired since" its first
        finding. With the date when that is not the day it resolved."""
        if self.quiet_since is None:
            return "the last signal"
        since = max([self.quiet_since, *(r.active_until for r in self.anomalies.values())])
        since, at = utc(min(since, at)), utc(at)
        return f"{since:%H:%M:%S}Z" if since.date() == at.date() else f"{since:%Y-%m-%d %H:%M:%S}Z"

    # ---- internals -----------------------------------------------------------------------------

    def _alert_entry(
        self, at: datetime, alert: Alert, status: AlertStatus, message: str, **data: object
    ) -> None:
        """An alert's timeline entry: its kind by status, the delivery's source as the actor."""
        self.record(
            at, _ALERT_KINDS[status], message, actor=alert.source, fingerprint=alert.fingerprint, **data
        )

    def _learn(self, contexts: list[ServiceContext]) -> None:
        for ctx in contexts:
            self.contexts.setdefault(ctx.name, ctx)

    def _apply_alert(self, alert: Alert, at: datetime) -> bool:
        held = self.alerts.get(alert.fingerprint)
        if held is None and alert.closes_only:
            return False  # an ignored alert's resolution, for incidents that hold it (medic.meta_alerts)
        if held is None:
            record = AlertRecord(
                fingerprint=alert.fingerprint,
                name=alert.name,
                status=alert.status,
                severity=canonical_severity(alert.labels.get("severity")),
                service=alert.service,  # as the delivery was assigned (medic.assign): one rule
                labels=alert.labels,
                annotations=alert.annotations,
                starts_at=alert.starts_at,
                ends_at=alert.ends_at,
                generator_url=alert.generator_url,
                source=alert.source,
                links=alert.links,
                values=alert.values,
                subject=alert.subject,
                why=alert.why,
                first_seen_at=at,
                last_seen_at=at,
                episode_starts=[alert.starts_at],
            )
            self.alerts[alert.fingerprint] = record
            if alert.status is AlertStatus.FIRING:
                self.last_fired_at = at
            verb = "fired" if alert.status is AlertStatus.FIRING else "arrived already resolved"
            extra = {"why": alert.why} if alert.why else {}
            said = f"{alert.name} {verb}{_where(record)}."
            if self.current_reads and datasource_alert(alert.labels):
                said = (
                    f"{alert.name} {verb}{_datasource_where(alert)}."  # the rule, the data source, the error
                )
            values = f" Values: {alert.values}." if alert.values else ""  # (Grafana's, where it sent them)
            self._alert_entry(at, alert, alert.status, f"{said}{values}", **extra)
            return True
        held.last_seen_at = at
        held.deliveries += 1
        if alert.status is AlertStatus.FIRING and self.am_gone:
            self.am_gone.pop(alert.fingerprint, None)  # delivered: Alertmanager holds it
        elif alert.status is AlertStatus.RESOLVED and alert.fingerprint in self.am_resolved:
            self.am_resolved.remove(alert.fingerprint)  # its own resolution came after all
        if HELD_SOURCE in (held.source, alert.source) and _same_start(held, alert):
            # Alertmanager's API answers starts to the millisecond, its webhook finer: the same episode.
            if held.source == HELD_SOURCE and alert.source != HELD_SOURCE:
                _move_start(held, alert.starts_at)  # the webhook's start is the precise one
            alert = alert.model_copy(update={"starts_at": held.starts_at})
            if held.source == HELD_SOURCE and alert.status is AlertStatus.FIRING:
                return self._confirm_held(held, alert, at)
        # Any delivery, firing or resolved, in or out of order, proves its episode happened: flapping is
        # judged on the set of episodes seen, so it does not depend on the order deliveries arrive in.
        flap_changed = self._note_episode(held, alert.starts_at, at)
        if alert.starts_at < held.starts_at:
            return flap_changed  # a delivery from an older episode
        same_episode = alert.starts_at == held.starts_at
        if same_episode and alert.status is held.status:
            return flap_changed  # a duplicate or a repeat notification
        if same_episode and held.status is AlertStatus.RESOLVED and alert.fingerprint in self.am_resolved:
            # Medic resolved it on Alertmanager's absence (settle_rechecked): delivered firing, it fires
            self.am_resolved.remove(alert.fingerprint)
            held.status, held.ends_at, self.last_fired_at = AlertStatus.FIRING, None, at
            self._alert_entry(
                at, alert, alert.status, f"{held.name} fired again{_where(held)}: Alertmanager delivered it."
            )
            return True
        if same_episode and held.status is AlertStatus.RESOLVED:
            return flap_changed  # a stale "firing" that lost the race with its own "resolved"
        held.status = alert.status
        held.starts_at = alert.starts_at
        held.ends_at = alert.ends_at
        held.annotations = alert.annotations
        if alert.status is AlertStatus.FIRING:
            self.last_fired_at = at
            held.source = alert.source  # a new episode taken from Alertmanager is checked as one
        if not held.flapping and not flap_changed:
            verb = "resolved" if alert.status is AlertStatus.RESOLVED else "fired again"
            self._alert_entry(at, alert, alert.status, f"{held.name} {verb}{_where(held)}.")
        return True

    def _note_episode(self, held: AlertRecord, starts_at: datetime, at: datetime) -> bool:
        """Remember an episode of an alert; True when that turns its flapping flag on or off."""
        if starts_at in held.episode_starts:
            return False
        held.episode_starts.append(starts_at)
        latest = max(held.episode_starts)
        held.episode_starts = sorted(t for t in held.episode_starts if latest - t <= timedelta(hours=1))
        was_flapping = held.flapping
        held.flapping = is_flapping(held.episode_starts, latest)
        if held.flapping == was_flapping:
            return False
        if held.flapping:
            self.record(
                at,
                TimelineKind.ALERT_FLAPPING,
                f"{held.name}{_where(held)} is flapping ({len(held.episode_starts)} "
                "episodes recently); its further changes are tracked without timeline entries until it "
                "settles.",
                fingerprint=held.fingerprint,
            )
        else:
            self.record(
                at,
                TimelineKind.ALERT_SETTLED,
                f"{held.name}{_where(held)} stopped flapping.",
                fingerprint=held.fingerprint,
            )
        return True

    def _apply_anomaly(self, signal: AnomalySignal, at: datetime) -> bool:
        held = self.anomalies.get(signal.key)
        old = signal.unlabelled_key if held is None else None  # (a second digest only when new)
        if old is not None and old in self.anomalies:
            # the same finding, held from before scans named themselves in their signals: carried on
            # under its new identity, not a second anomaly (a new entry, a thread reply, "+1 more")
            held = self.anomalies.pop(old)
            held.key = signal.key
            self.anomalies[signal.key] = held
        if held is not None and signal.window.end <= held.signal.window.end:
            held.last_seen_at = at
            return False  # nothing newer than what we hold
        self.anomalies[signal.key] = AnomalyRecord(
            key=signal.key,
            signal=signal,
            first_seen_at=held.first_seen_at if held else at,
            last_seen_at=at,
            started_at=min(held.first_start, signal.window.start) if held else signal.window.start,
        )
        if held is None:
            self.last_fired_at = at
        verb = "continues" if held else "detected"
        # a finding delivered late says so: people read it as news, and correlation takes it for no live
        # cause (``anomalies_since``); before, nothing told them why it took in nothing
        lag = at - signal.active_until
        came = (
            f" It came {format_duration(lag - lag % timedelta(minutes=1))} after its window ended:"
            " recorded, and no live cause."
            if late(at, signal.active_until)
            else ""
        )
        self.record(
            at,
            TimelineKind.ANOMALY_DETECTED if held is None else TimelineKind.ANOMALY_EXTENDED,
            f"Anomaly {verb} on {signal.service} by {signal.source}: {signal.described()} "
            f"(score {signal.score:.2f}).{came}",
            actor=signal.source,
            key=signal.key,
            series=signal.series,
        )
        return True

    def derive(self, at: datetime) -> None:
        """Recompute severity, root causes, impact and title, if anything changed since the last time."""
        if self.derived_revision == self.revision:
            return
        self.derived_revision = self.revision
        firing = [a for a in self.alerts.values() if a.status is AlertStatus.FIRING]
        active = self.active_anomalies(at)
        self.severity = worst_severity(
            [a.severity for a in firing] + [r.signal.severity for r in active]
            or [a.severity for a in self.alerts.values()]
            + [r.signal.severity for r in self.anomalies.values()]
        )
        self._rank(at)
        self._rescore(at)
        self.title = self._title()

    def _after_change(self, at: datetime, *, derive: bool = True) -> None:
        """The quiet-period bookkeeping after a change, and the derived fields unless deferred."""
        self.revision += 1
        if derive:
            self.derive(at)
        was_quiet = self.quiet_since is not None
        if not self.alerts and not self.anomalies:
            pass  # nothing seen yet (a merge's head arrives before its alerts): neither firing nor quiet
        elif not self.is_firing:
            if not was_quiet:
                self.quiet_since = at
                if self.alerts:
                    self.record(
                        at,
                        TimelineKind.INCIDENT_QUIET,
                        "Nothing is firing; the incident resolves after the quiet period.",
                    )
                    if self._flapping_turn(at):
                        self.timeline[-1].data["chatter"] = True
        elif was_quiet:
            self.quiet_since = None
            self.record(
                at,
                TimelineKind.INCIDENT_REOPENED,
                "An alert fired during the quiet period; the incident stays open.",
            )
            if self._flapping_turn(at):
                self.timeline[-1].data["chatter"] = True

    def _flapping_turn(self, at: datetime) -> bool:
        """A quiet or a reopening that is a flapping alert's turn (said once: "... is flapping"), no news
        for the chats: every alert that began lately flaps (a quiet), or every alert firing flaps (a
        reopening), and no anomaly is active. Not the quiet after an outage that lasted (its flaps are
        long past), nor another alert firing. Asked only at such a turn (a storm changes often)."""
        if self.active_anomalies(at):
            return False
        if self.is_firing:
            turns = [a for a in self.alerts.values() if a.status is AlertStatus.FIRING]
        else:
            turns = [
                a
                for a in self.alerts.values()
                if a.episode_starts and at - max(a.episode_starts) <= FLAP_WINDOW
            ]
        return bool(turns) and all(is_flapping(a.episode_starts, at) for a in turns)

    def _observations(self) -> dict[str, ServiceObservation]:
        """Per service, when it was first seen failing and how badly. One plain pass, then one model per
        service: this runs once per activation over every alert of the incident."""
        first: dict[str, datetime] = {}
        severities: dict[str, set[str]] = {}

        def observe(name: str, when: datetime, severity: str) -> None:
            held = first.get(name)
            if held is None or when < held:
                first[name] = when
            severities.setdefault(name, set()).add(severity)

        for a in self.alerts.values():
            if a.service:
                observe(a.service, a.starts_at, a.severity)
        for r in self.anomalies.values():
            observe(r.signal.service, r.signal.window.start, r.signal.severity)
        return {
            name: ServiceObservation(
                context=self.contexts.get(name) or ServiceContext(name=name, in_catalog=False),
                first_seen=when,
                severity=worst_severity(severities[name]),
            )
            for name, when in first.items()
        }

    def _rank(self, at: datetime) -> None:
        observed = self._observations()
        self.services = sorted(observed)
        ranked = rank_root_causes(observed)
        leader = ranked[0].service if ranked else None
        if self.root_causes and leader != self.root_causes[0].service and len(ranked) > 1:
            self.record(
                at,
                TimelineKind.INCIDENT_ROOT_CAUSE,
                f"Most likely root cause is now {leader}: {'; '.join(ranked[0].reasons)}.",
                candidates=[c.service for c in ranked[:3]],
            )
        self.root_causes = ranked

    @property
    def owner(self) -> ServiceContext | None:
        """The most likely root cause's service as the catalog knows it: whose team is notified. For a
        node's incident (:attr:`hosts_route`), the catalog service on the node that ranks first: the node
        is in no catalog, so its incident paged the default key (or nobody, without one) while the pages
        of the teams whose incidents joined it were resolved, mid-outage."""
        root = self._root()
        if root is None or root.in_catalog or not root.hosts or not self.hosts_route:
            return root
        for candidate in self.root_causes[1:]:
            ctx = self.contexts.get(candidate.service)
            if ctx is not None and ctx.in_catalog and candidate.service in root.hosts:
                return ctx
        return root

    def _root(self) -> ServiceContext | None:
        return self.contexts.get(self.root_causes[0].service) if self.root_causes else None

    def _rescore(self, at: datetime) -> None:
        services = [self.contexts.get(s) or ServiceContext(name=s, in_catalog=False) for s in self.services]
        root = self._root()
        burn: dict[str, float] = {}
        detail: dict[str, str] = {}
        for a in self.alerts.values():
            found = _burn(a, current=self.current_reads)
            if (
                a.service
                and found is not None
                and a.status is AlertStatus.FIRING
                and found.rate > burn.get(a.service, -1.0)
            ):
                burn[a.service], detail[a.service] = found.rate, found.describe()
        impact = score_impact(
            severity=self.severity,
            services=services,
            root=root,
            alert_count=self.alert_count,
            slo_burn=burn,
            slo_detail=detail,
        )
        if self.current_reads:  # (an incident begun before scores as it did: its pages replay)
            impact = burn_floor(impact, burn, detail)
        for record in self.anomalies.values():  # (none in a history from before heartbeats: it replays)
            floor = SEVERITY_FLOOR.get(record.signal.severity)  # (kept once the beats are back)
            signal = record.signal
            if signal.source == HEARTBEAT_SOURCE and HEARTBEAT_LABEL in signal.series and floor is not None:
                why = "the alerting pipeline's heartbeat stopped: no other alert may reach anyone"
                impact = impact.at_least(floor, why)
        if self.pipeline_floor:  # Prometheus', Alertmanager's own alerts (medic.pipeline_alerts), firing
            firing = [(a.name, a.severity) for a in self.alerts.values() if a.status is AlertStatus.FIRING]
            impact = pipeline_floor(impact, firing)  # (a reload that failed once and is over: no floor)
        if self.current_reads:  # Grafana's DatasourceError, DatasourceNoData (medic.grafana_alerts), firing
            failing = [
                (a.labels, a.annotations, a.severity)
                for a in self.alerts.values()
                if a.status is AlertStatus.FIRING and datasource_alert(a.labels)
            ]
            impact = datasource_floor(impact, failing)
        before = self.impact_detail
        self.impact_detail, self.impact, self.priority = impact, impact.score, impact.priority
        if (
            before is None
            or before.priority != impact.priority
            or abs(before.score - impact.score) >= _RESCORE_POINTS
        ):
            # The same priority, a factor moving (an SLO burn coming and going with a flapping alert): on
            # the timeline, not a thread reply each time (``chatter``).
            self.record(
                at,
                TimelineKind.INCIDENT_SCORED,
                f"Scored {impact.explain()}.",
                factors={f.name: f.points for f in impact.factors},
            )
            if before is not None and before.priority == impact.priority:
                self.timeline[-1].data["chatter"] = True

    def _title(self) -> str:
        """The ranked root cause's own alert on the root cause's service, the symptoms as "+N services":
        "PostgresDown on users-db (+3 more services)", never a symptom's alert paired with the cause."""
        root = self.root_causes[0].service if self.root_causes else None
        own = [r for r in self.alerts.values() if root is not None and r.service == root]
        pool = own or list(self.alerts.values())
        if self.current_reads and pool and all(datasource_alert(r.labels) for r in pool):
            return datasource_title([r.labels for r in pool])[:200]  # the data source, its rules
        names: list[str] = []
        for record in sorted(pool, key=lambda r: r.first_seen_at):
            if record.name not in names:
                names.append(record.name)
        for anomaly in self.anomalies.values():
            label = anomaly.signal.headline()
            if label not in names:
                names.append(label)
        head = names[0] if names else "Incident"
        where = f" on {root}" if root else ""
        cluster = self.contexts[root].cluster if root in self.contexts else ""
        if cluster:  # one cluster's incident of the service (MEDIC_INCIDENTS_PER_CLUSTER): which one
            where += f" in {cluster}"
        others = len(self.services) - 1
        # "(+1 more)" read as one more service (an SLO team's walk-through: two SLOs of checkout burning)
        extra = len(names) - 1
        kind = "alert" if len({r.name for r in pool}) == len(names) else "signal"
        said = f" {kind}{'s' if extra > 1 else ''}" if self.current_reads else ""
        more = (
            f" (+{others} more service{'s' if others > 1 else ''})"
            if others > 0
            else (f" (+{extra} more{said})" if extra > 0 else "")
        )
        return f"{head}{where}{more}"[:200]


def _move_start(held: AlertRecord, starts_at: datetime) -> None:
    """The same episode, started at ``starts_at`` to a finer precision: its episode and runbook match
    move with it (a match is per episode: the finer start is not a new one)."""
    held.episode_starts = [starts_at if s == held.starts_at else s for s in held.episode_starts]
    if held.matched_episode == held.starts_at:
        held.matched_episode = starts_at
    held.starts_at = starts_at


def _same_start(held: AlertRecord, alert: Alert) -> bool:
    """The same episode: Alertmanager's API answers starts to the millisecond, its webhook finer."""
    return abs(alert.starts_at - held.starts_at) < timedelta(milliseconds=1)


def _datasource_where(alert: Alert) -> str:
    """Where a Grafana DatasourceError or DatasourceNoData is: its rule, its data source, its error."""
    uid = alert.labels.get("datasource_uid")
    parts = [f"rule {alert.labels.get('rulename', '')!r}", uid and f"data source {uid}"]
    error = datasource_error_text(alert.annotations)
    return f" ({', '.join(p for p in parts if p)}){': ' + error if error else ''}"


def _where(record: AlertRecord) -> str:
    instance = record.labels.get("instance")
    parts = [
        p for p in (record.service and f"service {record.service}", instance and f"instance {instance}") if p
    ]
    return f" ({', '.join(parts)})" if parts else ""
