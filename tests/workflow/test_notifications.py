"""Routing and escalation on the time-skipping server with in-memory notifiers: the right people
once, escalation on durable timers, acks that stop it, a worker lost mid-escalation, failures."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow
from medic.incident import AlertBatch, AnomalyBatch, IncidentState, IncidentStatus
from medic.keys import service_incident_id
from medic.routing import RoutingPolicy, load_routing
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.support.fakes import FakeChat, FakePager, FakeTeams, FakeTracker, queried_state
from tests.support.shop import ctx, shop
from tests.support.timeskip import time_skipping
from workflows.incident import (
    ALERTS_SIGNAL,
    ANOMALIES_SIGNAL,
    AckRequest,
    IncidentInput,
    IncidentResult,
    IncidentWorkflow,
)

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
teams:
  data: {primary: data, secondary: data-2, manager: boss}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary], slack_channels: ["#war-room"]}
    - {after_minutes: 15, page: [manager]}
rules:
  - {name: p1, match: {priority: [P1]}, pagerduty: true, jira: true, escalation: critical}
  - {name: p2, match: {priority: [P2]}, pagerduty: true}
  - {name: rest}
""",
    catalog=shop(),
)
Handle = WorkflowHandle[IncidentWorkflow, IncidentResult]


@dataclass
class Harness:
    env: WorkflowEnvironment
    chat: FakeChat
    pager: FakePager
    tracker: FakeTracker
    task_queue: str
    postmortems: Path
    teams: FakeTeams = field(default_factory=FakeTeams)
    policy: RoutingPolicy = field(default_factory=lambda: POLICY)

    def worker(self, *, cache: bool = True) -> Worker:
        """``cache=False``: no sticky queue, as a worker whose process is gone leaves none behind."""
        activities = NotifyActivities(
            chat=self.chat,
            pager=self.pager,
            tracker=self.tracker,
            chats={"teams": self.teams},
            policy=lambda: self.policy,
        )
        client = self.env.client

        postmortem = PostmortemActivities(PostmortemWriter(self.postmortems), queried_state(client))
        return Worker(
            self.env.client,
            task_queue=self.task_queue,
            workflows=WORKFLOWS,
            activities=[*activities.all(), *postmortem.all()],
            activity_executor=ThreadPoolExecutor(4),
            max_cached_workflows=100 if cache else 0,
        )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    path = require_binary("temporal-test-server")
    async with time_skipping(path) as env:
        yield Harness(
            env, FakeChat(), FakePager(), FakeTracker(), f"tq-{uuid.uuid4().hex[:6]}", tmp_path / "pm"
        )


def outage(status: AlertStatus = AlertStatus.FIRING) -> AlertBatch:
    """orders-db down and burning its error budget: P1 (see medic/impact.py)."""
    alert = Alert(
        fingerprint="db-down",
        status=status,
        starts_at=T0,
        service="orders-db",
        labels={
            "alertname": "PostgresDown",
            "service": "orders-db",
            "severity": "critical",
            "burn_rate": "20",
        },
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("orders-db")])


class Started(Protocol):
    """What starting an incident needs of a harness: its environment and task queue."""

    @property
    def env(self) -> WorkflowEnvironment: ...

    @property
    def task_queue(self) -> str: ...


async def open_incident(
    h: Started, batch: AlertBatch | AnomalyBatch | None = None, *, quiet_seconds: float = 60
) -> Handle:
    """orders-db's incident, opened by ``batch`` (the P1 :func:`outage` unless said otherwise)."""
    return await h.env.client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=service_incident_id("orders-db"),
            service=ctx("orders-db"),
            quiet_period_seconds=quiet_seconds,
            remediate=False,
        ),
        id=service_incident_id("orders-db"),
        task_queue=h.task_queue,
        start_signal=ANOMALIES_SIGNAL if isinstance(batch, AnomalyBatch) else ALERTS_SIGNAL,
        start_signal_args=[batch or outage()],
    )


