"""Recorded histories of this round's new workflow behaviour (its patches and state), which every later
version of the workflows must replay (in ``test_replay``):

    python -m tests.workflow.r16_history [jira-reopen] [jira-priority] [plan-race] [node] [names]
    (all when none named)

- ``incident-orders-db-jira-reopened@r16``: a Jira-only team's incident (Jira and Slack, no pager; the real
  Jira client against the Jira double, Cloud): its alert resolves, Medic closes the issue, the alert fires
  again while the close's answer is in flight; the incident reopens and the issue is reopened and told
  (jira-reopen); a person then moves the issue to In Progress and to Done, each through the real API app's
  Jira webhook: acknowledged, then resolved, from Jira (``FromJira``: the issue's key and Jira's time).
- ``incident-orders-db-jira-priority@r16``: filed in Jira at P2, the incident rises to P1: the issue's
  summary, priority (the site's own names, ``jira_priorities``) and label follow it, with a comment
  (jira-follows-priority); its alerts resolve and it closes.
- ``incident-orders-db-plan-raced@r16``: the first delivery (P3) asks for a plan that is held until a
  critical delivery has raised the incident (to P1): the plan is recorded as made for P3
  (plan-for-its-priority), planned again for P1, and the team is paged; its alerts resolve and it closes.
- ``incident-node-settles-for-orders-db@r16``, ``incident-orders-db-joins-its-node@r16``: orders-db's
  incident pages its team; the node its pod runs on opens after it (its context names orders-db among its
  hosted services), waits for orders-db's incident to join it (node-settles-for-its-workloads), and is told
  to orders-db's team (``hosts_route``); orders-db's page is resolved as it joins. Terminated once told.
- ``incident-orders-db-slack-named@r16``: acknowledged and marked a false positive from Slack, each request
  carrying the person's name beside their Slack id (``actor_name``): the incident keeps the names
  (``names``) and writes them in Teams, the pager's notes, Jira and Slack (the real Slack client against the
  Slack double; its posts carry message metadata keys, the first answered past the client's timeout and
  found, not posted again); its alerts resolve and it closes.
"""

import asyncio
import contextlib
import hashlib
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.adapters.jira import JiraTracker
from activities.adapters.slack import POST_EVENT, SlackChat
from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import AlertStatus
from medic.feedback import FalsePositive
from medic.incident import AlertBatch, IncidentStatus
from medic.keys import service_incident_id
from medic.routing import RoutingPolicy
from service.devserver import find_binary
from service.worker import WORKFLOWS
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, SLACK_TOKEN, JiraDouble, SlackDouble
from tests.support.fakes import FakeChat, FakeOpsgenie, FakePager, FakeTeams, FakeTracker, queried_state
from tests.support.shop import ctx
from tests.support.timeskip import time_skipping
from tests.workflow import (
    test_jira_ack,
    test_jira_priority,
    test_node_cascade,
    test_plan_race,
    test_slack_names,
)
from tests.workflow.histories import HISTORIES
from tests.workflow.test_jira_reopen import SlowClose
from tests.workflow.test_notifications import Harness, open_incident, outage, pages, until
from workflows import people
from workflows.incident import ALERTS_SIGNAL, AckRequest, IncidentInput, IncidentWorkflow

__all__ = ["RELEASE", "record_r16"]

RELEASE = "r16"  # Jira both ways (reopen, priority, the webhook's acks and resolves), plans for their
# priority, a node waiting for its services' incidents, people named beside their Slack ids
QUEUE = "r16"
ORDERS_DB = service_incident_id("orders-db")
BOB, ERIN = test_slack_names.BOB, test_slack_names.ERIN


def _write(name: str, history_json: str) -> Path:
    path = HISTORIES / f"{name}@{RELEASE}.json"
    path.write_text(history_json)
    return path


async def _written(env: WorkflowEnvironment, name: str, workflow_id: str) -> Path:
    history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    return _write(name, history.to_json())


@contextlib.asynccontextmanager
async def _harness(server: Path) -> AsyncIterator[Harness]:
    """The notification tests' harness (in-memory notifiers, tests/workflow/test_notifications.py)."""
    with tempfile.TemporaryDirectory() as tmp:
        async with time_skipping(server) as env:
            yield Harness(env, FakeChat(), FakePager(), FakeTracker(), QUEUE, Path(tmp) / "pm")


def _with_status(batch: AlertBatch, status: AlertStatus) -> AlertBatch:
    return batch.model_copy(
        update={"alerts": [a.model_copy(update={"status": status}) for a in batch.alerts]}
    )


