"""The worker's counters the shipped alerts take ``increase()`` of are exported at 0 from its start.

``increase()`` counts nothing of a series that first appears at 1: a worker's first failed page, first
notification that reached nobody, first failed remediation action or first approval timed out fired none
of MedicNotificationFailures, MedicNotificationsReachNobody, MedicRemediationFailures or
MedicApprovalsTimedOut (the scans' alert had the same gap, found by a walk-through on 2026-12-07)."""

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from remediations.actions import ACTIONS
from service.metrics import NOTIFICATION_CHANNELS, WorkerMetrics

RULES = Path(__file__).parents[2] / "deploy/helm/medic/templates/prometheusrule.yaml"
COUNTED = re.compile(r"increase\((medic_\w+_total)\{.*?outcome=\"(\w+)\"")
BY_LABEL = {"medic_notifications_total": "channel", "medic_remediation_actions_total": "kind"}


def test_every_outcome_an_alert_counts_is_exported_at_0_before_anything_happened() -> None:
    registry = CollectorRegistry()
    WorkerMetrics(registry)
    counted = {m.groups() for m in COUNTED.finditer(RULES.read_text())}
    counted = {(name, outcome) for name, outcome in counted if name != "medic_anomaly_scan_runs_total"}
    assert ("medic_approvals_total", "timed_out") in counted and len(counted) >= 4, counted
    each = {"channel": NOTIFICATION_CHANNELS, "kind": tuple(a.name for a in ACTIONS)}
    for name, outcome in sorted(counted):
        label = BY_LABEL.get(name)
        for value in each[label] if label else ("",):
            labels = {"outcome": outcome, **({label: value} if label else {})}
            assert registry.get_sample_value(name, labels) == 0.0, (name, labels)