async def until(handle: Handle, predicate: Callable[[IncidentState], bool], what: str) -> IncidentState:
    """Poll (bounded: 60 s) while activities run in real time and timers skip ahead. The
    time-skipping server now and then rejects a workflow task's completion ("invalid history
    builder state for action": twice in clean runs, about one run of this file's cascade test in
    25 alone), and the task is retried only after its 10 s timeout; a query that meets it waits for
    it and its own deadline passes first ("query deadline exceeded"), as one that meets a run as it
    continues as new does. Such a query is asked again, as the workflow goes on once its task is
    retried."""
    state: IncidentState | None = None
    deadline = asyncio.get_running_loop().time() + 60.0
    while asyncio.get_running_loop().time() < deadline:
        try:
            state = await handle.query(IncidentWorkflow.state, rpc_timeout=timedelta(seconds=2))
        except RPCError:
            await asyncio.sleep(0.1)
            continue
        if predicate(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"never saw {what}; the last state seen:\n{_seen(state) if state else 'none'}")


def _seen(state: IncidentState) -> str:
    """What a failure needs to be understood (a rare one may not come back): where the incident stood,
    what its notifier had done, and the end of its timeline."""
    n = state.notifications
    done = n.model_dump(include={"finished", "jira_key", "jira_linked", "jira_link_cursor", "pages"})
    tail = "\n".join(f"  {e.at:%H:%M:%S} {e.kind} {e.message} {e.data}" for e in state.timeline[-12:])
    return (
        f"status={state.status} merged_into={state.merged_into} absorbed={state.absorbed} "
        f"revision={state.revision}\nnotifications={done}\ntimeline ({len(state.timeline)} entries):\n{tail}"
    )


def pages(h: Harness) -> list[tuple[str, str]]:
    return [(action, key) for action, key, _ in h.pager.events]


async def test_p1_pages_posts_and_escalates_on_timers(harness: Harness) -> None:
    h = harness
    async with h.worker():
        handle = await open_incident(h)
        # The first level's page goes out beside the Slack post and the JIRA issue (the escalation's own
        # coroutine, once the plan is made): the issue can be open with the page still in flight.
        state = await until(
            handle,
            lambda s: s.notifications.jira_key is not None and s.notifications.pages.get("data") == "trigger",
            "the first notifications",
        )
        assert state.priority == "P1"
        assert [channel for channel, _ in h.chat.top_level()] == ["#data-oncall"]
        assert pages(h) == [("trigger", "data")]
        assert list(h.tracker.issues) == ["DATA-1"]
        opened = state.opened_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        assert h.tracker.issues["DATA-1"].dedup_label == f"incident-orders-db-{opened}"  # this occurrence
        await h.env.sleep(timedelta(minutes=5, seconds=5))
        await until(handle, lambda s: s.notifications.escalation_done == 2, "level 2")
        assert pages(h) == [("trigger", "data"), ("trigger", "data-2")]
        await until(
            handle, lambda s: "#war-room" in s.notifications.messages("slack"), "the war room message"
        )
        await h.env.sleep(timedelta(minutes=10, seconds=5))
        state = await until(handle, lambda s: s.notifications.escalation_done == 3, "level 3")
        assert pages(h) == [("trigger", "data"), ("trigger", "data-2"), ("trigger", "boss")]
        assert [e.data["level"] for e in state.timeline if e.kind == "escalation.level"] == [1, 2, 3]


async def test_ack_stops_escalation_and_acks_pagerduty(harness: Harness) -> None:
    h = harness
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
        await h.env.sleep(timedelta(minutes=3))
        result = await handle.execute_update(
            IncidentWorkflow.acknowledge, AckRequest(actor="U123 alice", source="slack")
        )
        assert result.status is IncidentStatus.ACKNOWLEDGED and result.acknowledged_by == "U123 alice"
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the PagerDuty ack")
        await h.env.sleep(timedelta(hours=1))
        assert pages(h) == [("trigger", "data"), ("acknowledge", "data")]
        state = await handle.query(IncidentWorkflow.state)
        assert "Acknowledged by U123 alice (slack)." in [e.message for e in state.timeline]
        assert any("ack by U123 alice" in text for _, _, text in h.chat.updates)