async def _jira_reopened(server: Path) -> Path:
    """``incident-orders-db-jira-reopened@r16``: closed, fired again, the issue reopened; acknowledged and
    resolved by moves of the issue, through the webhook."""
    double = JiraDouble(deployment_type="Cloud", projects={"DATA": "Data"})
    with double.serve() as url:
        async with _harness(server) as h:
            h.policy = test_jira_ack.POLICY
            tracker = SlowClose(JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN))
            h.tracker = tracker
            async with h.worker():
                handle = await open_incident(h)
                key = await test_jira_ack.issue_of(handle)
                start = outage().alerts[0].starts_at
                await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
                await h.env.sleep(timedelta(seconds=70))  # the quiet period passes: it closes
                assert await asyncio.to_thread(tracker.closing.wait, 30)
                again = outage()
                again.alerts[0] = again.alerts[0].model_copy(
                    update={"starts_at": start + timedelta(minutes=3)}
                )
                await handle.signal(ALERTS_SIGNAL, again)  # fires again, the close's answer in flight
                await until(handle, lambda s: s.status is IncidentStatus.OPEN, "reopened")
                tracker.release.set()
                await until(
                    handle,
                    lambda s: s.notifications.jira_moved_at is not None and not s.notifications.jira_reopen,
                    "the issue reopened",
                )
                await _issue_in(double, key, "To Do")
                await h.env.sleep(timedelta(minutes=1))
                for status in ("In Progress", "Done"):
                    moved = double.act_in_app(
                        key, status, user=test_jira_ack.ALICE, at_ms=await test_jira_ack.now_ms(h)
                    )
                    answer = await test_jira_ack.deliver(h.env.client, moved)
                    assert answer.status_code == 202 and answer.json()["handled"] is True, answer.text
                    if status == "In Progress":
                        await until(handle, lambda s: s.status is IncidentStatus.ACKNOWLEDGED, "the ack")
                        await h.env.sleep(timedelta(minutes=1))
                await asyncio.wait_for(handle.result(), timeout=120)
                state = await handle.query(IncidentWorkflow.state)
            assert (state.acknowledged_by, state.resolved_by) == ("Alice", "Alice"), state
            assert [t.to_status for t in double.issue(key).transitions] == [
                "Done",
                "To Do",
                "In Progress",
                "Done",
            ]
            return await _written(h.env, "incident-orders-db-jira-reopened", handle.id)


async def _issue_in(double: JiraDouble, key: str, status: str) -> None:
    for _ in range(100):  # the move is in flight once the state says so
        if double.issue(key).status == status:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{key} never moved to {status} (it is {double.issue(key).status})")


async def _jira_priority(server: Path) -> Path:
    """``incident-orders-db-jira-priority@r16``: filed at P2, the issue follows the rise to P1."""
    double = JiraDouble(
        projects={"DATA": "Data"},
        priorities=("Blocker", "Critical", "Major", "Minor", "Trivial"),
        custom_fields={"DATA": {"customfield_10042": ("Environment type", True)}},
    )
    with double.serve() as url:
        async with _harness(server) as h:
            h.policy = test_jira_priority.POLICY
            h.tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)  # type: ignore[assignment]
            async with h.worker():
                slow = test_jira_priority.slow_queries()
                handle = await open_incident(h, slow)
                filed = await until(handle, lambda s: s.notifications.jira_key is not None, "the issue")
                key = filed.notifications.jira_key
                assert filed.priority == "P2" and key is not None
                await handle.signal(ALERTS_SIGNAL, outage())  # PostgresDown, critical, burning: P1
                await until(handle, lambda s: s.notifications.jira_priority == "P1", "the issue following")
                for _ in range(100):
                    if any(c.body.startswith("Priority") for c in double.issue(key).comments):
                        break
                    await asyncio.sleep(0.1)
                await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
                await handle.signal(ALERTS_SIGNAL, _with_status(slow, AlertStatus.RESOLVED))
                await h.env.sleep(timedelta(seconds=90))
                await asyncio.wait_for(handle.result(), timeout=120)
            issue = double.issue(key)
            assert issue.summary.startswith("[P1] ") and issue.priority == "Blocker", issue
            assert "medic-p1" in issue.labels and "medic-p2" not in issue.labels
            return await _written(h.env, "incident-orders-db-jira-priority", handle.id)


