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

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, Field

from medic.alerts import Alert, AlertStatus
from medic.anomaly import AnomalySignal
from medic.severity import canonical_severity, priority_for, severity_impact, worst_severity
from medic.timeline import TimelineEntry

__all__ = ["AlertBatch", "AlertRecord", "AnomalyBatch", "AnomalyRecord", "IncidentState", "IncidentStatus"]

# Labels that name the service an alert is about, most specific first.
SERVICE_LABELS = ("service", "app_kubernetes_io_name", "app", "job")


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"


class AlertBatch(BaseModel):
    """Alerts for one incident from one delivery: the unit of a workflow signal."""

    alerts: list[Alert]
    received_at: datetime
    # Alerts Alertmanager left out of the delivery (its max_alerts); they are not lost
    # there, but the incident says so.
    truncated: int = 0


class AnomalyBatch(BaseModel):
    signals: list[AnomalySignal]
    received_at: datetime


class AlertRecord(BaseModel):
    fingerprint: str
    name: str
    status: AlertStatus
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime
    ends_at: datetime | None = None
    generator_url: str | None = None
    source: str
    first_seen_at: datetime
    last_seen_at: datetime
    deliveries: int = 1


class AnomalyRecord(BaseModel):
    key: str
    signal: AnomalySignal
    first_seen_at: datetime
    last_seen_at: datetime


def service_of(labels: dict[str, str]) -> str | None:
    for name in SERVICE_LABELS:
        value = labels.get(name)
        if value:
            return value
    return None


def _record(alert: Alert, at: datetime) -> AlertRecord:
    return AlertRecord(
        fingerprint=alert.fingerprint,
        name=alert.name,
        status=alert.status,
        severity=canonical_severity(alert.labels.get("severity")),
        labels=alert.labels,
        annotations=alert.annotations,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        generator_url=alert.generator_url,
        source=alert.source,
        first_seen_at=at,
        last_seen_at=at,
    )


