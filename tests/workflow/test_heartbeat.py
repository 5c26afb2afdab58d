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
from datetime import datetime, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.dead_man import HeartbeatActivities
from medic.anomaly import AnomalySignal
from medic.dead_man import Beat, HeartbeatRule, HeartbeatState, heartbeat_id
from service.ingest import DeliveryRefused
from tests.support.stack import wait_until
from workflows.dead_man import BEAT_SIGNAL, RETIRE_SIGNAL, STATE_QUERY, HeartbeatWorkflow

LABELS = {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}


@dataclass
class Heartbeat:
    env: WorkflowEnvironment
    queue: str
    rule: HeartbeatRule
    told: list[AnomalySignal] = field(default_factory=list)
    continue_after: int = 1000
    resolved_by_hand: bool = False  # what the activity reads of the outage's incident
    refuse: int = 0  # deliveries to refuse (DeliveryRefused) before taking them

    @property
    def id(self) -> str:
        return heartbeat_id(self.rule, LABELS, queue=self.queue)

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

    def worker(self) -> Worker:
        """A worker of the heartbeat's queue whose activity hands findings to ``told``."""

        async def deliver(signals: list[AnomalySignal]) -> list[str]:
            if self.refuse:
                self.refuse -= 1
                raise DeliveryRefused("Blob data size exceeds limit")
            self.told.extend(signals)
            return ["incident-monitoring"]

        async def resolved(incident: str, since: datetime) -> bool:
            return self.resolved_by_hand and incident == "incident-monitoring"

        activities = HeartbeatActivities(deliver, resolved)
        return Worker(
            self.env.client, task_queue=self.queue, workflows=[HeartbeatWorkflow], activities=activities.all()
        )

    async def arm(self) -> None:
        """A beat a minute for half an hour (31 beats): armed; the last beat is now."""
        for minute in range(31):
            if minute:
                await self.env.sleep(60)
            await self.beat()
        assert (await self.state()).status == "ok"

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

    async with running.worker():
        yield running
        with contextlib.suppress(RPCError):  # (ended by itself)
            await running.handle().terminate()


