"""A flapping alert inside one incident (fires and resolves every two minutes, six times, within the
quiet period): what the incident's Slack thread receives. Each turn wrote "Nothing is firing ...", "An
alert fired during the quiet period ..." and, as its SLO burn came and went, "Scored P1 ..." twice: 31
replies for one outage, on after the incident had said the alert was flapping. The turns stay on the
timeline; the thread gets the news (through the real Slack SDK against the Slack double)."""

from datetime import datetime, timedelta

from temporalio.client import WorkflowExecutionStatus

from medic.alerts import AlertStatus
from medic.incident import AlertBatch
from medic.keys import service_incident_id
from tests.support.shop import ctx
from tests.workflow.test_channels_e2e import Stack, stack
from tests.workflow.test_notifications import outage, until
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["stack"]  # the fixture, shared

CHATTER = ("Nothing is firing", "An alert fired during the quiet period", "Scored P1")


def _episode(start: datetime, status: AlertStatus) -> AlertBatch:
    batch = outage(status)
    batch.alerts[0] = batch.alerts[0].model_copy(update={"starts_at": start, "ends_at": None})
    return batch


async def test_a_flapping_alert_is_said_once_in_the_thread_not_at_every_turn(stack: Stack) -> None:
    s = stack
    incident_id = service_incident_id("orders-db")
    async with s.worker:
        now = await s.env.get_current_time()
        handle = await s.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(
                incident_id=incident_id, service=ctx("orders-db"), quiet_period_seconds=300, remediate=False
            ),
            id=incident_id,
            task_queue=s.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[_episode(now, AlertStatus.FIRING)],
        )
        await until(handle, lambda st: st.notifications.pages.get("data") == "trigger", "the page")
        for i in range(6):
            await s.env.sleep(timedelta(minutes=1))
            await handle.signal(ALERTS_SIGNAL, _episode(now + timedelta(minutes=2 * i), AlertStatus.RESOLVED))
            await s.env.sleep(timedelta(minutes=1))
            fired = _episode(now + timedelta(minutes=2 * i + 2), AlertStatus.FIRING)
            await handle.signal(ALERTS_SIGNAL, fired)
        await s.env.sleep(timedelta(seconds=30))
        await handle.signal(ALERTS_SIGNAL, _episode(now + timedelta(minutes=12), AlertStatus.RESOLVED))
        for _ in range(30):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await s.env.sleep(timedelta(seconds=30))
        state = await handle.query(IncidentWorkflow.state)
    replies = [m.text for m in s.slack.messages("#data-oncall") if m.is_reply]
    said = next(i for i, text in enumerate(replies) if "is flapping" in text)
    after = [text for text in replies[said + 1 :] if text.startswith(CHATTER)]
    assert after == [], after
    assert len(replies) <= 12, replies
    # the timeline keeps every turn (the postmortem reads it)
    turns = [e for e in state.timeline if e.kind in ("incident.quiet", "incident.reopened")]
    assert len(turns) >= 10