async def _plan_raced(server: Path) -> Path:
    """``incident-orders-db-plan-raced@r16``: the plan asked for P3 is made while a critical delivery
    lands: planned again, paged."""
    async with _harness(server) as h:
        asked, release = threading.Event(), threading.Event()

        def policy() -> RoutingPolicy:  # the first plan is held until the critical one has been applied
            if not asked.is_set():
                asked.set()
                release.wait(timeout=30)
            return test_plan_race.POLICY

        activities = NotifyActivities(chat=h.chat, pager=h.pager, tracker=h.tracker, policy=policy)
        postmortem = PostmortemActivities(PostmortemWriter(h.postmortems), queried_state(h.env.client))
        worker = Worker(
            h.env.client,
            task_queue=h.task_queue,
            workflows=WORKFLOWS,
            activities=[*activities.all(), *postmortem.all()],
            activity_executor=ThreadPoolExecutor(4),
        )
        first, second = test_plan_race.batch("info", "a"), test_plan_race.batch("critical", "b")
        async with worker:
            handle = await h.env.client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(
                    incident_id=ORDERS_DB, service=ctx("orders-db"), quiet_period_seconds=600, remediate=False
                ),
                id=ORDERS_DB,
                task_queue=h.task_queue,
                start_signal=ALERTS_SIGNAL,
                start_signal_args=[first],
            )
            await until(handle, lambda s: s.priority == "P3", "P3 from the first delivery")
            assert await asyncio.to_thread(asked.wait, 30)  # the plan for P3 is being made
            await handle.signal(ALERTS_SIGNAL, second)
            await until(handle, lambda s: s.priority in ("P1", "P2"), "the critical delivery applied")
            release.set()
            state = await until(handle, lambda s: bool(s.notifications.pages), "the page")
            assert state.notifications.planned_priority == state.priority
            for batch in (first, second):
                await handle.signal(ALERTS_SIGNAL, _with_status(batch, AlertStatus.RESOLVED))
            await h.env.sleep(timedelta(minutes=11))  # the quiet period (10 min)
            await asyncio.wait_for(handle.result(), timeout=120)
        assert pages(h) == [("trigger", "data"), ("resolve", "data")], pages(h)
        return await _written(h.env, "incident-orders-db-plan-raced", handle.id)


async def _node(server: Path) -> list[Path]:
    """The node's incident, told to orders-db's team once orders-db's has joined it, and orders-db's."""
    crash = "KubePersistentVolumeFillingUp/shop/data-orders-db-0"  # critical: orders-db pages on its own
    found = test_node_cascade._assigned((test_node_cascade.NODE_ID, crash))
    node_name = "node/ip-10-0-1-12.eu-west-1.compute.internal"
    node, db = found[node_name], found["orders-db"]
    assert node.service is not None and "orders-db" in node.service.hosts
    settle = test_node_cascade.SETTLE
    async with _harness(server) as h, h.worker():
        service = await test_node_cascade._start(h, db, settle)
        await until(service, lambda s: bool(s.notifications.pages), "orders-db's page")
        # the join takes milliseconds: no jump over the node's settle period meanwhile (its test's note)
        with h.env.auto_time_skipping_disabled():
            root = await test_node_cascade._start(h, node, settle)
            await until(root, lambda s: db.incident_id in s.absorbed, "orders-db joining the node")
        await h.env.sleep(settle * 2)
        state = await until(
            root, lambda s: bool(s.notifications.pages) and s.owner is not None, "the node's page"
        )
        assert state.hosts_route and state.owner is not None and state.owner.name == "orders-db", state.owner
        assert ("trigger", "data-platform", node.incident_id) in h.pager.events, h.pager.events
        assert ("resolve", "data-platform", db.incident_id) in h.pager.events, h.pager.events
        for handle in (root, service):
            with contextlib.suppress(RPCError):  # orders-db's closed as it joined
                await handle.terminate("recorded")
        return [
            await _written(h.env, "incident-node-settles-for-orders-db", node.incident_id),
            await _written(h.env, "incident-orders-db-joins-its-node", db.incident_id),
        ]


def _call_keys(history: WorkflowHistory) -> set[str]:
    """The keys activities/attempts.py gives the run's activities (as the Slack posts' metadata carries
    them)."""
    keys = set()
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            activity_id = event.activity_task_scheduled_event_attributes.activity_id
            identity = "\x1f".join((history.workflow_id, history.run_id, activity_id))
            keys.add(hashlib.sha256(identity.encode()).hexdigest()[:32])
    return keys


