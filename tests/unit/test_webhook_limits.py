"""Webhook limits against the real app with an in-memory sink: each limit refuses with the status and
the setting it names before anything is handed over; the hand-over has one deadline; Temporal refusing
a payload is not "Temporal is down"."""

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from medic.incident import AlertBatch, AnomalyBatch
from medic.topology import ServiceContext
from service.api import create_app
from service.api.webhooks import FAN_OUT
from service.ingest import DeliveryRefused
from service.settings import Settings
from tests.conftest import reference_payloads
from tests.unit.test_api import TOKEN, FakeReader, FakeSink, anomaly, bearer

FIRING = reference_payloads()["alertmonitor_firing_3alerts.json"]
LIMITS: dict[str, Any] = {
    "max_label_value_bytes": 100,
    "max_annotation_value_bytes": 1000,
    "max_labels_per_alert": 20,
    "max_alerts_per_delivery": 50,
    "max_incidents_per_delivery": 40,
    "max_signal_bytes": 64 * 1024,
    "temporal_rpc_timeout_seconds": 0.5,
}


class SlowSink(FakeSink):
    """Records how many hand-overs run at once; ``hang`` never answers; ``refuse`` is Temporal's
    INVALID_ARGUMENT."""

    def __init__(self) -> None:
        super().__init__()
        self.hang = False
        self.refuse = False
        self.running = 0
        self.most = 0

    async def deliver(
        self, incident_id: str, service: ServiceContext | None, batch: AlertBatch | AnomalyBatch
    ) -> str | None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            if self.hang:
                await asyncio.Event().wait()
            if self.refuse:
                raise DeliveryRefused("Blob data size exceeds limit")
            await asyncio.sleep(0.01)
            return await super().deliver(incident_id, service, batch)
        finally:
            self.running -= 1


@pytest.fixture
def sink() -> SlowSink:
    return SlowSink()


