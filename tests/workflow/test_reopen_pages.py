"""An alert fires again just as its incident closes (the closing pass in flight: pages resolved, the
postmortem written, the JIRA issue being closed). The incident reopens, and its chain starts again from
the reopening: the primary is paged again at once, the secondary on its timer counted from then. Before,
the notifier carried on where the chain had got to: nobody's page was open for the outage firing again,
and the secondary and the manager were paged on the old timers, the team's own on-call skipped."""

import asyncio
import threading
from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from medic.alerts import AlertStatus
from medic.incident import IncidentStatus
from tests.support.fakes import FakeTracker
from tests.workflow.test_notifications import Harness, harness, open_incident, outage, pages, until
from workflows.incident import ALERTS_SIGNAL, PAGES_AGAIN_PATCH

__all__ = ["harness"]  # the fixture, shared


class SlowClose(FakeTracker):
    """JIRA takes a while to close the issue (a slow site, a retry): the closing pass is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.closing, self.release = threading.Event(), threading.Event()

    def close(self, key: str, comment: str) -> None:
        self.closing.set()
        self.release.wait(timeout=30)
        super().close(key, comment)


async def test_an_incident_reopened_as_it_closed_pages_its_primary_again(harness: Harness) -> None:
    h = harness
    h.tracker = SlowClose()
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
        start = outage().alerts[0].starts_at
        await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
        await h.env.sleep(timedelta(seconds=70))  # the quiet period (60 s) passes: it closes
        assert await asyncio.to_thread(h.tracker.closing.wait, 30)
        assert pages(h) == [("trigger", "data"), ("resolve", "data")]
        again = outage()
        again.alerts[0] = again.alerts[0].model_copy(update={"starts_at": start + timedelta(minutes=3)})
        await handle.signal(ALERTS_SIGNAL, again)  # the alert fires again, the close still in flight
        h.tracker.release.set()
        state = await until(
            handle,
            lambda s: s.status is IncidentStatus.OPEN and s.notifications.pages.get("data") == "trigger",
            "the primary paged again",
        )
        reopened = state.notifications.chain_from
        assert reopened is not None and pages(h)[2:] == [("trigger", "data")]
        assert h.pager.open_pages() == {("data", "incident-orders-db")}
        await h.env.sleep(timedelta(minutes=3))  # under the secondary's 5 minutes from the reopening
        assert ("trigger", "data-2") not in pages(h)
        await h.env.sleep(timedelta(minutes=3))
        state = await until(handle, lambda s: s.notifications.escalation_done == 2, "level 2")
        level_2 = [e for e in state.timeline if e.kind == "escalation.level" and e.data["level"] == 2]
        assert level_2[-1].at >= reopened + timedelta(minutes=5)
        assert state.status is IncidentStatus.OPEN
        history = await handle.fetch_history()
    markers = [str(e) for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(PAGES_AGAIN_PATCH in marker for marker in markers)  # the new behaviour, marked