async def test_resolve_tells_everyone_exactly_once(harness: Harness) -> None:
    h = harness
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.jira_key is not None, "the first notifications")
        await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        result = await handle.result()
        assert result.status is IncidentStatus.RESOLVED
    assert pages(h).count(("resolve", "data")) == 1
    assert h.tracker.closed == list(h.tracker.issues)
    assert len(h.chat.top_level()) == 1
    assert h.chat.updates[-1][2].startswith(":white_check_mark:")
    # The postmortem is written once, posted in the thread and attached to the JIRA issue.
    written = h.postmortems / "incident-orders-db" / "postmortem.md"
    assert "**Final**" in written.read_text() and (written.parent / "timeline.svg").exists()
    assert sum("Postmortem" in text for _, text, thread in h.chat.posts if thread) == 1
    assert not any("## Summary" in text for _, text in h.tracker.comments)  # a file, not a comment
    assert [(k, name) for k, name, text in h.tracker.attachments if "## Summary" in text] == [
        (key, "incident-orders-db-postmortem.md") for key in h.tracker.issues
    ]


async def test_worker_lost_mid_escalation_pages_each_level_once(harness: Harness) -> None:
    """The worker that scheduled the escalation timer is gone when it fires; another worker, with
    nothing in memory, replays the history and pages level 2 once, without paging level 1 again."""
    h = harness
    async with h.worker(cache=False):
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
    async with h.worker(cache=False):
        await h.env.sleep(timedelta(minutes=6))
        await until(handle, lambda s: s.notifications.escalation_done == 2, "level 2 after the restart")
        await asyncio.sleep(0.5)
    assert pages(h) == [("trigger", "data"), ("trigger", "data-2")]


async def test_broken_channel_falls_back_and_flaky_calls_are_retried(harness: Harness) -> None:
    h = harness
    h.chat.broken.add("#data-oncall")
    h.chat.flaky = 2
    async with h.worker():
        handle = await open_incident(h)
        state = await until(
            handle, lambda s: "#incidents" in s.notifications.messages("slack"), "the fallback channel"
        )
    failures = [e.message for e in state.timeline if e.kind == "notification.failed"]
    assert any("#data-oncall" in m and "channel_not_found" in m for m in failures)
    assert [channel for channel, _ in h.chat.top_level()] == ["#incidents"]


async def test_a_broken_slack_thread_is_recorded_not_retried_for_ever(harness: Harness) -> None:
    """Slack breaks after the first message: the failures go on the timeline (not into the broken
    thread, which would fail again and record again without end), and paging goes on."""
    h = harness
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
        h.chat.broken.add("#data-oncall")
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="U1", source="slack"))
        await until(handle, lambda s: s.notifications.pages.get("data") == "acknowledge", "the ack")
        await h.env.sleep(timedelta(minutes=1))
        first = await handle.query(IncidentWorkflow.state)
        await h.env.sleep(timedelta(minutes=3))  # and no more of them later: not retried for ever
        state = await handle.query(IncidentWorkflow.state)
    failures = [e.message for e in first.timeline if e.kind == "notification.failed"]
    assert failures == [
        "Could not update the Slack message in #data-oncall: channel_not_found.",
        "Could not reply in the Slack thread: channel_not_found.",
    ]
    assert [e.message for e in state.timeline if e.kind == "notification.failed"] == failures


async def test_a_held_plan_waits_quietly_once_its_quiet_hours_have_passed(harness: Harness) -> None:
    """Once quiet hours ended with the incident still open, the notifier woke every millisecond, then
    its debounce and a pass, for as long as the incident stayed open: 2,990 history events in 10
    quiet minutes (a review, 2026-12-06)."""
    h = harness
    now = await h.env.get_current_time()
    start, end = (now - timedelta(minutes=1)).time(), (now + timedelta(minutes=5)).time()
    h.policy = load_routing(
        f"""
teams:
  data: {{primary: data}}
rules:
  - {{name: held, pagerduty: true, quiet_hours: {{start: "{start:%H:%M}", end: "{end:%H:%M}"}}}}
""",
        catalog=shop(),
    )
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.plan is not None, "the plan")
        await h.env.sleep(timedelta(minutes=6))  # past the quiet hours: told now
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the page after them")
        before = len((await handle.fetch_history()).events)
        await h.env.sleep(timedelta(minutes=10))
        after = len((await handle.fetch_history()).events)
    assert after - before < 50