@pytest.fixture
async def http(sink: SlowSink) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN), **LIMITS)
    app = create_app(settings, catalog=Catalog(), sink=sink, reader=FakeReader(), ready=ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic", headers=bearer()) as client:
        yield client


def firing(**change: Any) -> dict[str, Any]:
    payload = copy.deepcopy(FIRING)
    for alert in payload["alerts"]:
        alert["labels"].update(change.get("labels", {}))
        alert["annotations"] = {**alert.get("annotations", {}), **change.get("annotations", {})}
    return payload


def services(n: int) -> dict[str, Any]:
    payload = copy.deepcopy(FIRING)
    template = payload["alerts"][0]
    payload["alerts"] = [{**template, "labels": {**template["labels"], "service": f"s{i}"}} for i in range(n)]
    return payload


def _message(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    return detail if isinstance(detail, str) else str(detail["error"])


PROBES: list[tuple[str, dict[str, Any], int, str]] = [
    ("label value", firing(labels={"service": "x" * 101}), 422, "MEDIC_MAX_LABEL_VALUE_BYTES"),
    ("label name", firing(labels={"n" * 101: "v"}), 422, "MEDIC_MAX_LABEL_VALUE_BYTES"),
    ("annotation", firing(annotations={"description": "d" * 1001}), 422, "MEDIC_MAX_ANNOTATION_VALUE_BYTES"),
    ("label count", firing(labels={f"l{i}": "v" for i in range(20)}), 422, "MEDIC_MAX_LABELS_PER_ALERT"),
    ("alert count", {**FIRING, "alerts": FIRING["alerts"] * 17}, 413, "MEDIC_MAX_ALERTS_PER_DELIVERY"),
    ("incidents", services(41), 413, "MEDIC_MAX_INCIDENTS_PER_DELIVERY"),
    (
        "one alert over a signal",
        firing(annotations={f"a{i}": "d" * 1000 for i in range(70)}),
        422,
        "MEDIC_MAX_SIGNAL_BYTES",
    ),
]


@pytest.mark.parametrize(
    ("payload", "status", "setting"), [p[1:] for p in PROBES], ids=[p[0] for p in PROBES]
)
async def test_each_limit_refuses_before_anything_is_handed_over(
    http: httpx.AsyncClient, sink: SlowSink, payload: dict[str, Any], status: int, setting: str
) -> None:
    response = await http.post("/webhooks/alertmanager", json=payload)
    assert response.status_code == status, response.text
    assert setting in _message(response)
    assert sink.alerts == []


async def test_within_the_limits_is_accepted(http: httpx.AsyncClient, sink: SlowSink) -> None:
    ok = firing(labels={"service": "x" * 100}, annotations={"description": "d" * 1000})
    assert (await http.post("/webhooks/alertmanager", json=ok)).status_code == 200
    assert (await http.post("/webhooks/alertmanager", json=services(40))).status_code == 200
    # 40 alerts of 3 KB: over one 64 KB signal, under the per-delivery limits.
    big = services(1)
    template = big["alerts"][0]
    big["alerts"] = [
        {
            **template,
            "labels": {**template["labels"], "n": str(i)},
            "annotations": {f"a{j}": "d" * 1000 for j in range(3)},
        }
        for i in range(40)
    ]
    assert (await http.post("/webhooks/alertmanager", json=big)).status_code == 200
    assert sum(len(b.alerts) for _, b in sink.alerts) == 3 + 40 + 40


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"value": NaN}', "value"),
        ('{"expected": {"lower": -Infinity, "upper": Infinity}}', "expected.lower"),
        ('{"forecast": [{"at": "2026-11-23T12:00:00Z", "value": Infinity}]}', "forecast[0].value"),
    ],
)
async def test_non_finite_numbers_are_422(
    http: httpx.AsyncClient, sink: SlowSink, body: str, field: str
) -> None:
    signal = anomaly()
    signal.update(json.loads(body))
    response = await http.post(
        "/webhooks/anomaly", content=json.dumps(signal), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["error"].startswith(field)
    assert sink.anomalies == []


async def test_anomaly_limits(http: httpx.AsyncClient, sink: SlowSink) -> None:
    many = await http.post("/webhooks/anomaly", json=[anomaly()] * 51)
    assert many.status_code == 413 and "MEDIC_MAX_ALERTS_PER_DELIVERY" in _message(many)
    long_series = await http.post("/webhooks/anomaly", json=[anomaly(series={"pod": "p" * 101})])
    assert long_series.status_code == 422 and long_series.json()["detail"]["error"].startswith(
        "[0].series.pod"
    )
    spread = await http.post("/webhooks/anomaly", json=[anomaly(f"svc{i}") for i in range(41)])
    assert spread.status_code == 413 and "MEDIC_MAX_INCIDENTS_PER_DELIVERY" in _message(spread)
    assert sink.anomalies == []


async def test_a_hand_over_past_its_deadline_is_503_with_retry_after(
    http: httpx.AsyncClient, sink: SlowSink
) -> None:
    sink.hang = True
    async with asyncio.timeout(10):  # without a deadline the request would wait for ever
        response = await http.post("/webhooks/alertmanager", json=FIRING)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] and "0.5 s" in _message(response)


async def test_temporal_refusing_a_payload_is_422_not_unavailability(
    http: httpx.AsyncClient, sink: SlowSink
) -> None:
    sink.refuse = True
    response = await http.post("/webhooks/alertmanager", json=FIRING)
    assert response.status_code == 422 and "Blob data size" in _message(response)
    metrics = (await http.get("/metrics")).text
    assert "medic_temporal_unavailable_total 0.0" in metrics


async def test_fan_out_is_bounded(http: httpx.AsyncClient, sink: SlowSink) -> None:
    response = await http.post("/webhooks/alertmanager", json=services(40))
    assert response.status_code == 200 and len(response.json()["incidents"]) == 40
    assert 1 < sink.most <= FAN_OUT < 40


async def test_openapi_lists_every_status_the_webhooks_answer(http: httpx.AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    for route in ("/webhooks/alertmanager", "/webhooks/anomaly"):
        assert {"200", "401", "413", "422", "503"} <= set(paths[route]["post"]["responses"])
