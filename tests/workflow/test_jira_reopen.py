"""An alert fires again as its incident closes, after Medic closed the incident's Jira issue (a Jira
walk-through, 2026-12-07). The incident reopened and paged again, but its issue stayed Done, with no
word of it: a team whose incident workflow lives in Jira saw the outage over while it went on; and
without a pager (Jira and Slack only) the issue was not even closed again at the next resolution. The
issue is now told, moved out of done, and closed again when the incident resolves: through the real
Jira client against the Jira double, with and without pages."""

import asyncio
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from activities.adapters.jira import JiraTracker
from medic.alerts import AlertStatus
from medic.incident import IncidentStatus
from medic.ports import IssueRequest
from medic.routing import load_routing
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble
from tests.doubles.jira_workflows import CLASSIC, CLASSIC_RESOLUTIONS
from tests.support.fakes import FakeTracker
from tests.support.shop import shop
from tests.workflow.test_notifications import Harness, harness, open_incident, outage, until
from workflows.incident import ALERTS_SIGNAL
from workflows.notifier import JIRA_REOPEN_PATCH

__all__ = ["harness"]  # the fixture, shared

JIRA_AND_SLACK = load_routing(
    """
fallback_slack_channel: "#incidents"
rules:
  - {name: p1, match: {priority: [P1]}, jira: true, slack_channels: ["#war-room"]}
  - {name: rest, jira: true}
""",
    catalog=shop(),
)


class SlowClose(FakeTracker):
    """The real adapter, whose close takes a while (a slow site): the closing pass is in flight."""

    def __init__(self, real: JiraTracker) -> None:
        super().__init__()
        self.real = real
        self.closing, self.release = threading.Event(), threading.Event()

    def ensure_issue(self, request: IssueRequest) -> str:
        return self.real.ensure_issue(request)

    def comment(self, key: str, text: str) -> None:
        self.real.comment(key, text)

    def attach(self, key: str, *, filename: str, content: str) -> None:
        self.real.attach(key, filename=filename, content=content)

    def close(self, key: str, comment: str) -> None:
        self.real.close(key, comment)  # done in Jira; the answer is slow to come back
        self.closing.set()
        self.release.wait(timeout=30)

    def reopen(self, key: str, comment: str) -> None:
        self.real.reopen(key, comment)


@pytest.fixture
def jira() -> Iterator[tuple[JiraDouble, str]]:
    double = JiraDouble(
        projects={"DATA": "Data"}, workflows={"DATA": CLASSIC}, resolutions=CLASSIC_RESOLUTIONS
    )
    with double.serve() as url:
        yield double, url


@pytest.mark.parametrize("paged", [True, False], ids=["paged", "jira-and-slack-only"])
async def test_an_issue_closed_as_the_alert_fired_again_is_reopened_and_closed_again(
    harness: Harness, jira: tuple[JiraDouble, str], paged: bool
) -> None:
    h = harness
    double, url = jira
    if not paged:
        h.policy = JIRA_AND_SLACK
    tracker = SlowClose(JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN))
    h.tracker = tracker
    async with h.worker():
        handle = await open_incident(h)
        state = await until(handle, lambda s: s.notifications.jira_key is not None, "the issue")
        key = state.notifications.jira_key
        assert key is not None
        start = outage().alerts[0].starts_at
        await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
        await h.env.sleep(timedelta(seconds=70))  # the quiet period (60 s) passes: it closes
        assert await asyncio.to_thread(tracker.closing.wait, 30)
        assert double.issue(key).status == "Resolved"
        again = outage()
        again.alerts[0] = again.alerts[0].model_copy(update={"starts_at": start + timedelta(minutes=3)})
        await handle.signal(ALERTS_SIGNAL, again)  # fires again, the close's answer still in flight
        tracker.release.set()
        await until(handle, lambda s: s.status is IncidentStatus.OPEN, "reopened")
        for _ in range(100):
            if double.issue(key).status != "Resolved":
                break
            await asyncio.sleep(0.1)
        reopened = double.issue(key)
        assert (reopened.status, reopened.resolution) == ("Reopened", None)
        told = reopened.comments[1].body.splitlines()  # after "Resolved."
        assert told == [
            "The incident is open again.",
            "A signal arrived as the incident was closing; reopened.",
            "PostgresDown fired again (service orders-db).",
        ]
        over = outage(AlertStatus.RESOLVED)
        over.alerts[0] = over.alerts[0].model_copy(update={"starts_at": again.alerts[0].starts_at})
        await handle.signal(ALERTS_SIGNAL, over)
        for _ in range(20):
            described = await h.env.client.get_workflow_handle(handle.id).describe()
            if described.status != WorkflowExecutionStatus.RUNNING:
                break
            await h.env.sleep(timedelta(seconds=30))
        history = await handle.fetch_history()
    final = double.issue(key)
    assert (final.status, final.resolution) == ("Resolved", "Fixed")  # closed again
    assert [t.to_status for t in final.transitions] == ["Resolved", "Reopened", "Resolved"]
    said = [c.body.splitlines()[0] for c in final.comments]
    if paged:  # its chain starts again: level 1 is paged again, and said on the issue
        assert said.pop(2) == "Escalation level 1: paging data."
    assert said == ["Resolved.", "The incident is open again.", "Resolved."], said
    markers = [str(e) for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(JIRA_REOPEN_PATCH in marker for marker in markers)
