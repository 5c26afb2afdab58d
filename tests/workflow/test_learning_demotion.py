"""Demotion by learning on the time-skipping server with in-memory notifiers: a rule the insights
propose to demote, for a team that opted in, reaches chat only and its timeline says who demoted it and
why; a rule the team did not opt in for still pages; a rule that joins a demoted incident pages again."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState
from medic.keys import service_incident_id
from medic.routing import load_routing
from service.worker import WORKFLOWS
from tests.support.shop import ctx, shop
from tests.workflow.test_notifications import T0, Harness, harness, open_incident, pages, until
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentWorkflow

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
DEMOTIONS = {"data": {"PostgresDown": EVIDENCE, "PostgresReplicaLag": "never acted on: 9 incidents"}}


def worker(h: Harness) -> Worker:
    notify = NotifyActivities(
        chat=h.chat, pager=h.pager, tracker=h.tracker, policy=lambda: POLICY, demotions=lambda: DEMOTIONS
    )
    client = h.env.client

    async def state_of(incident_id: str) -> IncidentState:
        return await client.get_workflow_handle(incident_id).query(IncidentWorkflow.state)

    postmortem = PostmortemActivities(PostmortemWriter(h.postmortems), state_of)
    return Worker(
        client,
        task_queue=h.task_queue,
        workflows=WORKFLOWS,
        activities=[*notify.all(), *postmortem.all()],
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
