"""Recorded histories of heartbeats, which every later version of the workflows must replay (with the
incidents', in ``test_replay``). A heartbeat's workflow runs as long as its Prometheus does, through
every deploy: a change of its commands without ``workflow.patched`` would fail every one of them.

    python -m tests.workflow.heartbeat_history

- ``heartbeat-life@r12``: a heartbeat armed by 31 beats, a beat stamped ahead, an outage told and
  said again, the beats back, an outage muted by hand, a resolved beat, then retired;
- ``incident-monitoring-heartbeat@r12``: the incident those findings open, told and paged (at least P2,
  which the default policy pages), extended, then the last word. (Who is told is decided in an
  activity, whose answer the history keeps: the floor's priority changes no command on replay.)
"""

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

from temporalio import activity
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.dead_man import ALARM_ACTIVITY, AlarmRequest, AlarmResult
from activities.notify import NotifyActivities
from medic.dead_man import Beat, HeartbeatRule, HeartbeatState, heartbeat_id
from medic.incident import AnomalyBatch
from medic.routing import RoutingPolicy
from service.devserver import find_binary
from service.worker import WORKFLOWS
from tests.support.fakes import FakeChat, FakeOpsgenie, FakeTracker
from tests.support.timeskip import time_skipping
from tests.workflow.histories import HISTORIES
from workflows.dead_man import BEAT_SIGNAL, RETIRE_SIGNAL, HeartbeatWorkflow
from workflows.incident import ANOMALIES_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["record_heartbeats"]

RELEASE = "r12"  # heartbeats
RULE = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"}, service="monitoring")
LABELS = {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}
QUEUE = "heartbeats"
_TOLD: list[AlarmRequest] = []
_MUTE: list[bool] = [False]


@activity.defn(name=ALARM_ACTIVITY)
async def _alarm(request: AlarmRequest) -> AlarmResult:
    if _MUTE[0] and request.since is not None:
        return AlarmResult(resolved="incident-monitoring")
    _TOLD.append(request)
    return AlarmResult(incidents=["incident-monitoring"])


async def record_heartbeats() -> list[Path]:
    server = find_binary("temporal-test-server")
    written = []
    policy = RoutingPolicy.default()  # P2 pages: the floor decides whether the incident pages
    notify = NotifyActivities(
        chat=FakeChat(), pager=FakeOpsgenie(), tracker=FakeTracker(), policy=lambda: policy
    )
    async with (
        time_skipping(server) as env,
        Worker(
            env.client,
            task_queue=QUEUE,
            workflows=WORKFLOWS,
            activities=[_alarm, *notify.all()],
            activity_executor=ThreadPoolExecutor(4),
        ),
    ):
        wid = heartbeat_id(RULE, LABELS, queue=QUEUE)

        async def beat(*, firing: bool = True, ahead: timedelta = timedelta(0)) -> None:
            at = await env.get_current_time() + ahead
            await env.client.start_workflow(
                HeartbeatWorkflow.run,
                HeartbeatState(rule=RULE, labels=LABELS),
                id=wid,
                task_queue=QUEUE,
                start_signal=BEAT_SIGNAL,
                start_signal_args=[Beat(rule=RULE, labels=LABELS, at=at, firing=firing)],
            )

        for minute in range(31):
            if minute:
                await env.sleep(60)
            await beat()
        await env.sleep(60)
        await beat(ahead=timedelta(minutes=3))
        await env.sleep(timedelta(minutes=21))  # told at 15, again at 20
        await beat()  # back
        await env.sleep(timedelta(minutes=16))  # told again
        _MUTE[0] = True
        await env.sleep(timedelta(minutes=5))  # resolved by hand: muted
        await beat(firing=False)
        await env.sleep(timedelta(minutes=1))
        handle = env.client.get_workflow_handle(wid, result_type=HeartbeatState)
        await handle.signal(RETIRE_SIGNAL, "retired by operator (recorded)")
        state = await handle.result()
        assert state.outages == 2 and state.status == "muted", state
        history = await handle.fetch_history()
        path = HISTORIES / f"heartbeat-life@{RELEASE}.json"
        path.write_text(history.to_json())
        written.append(path)

        # the incident the findings open: the first, a repeat, the last word
        incident = await env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id="incident-monitoring", remediate=False),
            id="incident-monitoring",
            task_queue=QUEUE,
            start_signal=ANOMALIES_SIGNAL,
            start_signal_args=[_batch(_TOLD[0], await env.get_current_time())],
        )
        for request in _TOLD[1:3]:
            await env.sleep(60)
            await incident.signal(ANOMALIES_SIGNAL, _batch(request, await env.get_current_time()))
        await env.sleep(5)
        shown = await incident.query(IncidentWorkflow.state)
        assert shown.priority == "P2", shown.priority
        history = await incident.fetch_history()
        path = HISTORIES / f"incident-monitoring-heartbeat@{RELEASE}.json"
        path.write_text(history.to_json())
        written.append(path)
        with contextlib.suppress(RPCError):
            await incident.terminate("recorded")
    return written


def _batch(request: AlarmRequest, at: datetime) -> AnomalyBatch:
    return AnomalyBatch(signals=[request.finding], received_at=at)


if __name__ == "__main__":
    print(asyncio.run(record_heartbeats()))