async def _slack_named(server: Path) -> Path:
    """``incident-orders-db-slack-named@r16``: a Slack-named ack and false-positive mark."""
    post = "POST /api/chat.postMessage"
    slack = SlackDouble(
        channels={"#data-oncall": "C0DATA", "#war-room": "C0WAR", "#incidents": "C0INC"},
        first_ts=f"{int(time.time()) + 86_400}.000100",  # after the skipped clock's scheduled times
    )
    slack.faults.push("late_answer", seconds=3.0, route=post, times=1)  # the card: answered late
    pager, teams, tracker = FakeOpsgenie(), FakeTeams(), FakeTracker()
    with slack.serve() as url, tempfile.TemporaryDirectory() as tmp:
        notify = NotifyActivities(
            chat=SlackChat(SLACK_TOKEN, base_url=f"{url}/api/", timeout=1),
            pager=pager,
            tracker=tracker,
            chats={"teams": teams},
            policy=lambda: test_slack_names.POLICY,
        )
        async with time_skipping(server) as env:
            postmortem = PostmortemActivities(PostmortemWriter(Path(tmp)), queried_state(env.client))
            started = Harness(env, FakeChat(), pager, tracker, QUEUE, Path(tmp))
            async with Worker(
                env.client,
                task_queue=QUEUE,
                workflows=WORKFLOWS,
                activities=[*notify.all(), *postmortem.all()],
                activity_executor=ThreadPoolExecutor(4),
            ):
                handle = await open_incident(started)
                await until(
                    handle,
                    lambda s: (
                        "teams:oncall" in s.notifications.chat
                        and "#data-oncall" in s.notifications.messages("slack")
                        and s.notifications.jira_key is not None
                        and s.notifications.pages.get("data") == "trigger"
                    ),
                    "the cards, the issue and the page",
                )
                ack = AckRequest(actor=BOB, actor_name="Bob Smith", source="slack")
                await handle.execute_update(IncidentWorkflow.acknowledge, ack)
                caught_up = "the note, the comment and the thread reply"
                await until(handle, lambda s: s.notifications.note_cursor == len(s.timeline), caught_up)
                mark = FalsePositive(
                    at=await env.get_current_time(),
                    actor=ERIN,
                    actor_name="Erin Hale",
                    rules=await handle.query(IncidentWorkflow.rules),
                    incident_id=handle.id,
                    note="a failover drill",
                )
                await handle.signal(people.FALSE_POSITIVE_SIGNAL, mark)  # as service/chat/runner.py does
                await until(handle, lambda s: len(s.names) == 2, "both named")
                await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
                await env.sleep(timedelta(seconds=90))
                await asyncio.wait_for(handle.result(), timeout=120)
                state = await handle.query(IncidentWorkflow.state)
            history = await handle.fetch_history()
    assert state.names == {BOB: "Bob Smith", ERIN: "Erin Hale"}, state.names
    assert (state.acknowledged_by, state.false_positives[0].actor) == (BOB, ERIN)
    notes = teams.notes_in("oncall")
    assert "Acknowledged by Bob Smith (slack)." in notes, notes
    said = [*notes, *(text for _, _, text in pager.notes), *(text for _, text in tracker.comments)]
    assert not [text for text in said if BOB in text or ERIN in text], said
    (card,) = [m for m in slack.messages("#data-oncall") if not m.is_reply]  # posted once, found after
    thread = [m.text for m in slack.thread("#data-oncall", card.ts)]
    assert "Acknowledged by Bob Smith (slack)." in thread, thread
    assert "Erin Hale marked PostgresDown as a false positive: a failover drill." in thread, thread
    keys = _call_keys(history)
    posted = [m for channel in ("#data-oncall", "#war-room", "#incidents") for m in slack.messages(channel)]
    assert [r.fault for r in slack.requests(post)][:1] == ["late_answer"]
    for message in posted:  # each post's metadata names an activity of this run
        assert message.metadata is not None and message.metadata["event_type"] == POST_EVENT, message
        assert message.metadata["event_payload"]["key"] in keys, message.metadata
    return _write("incident-orders-db-slack-named", history.to_json())


async def record_r16(only: Sequence[str] = ()) -> list[Path]:
    """Every recording, or those named in ``only`` (jira-reopen, jira-priority, plan-race, node, names)."""
    server = find_binary("temporal-test-server")
    written: list[Path] = []
    if not only or "jira-reopen" in only:
        written.append(await _jira_reopened(server))
    if not only or "jira-priority" in only:
        written.append(await _jira_priority(server))
    if not only or "plan-race" in only:
        written.append(await _plan_raced(server))
    if not only or "node" in only:
        written += await _node(server)
    if not only or "names" in only:
        written.append(await _slack_named(server))
    await asyncio.sleep(1)  # the SDK's last callbacks end first (without it the interpreter aborted at exit)
    return written


if __name__ == "__main__":
    for written in asyncio.run(record_r16(sys.argv[1:])):
        print(written, written.stat().st_size)
