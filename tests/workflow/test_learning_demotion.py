"""Demotion by learning on the time-skipping server with in-memory notifiers: a rule the insights
propose to demote, for a team that opted in, reaches chat only and its timeline says who demoted it and
why; a rule the team did not opt in for still pages; a rule that joins a demoted incident pages again;
a demoted incident that fires longer than the rule's noise ever did pages after all."""

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity
from temporalio.worker import Worker

from activities.notify import NotifyActivities, PlanRequest
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.insights import Demoted, Proposal
from medic.keys import service_incident_id
from medic.routing import NotificationPlan, load_routing
from service.worker import WORKFLOWS
from tests.support.fakes import queried_state
from tests.support.shop import ctx, shop
from tests.workflow.test_notifications import T0, Harness, harness, open_incident, outage, pages, until
from workflows.incident import ALERTS_SIGNAL, AckRequest, IncidentInput, IncidentWorkflow

__all__ = ["harness"]  # the fixture, shared with test_notifications

POLICY = load_routing(
    """
teams:
  data: {primary: data, secondary: data-2}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - {after_minutes: 5, page: [secondary]}
rules:
  - {name: p1, match: {priority: [P1]}, pagerduty: true, jira: true, escalation: critical}
  - {name: rest}
learning:
  data: {demote: [PostgresDown], keep_paging: []}  # its orders-db outage scores P1
""",
    catalog=shop(),
)
EVIDENCE = "never acted on: 12 incidents (1.5/day), 12 pages, acted on 0, 3 gone by themselves within minutes"
# What the worker's learning loop proposes to demote now: PostgresDown, and PostgresReplicaLag too,
# for which team data did not opt in.
DEMOTIONS: Demoted = {
    "data": {
        "PostgresDown": Proposal(rule="PostgresDown", team="data", change="demote", evidence=EVIDENCE),
        "PostgresReplicaLag": Proposal(
            rule="PostgresReplicaLag", team="data", change="demote", evidence="never acted on: 9 incidents"
        ),
    }
}
# As the insights propose it now: the longest PostgresDown nobody acted on fired 10 minutes.
PAGE_AFTER: Demoted = {
    "data": {"PostgresDown": DEMOTIONS["data"]["PostgresDown"].model_copy(update={"for_seconds": 600})}
}


def worker(h: Harness, demotions: Demoted = DEMOTIONS, *, plan: Callable[..., Any] | None = None) -> Worker:
    """``plan``: a ``notify.plan`` of the test's own in place of the activities' (a worker from before)."""
    notify = NotifyActivities(
        chat=h.chat, pager=h.pager, tracker=h.tracker, policy=lambda: POLICY, demotions=lambda: demotions
    )
    client = h.env.client

    postmortem = PostmortemActivities(PostmortemWriter(h.postmortems), queried_state(client))
    return Worker(
        client,
        task_queue=h.task_queue,
        workflows=WORKFLOWS,
        activities=[
            *(a for a in notify.all() if plan is None or getattr(a, "__name__", "") != "plan"),
            *([plan] if plan is not None else []),
            *postmortem.all(),
        ],
        activity_executor=ThreadPoolExecutor(4),
    )


def another(name: str) -> AlertBatch:
    """A second alert rule of orders-db, firing beside PostgresDown."""
    alert = Alert(
        fingerprint=f"db-{name}",
        status=AlertStatus.FIRING,
        starts_at=T0,
        service="orders-db",
        labels={"alertname": name, "service": "orders-db", "severity": "critical", "burn_rate": "20"},
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("orders-db")])


