"""An incident filed in Jira at P2 rises to P1 (a Jira walk-through, 2026-12-07): the issue said
"[P2] ...", High and medic-p2 to the end, and nothing on it told of the rise, so a team that triages
from its Jira board saw a P1 as a P2. The issue now follows the incident's priority, in the site's own
priority names (the policy's ``jira_priorities``), with the policy's ``jira_fields``: through the real
Jira client against the Jira double, on the time-skipping server."""

import asyncio
from collections.abc import Iterator

import pytest
from temporalio.api.enums.v1 import EventType

from activities.adapters.jira import JiraTracker
from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from medic.routing import load_routing
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, JiraDouble
from tests.support.shop import ctx, shop
from tests.workflow.test_notifications import T0, Harness, harness, open_incident, outage, until
from workflows.incident import ALERTS_SIGNAL
from workflows.notifier import JIRA_PRIORITY_PATCH

__all__ = ["harness"]  # the fixture, shared

POLICY = load_routing(
    """
fallback_slack_channel: "#incidents"
jira_priorities: {P1: Blocker, P2: Critical, P3: Major, P4: Minor, P5: Trivial}
jira_fields: {customfield_10042: {value: Production}}
rules:
  - {name: p1, match: {priority: [P1]}, jira: true, slack_channels: ["#war-room"]}
  - {name: p23, match: {priority: [P2, P3]}, jira: true}
  - {name: rest}
""",
    catalog=shop(),
)


def slow_queries() -> AlertBatch:
    """orders-db slow, a warning: P2."""
    alert = Alert(
        fingerprint="db-slow",
        status=AlertStatus.FIRING,
        starts_at=T0,
        service="orders-db",
        labels={"alertname": "PostgresSlowQueries", "service": "orders-db", "severity": "warning"},
    )
    return AlertBatch(alerts=[alert], received_at=T0, contexts=[ctx("orders-db")])


@pytest.fixture
def jira() -> Iterator[tuple[JiraDouble, str]]:
    double = JiraDouble(
        projects={"DATA": "Data"},
        priorities=("Blocker", "Critical", "Major", "Minor", "Trivial"),
        custom_fields={"DATA": {"customfield_10042": ("Environment type", True)}},
    )
    with double.serve() as url:
        yield double, url


async def test_an_issue_follows_its_incident_from_p2_to_p1(
    harness: Harness, jira: tuple[JiraDouble, str]
) -> None:
    h = harness
    double, url = jira
    h.policy = POLICY
    h.tracker = JiraTracker(url, user=JIRA_USER, token=JIRA_API_TOKEN)  # type: ignore[assignment]
    async with h.worker():
        handle = await open_incident(h, slow_queries())
        filed = await until(handle, lambda s: s.notifications.jira_key is not None, "the issue")
        key = filed.notifications.jira_key
        assert filed.priority == "P2" and key is not None
        issue = double.issue(key)
        assert (issue.summary, issue.priority) == ("[P2] PostgresSlowQueries on orders-db", "Critical")
        assert issue.custom == {"customfield_10042": {"value": "Production"}}
        await handle.signal(ALERTS_SIGNAL, outage())  # PostgresDown, critical, burning: P1
        await until(handle, lambda s: s.notifications.jira_priority == "P1", "the issue following")
        for _ in range(100):  # the update is in flight once the state says so
            if any(c.body.startswith("Priority") for c in double.issue(key).comments):
                break
            await asyncio.sleep(0.1)
        history = await handle.fetch_history()
    issue = double.issue(key)
    assert issue.summary.startswith("[P1] ") and issue.priority == "Blocker"
    assert "medic-p1" in issue.labels and "medic-p2" not in issue.labels
    (told,) = [c.body for c in issue.comments if c.body.startswith("Priority")]
    assert told.splitlines()[0] == "Priority raised from P2 to P1."
    assert told.splitlines()[1].startswith("Scored P1 (impact ")
    assert len(double.issues()) == 1
    markers = [str(e) for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert any(JIRA_PRIORITY_PATCH in marker for marker in markers)
