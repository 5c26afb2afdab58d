"""MEDIC_INCIDENTS_PER_CLUSTER and the settle period's question to Prometheus (activities/correlate.py):
a cluster's incident asks about its own cluster's causes. Against a Prometheus holding every cluster's
ALERTS (Mimir, Thanos), prod-eu's checkout waited out settle_max_seconds (60 s by default, unpaged)
because staging's orders-db had an alert pending, and said staging's database was its likely cause,
although staging's database incident can never absorb it (correlation stays inside a cluster).
Time-skipping server; Prometheus is a fake behind the real activity."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from activities.correlate import CorrelationActivities
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState
from medic.keys import service_incident_id
from medic.topology import in_cluster
from tests.support.shop import ctx, shop
from tests.workflow.test_cascade_notifications import SETTLE
from tests.workflow.test_notifications import Handle, Harness, harness
from tests.workflow.test_settle_probe import LONGEST, FakePrometheus, correlation_worker, poll
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["harness"]

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


@pytest.fixture
def prometheus() -> FakePrometheus:
    return FakePrometheus([])


@pytest.fixture
async def worker(harness: Harness, prometheus: FakePrometheus) -> AsyncIterator[Harness]:
    correlate = CorrelationActivities(
        source=prometheus, catalog=shop, cache_seconds=0, cluster_label="cluster"
    )
    async with correlation_worker(harness, correlate):
        yield harness


async def _open(h: Harness, cluster: str) -> Handle:
    """prod-eu's (or another cluster's) checkout incident, as the API starts it with the setting on."""
    context = in_cluster(ctx("checkout"), cluster)
    alert = Alert(
        fingerprint=f"{cluster}-checkout",
        status=AlertStatus.FIRING,
        starts_at=T0,
        service="checkout",
        labels={
            "alertname": "HighErrorRate",
            "service": "checkout",
            "severity": "critical",
            "cluster": cluster,
        },
    )
    incident_id = service_incident_id("checkout", cluster=cluster)
    return await h.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=incident_id,
            service=context,
            quiet_period_seconds=60,
            remediate=False,
            settle_seconds=SETTLE,
            settle_max_seconds=LONGEST,
        ),
        id=incident_id,
        task_queue=h.task_queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[AlertBatch(alerts=[alert], received_at=T0, contexts=[context])],
    )


def _said(state: IncidentState) -> bool:
    return any(e.kind in ("incident.settling", "incident.settled") for e in state.timeline)


async def test_another_clusters_pending_cause_does_not_hold_a_clusters_incident(
    worker: Harness, prometheus: FakePrometheus
) -> None:
    prometheus.alerts = [
        {"alertname": "PostgresDown", "service": "orders-db", "alertstate": "pending", "cluster": "staging"}
    ]
    checkout = await _open(worker, "prod-eu")
    state = await poll(checkout, _said, "the answer on its causes")
    kinds = [e.kind for e in state.timeline]
    assert "incident.settling" not in kinds, [
        e.message for e in state.timeline if e.kind == "incident.settling"
    ]
    assert "incident.settled" in kinds


async def test_its_own_clusters_cause_and_one_naming_no_cluster_still_hold_it(
    worker: Harness, prometheus: FakePrometheus
) -> None:
    """The cause of its own cluster still counts, and so does an alert naming no cluster at all (a
    Prometheus of one cluster does not write its external labels into ALERTS)."""
    prometheus.alerts = [
        {"alertname": "PostgresDown", "service": "orders-db", "alertstate": "pending", "cluster": "staging"},
        {"alertname": "PostgresDown", "service": "orders-db", "alertstate": "pending", "cluster": "prod-eu"},
    ]
    checkout = await _open(worker, "prod-eu")
    state = await poll(checkout, _said, "the answer on its causes")
    (note,) = [e for e in state.timeline if e.kind == "incident.settling"]
    assert "orders-db: PostgresDown (pending)" in note.message
    prometheus.alerts = [{"alertname": "PostgresDown", "service": "orders-db", "alertstate": "pending"}]
    us = await _open(worker, "prod-us")
    state = await poll(us, _said, "the answer on its causes")
    assert any(e.kind == "incident.settling" for e in state.timeline)
