"""A heartbeat's durable timer (workflows.dead_man) on the time-skipping server: an outage is told at
missing_after, again every repeat while it lasts and a last time when the beats return; a cadence that
never fits missing_after never alarms; a heartbeat silent past forget_after ends (told, when missing);
continue-as-new keeps every beat and the outage. The activity hands findings to a recorder in place of
the incident path (tests/integration/test_heartbeats.py runs the real one)."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.dead_man import HeartbeatActivities
from medic.anomaly import AnomalySignal
from medic.dead_man import Beat, HeartbeatRule, HeartbeatState, heartbeat_id
from tests.support.stack import wait_until
from workflows.dead_man import BEAT_SIGNAL, STATE_QUERY, HeartbeatWorkflow

LABELS = {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}


@dataclass
class Heartbeat:
    env: WorkflowEnvironment
    queue: str
    rule: HeartbeatRule
    told: list[AnomalySignal] = field(default_factory=list)
    continue_after: int = 1000

    @property
    def id(self) -> str:
        return heartbeat_id(self.rule.name, LABELS)

    async def beat(self, *, firing: bool = True) -> None:
        """As the API hands it over: signal-with-start."""
        at = await self.env.get_current_time()
        await self.env.client.start_workflow(
            HeartbeatWorkflow.run,
            HeartbeatState(rule=self.rule, labels=LABELS, continue_after=self.continue_after),
            id=self.id,
            task_queue=self.queue,
            start_signal=BEAT_SIGNAL,
            start_signal_args=[Beat(rule=self.rule, labels=LABELS, at=at, firing=firing)],
        )

    async def state(self) -> HeartbeatState:
        state: HeartbeatState = await self.handle().query(STATE_QUERY, result_type=HeartbeatState)
        return state

    def handle(self) -> WorkflowHandle[HeartbeatWorkflow, HeartbeatState]:
        return self.env.client.get_workflow_handle_for(HeartbeatWorkflow.run, self.id)

    async def told_at_least(self, count: int) -> None:
        async def enough() -> bool:
            return len(self.told) >= count

        await wait_until(enough, timeout=20, what=f"{count} findings told")

    async def still(self, count: int) -> None:
        """No more findings than ``count`` (the workflow's pending tasks done: its state answers)."""
        await self.state()
        await asyncio.sleep(0.3)
        assert len(self.told) == count, [s.summary for s in self.told]


@pytest.fixture
async def heartbeat(env: WorkflowEnvironment) -> AsyncIterator[Heartbeat]:
    rule = HeartbeatRule(
        name=f"w{uuid.uuid4().hex[:8]}", match={"alertname": "Watchdog"}, service="monitoring"
    )
    queue = f"tq-{uuid.uuid4()}"
    running = Heartbeat(env, queue, rule)

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        running.told.extend(signals)
        return ["incident-monitoring"]

    activities = HeartbeatActivities(deliver)
    async with Worker(
        env.client, task_queue=queue, workflows=[HeartbeatWorkflow], activities=activities.all()
    ):
        yield running
        with contextlib.suppress(RPCError):  # (ended by itself)
            await running.handle().terminate()


async def test_an_outage_is_told_at_missing_after_again_while_it_lasts_and_ends_when_the_beats_return(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    for _ in range(5):  # minutes 0-4
        await heartbeat.beat()
        await env.sleep(60)
    assert (await heartbeat.state()).status == "ok"
    await env.sleep(timedelta(minutes=13, seconds=30))  # 18.5: 14.5 minutes after the last beat
    await heartbeat.still(0)
    await env.sleep(60)  # 19.5
    await heartbeat.told_at_least(1)
    first = heartbeat.told[0]
    assert first.service == "monitoring" and first.headline() == f"No heartbeat {heartbeat.rule.name}"
    assert first.window.start == (await heartbeat.state()).last_beat_at
    state = await heartbeat.state()
    assert state.status == "missing" and state.outages == 1 and state.incidents == ["incident-monitoring"]
    await env.sleep(timedelta(minutes=5))  # 24.5: said again (repeat: 5 minutes), its window further on
    await heartbeat.told_at_least(2)
    assert heartbeat.told[1].key == first.key and heartbeat.told[1].window.end > first.window.end
    await heartbeat.still(2)
    await heartbeat.beat()
    await heartbeat.told_at_least(3)
    back = heartbeat.told[2]
    assert back.key == first.key and back.window.end > heartbeat.told[1].window.end
    assert "is back at" in (back.summary or "")
    state = await heartbeat.state()
    assert state.status == "ok" and state.missing_since is None and state.outages == 1
    await env.sleep(timedelta(minutes=10))
    await heartbeat.still(3)


async def test_a_cadence_longer_than_missing_after_never_alarms(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    """Alertmanager's default repeat_interval (12 h) on the route: never armed, never a false outage."""
    for _ in range(3):
        await heartbeat.beat()
        await env.sleep(timedelta(hours=12))
    state = await heartbeat.state()
    assert state.status == "unarmed" and state.beats == 3
    await heartbeat.still(0)


async def test_a_resolved_watchdog_is_told_with_the_outage(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    await heartbeat.beat()
    await env.sleep(60)
    await heartbeat.beat()
    await env.sleep(120)
    await heartbeat.beat(firing=False)  # its Prometheus stopped: Alertmanager resolves it
    await env.sleep(timedelta(minutes=14))
    await heartbeat.told_at_least(1)
    assert "Alertmanager sent it resolved at" in (heartbeat.told[0].summary or "")


async def test_a_heartbeat_silent_past_forget_after_ends_and_its_next_beat_starts_it_again(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    heartbeat.rule = heartbeat.rule.model_copy(update={"forget_after_hours": 1.0})
    await heartbeat.beat()
    await env.sleep(60)
    await heartbeat.beat()
    await env.sleep(timedelta(minutes=61))
    result = await heartbeat.handle().result()
    assert result.status == "missing"
    assert "forgotten" in (heartbeat.told[-1].summary or "")
    assert len(heartbeat.told) == 1 + 8 + 1  # at 16 minutes, again every 5 until 56, then forgotten at 61
    await heartbeat.beat()
    description = await heartbeat.handle().describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    assert (await heartbeat.state()).beats == 1


async def test_continue_as_new_keeps_the_beats_and_the_outage(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    heartbeat.continue_after = 3
    await heartbeat.beat()
    first_run = (await heartbeat.handle().describe()).run_id
    for _ in range(6):
        await env.sleep(30)
        await heartbeat.beat()
    await env.sleep(30)
    assert (await heartbeat.handle().describe()).run_id != first_run  # it continued as new
    state = await heartbeat.state()
    assert state.beats == 7 and state.status == "ok"
    await env.sleep(timedelta(minutes=16))
    await heartbeat.told_at_least(1)
    for _ in range(3):
        await heartbeat.beat()
    await heartbeat.told_at_least(2)
    state = await heartbeat.state()
    assert state.beats == 10 and state.status == "ok" and state.outages == 1
