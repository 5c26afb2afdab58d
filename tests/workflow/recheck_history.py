"""A recorded history of an incident that asks Alertmanager about its delivered alerts, which every later
version of the workflows must replay (in ``test_replay``):

    python -m tests.workflow.recheck_history

- ``incident-payments-rechecked@r13``: two alerts delivered by the webhook; Alertmanager vouches for
  both, the warning's resolution is delivered, the info alert is inhibited and resolves unsent:
  Alertmanager holds it no more at two checks, Medic resolves it, and the incident closes.
"""

import asyncio
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.correlate import CorrelationActivities
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.routing import RoutingPolicy
from service.devserver import find_binary
from service.worker import WORKFLOWS
from tests.support.fakes import FakeChat, FakeOpsgenie, FakeTracker, queried_state
from tests.support.shop import shop
from tests.support.timeskip import time_skipping
from tests.workflow.histories import HISTORIES
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["record_recheck"]

RELEASE = "r13"  # delivered alerts asked about (delivered-alerts-rechecked)
QUEUE = "rechecked"
LABELS = {
    "info": {"alertname": "CPUThrottlingHigh", "namespace": "payments", "severity": "info"},
    "warning": {"alertname": "KubePodNotReady", "namespace": "payments", "severity": "warning"},
}


class _Alertmanager:
    """What it holds for Medic's receiver (``GET /api/v2/alerts``): the fingerprints in ``holds``."""

    def __init__(self) -> None:
        self.holds = set(LABELS)
        self.env: WorkflowEnvironment | None = None  # its clock is the workflows' (time skips)

    async def held(self, *, muted: bool = False, names: Sequence[str] = ()) -> list[dict[str, Any]]:
        assert self.env is not None
        # Prometheus' endsAt: 4 evaluation intervals of a group evaluated every minute
        ends = (await self.env.get_current_time() + timedelta(minutes=4)).isoformat()
        return [
            {
                "labels": LABELS[f],
                "annotations": {},
                "startsAt": "2026-12-07T09:00:00Z",
                "endsAt": ends,
                "fingerprint": f,
                "receivers": [{"name": "medic"}],
                "status": {"state": "suppressed" if f == "info" else "active"},
            }
            for f in sorted(self.holds)
        ]


class _Quiet:
    def active_alerts(self) -> list[dict[str, str]]:
        return []


def _batch(at: datetime, **status: AlertStatus) -> AlertBatch:
    alerts = [
        Alert(
            fingerprint=f,
            status=s,
            labels=LABELS[f],
            starts_at=datetime.fromisoformat("2026-12-07T09:00:00+00:00"),
            ends_at=at if s is AlertStatus.RESOLVED else None,
        )
        for f, s in status.items()
    ]
    return AlertBatch(alerts=alerts, received_at=at)


async def record_recheck() -> list[Path]:
    server = find_binary("temporal-test-server")
    policy = RoutingPolicy.default()
    notify = NotifyActivities(
        chat=FakeChat(), pager=FakeOpsgenie(), tracker=FakeTracker(), policy=lambda: policy
    )
    alertmanager = _Alertmanager()

    async def nowhere(*_: object) -> list[str]:
        return []

    correlate = CorrelationActivities(
        source=_Quiet(), catalog=shop, held=alertmanager, deliver=nowhere, cache_seconds=0
    )
    async with time_skipping(server) as env:
        alertmanager.env = env
        with tempfile.TemporaryDirectory() as tmp:
            postmortem = PostmortemActivities(PostmortemWriter(Path(tmp)), queried_state(env.client))
            async with Worker(
                env.client,
                task_queue=QUEUE,
                workflows=WORKFLOWS,
                activities=[*notify.all(), *correlate.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(4),
            ):
                return await _record(env, alertmanager)


async def _record(env: WorkflowEnvironment, alertmanager: _Alertmanager) -> list[Path]:
    firing = AlertStatus.FIRING
    incident = await env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id="incident-payments",
            remediate=False,
            quiet_period_seconds=60,
            ask_alertmanager=True,
        ),
        id="incident-payments",
        task_queue=QUEUE,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[_batch(await env.get_current_time(), info=firing, warning=firing)],
    )
    await env.sleep(timedelta(minutes=3))  # asked: both held
    alertmanager.holds.discard("warning")
    await incident.signal(ALERTS_SIGNAL, _batch(await env.get_current_time(), warning=AlertStatus.RESOLVED))
    await asyncio.sleep(0.5)
    alertmanager.holds.discard("info")  # inhibited, then resolved: never sent
    result = await incident.result()  # time skips through the checks and the quiet period
    assert result.status == "resolved", result
    state = await incident.query(IncidentWorkflow.state)
    assert state.alerts["info"].status is AlertStatus.RESOLVED
    assert any("no longer holds it" in e.message for e in state.timeline)
    history = await incident.fetch_history()
    path = HISTORIES / f"incident-payments-rechecked@{RELEASE}.json"
    path.write_text(history.to_json())
    return [path]


if __name__ == "__main__":
    for written in asyncio.run(record_recheck()):
        print(written)
