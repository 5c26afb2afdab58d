"""A web page on another site cannot post alerts through a browser that holds Medic's credentials.

Reads answer 401 with a Basic challenge, so a browser asks once and then sends the token it was given
with every request to Medic, whoever's page makes it. A page's ``<form enctype="text/plain">`` spells a
whole Alertmanager webhook as JSON (the input's name up to ``"pad":"``, the value ``"}``), and the
webhooks read any body: the forged alert was delivered (200) and paged. A JSON route's body sent as a
form or text/plain is refused (415) before it is read; Alertmanager and Grafana send application/json."""

import base64

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink

# What the browser posts for <input name='{..."pad":"' value='"}'> in a text/plain form.
FORGED = (
    b'{"version":"4","status":"firing","receiver":"x","alerts":[{"labels":{"alertname":"Forged",'
    b'"service":"checkout"},"startsAt":"2026-12-07T00:00:00Z"}],"pad":"="}'
)
BASIC = {"Authorization": "Basic " + base64.b64encode(f"me:{TOKEN}".encode()).decode()}


async def _post(path: str, content_type: str | None) -> tuple[int, str, FakeSink]:
    async def ready() -> bool:
        return True

    sink = FakeSink()
    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN))
    app = create_app(settings, catalog=Catalog(), sink=sink, reader=FakeReader(), ready=ready)
    headers = {**BASIC, **({"Content-Type": content_type} if content_type else {})}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        answer = await http.post(path, content=FORGED, headers=headers)
    return answer.status_code, answer.text, sink


@pytest.mark.parametrize("path", ["/webhooks/alertmanager", "/webhooks/anomaly", "/explain"])
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=----x",
        "Text/Plain",
    ],
)
async def test_a_form_post_is_refused(path: str, content_type: str) -> None:
    status, text, sink = await _post(path, content_type)
    assert status == 415, text
    assert "application/json" in text
    assert sink.alerts == [] and sink.anomalies == []


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", None])
async def test_json_is_taken(content_type: str | None) -> None:
    status, text, sink = await _post("/webhooks/alertmanager", content_type)
    assert status == 200, text
    assert [a.labels["alertname"] for _, batch in sink.alerts for a in batch.alerts] == ["Forged"]