async def test_an_opted_in_demoted_rule_does_not_page_and_its_timeline_says_why(harness: Harness) -> None:
    h = harness
    async with worker(h):
        handle = await open_incident(h)  # PostgresDown on orders-db (team data), P1: would page
        state = await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        assert state.priority == "P1"
        await h.env.sleep(timedelta(minutes=6))  # past every escalation level
        state = await handle.query(IncidentWorkflow.state)
        assert pages(h) == [] and h.tracker.issues == {}  # chat only: no page, escalation or issue
        assert [channel for channel, _ in h.chat.top_level()] == ["#data-oncall"]
        plan = state.notifications.plan
        assert plan is not None and plan.demoted is not None and plan.rule == "p1"
        [entry] = [e for e in state.timeline if e.kind == "learning.demoted"]
        assert entry.actor == "medic learning"
        assert "Demoted to chat only by medic learning: team data opted in" in entry.message
        assert EVIDENCE in entry.message and entry.data["evidence"] == {"PostgresDown": EVIDENCE}
        # The team reads why nobody was paged on the incident's message itself.
        [versions] = h.chat.versions.values()
        assert "Demoted to chat only by medic learning" in json.dumps(versions[-1].blocks), versions[
            -1
        ].blocks

        # A rule the team did not opt in for joins: the incident pages, and the timeline says so.
        await handle.signal(IncidentWorkflow.alerts, another("PostgresReplicaLag"))
        state = await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the page")
    lifted = [e for e in state.timeline if e.kind == "learning.lifted"]
    assert [e.actor for e in lifted] == ["medic learning"]
    assert "PostgresDown, PostgresReplicaLag" in lifted[0].message
    assert state.notifications.plan is not None and state.notifications.plan.demoted is None
    assert ("trigger", "data") in pages(h)


async def test_a_rule_the_team_did_not_opt_in_for_still_pages(harness: Harness) -> None:
    """PostgresReplicaLag is proposed for demotion, but team data opted in for PostgresDown only."""
    h = harness
    async with worker(h):
        incident_id = service_incident_id("orders-db")
        handle = await h.env.client.start_workflow(
            IncidentWorkflow.run,
            IncidentInput(incident_id=incident_id, service=ctx("orders-db"), remediate=False),
            id=incident_id,
            task_queue=h.task_queue,
            start_signal=ALERTS_SIGNAL,
            start_signal_args=[another("PostgresReplicaLag")],
        )
        state = await until(  # the page goes out beside the issue (the escalation's first level)
            handle,
            lambda s: s.notifications.jira_key is not None and s.notifications.pages.get("data") == "trigger",
            "the page and the issue",
        )
    assert pages(h) == [("trigger", "data")]
    assert state.notifications.plan is not None and state.notifications.plan.demoted is None
    assert not [e for e in state.timeline if e.kind.startswith("learning.")]


async def firing_since(h: Harness, minutes_ago: float = 0.0, **labels: str) -> AlertBatch:
    """The P1 outage of orders-db, its alert firing since ``minutes_ago`` on the test server's clock
    (Prometheus starts an alert once its ``for:`` has passed: what page-after time is measured from)."""
    started = await h.env.get_current_time() - timedelta(minutes=minutes_ago)
    batch = outage()
    alerts = [
        a.model_copy(update={"starts_at": started, "labels": {**a.labels, **labels}}) for a in batch.alerts
    ]
    if labels:
        alerts = [
            a.model_copy(update={"fingerprint": f"db-down-{'-'.join(labels.values())}"}) for a in alerts
        ]
    return batch.model_copy(update={"alerts": alerts, "received_at": started})


async def ended(h: Harness, batch: AlertBatch) -> AlertBatch:
    """``batch``'s alerts resolved now."""
    now = await h.env.get_current_time()
    alerts = [a.model_copy(update={"status": AlertStatus.RESOLVED, "ends_at": now}) for a in batch.alerts]
    return batch.model_copy(update={"alerts": alerts, "received_at": now})


async def test_a_demoted_incident_that_outlasts_the_rules_noise_pages_after_all(harness: Harness) -> None:
    """A rule acted on now and then looks never acted on in a week without its real incidents: the
    replayed month lost 5 to 10 actionable pages on two seeds of four with three teams
    (bench.insights_replay --teams 3). A demotion now pages when one of its alerts has fired longer
    than any of the rule's alerts nobody acted on (10 minutes here), unacknowledged; the escalation
    chain counts from then (all its levels paged at once before a review, 2026-12-06)."""
    h = harness
    async with worker(h, PAGE_AFTER):
        handle = await open_incident(h, await firing_since(h))
        state = await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        plan = state.notifications.plan
        assert plan is not None and plan.demoted is not None and plan.demoted.page_after_seconds == 600
        [demoted] = [e for e in state.timeline if e.kind == "learning.demoted"]
        assert "It pages after all when one of its alerts has fired 10 min, unacknowledged" in demoted.message
        await h.env.sleep(timedelta(minutes=9))
        assert pages(h) == []  # the noise of the rule fired this long too
        await h.env.sleep(timedelta(minutes=2))
        state = await until(
            handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page"
        )
        assert pages(h) == [("trigger", "data")]  # the second level is due five minutes on, not now
        await h.env.sleep(timedelta(minutes=5))
        state = await until(handle, lambda s: s.notifications.escalation_done == 2, "the second level")
    assert pages(h) == [("trigger", "data"), ("trigger", "data-2")]
    [lifted] = [e for e in state.timeline if e.kind == "learning.lifted"]
    assert lifted.message.startswith(
        "No longer demoted to chat only: an alert of PostgresDown has fired 10 min, longer than any of "
        "theirs nobody acted on fired (10 min). Notifying as routing rule p1 says."
    )
    assert state.notifications.outlasted_at is not None and state.notifications.plan.demoted is None  # type: ignore[union-attr]
    assert state.notifications.jira_key is not None