def _scan_finding(end_minutes: float, summary: str) -> AnomalyBatch:
    """A scan's anomaly on orders-db, its window reaching ``end_minutes`` past T0 (each run extends it)."""
    signal = AnomalySignal(
        source="medic-scan",
        service="orders-db",
        series={"service": "orders-db", SCAN_LABEL: "db-latency"},
        value=2.27,
        expected=ExpectedBand(lower=0.237, upper=0.242),
        score=0.97,
        window=TimeWindow(start=T0, end=T0 + timedelta(minutes=end_minutes)),
        summary=summary,
    )
    return AnomalyBatch(signals=[signal], received_at=T0, contexts=[ctx("orders-db")])


def extended(times: int) -> Callable[[IncidentState], bool]:
    return lambda s: sum(e.kind == "anomaly.extended" for e in s.timeline) == times


async def test_a_card_is_edited_only_when_what_it_shows_changes(harness: Harness) -> None:
    """Each run of a scan that extends its anomaly changed the incident and edited its card to the same
    text: 21 edits in 3.5 minutes in a field review, 288 a day a series at the default 5 minutes."""
    h = harness
    said = "scan db-latency: value 2.27 outside [0.237, 0.242]"
    async with h.worker():
        handle = await open_incident(h, _scan_finding(1, said), quiet_seconds=600)
        await until(handle, lambda s: bool(s.notifications.chat), "the card")
        for k in range(2, 6):  # four runs that find the same, a minute apart
            await handle.signal(ANOMALIES_SIGNAL, _scan_finding(k, said))
            state = await until(handle, extended(k - 1), "a run")
            await h.env.sleep(timedelta(minutes=1))
        await handle.signal(ANOMALIES_SIGNAL, _scan_finding(6, said.replace("2.27", "3.10")))
        await until(handle, lambda s: s.revision > state.revision, "the next finding")
        await h.env.sleep(timedelta(seconds=30))
    [versions] = h.chat.versions.values()
    shown = [str(v.blocks) for v in versions]
    assert all(a != b for a, b in itertools.pairwise(shown)), "an edit that changed nothing"
    assert "3.10" in shown[-1]  # what did change is shown
    assert "scan db-latency: value 2.27" in shown[0] and "Anomaly in db-latency" in shown[0]


async def test_a_card_edit_that_failed_is_sent_again_at_the_next_change(harness: Harness) -> None:
    """The first version of the skip kept the digest of an edit that failed for good: while the card
    stayed the same the edit was never sent again, and the card showed the status before the ack for
    the rest of the incident (an owner review, 2026-12-06)."""
    h = harness
    said = "scan db-latency: value 2.27 outside [0.237, 0.242]"
    async with h.worker():
        handle = await open_incident(h, _scan_finding(1, said), quiet_seconds=3600)
        await until(handle, lambda s: bool(s.notifications.chat), "the card")
        [channel] = {p[0] for p in h.chat.posts if p[2] is None}
        h.chat.broken.add(channel)  # Slack refuses every call while the ack is shown
        await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="U1", source="slack"))
        await until(
            handle,
            lambda s: any(e.kind == "notification.failed" and "update" in e.message for e in s.timeline),
            "the failed edit",
        )
        h.chat.broken.clear()  # back
        for k in range(2, 4):  # two scan runs that find the same
            await handle.signal(ANOMALIES_SIGNAL, _scan_finding(k, said))
            await until(handle, extended(k - 1), "a run")
            await h.env.sleep(timedelta(minutes=1))
    [versions] = h.chat.versions.values()
    assert "ack by U1" in str(versions[-1].blocks)
    shown = [str(v.blocks) for v in versions]
    assert all(a != b for a, b in itertools.pairwise(shown))
