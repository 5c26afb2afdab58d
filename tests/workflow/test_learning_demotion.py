"""Demotion by learning on the time-skipping server with in-memory notifiers: a rule the insights
propose to demote, for a team that opted in, reaches chat only and its timeline says who demoted it and
why; a rule the team did not opt in for still pages; a rule that joins a demoted incident pages again;
a demoted incident that fires longer than the rule's noise ever did pages after all."""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from temporalio.worker import Worker

from activities.notify import NotifyActivities
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch, IncidentState
from medic.insights import Demoted, Proposal
from medic.keys import service_incident_id
from medic.routing import load_routing
from service.worker import WORKFLOWS
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


def worker(h: Harness, demotions: Demoted = DEMOTIONS) -> Worker:
    notify = NotifyActivities(
        chat=h.chat, pager=h.pager, tracker=h.tracker, policy=lambda: POLICY, demotions=lambda: demotions
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


async def test_a_demoted_incident_that_outlasts_the_rules_noise_pages_after_all(harness: Harness) -> None:
    """A rule acted on now and then looks never acted on in a week without its real incidents: the
    replayed month lost 5 to 10 actionable pages on two seeds of four with three teams
    (bench.insights_replay --teams 3). A demotion now pages when the incident still fires past the
    longest any incident of the rule nobody acted on fired (10 minutes here), unacknowledged."""
    h = harness
    async with worker(h, PAGE_AFTER):
        handle = await open_incident(h)
        state = await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        plan = state.notifications.plan
        assert plan is not None and plan.demoted is not None and plan.demoted.page_after_seconds == 600
        [demoted] = [e for e in state.timeline if e.kind == "learning.demoted"]
        assert (
            "It pages after all if it still fires 10 min after it opened, unacknowledged" in demoted.message
        )
        await h.env.sleep(timedelta(minutes=9))
        assert pages(h) == []  # the noise of the rule fired this long too
        await h.env.sleep(timedelta(minutes=2))
        state = await until(  # both levels are due by now: the first, and the second (after 5 minutes)
            handle, lambda s: s.notifications.escalation_done == 2, "the pages of both levels"
        )
    assert pages(h) == [("trigger", "data"), ("trigger", "data-2")]
    [lifted] = [e for e in state.timeline if e.kind == "learning.lifted"]
    assert lifted.message.startswith(
        "No longer demoted to chat only: it still fires 10 min after it opened, longer than any incident "
        "of PostgresDown nobody acted on (10 min). Notifying as routing rule p1 says."
    )
    assert state.notifications.outlasted and state.notifications.plan.demoted is None  # type: ignore[union-attr]
    assert state.notifications.jira_key is not None


@pytest.mark.parametrize("in_time", ["ends", "acknowledged"])
async def test_a_demoted_incident_that_ends_or_is_acknowledged_in_time_never_pages(
    harness: Harness, in_time: str
) -> None:
    """It went by itself in 3 minutes, or someone took it from the chat message by then: nobody needs
    paging."""
    h = harness
    async with worker(h, PAGE_AFTER):
        handle = await open_incident(h)
        await until(handle, lambda s: bool(s.notifications.messages("slack")), "the Slack message")
        await h.env.sleep(timedelta(minutes=3))
        if in_time == "ends":
            await handle.signal(IncidentWorkflow.alerts, outage(AlertStatus.RESOLVED))
        else:
            await handle.execute_update(IncidentWorkflow.acknowledge, AckRequest(actor="U1", source="slack"))
        await h.env.sleep(timedelta(minutes=20))
        status = "resolved" if in_time == "ends" else "acknowledged"
        state = await until(handle, lambda s: s.status == status, status)
    assert pages(h) == [] and not state.notifications.outlasted
    assert not [e for e in state.timeline if e.kind == "learning.lifted"]
