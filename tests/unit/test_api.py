"""The webhook API's contract with an in-memory sink: auth, size limit, validation, 503.

These exercise the real FastAPI app; only the Temporal hand-off is replaced by a fake that
records what it was given (the integration tests use the real one)."""

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from medic.incident import AlertBatch, AnomalyBatch, IncidentState
from medic.topology import ServiceContext
from service.api import create_app
from service.incidents import IncidentDetail, IncidentFilter, IncidentNotFound, IncidentSummary, ResolvedRuns
from service.ingest import TemporalUnavailable
from service.settings import Settings
from tests.conftest import reference_payloads
from workflows.control import KillSwitch, KillSwitchRequest
from workflows.feedback import FeedbackState
from workflows.remediation import Decision

TOKEN = "s3cret-token"
FIRING = reference_payloads()["alertmonitor_firing_3alerts.json"]


class FakeSink:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, AlertBatch]] = []
        self.anomalies: list[tuple[str, AnomalyBatch]] = []
        self.down = False

    async def deliver(
        self, incident_id: str, service: ServiceContext | None, batch: AlertBatch | AnomalyBatch
    ) -> str | None:
        if self.down:
            raise TemporalUnavailable("connection refused")
        if isinstance(batch, AlertBatch):
            self.alerts.append((incident_id, batch))
        else:
            self.anomalies.append((incident_id, batch))
        return incident_id


class FakeReader:
    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        return []

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        raise IncidentNotFound(incident_id)

    async def state(self, incident_id: str) -> IncidentState:
        raise IncidentNotFound(incident_id)

    async def resolved_runs(self, *, limit: int, since: datetime | None = None) -> ResolvedRuns:
        return []

    async def run_state(self, incident_id: str, run_id: str) -> IncidentState:
        raise IncidentNotFound(incident_id)


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


@pytest.fixture
async def http(sink: FakeSink) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return not sink.down

    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN), max_body_bytes=64 * 1024)
    app = create_app(settings, catalog=Catalog(), sink=sink, reader=FakeReader(), ready=ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as client:
        yield client


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(password: str = TOKEN, user: str = "alertmanager") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_bearer_accepted_and_handed_over(http: httpx.AsyncClient, sink: FakeSink) -> None:
    response = await http.post("/webhooks/alertmanager", json=FIRING, headers=bearer())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 3
    assert len(body["incidents"]) == 1
    ((incident_id, batch),) = sink.alerts
    assert incident_id == body["incidents"][0]
    assert len(batch.alerts) == 3


async def test_basic_auth_password_is_the_token(http: httpx.AsyncClient, sink: FakeSink) -> None:
    response = await http.post("/webhooks/alertmanager", json=FIRING, headers=basic())
    assert response.status_code == 200
    assert len(sink.alerts) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Bearer"},
        {"Authorization": "Token " + TOKEN},
        basic("wrong"),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},  # no colon
    ],
)
async def test_bad_credentials_are_401_and_change_nothing(
    http: httpx.AsyncClient, sink: FakeSink, headers: dict[str, str]
) -> None:
    response = await http.post("/webhooks/alertmanager", json=FIRING, headers=headers)
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]
    assert sink.alerts == []


async def test_oversized_body_is_413(http: httpx.AsyncClient, sink: FakeSink) -> None:
    big = dict(FIRING, commonAnnotations={"padding": "x" * 70_000})
    response = await http.post("/webhooks/alertmanager", json=big, headers=bearer())
    assert response.status_code == 413
    assert sink.alerts == []


