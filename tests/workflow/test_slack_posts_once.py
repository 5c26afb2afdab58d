"""An incident's Slack posts, answered by Slack past the client's timeout, each show once: the real
``SlackChat`` (1 s timeout) against the Slack double, driven by the incident workflow on the
time-skipping server. Before, Temporal tried each such activity again and it posted again: the card
twice in the team's channel, "Escalation level 2" twice in its thread (found by an HA walk-through)."""

import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.adapters.slack import SlackChat
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import AlertStatus
from medic.incident import IncidentStatus
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.doubles import SLACK_TOKEN, SlackDouble
from tests.support.fakes import FakePager, FakeTracker, queried_state
from tests.support.timeskip import time_skipping
from tests.workflow.test_notifications import POLICY, open_incident, outage, until
from workflows.incident import IncidentWorkflow

POST = "POST /api/chat.postMessage"
LATE = 3.0  # seconds Slack takes to answer a post it took at once (the client gives up after 1)


@dataclass
class Stack:
    env: WorkflowEnvironment
    slack: SlackDouble
    worker: Worker
    task_queue: str


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    path = require_binary("temporal-test-server")
    # The time-skipping server's clock runs ahead of the wall clock as it skips timers; the double stamps
    # its messages a day ahead, so each is after the activity that posted it was scheduled, as on Slack.
    slack = SlackDouble(
        channels={"#data-oncall": "C0DATA", "#war-room": "C0WAR", "#incidents": "C0INC"},
        first_ts=f"{int(time.time()) + 86_400}.000100",
    )
    with slack.serve() as url:
        notify = NotifyActivities(
            chat=SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", timeout=1),
            pager=FakePager(),
            tracker=FakeTracker(),
            policy=lambda: POLICY,
        )
        async with time_skipping(path) as env:
            postmortem = PostmortemActivities(PostmortemWriter(tmp_path / "pm"), queried_state(env.client))
            queue = f"tq-{uuid.uuid4().hex[:6]}"
            worker = Worker(
                env.client,
                task_queue=queue,
                workflows=WORKFLOWS,
                activities=[*notify.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(4),
            )
            yield Stack(env, slack, worker, queue)


async def test_posts_answered_after_the_timeout_show_once(stack: Stack) -> None:
    s = stack
    s.slack.faults.push("late_answer", seconds=LATE, route=POST, times=50)  # every post, answered late
    async with s.worker:
        handle = await open_incident(s)
        await until(
            handle,
            lambda st: (
                "#data-oncall" in st.notifications.messages("slack")
                and st.notifications.pages.get("data") == "trigger"
            ),
            "the card and the first page",
        )
        # Level 2 after 5 minutes: the war room's card, and the escalation's reply in the thread.
        await s.env.sleep(timedelta(minutes=5, seconds=5))
        await until(handle, lambda st: st.notifications.escalation_done >= 2, "level 2")
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        result = await handle.result()
        state = await handle.query(IncidentWorkflow.state)
    assert result.status is IncidentStatus.RESOLVED
    posts = s.slack.requests(POST)
    assert [r.fault for r in posts] == ["late_answer"] * len(posts)
    cards = {c: [m for m in s.slack.messages(c) if not m.is_reply] for c in ("C0DATA", "C0WAR")}
    assert {channel: len(top) for channel, top in cards.items()} == {"C0DATA": 1, "C0WAR": 1}
    assert state.notifications.messages("slack")["#data-oncall"].id == cards["C0DATA"][0].ts
    thread = [m.text for m in s.slack.thread("C0DATA", cards["C0DATA"][0].ts)]
    assert thread.count("Escalation level 2: paging data-2.") == 1, thread
    assert [text for text, n in Counter(thread).items() if n > 1] == []
    assert len(posts) == 2 + len(thread)  # each post sent once: found, not sent again
    assert "notification.failed" not in [e.kind for e in state.timeline]
