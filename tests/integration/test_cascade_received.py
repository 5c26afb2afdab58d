"""What each team receives during a cascade, through the real API, worker and dev server and the
real SDKs against the Slack, PagerDuty and JIRA doubles: the cause's team is paged once, a symptom's
team never (when the cause arrives within the settle period) or has its page closed out (when it
arrives later), and nothing is left open or stale once everything resolves."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from service.incidents import TemporalIncidentReader
from tests.doubles import JIRA_API_TOKEN, JIRA_USER, SLACK_TOKEN, JiraDouble, PagerDutyDouble, SlackDouble
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

ROUTING = """
rules:
  - {name: page, match: {priority: [P1, P2]}, pagerduty: true, jira: true}
  - {name: rest}
"""
KEYS = {"checkout": "C" * 32, "data": "D" * 32}  # routing-key names of the shop catalog -> keys
CHANNELS = {"#checkout-oncall": "C0CHECKOUT", "#data-oncall": "C0DATA", "#incidents": "C0INCIDENTS"}


@dataclass
class World:
    stack: MedicStack
    http: httpx.AsyncClient
    slack: SlackDouble
    pager: PagerDutyDouble
    jira: JiraDouble

    def paged(self, dedup_key: str) -> list[str]:
        """Event actions PagerDuty accepted for an incident, in order."""
        return [
            e.event_action or ""
            for e in self.pager.events()
            if e.dedup_key == dedup_key and e.outcome in ("created", "deduplicated", "resolved")
        ]

    def top_level(self, channel: str) -> list[Any]:
        return [m for m in self.slack.messages(channel) if not m.is_reply]

    async def fire(self, service: str, alertname: str, status: str = "firing") -> None:
        answer = await self.http.post("/webhooks/alertmanager", json=delivery(service, alertname, status))
        assert answer.status_code == 200, answer.text


@asynccontextmanager
async def world() -> AsyncIterator[World]:
    slack, pager = SlackDouble(channels=CHANNELS), PagerDutyDouble(KEYS.values())
    jira = JiraDouble(projects={"CHK": "Checkout", "DATA": "Data platform"})
    with slack.serve() as slack_url, pager.serve() as pager_url, jira.serve() as jira_url:
        async with (
            medic_stack(
                quiet_seconds=2.0,
                routing_yaml=ROUTING,
                settle_seconds=3.0,
                slack_bot_token=SecretStr(SLACK_TOKEN),
                slack_base_url=f"{slack_url}/api/",
                pagerduty_routing_keys={k: SecretStr(v) for k, v in KEYS.items()},
                pagerduty_events_url=f"{pager_url}/v2/enqueue",
                jira_url=jira_url,
                jira_user=JIRA_USER,
                jira_api_token=SecretStr(JIRA_API_TOKEN),
            ) as stack,
            stack.http(timeout=30) as http,
        ):
            yield World(stack, http, slack, pager, jira)


STARTED = datetime.now(UTC).replace(microsecond=0)


def delivery(service: str, alertname: str, status: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}", service="{service}"}}',
        "status": status,
        "receiver": "medic",
        "groupLabels": {"alertname": alertname, "service": service},
        "commonLabels": {},
        "commonAnnotations": {},
        "alerts": [
            {
                "status": status,
                "labels": {
                    "alertname": alertname,
                    "service": service,
                    "severity": "critical",
                    "burn_rate": "20",
                },
                "annotations": {},
                "startsAt": STARTED.isoformat().replace("+00:00", "Z"),
                "endsAt": now.isoformat().replace("+00:00", "Z")
                if status == "resolved"
                else "0001-01-01T00:00:00Z",
            }
        ],
    }


async def settle_everything(w: World) -> None:
    """Resolve both alerts and wait until nothing is open anywhere."""
    await w.fire("orders-db", "PostgresDown", "resolved")
    await w.fire("checkout", "HighErrorRate", "resolved")

    async def all_closed() -> bool:
        detail = (await w.http.get("/incidents/incident-orders-db")).json()
        return (
            detail["status"] == "resolved"
            and all(a.status == "resolved" for a in w.pager.alerts())
            and all(i.status == "Done" for i in w.jira.issues())
        )

    await wait_until(all_closed, timeout=60, what="every incident, page and issue closed")


def final(message: Any) -> bool:
    return "[resolved]" in message.text or "[merged into" in message.text


async def test_a_symptom_whose_cause_arrives_while_it_settles_pages_nobody() -> None:
    async with world() as w:
        await w.fire("checkout", "HighErrorRate")
        await w.fire("orders-db", "PostgresDown")

        async def cause_told() -> bool:
            return w.paged("incident-orders-db") == ["trigger"] and bool(w.jira.issues("DATA"))

        await wait_until(cause_told, timeout=60, what="the data team paged")
        checkout = (await w.http.get("/incidents/incident-checkout")).json()
        assert checkout["merged_into"] == "incident-orders-db"
        await settle_everything(w)
        assert w.paged("incident-checkout") == []
        assert w.top_level("#checkout-oncall") == [] and w.jira.issues("CHK") == []
        (message,) = w.top_level("#data-oncall")
        assert final(message) and "PostgresDown on orders-db" in message.text
        assert w.paged("incident-orders-db") == ["trigger", "resolve"]
        # what learning reads: the cause's outcome, and the symptom as merged (not queried, not counted)
        reader = TemporalIncidentReader(w.stack.client, w.stack.settings)

        async def both_listed() -> bool:
            return {r.id for r in await reader.resolved_runs(limit=10)} >= {
                "incident-checkout",
                "incident-orders-db",
            }

        await wait_until(both_listed, timeout=30, what="both runs in visibility")
        runs = {r.id: r for r in await reader.resolved_runs(limit=10)}
        assert runs["incident-checkout"].merged and runs["incident-checkout"].outcome is None
        cause = runs["incident-orders-db"].outcome
        assert cause is not None and cause.rules == ["HighErrorRate", "PostgresDown"] and cause.paged


async def test_a_cause_arriving_after_its_symptom_told_closes_the_symptoms_page_and_message() -> None:
    async with world() as w:
        await w.fire("checkout", "HighErrorRate")

        async def symptom_told() -> bool:
            return w.paged("incident-checkout") == ["trigger"] and bool(w.top_level("#checkout-oncall"))

        await wait_until(symptom_told, timeout=60, what="checkout paging on its own")
        await w.fire("orders-db", "PostgresDown")

        async def closed_out() -> bool:
            return w.paged("incident-checkout") == ["trigger", "resolve"] and w.paged(
                "incident-orders-db"
            ) == ["trigger"]

        await wait_until(closed_out, timeout=60, what="checkout's page resolved, the data team paged")
        resolve = next(
            e for e in w.pager.events() if e.dedup_key == "incident-checkout" and e.event_action == "resolve"
        )
        assert resolve.outcome == "resolved"
        (symptom,) = w.top_level("#checkout-oncall")
        assert "[merged into incident-orders-db]" in symptom.text
        await settle_everything(w)
        assert all(final(m) for channel in CHANNELS for m in w.top_level(channel))
        (issue,) = w.jira.issues("CHK")
        assert issue.status == "Done" and any("incident-orders-db" in c.body for c in issue.comments)
