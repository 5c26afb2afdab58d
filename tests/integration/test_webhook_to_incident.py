"""Against the real dev server: webhook -> durable incident, visible in /incidents and in
Temporal's own visibility (`temporal workflow list --query ...`)."""

import asyncio
import copy
import json
import subprocess
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from temporalio.client import WorkflowExecutionStatus

from tests.conftest import reference_payloads, require_binary
from tests.support.stack import MedicStack, wait_until

pytestmark = pytest.mark.integration


def fresh_payload(name: str = "alertmonitor_firing_3alerts.json") -> dict[str, Any]:
    """A real payload, made unique so each test has its own incident."""
    payload = copy.deepcopy(reference_payloads()[name])
    tag = uuid.uuid4().hex[:8]
    payload["groupKey"] = f"{payload.get('groupKey', '')}-{tag}"
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    for alert in payload["alerts"]:
        alert["labels"] = {**alert["labels"], "service": f"svc-{tag}"}
        alert["startsAt"] = now
        alert.pop("fingerprint", None)
    return payload


def resolved(payload: dict[str, Any]) -> dict[str, Any]:
    done = copy.deepcopy(payload)
    done["status"] = "resolved"
    for alert in done["alerts"]:
        alert["status"] = "resolved"
        alert["endsAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return done


async def listed(http: httpx.AsyncClient, incident_id: str, **params: str) -> dict[str, Any] | None:
    response = await http.get("/incidents", params=params)
    assert response.status_code == 200, response.text
    return next((i for i in response.json() if i["id"] == incident_id), None)


def temporal_list(stack: MedicStack, query: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [
            str(require_binary("temporal")),
            "workflow",
            "list",
            "--address",
            stack.settings.temporal_address,
            "--query",
            query,
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    text = result.stdout.strip()
    return [] if not text else list(json.loads(text))


async def test_webhook_opens_an_incident_visible_everywhere(stack: MedicStack) -> None:
    payload = fresh_payload()
    service = payload["alerts"][0]["labels"]["service"]
    async with stack.http() as http:
        response = await http.post("/webhooks/alertmanager", json=payload)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["accepted"] == 3
        (incident_id,) = body["incidents"]

        async def in_listing() -> bool:
            item = await listed(http, incident_id, status="open", service=service)
            return item is not None and item["alert_count"] == 3

        await wait_until(in_listing, timeout=30, what="the incident in GET /incidents")
        item = await listed(http, incident_id)
        assert item is not None
        assert item["title"] == f"ICMP ping failed on {service}"
        # severity "major" on a service the catalog does not know: P4 (impact ~27, see medic/impact.py)
        assert item["priority"] == "P4" and item["status"] == "open"
        assert incident_id.startswith("incident-svc-")
        detail = (await http.get(f"/incidents/{incident_id}")).json()
        assert {a["labels"]["instance"] for a in detail["alerts"]} == {
            "172.29.254.30",
            "172.29.254.50",
            "172.29.254.66",
        }
        assert [e["kind"] for e in detail["timeline"]][:2] == ["incident.opened", "alert.firing"]

    rows = await asyncio.to_thread(temporal_list, stack, f"MedicStatus='open' AND MedicServices='{service}'")
    assert [r["execution"]["workflowId"] for r in rows] == [incident_id]


async def test_duplicate_delivery_changes_nothing(stack: MedicStack) -> None:
    payload = fresh_payload()
    async with stack.http() as http:
        first = (await http.post("/webhooks/alertmanager", json=payload)).json()
        # HA Alertmanager: the same notification, concurrently, from both peers, and again later.
        answers = await asyncio.gather(*(http.post("/webhooks/alertmanager", json=payload) for _ in range(5)))
        assert {a.status_code for a in answers} == {200}
        assert {tuple(a.json()["incidents"]) for a in answers} == {tuple(first["incidents"])}
        detail = (await http.get(f"/incidents/{first['incidents'][0]}")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert kinds.count("alert.firing") == 3
    assert detail["alert_count"] == 3
    assert {a["deliveries"] for a in detail["alerts"]} == {6}


async def test_resolution_closes_the_incident_and_late_duplicates_open_nothing(stack: MedicStack) -> None:
    payload = fresh_payload()
    async with stack.http() as http:
        (incident_id,) = (await http.post("/webhooks/alertmanager", json=payload)).json()["incidents"]
        assert (await http.post("/webhooks/alertmanager", json=resolved(payload))).status_code == 200

        async def closed() -> bool:
            # Resolved, its notifications told, and its workflow completed.
            description = await stack.client.get_workflow_handle(incident_id).describe()
            return description.status is WorkflowExecutionStatus.COMPLETED

        await wait_until(closed, timeout=30, what="the incident to resolve after its quiet period and close")
        # A late duplicate of the resolution after the incident closed is accepted and opens nothing.
        late = await http.post("/webhooks/alertmanager", json=resolved(payload))
        assert late.status_code == 200 and late.json() == {"accepted": 3, "incidents": []}
        item = await listed(http, incident_id)
        assert item is not None and item["status"] == "resolved" and item["resolved_at"]


async def test_anomaly_opens_an_incident_for_its_service(stack: MedicStack) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    signal = {
        "source": "medic-scan",
        "service": service,
        "series": {"__name__": "http_request_duration_seconds:p99", "service": service},
        "value": 2.4,
        "expected": {"lower": 0.1, "upper": 0.5},
        "score": 0.98,
        "window": {"start": now.isoformat(), "end": now.isoformat()},
    }
    async with stack.http() as http:
        response = await http.post("/webhooks/anomaly", json=signal)
        assert response.status_code == 200, response.text
        (incident_id,) = response.json()["incidents"]
        detail = (await http.get(f"/incidents/{incident_id}")).json()
    assert detail["services"] == [service]
    assert detail["anomalies"][0]["signal"]["score"] == 0.98


async def test_health_readiness_metrics_and_docs(stack: MedicStack) -> None:
    async with stack.http(auth=False) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        assert (await http.get("/readyz")).status_code == 200
        assert "medic_webhook_requests_total" in (await http.get("/metrics")).text
        assert (await http.get("/openapi.json")).status_code == 200
        assert (await http.post("/webhooks/alertmanager", json=fresh_payload())).status_code == 401
