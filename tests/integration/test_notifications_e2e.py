"""An Alertmanager payload through the real API, worker and dev server reaches the Slack,
PagerDuty and JIRA doubles through the real SDKs; its resolution updates the message, resolves
the page and closes the issue, each exactly once."""

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from tests.doubles import (
    JIRA_API_TOKEN,
    JIRA_USER,
    PAGERDUTY_ROUTING_KEY,
    SLACK_TOKEN,
    JiraDouble,
    PagerDutyDouble,
    SlackDouble,
)
from tests.support.stack import medic_stack, wait_until

pytestmark = pytest.mark.integration

ROUTING = """
rules:
  - {name: p2, match: {priority: [P1, P2]}, pagerduty: true, jira: true}
  - {name: rest}
"""


def payload(status: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return {
        "version": "4",
        "groupKey": '{}:{alertname="CheckoutDown"}',
        "status": status,
        "receiver": "medic",
        "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {},
        "commonAnnotations": {},
        "alerts": [
            {
                "status": status,
                "labels": {"alertname": "CheckoutDown", "service": "checkout", "severity": "critical"},
                "annotations": {"summary": "checkout is down"},
                "startsAt": "2026-11-23T12:00:00Z",
                "endsAt": now if status == "resolved" else "0001-01-01T00:00:00Z",
                "fingerprint": "c0ffee0000000001",
            }
        ],
    }


async def test_incident_reaches_slack_pagerduty_jira_once_each() -> None:
    slack, pager, jira = SlackDouble(), PagerDutyDouble(), JiraDouble()
    with slack.serve() as slack_url, pager.serve() as pager_url, jira.serve() as jira_url:
        async with (
            medic_stack(
                quiet_seconds=1.0,
                routing_yaml=ROUTING,
                slack_bot_token=SecretStr(SLACK_TOKEN),
                slack_base_url=f"{slack_url}/api/",
                pagerduty_routing_keys={"checkout": SecretStr(PAGERDUTY_ROUTING_KEY)},
                pagerduty_events_url=f"{pager_url}/v2/enqueue",
                jira_url=jira_url,
                jira_user=JIRA_USER,
                jira_api_token=SecretStr(JIRA_API_TOKEN),
            ) as stack,
            stack.http() as http,
        ):
            # The first Slack call is rate limited: slack-sdk waits Retry-After and retries.
            slack.faults.push("rate_limit", retry_after=1, route="/api/chat.postMessage")
            answer = await http.post("/webhooks/alertmanager", json=payload("firing"))
            assert answer.status_code == 200, answer.text
            (incident_id,) = answer.json()["incidents"]

            async def told() -> bool:
                return (
                    bool(jira.issues("CHK"))
                    and bool(pager.alerts())
                    and bool(slack.messages("#checkout-oncall"))
                )

            await wait_until(told, timeout=60, what="Slack, PagerDuty and JIRA to hear of the incident")
            assert (
                await http.post("/webhooks/alertmanager", json=payload("firing"))
            ).status_code == 200  # HA copy
            assert (await http.post("/webhooks/alertmanager", json=payload("resolved"))).status_code == 200

            async def closed() -> bool:
                detail: dict[str, Any] = (await http.get(f"/incidents/{incident_id}")).json()
                return detail["status"] == "resolved" and jira.issues("CHK")[0].status == "Done"

            await wait_until(closed, timeout=60, what="the incident to resolve and its issue to close")
            detail = (await http.get(f"/incidents/{incident_id}")).json()

    top = [m for m in slack.messages("#checkout-oncall") if not m.is_reply]
    assert len(top) == 1, [m.text for m in top]
    assert top[0].text.startswith(":white_check_mark:") and top[0].edits, "updated in place to resolved"
    assert any(b.get("type") == "header" for b in top[0].blocks)
    assert slack.thread("#checkout-oncall", top[0].ts), "timeline events as thread replies"
    (alert,) = pager.alerts()
    assert alert.dedup_key == incident_id and [e.event_action for e in alert.events] == ["trigger", "resolve"]
    (issue,) = jira.issues("CHK")
    opened = datetime.fromisoformat(detail["opened_at"].replace("Z", "+00:00"))
    occurrence = f"{incident_id}-{opened.astimezone(UTC):%Y%m%dT%H%M%SZ}"  # this outage's, not the service's
    assert issue.labels == ["medic", "medic-p2", occurrence] and len(issue.transitions) == 1
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("notification.sent") == 4  # Slack post, PagerDuty trigger and resolve, JIRA issue
    assert "notification.failed" not in kinds
