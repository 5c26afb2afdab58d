"""Medic's own Prometheus metrics, on an explicit registry passed to whoever records."""

import platform
import time
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from remediations.actions import ACTIONS
from service.approval_metrics import APPROVAL_OUTCOMES
from service.chats import CHAT_KINDS
from service.readiness import READY_CAUSES

__all__ = ["ApiMetrics", "WorkerMetrics", "record_build_info"]


def record_build_info(registry: CollectorRegistry) -> None:
    """``medic_build_info{version, python, temporalio} 1``: which Medic each process runs."""

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "unknown"

    info = Gauge(
        "medic_build_info",
        "Always 1; the labels say which Medic (and Python and Temporal SDK) this process runs.",
        ["version", "python", "temporalio"],
        registry=registry,
    )
    info.labels(
        version=version("medic"), python=platform.python_version(), temporalio=version("temporalio")
    ).set(1)


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.webhook_requests = Counter(
            "medic_webhook_requests",
            "Webhook requests by route and HTTP status code.",
            ["route", "code"],
            registry=registry,
        )
        # The refusals Alertmanager does not retry, and those of people's acknowledgements, exist at 0
        # from the start, so that increase() in MedicWebhookRefused sees a pod's first one (a series
        # born at 1 shows no increase).
        for route, codes in (
            ("alertmanager", ("401", "413", "422")),
            ("anomaly", ("401", "413", "422")),
            ("pagerduty", ("400", "401")),
            ("opsgenie", ("400", "401")),
            ("jira", ("400", "401")),
        ):
            for code in codes:
                self.webhook_requests.labels(route, code)
        self.previous_token = Counter(
            "medic_webhook_previous_token",
            "Webhook deliveries authenticated with MEDIC_WEBHOOK_TOKEN_PREVIOUS, by route: a sender not yet "
            "on the new token. Unset the previous token once this stays flat.",
            ["route"],
            registry=registry,
        )
        self.alerts_accepted = Counter(
            "medic_alerts_accepted",
            "Alerts and anomaly signals durably handed to Temporal, by source.",
            ["source"],
            registry=registry,
        )
        self.heartbeats = Counter(
            "medic_heartbeats_received",
            "Heartbeat alerts (Watchdog) handed to their heartbeat's workflow instead of an incident.",
            registry=registry,
        )
        self.ignored = Counter(
            "medic_alerts_ignored",
            "Alerts no incident takes (the routing policy's ignore:, e.g. InfoInhibitor), by rule.",
            ["rule"],
            registry=registry,
        )
        self.webhook_latency = Histogram(
            "medic_webhook_latency_seconds",
            "Time from request to answer for webhooks, including the Temporal hand-off.",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=registry,
        )
        self.temporal_unavailable = Counter(
            "medic_temporal_unavailable",
            "Deliveries answered 503 because Temporal could not take them.",
            registry=registry,
        )
        self.ready = Gauge(
            "medic_api_ready",
            "The API's last readiness check (GET /readyz, or the scrape when no probe asked for 30 s): 1 "
            "for the reason it gave (ready, temporal_unreachable, temporal_not_serving, "
            "namespace_not_found, namespace_not_granted, namespace_not_described), 0 for the others.",
            ["reason"],
            registry=registry,
        )
        for cause in READY_CAUSES:
            self.ready.labels(cause).set(0)
        self.ready_checked_at: float | None = None

    def readiness(self, cause: str, *, at: float | None = None) -> None:
        """Say the readiness check's answer: ``cause`` is one of READY_CAUSES."""
        for each in READY_CAUSES:
            self.ready.labels(each).set(1 if each == cause else 0)
        self.ready_checked_at = time.monotonic() if at is None else at

    def readiness_stale(self, *, older_than: float = 30.0) -> bool:
        """Whether no readiness check ran for ``older_than`` seconds (no probe asks: a local `medic api`)."""
        return self.ready_checked_at is None or time.monotonic() - self.ready_checked_at > older_than


