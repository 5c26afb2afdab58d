"""Hostile and unusual deliveries against the real stack (dev server, worker, API): each probe of issue 13
ends either in a clear refusal naming its limit, before any incident starts, or in an accepted alert
that is visible on its incident, whose workflow keeps running."""

import copy
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from medic.keys import service_incident_id
from tests.conftest import require_binary
from tests.integration.test_webhook_to_incident import fresh_payload
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def hostile() -> AsyncIterator[MedicStack]:
    """Default limits; incidents stay open for the whole module."""
    require_binary("temporal")
    async with medic_stack(quiet_seconds=600) as running:
        yield running


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def alerts_for(services: list[str], *, annotation: int = 0, labels: int = 0) -> dict[str, Any]:
    """One delivery with an alert per service (a service may repeat: one alert each)."""
    tag = uuid.uuid4().hex[:8]
    items = [
        {
            "status": "firing",
            "labels": {
                "alertname": "Probe",
                "service": service,
                "n": str(i),
                "tag": tag,
                **{f"extra{j}": "v" for j in range(labels)},
            },
            "annotations": {"description": "d" * annotation} if annotation else {},
            "startsAt": _now(),
        }
        for i, service in enumerate(services)
    ]
    return {"version": "4", "status": "firing", "receiver": "medic", "groupKey": tag, "alerts": items}


def one_service(payload_services: int = 1, **kwargs: Any) -> dict[str, Any]:
    return alerts_for([f"svc-{uuid.uuid4().hex[:8]}"] * payload_services, **kwargs)


def with_service(service: str) -> dict[str, Any]:
    payload = fresh_payload()
    for alert in payload["alerts"]:
        alert["labels"]["service"] = service
    return payload


def anomaly(**change: Any) -> dict[str, Any]:
    return {
        "source": "probe",
        "service": f"svc-{uuid.uuid4().hex[:8]}",
        "series": {"__name__": "latency"},
        "value": 1.0,
        "expected": {"lower": 0.0, "upper": 0.5},
        "score": 0.9,
        "window": {"start": _now(), "end": _now()},
        **change,
    }


@dataclass
class Probe:
    name: str
    route: str
    body: Callable[[], Any]
    status: int
    says: str = ""  # the setting (or field) a refusal names
    alerts: int = 0  # accepted: alerts visible on the incident


PROBES = [
    Probe(
        "2,100-character service label",
        "/webhooks/alertmanager",
        lambda: with_service("x" * 2100),
        422,
        "MEDIC_MAX_LABEL_VALUE_BYTES",
    ),
    # Within the label limit, but escaped as Temporal's search attributes encode it (\\u00e9) over their
    # 2 KB: accepted, and the incident keeps running (it used to be terminated: BadSearchAttributes).
    Probe(
        "1 KB non-ASCII service label",
        "/webhooks/alertmanager",
        lambda: with_service("é" * 512),
        200,
        alerts=3,
    ),
    Probe(
        "1,000-character service label",
        "/webhooks/alertmanager",
        lambda: with_service("s" * 1000),
        200,
        alerts=3,
    ),
    Probe(
        "one alert with a 3 MB annotation",
        "/webhooks/alertmanager",
        lambda: one_service(annotation=3_000_000),
        422,
        "MEDIC_MAX_ANNOTATION_VALUE_BYTES",
    ),
    Probe(
        "600 alerts with 4.5 KB annotations (2.7 MB: several signals)",
        "/webhooks/alertmanager",
        lambda: one_service(600, annotation=4500),
        200,
        alerts=600,
    ),
    Probe(
        "1,000 alerts naming 1,000 services",
        "/webhooks/alertmanager",
        lambda: alerts_for([f"svc-{uuid.uuid4().hex[:8]}-{i}" for i in range(1000)]),
        413,
        "MEDIC_MAX_INCIDENTS_PER_DELIVERY",
    ),
    Probe(
        "2,001 alerts",
        "/webhooks/alertmanager",
        lambda: one_service(2001),
        413,
        "MEDIC_MAX_ALERTS_PER_DELIVERY",
    ),
    Probe(
        "129 labels on an alert",
        "/webhooks/alertmanager",
        lambda: one_service(labels=125),
        422,
        "MEDIC_MAX_LABELS_PER_ALERT",
    ),
    Probe(
        "anomaly with value NaN and a band of ±Infinity",
        "/webhooks/anomaly",
        lambda: anomaly(value=float("nan"), expected={"lower": float("-inf"), "upper": float("inf")}),
        422,
        "value",
    ),
]


