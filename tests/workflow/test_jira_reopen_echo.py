"""Medic's own reopen of an incident's Jira issue, coming back through the webhook while the reopen is
still in flight, acknowledges nothing.

An incident paging nobody (Jira and Slack only) that opens again after Medic closed its issue (an alert
firing again as it closes; a merge that failed, minutes after the merge closed the issue) has no pages to
resolve, so its chain is not restarted and only ``jira_closed`` says the issue is Medic's to reopen. The
notifier cleared that flag before it called Jira, and set ``jira_moved_at`` only once the reopen's answer
came back: in between, nothing told Medic's own move from a person's. On a workflow whose Reopen leads
to an In Progress status (an incident workflow's "Reopen" back to "Investigating"), the webhook's event
of Medic's own reopen, delivered before the activity's answer was recorded (Jira posts it within a
second), acknowledged the incident in the name of Medic's Jira user, and the escalation stopped."""

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest

from activities.adapters.jira import JiraTracker
from medic.alerts import AlertStatus
from medic.incident import IncidentStatus
from medic.ports import IssueRequest
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble
from tests.doubles.jira_workflows import Transition, Workflow
from tests.support.fakes import FakeTracker
from tests.workflow.test_jira_ack import POLICY, deliver, issue_of, now_ms
from tests.workflow.test_notifications import Harness, harness, open_incident, outage, until
from workflows.incident import ALERTS_SIGNAL, IncidentWorkflow

__all__ = ["harness"]  # the fixture, shared

# An incident workflow whose Reopen leads back to work (In Progress), not to To Do.
BACK_TO_WORK = Workflow(
    "incident",
    "To Do",
    (
        Transition("11", "Investigate", "In Progress", sources=("To Do",)),
        Transition("31", "Resolve", "Done", sources=("To Do", "In Progress")),
        Transition("41", "Reopen", "In Progress", sources=("Done",)),
    ),
)


class HeldReopen(FakeTracker):
    """The real adapter; its close waits (the alert fires again meanwhile), and its reopen waits once
    Jira has taken the move, before the activity answers (the webhook's event is out by then)."""

    def __init__(self, real: JiraTracker) -> None:
        super().__init__()
        self.real = real
        self.closing, self.close_release = threading.Event(), threading.Event()
        self.reopening, self.reopen_go = threading.Event(), threading.Event()
        self.landed, self.reopen_release = threading.Event(), threading.Event()

    def ensure_issue(self, request: IssueRequest) -> str:
        return self.real.ensure_issue(request)

    def comment(self, key: str, text: str) -> None:
        self.real.comment(key, text)

    def attach(self, key: str, *, filename: str, content: str) -> None:
        self.real.attach(key, filename=filename, content=content)

    def close(self, key: str, comment: str) -> None:
        self.real.close(key, comment)
        self.closing.set()
        self.close_release.wait(timeout=30)

    def reopen(self, key: str, comment: str) -> None:
        self.reopening.set()
        self.reopen_go.wait(timeout=30)
        self.real.reopen(key, comment)
        self.landed.set()
        self.reopen_release.wait(timeout=30)


@pytest.fixture
def jira() -> Iterator[tuple[JiraDouble, str]]:
    double = JiraDouble(deployment_type="Cloud", projects={"DATA": "Data"}, workflows={"DATA": BACK_TO_WORK})
    with double.serve() as url:
        yield double, url


async def test_medics_reopen_coming_back_while_in_flight_acknowledges_nothing(
    harness: Harness, jira: tuple[JiraDouble, str]
) -> None:
    h = harness
    double, url = jira
    h.policy = POLICY  # Jira and Slack: no pager
    tracker = HeldReopen(JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN))
    h.tracker = tracker
    async with h.worker():
        handle = await open_incident(h)
        key = await issue_of(handle)
        start = outage().alerts[0].starts_at
        await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
        await h.env.sleep(timedelta(seconds=70))
        assert await asyncio.to_thread(tracker.closing.wait, 30)
        assert double.issue(key).status == "Done"
        again = outage()
        again.alerts[0] = again.alerts[0].model_copy(update={"starts_at": start + timedelta(minutes=3)})
        await handle.signal(ALERTS_SIGNAL, again)
        await until(handle, lambda s: s.status is IncidentStatus.OPEN, "reopened")
        tracker.close_release.set()
        assert await asyncio.to_thread(tracker.reopening.wait, 30)
        # The reopen lands a while after the close (a call retried after a 503, a merge that failed
        # minutes later): Jira stamps its move later than the close by more than the clocks' 10 s.
        await h.env.sleep(timedelta(seconds=20))
        tracker.reopen_go.set()
        assert await asyncio.to_thread(tracker.landed.wait, 30)
        assert double.issue(key).status == "In Progress"
        echo = double.posted_back(key)[-1]  # Medic's reopen, as the webhook posts it
        echo["timestamp"] = await now_ms(h)  # stamped as Jira moved it (Jira's clock = Temporal's)
        try:
            answer = await deliver(h.env.client, echo)
        finally:
            tracker.reopen_release.set()
        assert answer.status_code == 202
        assert answer.json()["handled"] is False, answer.json()
        state = await handle.query(IncidentWorkflow.state)
    assert state.status is IncidentStatus.OPEN and state.acknowledged_by is None
