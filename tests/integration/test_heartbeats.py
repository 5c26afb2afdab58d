"""Watchdog as a heartbeat, against the real dev server, worker and API, with PagerDuty's double: the
always-firing alert opens no incident (it shares its Alertmanager group with KubeMemoryOvercommit in
kube-prometheus-stack, which groups by namespace: that one still does); once it stops, the monitoring
team is paged once and the incident says why; when it beats again the incident says it is back.
Label sets are kube-prometheus's (tests/fixtures/alerts/kubernetes-mixin.json)."""

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from tests.doubles import PagerDutyDouble
from tests.support.shop import SHOP_YAML
from tests.support.slackreq import SIGNING_SECRET, command_body, signed_headers
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "kubernetes-mixin.json"
KEY = "S" * 32
CATALOG = (
    SHOP_YAML
    + """  - name: monitoring
    team: sre
    tier: 1
    business: {criticality: critical}
    routing: {pagerduty: sre}
"""
)
ROUTING = """
rules:
  - {name: page, match: {priority: [P1, P2]}, pagerduty: true}
  - {name: rest}
heartbeats:
  - name: watchdog
    match: {alertname: Watchdog}
    service: monitoring
    missing_after_minutes: 0.1
"""


def labels_of(name: str) -> dict[str, str]:
    (found,) = [a for a in json.loads(FIXTURE.read_text())["alerts"] if a["alertname"] == name]
    labels: dict[str, str] = found["labels"]
    return labels


def delivery(*names: str) -> dict[str, Any]:
    """kube-prometheus-stack's Alertmanager (group_by: [namespace]): the cluster-wide alerts, whose
    namespace is empty, in one group."""
    alerts = [
        {
            "status": "firing",
            "labels": labels_of(name),
            "annotations": {"summary": name},
            "startsAt": "2026-12-07T09:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
            "fingerprint": f"{name.lower()}0000000001"[:16],
        }
        for name in names
    ]
    return {
        "version": "4",
        "groupKey": '{}/{}:{namespace=""}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "medic",
        "groupLabels": {"namespace": ""},
        "commonLabels": {"prometheus": "monitoring/kube-prometheus-stack-prometheus"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }


async def heartbeats(stack: MedicStack) -> list[dict[str, Any]]:
    async with stack.http() as http:
        answer = await http.get("/heartbeats")
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def test_watchdog_is_no_incident_and_its_silence_pages_the_monitoring_team_once() -> None:
    pager = PagerDutyDouble([KEY])
    with pager.serve() as pager_url:
        async with medic_stack(
            catalog_yaml=CATALOG,
            routing_yaml=ROUTING,
            pagerduty_routing_keys={"sre": SecretStr(KEY)},
            pagerduty_events_url=f"{pager_url}/v2/enqueue",
            slack_signing_secret=SecretStr(SIGNING_SECRET),
        ) as stack:
            async with stack.http() as http:
                first = await http.post(
                    "/webhooks/alertmanager", json=delivery("Watchdog", "KubeMemoryOvercommit")
                )
                assert first.status_code == 200, first.text
                assert first.json()["accepted"] == 2
                [overcommit] = first.json()["incidents"]
                copy = await http.post("/webhooks/alertmanager", json=delivery("Watchdog"))  # an HA pair's
                assert copy.status_code == 200, copy.text
                assert copy.json() == {"accepted": 1, "incidents": []}
                # armed by beats alone in their delivery: 3 gaps within missing_after (6 s) in a row,
                # over 12 s (the first came with KubeMemoryOvercommit, the second is its copy)
                for _ in range(5):
                    await asyncio.sleep(3.5)
                    again = await http.post("/webhooks/alertmanager", json=delivery("Watchdog"))
                    assert again.status_code == 200, again.text
                shown = (await http.get(f"/incidents/{overcommit}")).json()
                assert [a["labels"]["alertname"] for a in shown["alerts"]] == ["KubeMemoryOvercommit"]

            [beat] = await heartbeats(stack)
            assert (beat["name"], beat["status"], beat["beats"], beat["service"]) == (
                "watchdog",
                "ok",
                6,
                "monitoring",
            )
            assert beat["labels"] == {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}
            assert beat["beats_with_other_alerts"] == 1
            assert pager.events() == []
            async with stack.http(auth=False) as anonymous:
                assert (await anonymous.get("/heartbeats")).status_code == 401

            async def missing() -> bool:
                return any(h["status"] == "missing" for h in await heartbeats(stack))

            await wait_until(missing, timeout=60, what="the heartbeat missing")

            async def paged() -> bool:
                return any(e.event_action == "trigger" for e in pager.events())

            await wait_until(paged, timeout=60, what="the monitoring team paged")
            [missing_beat] = await heartbeats(stack)
            [incident] = missing_beat["incidents"]
            async with stack.http() as http:
                shown = (await http.get(f"/incidents/{incident}")).json()
            assert shown["services"] == ["monitoring"] and shown["priority"] in ("P1", "P2")
            # the page says which Prometheus
            assert (
                "No heartbeat watchdog (prometheus=monitoring/kube-prometheus-stack-prometheus)"
                in shown["title"]
            )
            said = [e["message"] for e in shown["timeline"] if e["kind"] == "anomaly.detected"]
            assert (
                len(said) == 1 and "No heartbeat watchdog" in said[0] and "route to Medic is down" in said[0]
            )

            # what the on-call person sees in Slack
            command = command_body("heartbeats", user_id="U0ONCALL", response_url="https://hooks.slack.com/x")
            async with stack.http(auth=False) as slack:
                answer = await slack.post("/slack/commands", content=command, headers=signed_headers(command))
            assert answer.status_code == 200, answer.text
            said = answer.json()["text"]
            assert said.startswith("*Heartbeats* (1):\n:red_circle: `watchdog`"), said
            assert "(prometheus=monitoring/kube-prometheus-stack-prometheus): missing" in said
            assert f"told in `{incident}`" in said

            async with stack.http() as http:
                back = await http.post("/webhooks/alertmanager", json=delivery("Watchdog"))
            assert back.status_code == 200, back.text

            async def ended() -> bool:
                async with stack.http() as http:
                    timeline = (await http.get(f"/incidents/{incident}")).json()["timeline"]
                return any("is back at" in e["message"] for e in timeline)

            await wait_until(ended, timeout=60, what="the incident told the heartbeat is back")
            [ok] = await heartbeats(stack)
            assert (ok["status"], ok["outages"], ok["incidents"]) == ("ok", 1, [incident])
            # a Prometheus taken away for good: retired by an operator (the webhook token may not)
            async with stack.http() as http:
                assert (await http.delete(f"/heartbeats/{ok['id']}")).status_code == 403
            async with stack.http(operator=True) as operator:
                retired = await operator.delete(f"/heartbeats/{ok['id']}")
                assert retired.status_code == 200, retired.text
                assert retired.json() == {"id": ok["id"], "retired": True}

                async def gone() -> bool:
                    return await heartbeats(stack) == []

                await wait_until(gone, timeout=30, what="the heartbeat retired")
                assert (await operator.delete(f"/heartbeats/{ok['id']}")).status_code == 404
    # what PagerDuty received: one incident, for the monitoring team's key, none for the beats themselves
    triggered = [e for e in pager.events() if e.event_action == "trigger"]
    assert len({e.dedup_key for e in triggered}) == 1
    assert all(e.routing_key == KEY for e in triggered)
