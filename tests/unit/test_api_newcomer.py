"""Errors as a newcomer meets them (issue 17): one shape on every route, 503s that say what to do
instead of quoting the transport, strict booleans, ids explained as medic.keys makes them."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from medic.alerts import Alert, AlertStatus
from medic.catalog import Catalog
from medic.keys import INCIDENT_ID_PATTERN, group_incident_id, service_incident_id
from service.api import create_app
from service.api.errors import ID_SHAPE
from service.incidents import IncidentDetail, IncidentFilter, IncidentSummary
from service.settings import Settings
from tests.unit.test_api import FIRING, TOKEN, FakeReader, FakeSink, UnreachableReader, bearer
from tests.unit.test_operator_token import OPERATOR, Controls

TRANSPORT = "Failed client connect: transport error"


async def _client(
    reader: object, sink: FakeSink | None = None, *, raise_app: bool = True
) -> httpx.AsyncClient:
    async def ready() -> bool:
        return False

    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN), operator_token=SecretStr(OPERATOR))
    app = create_app(
        settings,
        catalog=Catalog(),
        sink=sink or FakeSink(),
        reader=reader,  # type: ignore[arg-type]
        ready=ready,
        controls=Controls(),
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app)
    return httpx.AsyncClient(transport=transport, base_url="http://medic")


@pytest.fixture
async def down() -> AsyncIterator[httpx.AsyncClient]:
    sink = FakeSink()
    sink.down = True
    async with await _client(UnreachableReader(), sink) as client:
        yield client


async def test_503s_say_what_to_do_and_not_the_transport(
    down: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    answers = [
        await down.get("/incidents", headers=bearer()),
        await down.get("/incidents/incident-checkout", headers=bearer()),
        await down.post("/webhooks/alertmanager", json=FIRING, headers=bearer()),
    ]
    for answer in answers:
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", answer.text
        detail = answer.json()["detail"]
        assert "MEDIC_TEMPORAL_ADDRESS" in detail and "retry" in detail, detail
        assert "transport" not in detail and "connection refused" not in detail, detail
    assert TRANSPORT in caplog.text and "connection refused" in caplog.text  # the detail is logged


class BrokenReader(FakeReader):
    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        raise ZeroDivisionError("a bug")

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        raise ZeroDivisionError("a bug")


async def test_every_error_has_the_one_shape() -> None:
    async with await _client(BrokenReader(), raise_app=False) as client:
        answers = {
            500: await client.get("/incidents", headers=bearer()),
            401: await client.get("/incidents"),
            404: await client.get("/incidents/Not-An-Id", headers=bearer()),
            405: await client.delete("/incidents", headers=bearer()),
            422: await client.put("/control/kill-switch", json={"on": "yes"}, headers=bearer(OPERATOR)),
        }
    for status, answer in answers.items():
        assert answer.status_code == status, (status, answer.text)
        body = answer.json()
        assert set(body) == {"detail"}, body
    assert "a bug" not in answers[500].text
    assert ID_SHAPE in answers[404].json()["detail"]


@pytest.mark.parametrize("value", ["yes", "true", 1, "on", None])
async def test_the_kill_switch_takes_only_json_booleans(value: object) -> None:
    async with await _client(FakeReader()) as client:
        answer = await client.put("/control/kill-switch", json={"on": value}, headers=bearer(OPERATOR))
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"]["fields"][0]["field"] == "on"
        ok = await client.put("/control/kill-switch", json={"on": True}, headers=bearer(OPERATOR))
        assert ok.status_code == 200, ok.text


def test_the_404_describes_the_ids_medic_makes() -> None:
    examples = [
        service_incident_id("checkout"),
        service_incident_id("Not In Catalog", in_catalog=False),
        group_incident_id(receiver="medic", group_key="{}:{}", group_labels={"alertname": "NodeDown"}),
    ]
    assert examples[0] == "incident-checkout" and "incident-checkout" in ID_SHAPE
    assert examples[1].startswith("incident-svc-not-in-catalog-") and "incident-svc-<name>-<hash>" in ID_SHAPE
    assert examples[2].startswith("incident-nodedown-") and "incident-<alertname>-<hash>" in ID_SHAPE
    assert all(INCIDENT_ID_PATTERN.fullmatch(i) for i in examples)


@pytest.mark.parametrize("doc", ["README.md", "docs/postmortems.md", "docs/api.md"])
def test_the_docs_describe_the_ids_medic_makes(doc: str) -> None:
    """The README said `incident-<name>-<hash>` for alerts outside the catalog: a service outside it is
    `incident-svc-<name>-<hash>`, alerts without a service `incident-<alertname>-<hash>`."""
    text = (Path(__file__).parents[2] / doc).read_text()
    assert "incident-svc-<name>-<hash>" in text and "incident-<alertname>-<hash>" in text
    assert "`incident-<name>-<hash>`" not in text


def test_an_alert_without_alertname_is_named_by_its_fingerprint() -> None:
    def unnamed(fingerprint: str) -> Alert:
        labels = {"service": "checkout"}
        at = datetime(2026, 12, 1, tzinfo=UTC)
        return Alert(fingerprint=fingerprint, status=AlertStatus.FIRING, labels=labels, starts_at=at)

    assert unnamed("a1b2").name == "alert-a1b2" != unnamed("c3d4").name
    assert "unnamed" not in unnamed("a1b2").name