async def test_an_outage_is_told_at_missing_after_again_while_it_lasts_and_ends_when_the_beats_return(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    await heartbeat.arm()
    await env.sleep(timedelta(minutes=14, seconds=30))  # 14.5 minutes after the last beat
    await heartbeat.still(0)
    await env.sleep(60)  # 15.5
    await heartbeat.told_at_least(1)
    first = heartbeat.told[0]
    assert first.service == "monitoring"
    assert first.headline() == f"No heartbeat {heartbeat.rule.name} (prometheus={LABELS['prometheus']})"
    state = await heartbeat.state()
    assert first.window.start == state.last_beat_at
    assert state.status == "missing" and state.outages == 1 and state.incidents == ["incident-monitoring"]
    await env.sleep(timedelta(minutes=5))  # 20.5: said again (repeat: 5 minutes), its window further on
    await heartbeat.told_at_least(2)
    assert heartbeat.told[1].key == first.key and heartbeat.told[1].window.end > first.window.end
    await heartbeat.still(2)
    await heartbeat.beat()
    await heartbeat.told_at_least(3)
    back = heartbeat.told[2]
    assert back.key == first.key and back.window.end > heartbeat.told[1].window.end
    assert "is back at" in (back.summary or "")
    state = await heartbeat.state()
    assert state.status == "ok" and state.missing_since is None and state.outages == 1 and state.told == []
    await env.sleep(timedelta(minutes=10))
    await heartbeat.still(3)


async def test_a_cadence_longer_than_missing_after_never_alarms(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    """Alertmanager's default repeat_interval (12 h) on the route, an HA pair's copy of each and a resend
    when another alert of the group changed: never armed, never a false outage."""
    for _ in range(3):
        await heartbeat.beat()
        await heartbeat.beat()
        await env.sleep(timedelta(minutes=5))
        await heartbeat.beat()
        await env.sleep(timedelta(hours=12))
    state = await heartbeat.state()
    assert state.status == "unarmed" and state.beats == 6
    await heartbeat.still(0)


async def test_a_resolved_watchdog_is_told_with_the_outage(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    await heartbeat.arm()
    await env.sleep(120)
    await heartbeat.beat(firing=False)  # its Prometheus stopped: Alertmanager resolves it
    await env.sleep(timedelta(minutes=14))
    await heartbeat.told_at_least(1)
    assert "Alertmanager sent it resolved at" in (heartbeat.told[0].summary or "")


async def test_an_outage_whose_incident_a_person_resolved_is_told_no_more_until_a_beat(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    """A Prometheus taken away: resolving its incident by hand stops the repeats (each opened a new
    incident); its next beat, if any, starts afresh with no last word."""
    await heartbeat.arm()
    await env.sleep(timedelta(minutes=16))
    await heartbeat.told_at_least(1)
    heartbeat.resolved_by_hand = True
    await env.sleep(timedelta(minutes=5))
    state = await heartbeat.state()
    assert state.status == "muted" and state.muted_at is not None
    await env.sleep(timedelta(hours=3))
    await heartbeat.still(1)
    heartbeat.resolved_by_hand = False
    await heartbeat.beat()
    state = await heartbeat.state()
    assert state.status == "ok" and state.missing_since is None
    await heartbeat.still(1)  # no "back": its incident was closed


async def test_a_retired_heartbeat_tells_its_outage_a_last_time_and_ends(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    await heartbeat.arm()
    await env.sleep(timedelta(minutes=16))
    await heartbeat.told_at_least(1)
    await heartbeat.handle().signal(RETIRE_SIGNAL, "retired by operator (DELETE /heartbeats)")
    result = await heartbeat.handle().result()
    assert result.status == "missing"
    assert "retired after 16m without a beat: retired by operator" in (heartbeat.told[-1].summary or "")
    assert len(heartbeat.told) == 2


async def test_a_finding_refused_is_said_again_at_the_next_repeat(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    heartbeat.refuse = 1  # Temporal refused the delivery (not retried)
    await heartbeat.arm()
    await env.sleep(timedelta(minutes=16))
    await heartbeat.still(0)
    assert (await heartbeat.state()).status == "missing"
    await env.sleep(timedelta(minutes=5))
    await heartbeat.told_at_least(1)
    assert (await heartbeat.state()).incidents == ["incident-monitoring"]


async def test_a_heartbeat_silent_past_forget_after_ends_and_its_next_beat_starts_it_again(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    heartbeat.rule = heartbeat.rule.model_copy(update={"forget_after_hours": 1.0})
    await heartbeat.arm()
    await env.sleep(timedelta(minutes=61))
    result = await heartbeat.handle().result()
    assert result.status == "missing"
    assert "forgotten" in (heartbeat.told[-1].summary or "")
    assert len(heartbeat.told) == 1 + 8 + 1  # at 15 minutes, again every 5 until 55, then forgotten at 60
    await heartbeat.beat()
    description = await heartbeat.handle().describe()
    assert description.status is WorkflowExecutionStatus.RUNNING
    assert (await heartbeat.state()).beats == 1


async def test_continue_as_new_keeps_the_beats_and_the_outage(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    heartbeat.continue_after = 10
    await heartbeat.beat()
    first_run = (await heartbeat.handle().describe()).run_id
    for _ in range(30):
        await env.sleep(60)
        await heartbeat.beat()

    async def continued() -> bool:
        return (await heartbeat.handle().describe()).run_id != first_run

    await wait_until(continued, timeout=20, what="a run continued as new")
    state = await heartbeat.state()
    assert state.beats == 31 and state.status == "ok"
    await env.sleep(timedelta(minutes=16))
    await heartbeat.told_at_least(1)
    await heartbeat.beat()
    await heartbeat.told_at_least(2)
    state = await heartbeat.state()
    assert state.beats == 32 and state.status == "ok" and state.outages == 1


async def test_a_beat_stamped_ahead_by_a_fast_api_clock_hides_no_later_beat(
    env: WorkflowEnvironment, heartbeat: Heartbeat
) -> None:
    await heartbeat.arm()
    await env.sleep(60)
    ahead = await env.get_current_time() + timedelta(minutes=3)
    await heartbeat.env.client.start_workflow(
        HeartbeatWorkflow.run,
        HeartbeatState(rule=heartbeat.rule, labels=LABELS),
        id=heartbeat.id,
        task_queue=heartbeat.queue,
        start_signal=BEAT_SIGNAL,
        start_signal_args=[Beat(rule=heartbeat.rule, labels=LABELS, at=ahead)],
    )
    await env.sleep(60)
    await heartbeat.beat()
    state = await heartbeat.state()
    assert state.beats == 33  # the stamp ahead taken as now: the honest beat a minute later counts