def _services(body: Any) -> set[str]:
    if isinstance(body, dict) and "alerts" in body:
        return {a["labels"]["service"] for a in body["alerts"]}
    return {body["service"]}


async def _not_started(stack: MedicStack, services: set[str]) -> bool:
    for service in list(services)[:20]:
        handle = stack.client.get_workflow_handle(service_incident_id(service, in_catalog=False))
        try:
            await handle.describe()
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
        else:
            return False
    return True


@pytest.mark.parametrize("probe", PROBES, ids=[p.name for p in PROBES])
async def test_probe(hostile: MedicStack, probe: Probe) -> None:
    import json  # noqa: PLC0415 - Python's json writes NaN and Infinity, as a hostile sender would

    body = probe.body()
    async with hostile.http(timeout=60) as http:
        response = await http.post(
            probe.route, content=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == probe.status, response.text[:500]
        if probe.status != 200:
            assert probe.says in response.text
            assert await _not_started(hostile, _services(body)), "a refused delivery started an incident"
            return
        (incident_id,) = response.json()["incidents"]
        handle = hostile.client.get_workflow_handle(incident_id)
        detail: dict[str, Any] = {}

        async def visible() -> bool:
            reply = await http.get(f"/incidents/{incident_id}")
            detail.update(reply.json())
            return reply.status_code == 200 and detail["alert_count"] == probe.alerts

        await wait_until(visible, timeout=60, interval=0.5, what=f"{probe.alerts} alerts on {incident_id}")
        assert 0 < len(detail["alerts"]) == detail["alerts_shown"] <= probe.alerts
        assert {a["labels"]["service"] for a in detail["alerts"]} == _services(body)

        async def published() -> bool:
            description = await handle.describe()
            attributes = description.raw_description.workflow_execution_info.search_attributes
            return description.status is not WorkflowExecutionStatus.RUNNING or "MedicStatus" in (
                attributes.indexed_fields
            )

        # Temporal checks search attributes when the workflow writes them: an incident whose services
        # did not fit was terminated right there ("BadSearchAttributes").
        await wait_until(published, timeout=30, what="the incident's search attributes")
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING


async def test_a_delivery_to_100_services_fans_out_within_its_bound(hostile: MedicStack) -> None:
    services = [f"svc-{uuid.uuid4().hex[:8]}-{i}" for i in range(100)]
    async with hostile.http(timeout=hostile.settings.temporal_rpc_timeout_seconds + 5) as http:
        response = await http.post("/webhooks/alertmanager", json=alerts_for(services))
    assert response.status_code == 200, response.text
    assert len(response.json()["incidents"]) == 100


async def test_a_duplicate_split_delivery_changes_nothing(hostile: MedicStack) -> None:
    payload = one_service(600, annotation=4500)
    later = copy.deepcopy(payload)
    later["alerts"] = [{**payload["alerts"][0], "labels": {**payload["alerts"][0]["labels"], "n": "late"}}]
    async with hostile.http(timeout=60) as http:
        for body in (payload, copy.deepcopy(payload), later):  # a retry of the whole, then one new alert
            response = await http.post("/webhooks/alertmanager", json=body)
            assert response.status_code == 200, response.text
        (incident_id,) = response.json()["incidents"]
        count: list[int] = []

        async def settled() -> bool:
            count[:] = [(await http.get(f"/incidents/{incident_id}")).json().get("alert_count", 0)]
            return count[0] >= 601  # signals apply in order: the duplicate was applied before the new one

        await wait_until(settled, timeout=60, what="the later alert on the incident")
        assert count == [601]