async def test_oversized_chunked_body_is_413(http: httpx.AsyncClient, sink: FakeSink) -> None:
    """No Content-Length to trust: the limit applies while streaming."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 8192
        yield json.dumps(FIRING).encode()

    response = await http.post("/webhooks/alertmanager", content=chunks(), headers=bearer())
    assert response.status_code == 413
    assert sink.alerts == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body is not valid JSON"),
        (json.dumps({**FIRING, "alerts": []}).encode(), "alerts"),
        (json.dumps({k: v for k, v in FIRING.items() if k != "status"}).encode(), "status"),
        (
            json.dumps({**FIRING, "alerts": [{**FIRING["alerts"][0], "startsAt": "soon"}]}).encode(),
            "alerts[0].startsAt",
        ),
        (
            json.dumps({**FIRING, "alerts": [{"startsAt": "2026-01-01T00:00:00Z"}]}).encode(),
            "alerts[0].labels",
        ),
    ],
)
async def test_malformed_body_is_422_naming_the_field(
    http: httpx.AsyncClient, sink: FakeSink, body: bytes, field: str
) -> None:
    response = await http.post("/webhooks/alertmanager", content=body, headers=bearer())
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["error"].startswith(field)
    assert sink.alerts == []


async def test_temporal_down_is_503_never_4xx(http: httpx.AsyncClient, sink: FakeSink) -> None:
    sink.down = True
    response = await http.post("/webhooks/alertmanager", json=FIRING, headers=bearer())
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert (await http.get("/readyz")).status_code == 503
    sink.down = False
    assert (await http.post("/webhooks/alertmanager", json=FIRING, headers=bearer())).status_code == 200
    assert (await http.get("/readyz")).status_code == 200


def window(ended: timedelta = timedelta(0), *, lasted: timedelta = timedelta(minutes=10)) -> dict[str, str]:
    """A window that ended ``ended`` ago (a negative ``ended``: ahead of now)."""
    end = datetime.now(UTC).replace(microsecond=0) - ended
    return {"start": (end - lasted).isoformat(), "end": end.isoformat()}


def anomaly(service: str = "payments", **extra: Any) -> dict[str, Any]:
    return {
        "source": "medic-scan",
        "service": service,
        "series": {"__name__": "http_request_duration_seconds:p99", "service": service},
        "value": 1.8,
        "expected": {"lower": 0.1, "upper": 0.4},
        "score": 0.97,
        "window": window(),
        **extra,
    }


async def test_anomaly_single_list_and_grafana(http: httpx.AsyncClient, sink: FakeSink) -> None:
    one = await http.post("/webhooks/anomaly", json=anomaly(), headers=bearer())
    assert one.status_code == 200 and one.json()["accepted"] == 1
    many = await http.post(
        "/webhooks/anomaly", json=[anomaly(), anomaly("cart"), anomaly("cart")], headers=bearer()
    )
    assert many.status_code == 200
    assert many.json()["accepted"] == 3
    assert len(many.json()["incidents"]) == 2  # grouped per service
    grafana = reference_payloads()["keep_grafana12_webhook_firing.json"]
    # (captured from a contact point's Test button, which opens nothing: the same with a rule's name)
    grafana["alerts"][0]["labels"] = grafana["alerts"][0]["labels"] | {"alertname": "HighLatency"}
    via_grafana = await http.post("/webhooks/anomaly", json=grafana, headers=bearer())
    assert via_grafana.status_code == 200
    assert sink.alerts[-1][1].alerts[0].source == "grafana"


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: anomaly(score=3), "score"),
        (lambda: anomaly(expected={"lower": 5, "upper": 1}), "expected"),
        (lambda: anomaly(window={"start": "2026-11-23T12:00:00", "end": "2026-11-23T12:05:00"}), "window"),
        (lambda: [anomaly(), anomaly(value="high")], "[1].value"),
        (lambda: [], "body"),
        (lambda: anomaly(unexpected=True), "unexpected"),
        # a window ending in 9999 failed every task of its incident (a review, 2026-12-06)
        (
            lambda: [
                anomaly(),
                anomaly(window={"start": "2026-11-23T12:00:00Z", "end": "9999-12-31T23:59:59Z"}),
            ],
            "[1].window.end",
        ),
        # the docs' example posted 13 days after its window opened a P3 incident now and paged for an
        # outage long over (a review, 2026-12-06)
        (lambda: anomaly(window=window(timedelta(days=13))), "window.end"),
        (lambda: [anomaly(), anomaly(window=window(timedelta(hours=25)))], "[1].window.end"),
        # a detector whose clock is ahead (built when the test runs: at collection it was up to 20
        # minutes before a full run got here, and the window no longer ahead)
        (lambda: anomaly(window=window(-timedelta(minutes=20), lasted=timedelta(minutes=5))), "window.start"),
    ],
)
async def test_bad_anomaly_is_422_naming_the_field(
    http: httpx.AsyncClient, sink: FakeSink, make: Callable[[], Any], field: str
) -> None:
    response = await http.post("/webhooks/anomaly", json=make(), headers=bearer())
    assert response.status_code == 422, response.text
    assert response.json()["detail"]["error"].startswith(field), response.json()
    assert sink.anomalies == []


async def test_a_late_or_early_window_within_its_bounds_is_taken(
    http: httpx.AsyncClient, sink: FakeSink
) -> None:
    """A detector catching up after an outage is heard up to a day late; a clock a little ahead too."""
    late = anomaly(window=window(timedelta(hours=23)))
    ahead = anomaly("cart", window=window(-timedelta(minutes=4), lasted=timedelta(minutes=1)))
    answer = await http.post("/webhooks/anomaly", json=[late, ahead], headers=bearer())
    assert answer.status_code == 200 and answer.json()["accepted"] == 2, answer.text


async def test_a_stale_window_is_refused_saying_why(http: httpx.AsyncClient, sink: FakeSink) -> None:
    answer = await http.post(
        "/webhooks/anomaly", json=anomaly(window=window(timedelta(days=13))), headers=bearer()
    )
    assert answer.status_code == 422
    error = answer.json()["detail"]["error"]
    assert "more than 24 hours before now" in error and "history" in error, error
    assert sink.anomalies == []


async def test_unknown_incident_is_404_and_bad_filters_422(http: httpx.AsyncClient) -> None:
    auth = bearer()
    assert (await http.get("/incidents/incident-nope-0123", headers=auth)).status_code == 404
    assert (await http.get("/incidents/not-an-id", headers=auth)).status_code == 404
    assert (await http.get("/incidents", params={"priority": "P9"}, headers=auth)).status_code == 422
    assert (await http.get("/incidents", params={"service": "x' OR 1=1"}, headers=auth)).status_code == 422


async def test_openapi_publishes_the_schemas(http: httpx.AsyncClient) -> None:
    schema = (await http.get("/openapi.json")).json()
    components = schema["components"]["schemas"]
    assert {"AlertmanagerWebhook", "AnomalySignal", "AnomalyWebhookBody"} <= set(components)
    assert "/webhooks/anomaly" in schema["paths"]


async def test_metrics_count_webhooks(http: httpx.AsyncClient) -> None:
    await http.post("/webhooks/alertmanager", json=FIRING, headers=bearer())
    await http.post("/webhooks/alertmanager", json=FIRING, headers=bearer("nope"))
    text = (await http.get("/metrics")).text
    assert 'medic_webhook_requests_total{code="200",route="alertmanager"} 1.0' in text
    assert 'medic_webhook_requests_total{code="401",route="alertmanager"} 1.0' in text
    assert 'medic_alerts_accepted_total{source="alertmanager"} 3.0' in text


class UnreachableReader(FakeReader):
    """What a lazily connected client raises while Temporal is down (the API's client is lazy)."""

    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        raise RuntimeError("Failed client connect: transport error")

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        raise RuntimeError("Failed client connect: transport error")


async def test_reads_while_temporal_is_down_are_503_with_retry_after() -> None:
    settings = Settings(_env_file=None, webhook_token=SecretStr(TOKEN))

    async def ready() -> bool:
        return False

    app = create_app(settings, catalog=Catalog(), sink=FakeSink(), reader=UnreachableReader(), ready=ready)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        for path in ("/incidents", "/incidents/incident-checkout"):
            answer = await client.get(path, headers=bearer())
            assert answer.status_code == 503, (path, answer.text)
            assert answer.headers["Retry-After"] == "5" and "not reachable" in answer.json()["detail"]


class RecordingControls:
    def __init__(self) -> None:
        self.decisions: list[tuple[str, Decision]] = []

    async def kill_switch(self) -> KillSwitch:
        return KillSwitch()

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch:
        return KillSwitch()

    async def decide(self, remediation_id: str, decision: Decision) -> str:
        self.decisions.append((remediation_id, decision))
        return "approved"

    async def feedback(self) -> FeedbackState:
        return FeedbackState()


async def test_a_decision_over_http_cannot_claim_approver_groups() -> None:
    """Groups are what Slack says a person is in; the HTTP route records the credential, not groups."""
    controls = RecordingControls()
    settings = Settings(
        _env_file=None, webhook_token=SecretStr(TOKEN), operator_token=SecretStr("operator-s3cret")
    )

    async def ready() -> bool:
        return True

    app = create_app(
        settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready, controls=controls
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        answer = await client.post(
            "/remediations/remediate-deployment-shop-checkout-1/decision",
            json={"approve": True, "actor": "U1", "groups": ["S-HIGH-RISK-APPROVERS"]},
            headers=bearer("operator-s3cret"),
        )
    assert answer.status_code == 200, answer.text
    ((remediation_id, decision),) = controls.decisions
    assert remediation_id == "remediate-deployment-shop-checkout-1"
    assert decision.actor == "api:operator-token" and decision.approve and decision.groups == []


def test_open_incidents_are_asked_for_in_the_query_so_the_limit_counts_only_them() -> None:
    """After a cascade, merged (resolved) incidents must not use up a listing's limit."""
    assert "MedicStatus!='resolved'" in IncidentFilter(unresolved=True, limit=50).visibility_query()
    assert (
        IncidentFilter(status="acknowledged", unresolved=True)
        .visibility_query()
        .endswith("MedicStatus='acknowledged'")
    )
    assert "resolved" not in IncidentFilter().visibility_query()


async def get_scans(folder: Path, **extra: object) -> httpx.Response:
    """``GET /anomalies/scans`` of an API whose catalog and data are in ``folder`` (``extra``: more
    settings); an exception the app does not handle answers 500, as a server does."""

    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr(TOKEN),
        catalog=folder / "catalog.yaml",
        data_dir=folder,
        **extra,  # type: ignore[arg-type]
    )
    app = create_app(settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as http:
        return await http.get("/anomalies/scans", headers=bearer())


async def test_the_scans_view_says_the_anomaly_file_is_missing_rather_than_no_scans(tmp_path: Path) -> None:
    """``MEDIC_ANOMALY`` naming a file that is not there (or a directory) answered ``[]``: "no scans",
    not the mistake (a field review). A 500 that names the file and the setting now; MEDIC_ANOMALY
    unset, with no anomaly.yaml beside the catalog, is still no scans."""

    unset = await get_scans(tmp_path)
    assert unset.status_code == 200 and unset.json() == []
    missing = await get_scans(tmp_path, anomaly=tmp_path / "anomaly.yml")
    assert missing.status_code == 500, missing.text
    assert missing.json() == {
        "detail": "the anomaly scans' file cannot be used, so no scan can be shown (`medic check` tells"
        " of it too):"
        f" {tmp_path / 'anomaly.yml'}:1: file not found (MEDIC_ANOMALY)"
    }
    folder = await get_scans(tmp_path, anomaly=tmp_path)
    assert folder.status_code == 500 and "is a directory (MEDIC_ANOMALY)" in folder.json()["detail"]
    (tmp_path / "anomaly.yml").write_text("scans:\n  - name: lat\n    query: up\n    every_second: 60\n")
    broken = await get_scans(tmp_path, anomaly=tmp_path / "anomaly.yml")
    assert broken.status_code == 500 and "did you mean 'every_seconds'?" in broken.json()["detail"]
    # MEDIC_ANOMALY unset, no anomaly.yaml beside the catalog, anomaly.yml there (a misnamed key of a
    # ConfigMap of one's own): not "no scans" either
    near = await get_scans(tmp_path)
    assert near.status_code == 500, near.text
    assert "there is no anomaly.yaml here, but there is anomaly.yml" in near.json()["detail"]
    (tmp_path / "anomaly.yml").rename(tmp_path / "anomaly.yaml.bak")  # a backup is no near miss
    assert (await get_scans(tmp_path)).json() == []
