"""Heartbeats whose rule left the routing policy, on the real dev server (the time-skipping one lists no
workflows): a worker's start retires those of a rule renamed or removed and those of a rule whose
match changed (they name other heartbeats now: no beat reaches the old ones), leaves the others and
another installation's (another task queue) alone; DELETE's retire on an id that runs no heartbeat
says so."""

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
from workflows.dead_man import BEAT_SIGNAL, HeartbeatWorkflow

WATCHDOG = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
RENAMED = HeartbeatRule(name="dead-man", match={"alertname": "DeadMansSwitch"})
WIDER = WATCHDOG.model_copy(update={"match": {"alertname": "Watchdog", "severity": "none"}})


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with dev_server() as environment:
        yield environment.client


async def start(client: Client, queue: str, rule: HeartbeatRule, prometheus: str) -> str:
    labels = {"prometheus": prometheus}
    wid = heartbeat_id(rule, labels)
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
            result = await client.get_workflow_handle_for(HeartbeatWorkflow.run, wid).result()
            assert result.beats == 1
        described = await client.get_workflow_handle(kept).describe()
        assert described.status is WorkflowExecutionStatus.RUNNING
        assert (
            await client.get_workflow_handle(elsewhere).describe()
        ).status is WorkflowExecutionStatus.RUNNING
        assert not await retire(client, settings, renamed, "again")  # DELETE's 404
        assert await retire(client, settings, kept, "retired by operator (DELETE /heartbeats)")
        await client.get_workflow_handle(kept).result()
    await client.get_workflow_handle(elsewhere).terminate()
