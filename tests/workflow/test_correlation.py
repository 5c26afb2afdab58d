"""Incidents of dependent services fold into the incident of their cause, in any order, and
the merged incident is re-scored as it grows (time-skipping server, one per test so the
per-service workflow ids of one test never meet another's)."""

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, AnomalyBatch, IncidentState, IncidentStatus
from medic.keys import service_incident_id
from medic.vocab import TimelineKind
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.support.findings import finding
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from workflows.incident import (
    ALERTS_SIGNAL,
    ANOMALIES_SIGNAL,
    IncidentInput,
    IncidentResult,
    IncidentWorkflow,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
Handle = WorkflowHandle[IncidentWorkflow, IncidentResult]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal-test-server")
    async with (
        time_skipping(path) as environment,
        Worker(environment.client, task_queue="medic", workflows=WORKFLOWS),
    ):
        yield environment


def batch(
    service: str,
    name: str,
    *,
    status: AlertStatus = AlertStatus.FIRING,
    n: int = 1,
    severity: str = "critical",
    starts: datetime = T0,
) -> AlertBatch:
    alerts = [
        Alert(
            fingerprint=f"{service}-{name}-{i}",
            status=status,
            labels={"alertname": name, "service": service, "severity": severity, "pod": f"{service}-{i}"},
            starts_at=starts,
            service=service,
        )
        for i in range(n)
    ]
    return AlertBatch(alerts=alerts, received_at=starts, contexts=[ctx(service)])


async def deliver(env: WorkflowEnvironment, service: str, alerts: AlertBatch) -> Handle:
    """What the API does: signal-with-start the service's incident."""
    incident_id = service_incident_id(service)
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=incident_id, service=ctx(service), notify=False, remediate=False),
        id=incident_id,
        task_queue="medic",
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[alerts],
    )


async def eventually(handle: Handle, check: Callable[[IncidentState], bool], what: str) -> IncidentState:
    """Poll the incident's state (bounded) while the peers exchange their signals."""
    for _ in range(100):
        state = await handle.query(IncidentWorkflow.state)
        if check(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"never saw {what}; last state: {state.model_dump_json(include={'merged_into', 'absorbed'})}"
    )


async def test_symptom_after_cause_joins_the_cause(env: WorkflowEnvironment) -> None:
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    checkout = await deliver(env, "checkout", batch("checkout", "CheckoutErrors", n=3))
    root = await eventually(db, lambda s: "incident-checkout" in s.absorbed, "orders-db absorbing checkout")
    assert root.alert_count == 4
    assert [c.service for c in root.root_causes] == ["orders-db", "checkout"]
    assert "1 failing service(s) depend on it: checkout" in root.root_causes[0].reasons
    child = await checkout.query(IncidentWorkflow.state)
    assert child.merged_into == "incident-orders-db" and child.status is IncidentStatus.RESOLVED
    assert "incident.merged" in [e.kind for e in root.timeline]
    # Later alerts for checkout are forwarded to the root, not lost.
    await checkout.signal(IncidentWorkflow.alerts, batch("checkout", "CheckoutLatency"))
    await eventually(db, lambda s: s.alert_count == 5, "the forwarded alert in the root incident")


async def test_cause_after_symptom_pulls_the_symptom_in(env: WorkflowEnvironment) -> None:
    checkout = await deliver(env, "checkout", batch("checkout", "CheckoutErrors"))
    frontend = await deliver(env, "frontend", batch("frontend", "FrontendErrors", severity="warning"))
    await eventually(checkout, lambda s: "incident-frontend" in s.absorbed, "checkout absorbing frontend")
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    root = await eventually(
        db,
        lambda s: {"incident-checkout", "incident-frontend"} <= set(s.absorbed),
        "the whole chain in orders-db",
    )
    assert root.services == ["checkout", "frontend", "orders-db"]
    assert root.root_causes[0].service == "orders-db"
    # frontend -> checkout -> orders-db: a forwarded alert travels the chain.
    await frontend.signal(IncidentWorkflow.alerts, batch("frontend", "FrontendLatency"))
    await eventually(db, lambda s: s.alert_count == 4, "the alert forwarded along the chain")


async def test_unrelated_and_late_incidents_stay_apart(env: WorkflowEnvironment) -> None:
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    search = await deliver(env, "search", batch("search", "SearchSlow"))
    await env.sleep(timedelta(minutes=20))
    # A symptom 20 minutes after its cause's last signal is outside the 15-minute window.
    late = T0 + timedelta(minutes=20)
    checkout = await deliver(env, "checkout", batch("checkout", "CheckoutErrors", starts=late))
    await env.sleep(timedelta(seconds=30))
    for handle in (db, search, checkout):
        state = await handle.query(IncidentWorkflow.state)
        assert state.merged_into is None and state.absorbed == [], state.id