SCAN_OUTCOMES = ("ok", "retried", "failed")  # of an anomaly scan's attempt (activities.scan)
# The series the shipped alerts count with increase(), exported at 0 from the start: increase() counts
# nothing of a series that first appears at 1, so a worker's first failed page or action, or its first
# approval timed out, fired nothing (MedicNotificationFailures, MedicNotificationsReachNobody,
# MedicRemediationFailures, MedicApprovalsTimedOut).
NOTIFICATION_CHANNELS = (*CHAT_KINDS, "pagerduty", "opsgenie", "jira")
_COUNTED_FROM_ZERO = {"notifications": ("ok", "failed", "console"), "actions": ("applied", "failed")}
_DURATION_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400)


class WorkerMetrics:
    """What the worker's activities record (see ``activities.observe``): the incident outcomes."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.opened = Counter(
            "medic_incidents_opened",
            "Incidents opened, by their first priority.",
            ["priority"],
            registry=registry,
        )
        self.resolved = Counter(
            "medic_incidents_resolved",
            "Incidents resolved, by final priority.",
            ["priority"],
            registry=registry,
        )
        self.mtta = Histogram(
            "medic_incident_time_to_acknowledge_seconds",
            "From detection to the first acknowledgement (MTTA), per resolved incident.",
            ["priority"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.mttr = Histogram(
            "medic_incident_time_to_resolve_seconds",
            "From the first signal to resolution (MTTR), per resolved incident.",
            ["priority"],
            buckets=_DURATION_BUCKETS,
            registry=registry,
        )
        self.actions = Counter(
            "medic_remediation_actions",
            "Remediation actions by kind and outcome (applied, rolled_back; failed: for good, a permanent "
            "error or the last attempt; retried: Temporal tries again; timeout/cancelled: the attempt was "
            "cancelled under it; changed_meanwhile: the target changed since the plan read it, so the step "
            "did not act).",
            ["kind", "outcome"],
            registry=registry,
        )
        self.approvals = Counter(
            "medic_approvals",
            "Approvals of remediations by outcome (requested, approved, denied, timed_out), counted by "
            "the worker as the remediation reports them (service/approval_metrics.py).",
            ["outcome"],
            registry=registry,
        )
        self.notifications = Counter(
            "medic_notifications",
            "Notification calls by channel (slack, teams, pagerduty, opsgenie, jira) and outcome (ok; "
            "failed: for good, a permanent error or the last attempt the retry policy allows; retried: "
            "Temporal tries again; timeout/cancelled: the attempt was cancelled under it (its "
            "start-to-close timeout, a worker shutdown); console: no credentials, shown on the console "
            "only, it reached nobody).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.scans = Counter(
            "medic_anomaly_scan_runs",
            "Anomaly scan attempts by scan and outcome (ok; retried: the attempt failed and Temporal tries "
            "again; failed: the run failed for good, as GET /anomalies/scans shows in last_error).",
            ["scan", "outcome"],
            registry=registry,
        )

        for channel in NOTIFICATION_CHANNELS:
            for outcome in _COUNTED_FROM_ZERO["notifications"]:
                self.notifications.labels(channel=channel, outcome=outcome)
        for action in ACTIONS:
            for outcome in _COUNTED_FROM_ZERO["actions"]:
                self.actions.labels(kind=action.name, outcome=outcome)
        for outcome in APPROVAL_OUTCOMES.values():
            self.approvals.labels(outcome=outcome)

    def approval(self, outcome: str) -> None:
        self.approvals.labels(outcome=outcome).inc()

    def notification(self, channel: str, outcome: str) -> None:
        self.notifications.labels(channel=channel, outcome=outcome).inc()

    def action(self, kind: str, outcome: str) -> None:
        self.actions.labels(kind=kind, outcome=outcome).inc()

    def scan_run(self, scan: str, outcome: str) -> None:
        self.scans.labels(scan=scan, outcome=outcome).inc()

    def scans_known(self, scans: list[str]) -> None:
        for scan in scans:  # at 0 (MedicAnomalyScanFailing's increase() missed a first failure)
            for outcome in SCAN_OUTCOMES:
                self.scans.labels(scan=scan, outcome=outcome)

    def incident_opened(self, priority: str) -> None:
        self.opened.labels(priority=priority).inc()

    def incident_resolved(self, priority: str, *, mtta: float | None, mttr: float | None) -> None:
        self.resolved.labels(priority=priority).inc()
        if mtta is not None:
            self.mtta.labels(priority=priority).observe(mtta)
        if mttr is not None:
            self.mttr.labels(priority=priority).observe(mttr)
