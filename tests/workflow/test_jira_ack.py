"""A team whose incident work lives in Jira, with Slack to talk and no pager, moves the incident's issue
in Jira (a Jira walk-through, 2026-12-07). Before, Medic did not read Jira back: an issue moved to In
Progress acknowledged nothing and the escalation went on into the war room; an issue moved to Done left
the incident open. A Jira webhook (POST /webhooks/jira, signed with its secret) now acknowledges and
resolves it, on the time-skipping server through the real API app, the real Jira client and the Jira
double's own webhook payloads; Medic's own close and reopen coming back through the webhook change
nothing, nor does a move of another occurrence's issue."""

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.client import Client

from activities.adapters.jira import JiraTracker
from medic.alerts import AlertStatus
from medic.catalog import Catalog
from medic.incident import IncidentState, IncidentStatus
from medic.ports import IssueRequest
from medic.routing import load_routing
from service.api import create_app
from service.people import IncidentPeople
from service.settings import Settings
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble
from tests.doubles.jira_webhooks import hub_signature
from tests.support.shop import shop
from tests.unit.test_api import FakeReader, FakeSink
from tests.workflow.test_jira_reopen import SlowClose
from tests.workflow.test_notifications import Handle, Harness, harness, open_incident, outage, until
from workflows.incident import ALERTS_SIGNAL, IncidentWorkflow

__all__ = ["harness"]  # the fixture, shared

SECRET = "jira-webhook-secret"
ALICE = "alice@shop.example"
POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
escalations:
  critical:
    - {after_minutes: 5, slack_channels: ["#war-room"], note: "no ack after 5 min"}
rules:
  - {name: p1, match: {priority: [P1]}, jira: true, escalation: critical}
  - {name: rest, jira: true}