async def test_children_close_when_the_root_resolves(env: WorkflowEnvironment) -> None:
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    checkout = await deliver(env, "checkout", batch("checkout", "CheckoutErrors"))
    await eventually(db, lambda s: s.absorbed == ["incident-checkout"], "the merge")
    await db.signal(IncidentWorkflow.alerts, batch("orders-db", "PostgresDown", status=AlertStatus.RESOLVED))
    await checkout.signal(
        IncidentWorkflow.alerts, batch("checkout", "CheckoutErrors", status=AlertStatus.RESOLVED)
    )
    root = await db.result()
    assert root.status is IncidentStatus.RESOLVED and root.alert_count == 2
    child = await checkout.result()
    assert child.merged_into == "incident-orders-db"


async def test_forward_to_a_closed_root_makes_the_child_stand_alone(env: WorkflowEnvironment) -> None:
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    checkout = await deliver(env, "checkout", batch("checkout", "CheckoutErrors"))
    await eventually(db, lambda s: s.absorbed == ["incident-checkout"], "the merge")
    await db.terminate("operator closed it by hand")  # the root is gone without telling its children
    refire = T0 + timedelta(minutes=1)
    await checkout.signal(IncidentWorkflow.alerts, batch("checkout", "CheckoutTimeouts", starts=refire))
    alone = await eventually(
        checkout, lambda s: s.merged_into is None and s.alert_count == 1, "the child alone"
    )
    assert alone.status is IncidentStatus.OPEN
    assert "incident.unmerged" in [e.kind for e in alone.timeline]


async def test_rescored_as_the_incident_grows(env: WorkflowEnvironment) -> None:
    search = await deliver(env, "search", batch("search", "SearchSlow", severity="warning"))
    first = await eventually(search, lambda s: s.impact_detail is not None, "a score")
    assert first.priority == "P4"
    await search.signal(IncidentWorkflow.alerts, batch("search", "SearchDown", severity="critical", n=60))
    grown = await eventually(search, lambda s: s.alert_count == 61, "the larger incident")
    assert grown.impact > first.impact
    assert grown.priority == "P3"
    scored = [e for e in grown.timeline if e.kind == "incident.scored"]
    assert len(scored) == 2 and "alert_count" in scored[-1].data["factors"]
    description = await search.describe()
    attrs = {p.key.name: p.value for p in description.typed_search_attributes}
    assert attrs["MedicPriority"] == "P3" and attrs["MedicImpact"] == grown.impact


async def test_a_quiet_incident_is_not_absorbed(env: WorkflowEnvironment) -> None:
    """The quick-start case: checkout's alert resolved (its incident in the quiet period) is not pulled
    into an orders-db outage that starts minutes later, nor does it pull anything in."""
    checkout = await deliver(env, "checkout", batch("checkout", "CheckoutErrors"))
    await checkout.signal(
        IncidentWorkflow.alerts, batch("checkout", "CheckoutErrors", status=AlertStatus.RESOLVED)
    )
    await eventually(checkout, lambda s: s.quiet_since is not None, "checkout quiet")
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown", starts=T0 + timedelta(minutes=2)))
    await env.sleep(timedelta(seconds=30))
    for handle in (db, checkout):
        state = await handle.query(IncidentWorkflow.state)
        assert state.merged_into is None and state.absorbed == [], state.id


async def test_the_window_counts_from_when_alerts_started_not_when_they_arrived(
    env: WorkflowEnvironment,
) -> None:
    """An alert that started 11 hours before the outage but is delivered during it stays apart."""
    old = T0 - timedelta(hours=11)
    search = await deliver(env, "checkout", batch("checkout", "CheckoutSlow", starts=old))
    db = await deliver(env, "orders-db", batch("orders-db", "PostgresDown"))
    await env.sleep(timedelta(seconds=30))
    for handle in (db, search):
        state = await handle.query(IncidentWorkflow.state)
        assert state.merged_into is None and state.absorbed == [], state.id


def anomaly(service: str, source: str = "grafana-ml") -> AnomalyBatch:
    """A detector's finding on ``service`` (no alert: say a Grafana ML job on the database's latency)."""
    return finding(service, source=source)


async def opened_by(env: WorkflowEnvironment, service: str, finding: AnomalyBatch) -> Handle:
    """``service``'s incident, opened by a detector's ``finding`` (no alert)."""
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id=f"incident-{service}", service=ctx(service), notify=False, remediate=False),
        id=f"incident-{service}",
        task_queue="medic",
        start_signal=ANOMALIES_SIGNAL,
        start_signal_args=[finding],
    )


