"""Heartbeats on the real dev server, where the time-skipping one cannot go: a worker's start retires
those of a rule renamed or removed and those of a rule whose match changed (they name other heartbeats
now: no beat reaches the old ones), leaves the others and another installation's (another task queue)
alone, and DELETE's retire on an id that runs no heartbeat says so (the test server lists no
workflows); an outage found late, by a worker back after none ran (a rollback), waits a grace for a
beat (the test server skips no time while a task waits for a worker)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Worker

from activities.dead_man import HeartbeatActivities
from medic.anomaly import AnomalySignal
from medic.dead_man import Beat, HeartbeatRule, HeartbeatState, heartbeat_id
from medic.routing import RoutingPolicy
from service.heartbeats import retire, retire_gone
from service.settings import Settings
from tests.conftest import dev_server
from tests.support.stack import wait_until
from workflows.dead_man import BEAT_SIGNAL, STATE_QUERY, HeartbeatWorkflow

WATCHDOG = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
RENAMED = HeartbeatRule(name="dead-man", match={"alertname": "DeadMansSwitch"})
WIDER = WATCHDOG.model_copy(update={"match": {"alertname": "Watchdog", "severity": "none"}})


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with dev_server() as environment:
        yield environment.client


async def start(client: Client, queue: str, rule: HeartbeatRule, prometheus: str) -> str:
    labels = {"prometheus": prometheus}
    wid = heartbeat_id(rule, labels, queue=queue)
    await client.start_workflow(
        HeartbeatWorkflow.run,
        HeartbeatState(rule=rule, labels=labels),
        id=wid,
        task_queue=queue,
        start_signal=BEAT_SIGNAL,
        start_signal_args=[Beat(rule=rule, labels=labels, at=datetime.now(UTC))],
    )
    return wid


async def test_a_workers_start_retires_the_heartbeats_no_beat_reaches_any_more(client: Client) -> None:
    queue, other_queue = f"medic-{uuid.uuid4()}", f"medic-{uuid.uuid4()}"
    settings = Settings(_env_file=None, webhook_token=SecretStr("t" * 32), task_queue=queue)

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    activities = HeartbeatActivities(deliver)
    kept = await start(client, queue, WIDER, "a")
    renamed = await start(client, queue, RENAMED, "a")
    widened = await start(client, queue, WATCHDOG, "a")  # the rule's match before it changed
    elsewhere = await start(client, other_queue, RENAMED, "b")
    ids = {kept, renamed, widened, elsewhere}

    async def listed() -> bool:
        found = {wf.id async for wf in client.list_workflows("WorkflowType='HeartbeatWorkflow'")}
        return ids <= found

    await wait_until(listed, timeout=30, what="the heartbeats listed")
    policy = RoutingPolicy(heartbeats=[WIDER])
    async with Worker(client, task_queue=queue, workflows=[HeartbeatWorkflow], activities=activities.all()):
        assert sorted(await retire_gone(client, settings, policy)) == sorted([renamed, widened])
        for wid in (renamed, widened):
            result = await client.get_workflow_handle(wid, result_type=HeartbeatState).result()
            assert result.beats == 1
        described = await client.get_workflow_handle(kept).describe()
        assert described.status is WorkflowExecutionStatus.RUNNING
        assert (
            await client.get_workflow_handle(elsewhere).describe()
        ).status is WorkflowExecutionStatus.RUNNING
        assert not await retire(client, settings, renamed, "again")  # DELETE's 404
        # another installation's heartbeat, by its id: not this one's to retire (DELETE's 404 too)
        assert not await retire(client, settings, elsewhere, "retired by operator (DELETE /heartbeats)")
        running = (await client.get_workflow_handle(elsewhere).describe()).status
        assert running is WorkflowExecutionStatus.RUNNING
        assert await retire(client, settings, kept, "retired by operator (DELETE /heartbeats)")
        await client.get_workflow_handle(kept).result()
    await client.get_workflow_handle(elsewhere).terminate()


async def test_an_outage_found_late_waits_a_grace_for_a_beat(client: Client) -> None:
    """A rollback to a release without heartbeats, then forward again: the old API sent no beat and no
    worker ran the timer. The outage the new worker finds late waits missing_after (at most 5 minutes)
    for the new API's beat before it is told: it paged at once, then said "back" (a review)."""
    queue = f"medic-{uuid.uuid4()}"
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"}, missing_after_minutes=0.1)  # 6 s
    told: list[AnomalySignal] = []

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        told.extend(signals)
        return ["incident-monitoring"]

    activities = HeartbeatActivities(deliver)

    def worker() -> Worker:
        return Worker(client, task_queue=queue, workflows=[HeartbeatWorkflow], activities=activities.all())

    wid = ""
    async with worker():
        for i in range(5):  # 4 gaps of 4 s: armed
            if i:
                await asyncio.sleep(4)
            wid = await start(client, queue, rule, "a")
        handle = client.get_workflow_handle(wid, result_type=HeartbeatState)
        assert (await handle.query(STATE_QUERY, result_type=HeartbeatState)).status == "ok"
    await asyncio.sleep(14)  # rolled back: no worker, no beat; its timer fires 8 s late
    async with worker():
        await asyncio.sleep(2)  # the late timer taken: it waits its grace
        await start(client, queue, rule, "a")  # the new API's first beat
        await asyncio.sleep(4)
        state = await handle.query(STATE_QUERY, result_type=HeartbeatState)
        assert told == [] and state.status == "ok" and state.outages == 0

        async def alarmed() -> bool:
            return bool(told)

        await wait_until(alarmed, timeout=30, what="the outage told, once the beats truly stop")
        assert (await handle.query(STATE_QUERY, result_type=HeartbeatState)).outages == 1
        await handle.terminate()