""",
    catalog=shop(),
)


async def deliver(client: Client, payload: dict[str, Any]) -> httpx.Response:
    """A Jira webhook post, signed with its secret, through the real API app acting through ``client``."""

    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr("t"),
        jira_webhook_secret=SecretStr(SECRET),
        jira_user=JIRA_USER,
    )
    app = create_app(
        settings,
        catalog=Catalog(),
        sink=FakeSink(),
        reader=FakeReader(),
        ready=ready,
        people=IncidentPeople(client),
    )
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature": hub_signature(SECRET, body)}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        return await http.post("/webhooks/jira", content=body, headers=headers)


async def now_ms(h: Harness, ahead: timedelta = timedelta(0)) -> int:
    """The time-skipping server's now (the workflow's clock, far ahead of the wall's), in Jira's terms."""
    return int(((await h.env.get_current_time()) + ahead).timestamp() * 1000)


async def issue_of(handle: Handle) -> str:
    state: IncidentState = await until(handle, lambda s: s.notifications.jira_key is not None, "the issue")
    assert state.notifications.jira_key is not None
    return state.notifications.jira_key


@pytest.fixture
def jira() -> Iterator[tuple[JiraDouble, str]]:
    double = JiraDouble(deployment_type="Cloud", projects={"DATA": "Data"})
    with double.serve() as url:
        yield double, url


async def test_in_progress_acknowledges_and_done_resolves(
    harness: Harness, jira: tuple[JiraDouble, str]
) -> None:
    h = harness
    double, url = jira
    h.policy = POLICY
    tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)
    h.tracker = tracker  # type: ignore[assignment]
    async with h.worker():
        handle = await open_incident(h)
        key = await issue_of(handle)
        # Last week's issue of the same service, moved today: not this incident's.
        old = tracker.ensure_issue(
            IssueRequest(
                project="DATA",
                summary="[P1] PostgresDown on orders-db",
                description="the last outage",
                priority="Highest",
                labels=["medic"],
                dedup_label="incident-orders-db-20261130T080000Z",
            )
        )
        answer = await deliver(
            h.env.client, double.act_in_app(old, "Done", user=ALICE, at_ms=await now_ms(h))
        )
        assert answer.status_code == 202 and answer.json()["handled"] is False
        await h.env.sleep(timedelta(minutes=2))
        answer = await deliver(
            h.env.client, double.act_in_app(key, "In Progress", user=ALICE, at_ms=await now_ms(h))
        )
        assert answer.status_code == 202 and answer.json() == {
            "handled": True,
            "incident": "incident-orders-db",
            "ignored": None,
        }
        state = await until(handle, lambda s: s.status is IncidentStatus.ACKNOWLEDGED, "the ack")
        assert state.acknowledged_by == "Alice"
        await h.env.sleep(timedelta(minutes=30))  # the war room was due after 5 minutes
        state = await handle.query(IncidentWorkflow.state)
        assert state.notifications.escalation_done == 0 and "#war-room" not in [
            c for c, _ in h.chat.top_level()
        ]
        assert "Acknowledged by Alice (jira)." in [e.message for e in state.timeline]
        answer = await deliver(
            h.env.client, double.act_in_app(key, "Done", user=ALICE, at_ms=await now_ms(h))
        )
        assert answer.json()["handled"] is True
        result = await handle.result()
        state = await handle.query(IncidentWorkflow.state)
        assert double.posted_back(key) == []  # Medic moved nothing: the issue was Done already
    assert result.status is IncidentStatus.RESOLVED and state.resolved_by == "Alice"
    assert f"Resolved by Alice (jira): moved {key} to Done in Jira." in [e.message for e in state.timeline]
    issue = double.issue(key)
    assert issue.status == "Done" and [t.author for t in issue.transitions] == [ALICE, ALICE]
    # told who resolved it and why (it said "Resolved." only), not moved again
    assert [c.body for c in issue.comments][-1] == f"Resolved by Alice (jira): moved {key} to Done in Jira."
    assert double.issue(old).status == "Done"


async def test_medics_own_close_coming_back_after_a_reopen_resolves_nothing(
    harness: Harness, jira: tuple[JiraDouble, str]
) -> None:
    """The incident closes (Medic closes its issue), an alert fires again as it does, Medic reopens the
    issue; the webhook's event of Medic's own close arrives late: the incident stays open. A person
    moving the issue afterwards still counts."""
    h = harness
    double, url = jira
    h.policy = POLICY
    tracker = SlowClose(JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN))
    h.tracker = tracker
    async with h.worker():
        handle = await open_incident(h)
        key = await issue_of(handle)
        start = outage().alerts[0].starts_at
        await handle.signal(ALERTS_SIGNAL, outage(AlertStatus.RESOLVED))
        await h.env.sleep(timedelta(seconds=70))
        assert await asyncio.to_thread(tracker.closing.wait, 30)
        (echo,) = double.posted_back(key)  # Medic's close, as the webhook posts it
        echo["timestamp"] = await now_ms(h)  # stamped when Medic closed it (Jira's clock = Temporal's)
        assert echo["user"]["accountId"] and "emailAddress" not in echo["user"]  # Cloud: no name to go by
        again = outage()
        again.alerts[0] = again.alerts[0].model_copy(update={"starts_at": start + timedelta(minutes=3)})
        await handle.signal(ALERTS_SIGNAL, again)
        # Before Medic reopens the issue: its close stands, the echo is refused.
        await until(handle, lambda s: s.status is IncidentStatus.OPEN, "reopened")
        assert (await deliver(h.env.client, echo)).json()["handled"] is False
        tracker.release.set()
        await until(
            handle,
            lambda s: s.notifications.jira_moved_at is not None and not s.notifications.jira_reopen,
            "x",
        )
        for _ in range(100):
            if double.issue(key).status == "To Do":
                break
            await asyncio.sleep(0.1)
        assert double.issue(key).status == "To Do"
        # After it: the echo is older than Medic's reopen, refused again.
        answer = await deliver(h.env.client, echo)
        assert answer.status_code == 202 and answer.json()["handled"] is False
        reopen_echo = double.posted_back(key)[-1]
        assert reopen_echo["issue"]["fields"]["status"]["name"] == "To Do"
        assert (await deliver(h.env.client, reopen_echo)).json()["handled"] is False  # To Do: nothing
        state = await handle.query(IncidentWorkflow.state)
        assert state.status is IncidentStatus.OPEN and state.resolved_by is None
        await h.env.sleep(timedelta(minutes=1))
        person = double.act_in_app(key, "In Progress", user=ALICE, at_ms=await now_ms(h))
        assert (await deliver(h.env.client, person)).json()["handled"] is True
        state = await until(handle, lambda s: s.status is IncidentStatus.ACKNOWLEDGED, "the ack")
    assert state.acknowledged_by == "Alice"