async def seen_on_orders_db(env: WorkflowEnvironment, source: str = "grafana-ml") -> Handle:
    """orders-db's incident, opened by a detector's finding (``source``), no alert."""
    return await opened_by(env, "orders-db", anomaly("orders-db", source=source))


@pytest.mark.parametrize("cause_first", [True, False], ids=["cause-first", "symptom-first"])
async def test_a_cause_seen_only_by_a_detector_takes_in_its_symptoms(
    env: WorkflowEnvironment, cause_first: bool
) -> None:
    """Anomalies never fire: an incident of anomalies only was quiet from its first one, so it neither
    absorbed nor joined, and an anomaly on orders-db beside alerts on checkout (which calls it) made two
    incidents, two notifications (a review, 2026-12-06)."""
    symptom = batch("checkout", "CheckoutErrors", n=3, starts=datetime.now(UTC))
    if cause_first:
        db = await seen_on_orders_db(env)
        checkout = await deliver(env, "checkout", symptom)
    else:
        checkout = await deliver(env, "checkout", symptom)
        db = await seen_on_orders_db(env)
    root = await eventually(db, lambda s: "incident-checkout" in s.absorbed, "orders-db taking in checkout")
    assert root.services == ["checkout", "orders-db"] and root.alert_count == 3 and len(root.anomalies) == 1
    assert (await checkout.query(IncidentWorkflow.state)).merged_into == "incident-orders-db"


async def test_a_prediction_takes_in_nothing(env: WorkflowEnvironment) -> None:
    """A prediction (orders-db's disk full in some hours) is no outage now: it absorbed checkout's real
    outage, and checkout's page went to orders-db's team (a review, 2026-12-06)."""
    await seen_on_orders_db(env, source="medic-forecast")
    checkout = await deliver(
        env, "checkout", batch("checkout", "CheckoutErrors", n=3, starts=datetime.now(UTC))
    )
    await asyncio.sleep(2)  # the hellos are exchanged within a workflow task or two
    assert (await checkout.query(IncidentWorkflow.state)).merged_into is None


def stale_anomaly(service: str, *, ended: timedelta) -> AnomalyBatch:
    """The docs' example as posted days later: a finding whose window ended ``ended`` ago."""
    return finding(
        service,
        ended=ended,
        lasted=timedelta(minutes=10),
        source="medic-scan",
        metric="http_request_duration_seconds:p99",
        value=1.8,
        expected=(0.1, 0.4),
        score=0.97,
    )


async def found_on_payments(env: WorkflowEnvironment, *, ended: timedelta) -> Handle:
    """payments' incident, opened by a finding whose window ended ``ended`` before it arrived."""
    return await opened_by(env, "payments", stale_anomaly("payments", ended=ended))


@pytest.mark.parametrize("cause_first", [True, False], ids=["stale-first", "symptom-first"])
async def test_a_stale_finding_is_no_cause(env: WorkflowEnvironment, cause_first: bool) -> None:
    """A finding whose window ended 13 days ago (the docs' example posted later) counted as an outage
    beginning when it arrived: payments' incident took in checkout's live one, and checkout's page
    went to payments' team (a review, 2026-12-06)."""

    async def on_payments() -> Handle:
        return await found_on_payments(env, ended=timedelta(days=13))

    symptom = batch("checkout", "CheckoutErrors", n=3, starts=datetime.now(UTC))
    if cause_first:
        payments = await on_payments()
        checkout = await deliver(env, "checkout", symptom)
    else:
        checkout = await deliver(env, "checkout", symptom)
        payments = await on_payments()
    await asyncio.sleep(2)  # the hellos are exchanged within a workflow task or two
    assert (await checkout.query(IncidentWorkflow.state)).merged_into is None
    state = await payments.query(IncidentWorkflow.state)
    assert state.absorbed == []
    # and its timeline says why: people read the entry as news
    [said] = [e.message for e in state.timeline if e.kind == TimelineKind.ANOMALY_DETECTED]
    assert "It came 1w 6d after its window ended: recorded, and no live cause." in said, said


async def test_a_coarse_scans_finding_is_a_live_cause(env: WorkflowEnvironment) -> None:
    """A scan at a step of an hour hands over a finding whose window ended up to two steps before (its
    last point is on the step grid): it is no late finding, and payments' incident takes in checkout's
    (judged against the correlation window from now, it counted as late, a review)."""
    await found_on_payments(env, ended=timedelta(minutes=70))
    checkout = await deliver(
        env, "checkout", batch("checkout", "CheckoutErrors", n=3, starts=datetime.now(UTC))
    )
    await asyncio.sleep(2)  # the hellos are exchanged within a workflow task or two
    assert (await checkout.query(IncidentWorkflow.state)).merged_into == "incident-payments"
