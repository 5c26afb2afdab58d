"""A Grafana contact point's Test button opens no incident (medic.grafana_alerts.is_test_notification):
Grafana sends it once, firing, and never resolves it, so the incident it opened stayed open for good (a
field walk-through). The webhook answers 2xx, says so in its answer and its log, and counts it.

The payloads: Grafana 12's, captured (tests/fixtures/alertmanager/keep_grafana12_webhook_firing.json,
labels as the UI's Test button sends them: ``grafana_folder: Test Folder``, ``summary: TEST``), and the
default of grafana/alerting notify/receivers.go ``newTestAlert`` (tests/support/grafana.py)."""

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.alerts import AlertmanagerWebhook
from medic.catalog import Catalog
from service.api import create_app
from service.explain import explain_webhook
from service.settings import Settings
from tests.support.grafana import grafana_alert, grafana_test_alert, grafana_webhook
from tests.unit.test_api import FakeReader, FakeSink

TOKEN = "s3cret-token"
CAPTURED = (
    Path(__file__).resolve().parents[1] / "fixtures" / "alertmanager" / "keep_grafana12_webhook_firing.json"
)


def captured() -> dict[str, Any]:
    body: dict[str, Any] = json.loads(CAPTURED.read_text())
    return body


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
async def http(sink: FakeSink) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN))
    app = create_app(settings, catalog=Catalog(), sink=sink, reader=FakeReader(), ready=ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", auth=("grafana", TOKEN)) as c:
        yield c


@pytest.mark.parametrize("route", ["/webhooks/alertmanager", "/webhooks/anomaly"])
@pytest.mark.parametrize(
    "body", [captured(), grafana_webhook([grafana_test_alert()], {})], ids=["ui", "default"]
)
async def test_the_test_button_is_answered_and_opens_nothing(
    http: httpx.AsyncClient,
    sink: FakeSink,
    caplog: pytest.LogCaptureFixture,
    route: str,
    body: dict[str, Any],
) -> None:
    assert body["alerts"][0]["labels"]["alertname"] == "TestAlert"
    with caplog.at_level(logging.INFO, logger="service.api.webhooks"):
        answer = await http.post(route, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "accepted": 1,
        "incidents": [],
        "note": "a test notification from Grafana: received, no incident",
    }
    assert not sink.alerts
    assert "a test notification from Grafana: received, no incident" in caplog.text
    metrics = (await http.get("/metrics")).text
    assert 'medic_alerts_ignored_total{rule="grafana-test-notification"} 1.0' in metrics


async def test_other_alerts_of_the_delivery_go_on_and_answers_say_no_note(
    http: httpx.AsyncClient, sink: FakeSink
) -> None:
    real = grafana_alert({"alertname": "Checkout p99 latency", "service": "checkout"})
    answer = await http.post("/webhooks/alertmanager", json=grafana_webhook([grafana_test_alert(), real], {}))
    assert answer.json()["accepted"] == 2 and len(sink.alerts) == 1
    (_, batch), *_ = sink.alerts
    assert [a.name for a in batch.alerts] == ["Checkout p99 latency"]
    plain = await http.post("/webhooks/alertmanager", json=grafana_webhook([real], {}))
    assert "note" not in plain.json()


async def test_an_alertmanager_testalert_is_an_alert_like_any_other(
    http: httpx.AsyncClient, sink: FakeSink
) -> None:
    """Only Grafana's delivery says it is Grafana's test: an Alertmanager rule of that name stays."""
    body = grafana_webhook([grafana_test_alert()], {})
    body = {k: v for k, v in body.items() if k not in ("orgId", "state", "title", "message")} | {
        "version": "4"
    }
    for alert in body["alerts"]:
        alert.pop("orgId")
    answer = await http.post("/webhooks/alertmanager", json=body)
    assert answer.status_code == 200 and len(sink.alerts) == 1


def test_explain_says_it() -> None:
    [entry] = explain_webhook(AlertmanagerWebhook.model_validate(captured()), catalog=Catalog(), runbooks=[])
    assert entry["ignored"] == "grafana-test-notification" and "no incident" in entry["why"]
