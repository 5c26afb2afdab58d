"""IncidentWorkflow on the time-skipping server: quiet period, reopen, duplicate signals."""

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState, IncidentStatus
from tests.support.shop import ctx
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentResult, IncidentWorkflow

QUIET = 300.0
STARTS = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def batch(status: AlertStatus, *, starts: datetime = STARTS, name: str = "HighLatency") -> AlertBatch:
    alert = Alert(
        fingerprint=f"fp-{name}",
        status=status,
        labels={"alertname": name, "service": "checkout", "severity": "critical"},
        starts_at=starts,
        service="checkout",
    )
    return AlertBatch(alerts=[alert], received_at=STARTS, contexts=[ctx("checkout")])


def story(state: IncidentState) -> list[str]:
    """The timeline's kinds without the score bookkeeping."""
    return [e.kind for e in state.timeline if e.kind != "incident.scored"]


async def start(
    env: WorkflowEnvironment, worker: Worker, first: AlertBatch
) -> WorkflowHandle[IncidentWorkflow, IncidentResult]:
    return await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(incident_id="incident-test", quiet_period_seconds=QUIET, notify=False, remediate=False),
        id=f"incident-test-{uuid.uuid4().hex[:8]}",
        task_queue=worker.task_queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[first],
    )


async def state_of(handle: WorkflowHandle[IncidentWorkflow, IncidentResult]) -> IncidentState:
    return await handle.query(IncidentWorkflow.state)


async def test_stays_open_while_firing(env: WorkflowEnvironment, worker: Worker) -> None:
    handle = await start(env, worker, batch(AlertStatus.FIRING))
    await env.sleep(timedelta(hours=6))
    state = await state_of(handle)
    assert state.status is IncidentStatus.OPEN
    assert state.firing_count == 1


async def test_resolves_after_quiet_period(env: WorkflowEnvironment, worker: Worker) -> None:
    handle = await start(env, worker, batch(AlertStatus.FIRING))
    await env.sleep(timedelta(minutes=1))
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.RESOLVED))
    await env.sleep(timedelta(seconds=QUIET / 2))
    assert (await state_of(handle)).status is IncidentStatus.OPEN  # still inside the quiet period
    result = await handle.result()
    assert result.status is IncidentStatus.RESOLVED
    assert result.resolved_at is not None
    elapsed = result.resolved_at - result.opened_at
    assert (
        timedelta(seconds=QUIET) + timedelta(minutes=1)
        <= elapsed
        < timedelta(seconds=QUIET) + timedelta(minutes=2)
    )
    kinds = story(await state_of(handle))
    assert kinds == [
        "incident.opened",
        "alert.firing",
        "alert.resolved",
        "incident.quiet",
        "incident.resolved",
    ]


async def test_firing_during_quiet_period_reopens(env: WorkflowEnvironment, worker: Worker) -> None:
    handle = await start(env, worker, batch(AlertStatus.FIRING))
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.RESOLVED))
    await env.sleep(timedelta(seconds=QUIET - 60))
    refire = STARTS + timedelta(minutes=10)
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.FIRING, starts=refire))
    await env.sleep(timedelta(seconds=QUIET * 3))
    state = await state_of(handle)
    assert state.status is IncidentStatus.OPEN
    assert "incident.reopened" in [e.kind for e in state.timeline]
    # Resolving the new episode starts a fresh quiet period, which then completes the incident.
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.RESOLVED, starts=refire))
    result = await handle.result()
    assert result.status is IncidentStatus.RESOLVED


async def test_duplicate_signals_change_nothing(env: WorkflowEnvironment, worker: Worker) -> None:
    handle = await start(env, worker, batch(AlertStatus.FIRING))
    for _ in range(5):
        await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.FIRING))
    state = await state_of(handle)
    assert story(state) == ["incident.opened", "alert.firing"]
    assert state.alerts["fp-HighLatency"].deliveries == 6
    # A stale 'firing' after the 'resolved' of the same episode does not reopen it either.
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.RESOLVED))
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.FIRING))
    result = await handle.result()
    assert result.status is IncidentStatus.RESOLVED
    assert result.alert_count == 1


async def test_search_attributes_follow_the_state(env: WorkflowEnvironment, worker: Worker) -> None:
    handle = await start(env, worker, batch(AlertStatus.FIRING))
    await handle.signal(IncidentWorkflow.alerts, batch(AlertStatus.RESOLVED))
    await handle.result()
    description = await handle.describe()
    attrs = {k.name: v for k, v in ((p.key, p.value) for p in description.typed_search_attributes)}
    assert attrs["MedicStatus"] == "resolved"
    assert attrs["MedicPriority"] == "P2"
    assert attrs["MedicServices"] == ["checkout"]
    memo = await description.memo()
    assert memo["title"] == "HighLatency on checkout"
    assert memo["alert_count"] == 1