class IncidentState(BaseModel):
    """Everything an incident knows. Serialisable, so it survives continue-as-new."""

    id: str
    title: str = "new incident"
    status: IncidentStatus = IncidentStatus.OPEN
    opened_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    quiet_since: datetime | None = None
    severity: str = "info"
    priority: str = "P5"
    impact: float = 0.0
    services: list[str] = Field(default_factory=list)
    alerts: dict[str, AlertRecord] = Field(default_factory=dict)
    anomalies: dict[str, AnomalyRecord] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    truncated_alerts: int = 0
    revision: int = 0

    # ---- reading -------------------------------------------------------------------------------

    @property
    def firing_count(self) -> int:
        return sum(1 for a in self.alerts.values() if a.status is AlertStatus.FIRING)

    @property
    def alert_count(self) -> int:
        return len(self.alerts)

    def active_anomalies(self, at: datetime) -> list[AnomalyRecord]:
        return [a for a in self.anomalies.values() if a.signal.active_until > at]

    def is_quiet(self, at: datetime) -> bool:
        """Nothing firing and no anomaly still inside its window."""
        return self.firing_count == 0 and not self.active_anomalies(at)

    def quiet_deadline(self, quiet_period: timedelta) -> datetime | None:
        """When the incident may resolve if nothing fires before then; None while firing."""
        if self.firing_count or self.quiet_since is None:
            return None
        start = self.quiet_since
        for record in self.anomalies.values():
            start = max(start, record.signal.active_until)
        return start + quiet_period

    # ---- changing ------------------------------------------------------------------------------

    def record(self, at: datetime, kind: str, message: str, *, actor: str = "medic", **data: object) -> None:
        self.timeline.append(TimelineEntry(at=at, kind=kind, actor=actor, message=message, data=dict(data)))

    def apply_alerts(self, batch: AlertBatch, *, at: datetime) -> bool:
        """Apply one delivery; True when anything changed (a duplicate delivery returns False)."""
        changed = False
        for alert in batch.alerts:
            changed = self._apply_alert(alert, at) or changed
        if batch.truncated != self.truncated_alerts:
            self.truncated_alerts = batch.truncated
            self.record(
                at,
                "alert.truncated",
                f"Alertmanager left {batch.truncated} alerts out of its last "
                "delivery (its max_alerts setting); they are not shown here.",
                actor="alertmanager",
            )
            changed = True
        if changed:
            self._after_change(at)
        return changed

    def apply_anomalies(self, batch: AnomalyBatch, *, at: datetime) -> bool:
        changed = False
        for signal in batch.signals:
            changed = self._apply_anomaly(signal, at) or changed
        if changed:
            self._after_change(at)
        return changed

    def resolve(self, at: datetime) -> None:
        self.status = IncidentStatus.RESOLVED
        self.resolved_at = at
        self.record(
            at, "incident.resolved", f"Resolved: nothing has fired since {self.quiet_since:%H:%M:%S}Z."
        )
        self.revision += 1

    def _apply_alert(self, alert: Alert, at: datetime) -> bool:
        held = self.alerts.get(alert.fingerprint)
        if held is None:
            self.alerts[alert.fingerprint] = _record(alert, at)
            verb = "fired" if alert.status is AlertStatus.FIRING else "arrived already resolved"
            self.record(
                at,
                f"alert.{alert.status.value}",
                f"{alert.name} {verb}{_where(alert.labels)}.",
                actor=alert.source,
                fingerprint=alert.fingerprint,
                labels=alert.labels,
            )
            return True
        held.last_seen_at = at
        held.deliveries += 1
        if alert.starts_at < held.starts_at:
            return False  # a delivery from an older episode
        same_episode = alert.starts_at == held.starts_at
        if same_episode and alert.status is held.status:
            return False  # a duplicate or a repeat notification
        if same_episode and held.status is AlertStatus.RESOLVED:
            return False  # a stale "firing" that lost the race with its own "resolved"
        previous = held.status
        held.status = alert.status
        held.starts_at = alert.starts_at
        held.ends_at = alert.ends_at
        held.annotations = alert.annotations
        if alert.status is AlertStatus.RESOLVED:
            self.record(
                at,
                "alert.resolved",
                f"{alert.name} resolved{_where(alert.labels)}.",
                actor=alert.source,
                fingerprint=alert.fingerprint,
            )
        else:
            self.record(
                at,
                "alert.firing",
                f"{alert.name} fired again{_where(alert.labels)}.",
                actor=alert.source,
                fingerprint=alert.fingerprint,
                previous=previous.value,
            )
        return True

    def _apply_anomaly(self, signal: AnomalySignal, at: datetime) -> bool:
        held = self.anomalies.get(signal.key)
        if held is not None and signal.window.end <= held.signal.window.end:
            held.last_seen_at = at
            return False  # nothing newer than what we hold
        self.anomalies[signal.key] = AnomalyRecord(
            key=signal.key,
            signal=signal,
            first_seen_at=held.first_seen_at if held else at,
            last_seen_at=at,
        )
        verb = "continues" if held else "detected"
        self.record(
            at,
            "anomaly.detected" if held is None else "anomaly.extended",
            f"Anomaly {verb} on {signal.service} by {signal.source}: value {signal.value:g} outside "
            f"[{signal.expected.lower:g}, {signal.expected.upper:g}] (score {signal.score:.2f}).",
            actor=signal.source,
            key=signal.key,
            series=signal.series,
        )
        return True

    def _after_change(self, at: datetime) -> None:
        """Recompute the summary fields and the quiet-period bookkeeping after a change."""
        self.revision += 1
        firing = [a for a in self.alerts.values() if a.status is AlertStatus.FIRING]
        active = self.active_anomalies(at)
        self.severity = worst_severity(
            [a.severity for a in firing] + [r.signal.severity for r in active]
            or [a.severity for a in self.alerts.values()]
            + [r.signal.severity for r in self.anomalies.values()]
        )
        self.priority = priority_for(self.severity)
        self.impact = severity_impact(self.severity)
        services = {s for a in self.alerts.values() if (s := service_of(a.labels))}
        services |= {r.signal.service for r in self.anomalies.values()}
        self.services = sorted(services)
        self.title = self._title()
        was_quiet = self.quiet_since is not None
        if self.firing_count == 0:
            if not was_quiet:
                self.quiet_since = at
                if self.alerts:
                    self.record(
                        at,
                        "incident.quiet",
                        "Nothing is firing; the incident resolves after the quiet period.",
                    )
        elif was_quiet:
            self.quiet_since = None
            self.record(
                at, "incident.reopened", "An alert fired during the quiet period; the incident stays open."
            )

    def _title(self) -> str:
        names: list[str] = []
        for record in sorted(self.alerts.values(), key=lambda r: r.first_seen_at):
            if record.name not in names:
                names.append(record.name)
        for anomaly in self.anomalies.values():
            label = f"Anomaly in {anomaly.signal.series.get('__name__', 'a metric')}"
            if label not in names:
                names.append(label)
        head = names[0] if names else "Incident"
        where = f" on {', '.join(self.services[:3])}" if self.services else ""
        more = f" (+{len(names) - 1} more)" if len(names) > 1 else ""
        return f"{head}{where}{more}"[:200]


def _where(labels: dict[str, str]) -> str:
    service = service_of(labels)
    instance = labels.get("instance")
    parts = [p for p in (service and f"service {service}", instance and f"instance {instance}") if p]
    return f" ({', '.join(parts)})" if parts else ""