@pytest.mark.parametrize("in_time", ["ends", "acknowledged", "each-alert-short"])
async def test_a_demoted_incident_whose_alerts_end_or_that_is_taken_in_time_never_pages(
    harness: Harness, in_time: str
) -> None:
    """It went by itself in 3 minutes, or someone took it from the chat message by then, or its
    alerts each fired less than 10 minutes though the incident lasted longer (pod a 0-4.5 minutes,
    pod b from 4: the incident's age paged this noise at 10 minutes before a review, 2026-12-06)."""
    h = harness
    async with worker(h, PAGE_AFTER):
        opened = await firing_since(h)
        handle = await open_incident(h, opened)
        await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        await h.env.sleep(timedelta(minutes=3))
        if in_time == "ends":
            await handle.signal(IncidentWorkflow.alerts, await ended(h, opened))
        elif in_time == "acknowledged":
            await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="U1", source="slack"))
        else:
            await handle.signal(IncidentWorkflow.alerts, await firing_since(h, pod="b"))
            await h.env.sleep(timedelta(minutes=1))
            await handle.signal(IncidentWorkflow.alerts, await ended(h, opened))  # pod a's ends
            await h.env.sleep(timedelta(minutes=5))  # 9 minutes in: pod b has fired 6
        await h.env.sleep(timedelta(minutes=1) if in_time == "each-alert-short" else timedelta(minutes=20))
        state = await handle.query(IncidentWorkflow.state)
    assert pages(h) == [] and state.notifications.outlasted_at is None
    assert not [e for e in state.timeline if e.kind == "learning.lifted"]


async def test_the_time_passing_during_a_pass_still_pages(harness: Harness) -> None:
    """A pass that began just before the time and ended after it (a chat call retried) left the loop
    waiting for a change that never came: no page 20 minutes on (a review, 2026-12-06)."""
    h = harness
    async with worker(h, PAGE_AFTER):
        handle = await open_incident(h, await firing_since(h))
        state = await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        [alert] = state.alerts.values()
        due = alert.starts_at + timedelta(seconds=600)
        await h.env.sleep(due - await h.env.get_current_time() - timedelta(seconds=2.5))
        h.chat.flaky = 1  # the pass's chat call fails once (Slack rate limit, Retry-After: 1)
        await handle.signal(IncidentWorkflow.alerts, another("PostgresDown"))  # same rule, another alert
        await h.env.sleep(timedelta(minutes=2))
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the page")


async def test_a_replan_an_older_worker_answered_with_the_demotion_is_asked_again(harness: Harness) -> None:
    """In a rolling deploy the re-plan without the demotion can reach a worker from before, which
    demotes it again: it was never asked again (a review, 2026-12-06). It is, a minute on."""
    h = harness
    answered: list[bool] = []
    notify = NotifyActivities(
        chat=h.chat, pager=h.pager, tracker=h.tracker, policy=lambda: POLICY, demotions=lambda: PAGE_AFTER
    )

    @activity.defn(name="notify.plan")
    def plan(request: PlanRequest) -> NotificationPlan:
        older = not request.demote and not any(not a for a in answered)
        answered.append(not older)
        return notify.plan(request.model_copy(update={"demote": True}) if older else request)

    async with worker(h, PAGE_AFTER, plan=plan):
        handle = await open_incident(h, await firing_since(h))
        await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        await h.env.sleep(timedelta(minutes=12))
        state = await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the page")
    assert (
        False in answered
        and state.notifications.plan is not None
        and state.notifications.plan.demoted is None
    )
