"""The Alertmanager webhook with heartbeats (medic.dead_man): a Watchdog is handed to its heartbeat, not
to an incident, durably before the answer (503 when Temporal cannot take it, so Alertmanager retries);
a delivery refused for its size or labels hands nothing over; without a heartbeat sink (an app built
without Temporal) Watchdog is an alert as before."""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from medic.alerts import AlertmanagerWebhook
from medic.catalog import Catalog
from medic.dead_man import Beat
from service.api import create_app
from service.explain import explain_webhook, render
from service.ingest import TemporalUnavailable
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink, bearer

WATCHDOG = {
    "alertname": "Watchdog",
    "prometheus": "monitoring/kube-prometheus-stack-prometheus",
    "severity": "none",
}
OVERCOMMIT = {**WATCHDOG, "alertname": "KubeMemoryOvercommit", "severity": "warning"}


class FakeBeats:
    def __init__(self) -> None:
        self.beats: list[Beat] = []
        self.down = False

    async def beat(self, beat: Beat) -> None:
        if self.down:
            raise TemporalUnavailable("connection refused")
        self.beats.append(beat)


def delivery(*label_sets: dict[str, str], status: str = "firing") -> dict[str, object]:
    return {
        "version": "4",
        "groupKey": '{}:{namespace=""}',
        "status": status,
        "receiver": "medic",
        "groupLabels": {"namespace": ""},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [
            {"status": status, "labels": labels, "annotations": {}, "startsAt": "2026-12-07T09:00:00Z"}
            for labels in label_sets
        ],
    }


@pytest.fixture
def beats() -> FakeBeats:
    return FakeBeats()


@pytest.fixture
def sink() -> FakeSink:
    return FakeSink()


def app_client(sink: FakeSink, beats: FakeBeats | None, *, max_incidents: int = 100) -> httpx.AsyncClient:
    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr(TOKEN),
        max_body_bytes=64 * 1024,
        max_incidents_per_delivery=max_incidents,
    )
    app = create_app(settings, catalog=Catalog(), sink=sink, reader=FakeReader(), ready=ready, beats=beats)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic")


@pytest.fixture
async def http(sink: FakeSink, beats: FakeBeats) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(sink, beats) as client:
        yield client


async def test_watchdog_goes_to_its_heartbeat_and_the_rest_of_its_group_to_an_incident(
    http: httpx.AsyncClient, sink: FakeSink, beats: FakeBeats
) -> None:
    answer = await http.post("/webhooks/alertmanager", json=delivery(WATCHDOG, OVERCOMMIT), headers=bearer())
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 2 and len(answer.json()["incidents"]) == 1
    [(_, batch)] = sink.alerts
    assert [a.labels["alertname"] for a in batch.alerts] == ["KubeMemoryOvercommit"]
    [beat] = beats.beats
    assert (
        beat.firing and beat.rule.name == "watchdog" and not beat.alone
    )  # resent for its group's other alert
    assert beat.labels == {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}
    only = await http.post(
        "/webhooks/alertmanager", json=delivery(WATCHDOG, status="resolved"), headers=bearer()
    )
    assert only.json() == {"accepted": 1, "incidents": []}
    assert not beats.beats[-1].firing and beats.beats[-1].alone and len(sink.alerts) == 1


async def test_a_beat_temporal_cannot_take_is_a_503_for_alertmanager_to_retry(
    http: httpx.AsyncClient, beats: FakeBeats
) -> None:
    beats.down = True
    answer = await http.post("/webhooks/alertmanager", json=delivery(WATCHDOG), headers=bearer())
    assert answer.status_code == 503, answer.text
    assert "Retry-After" in answer.headers


async def test_a_refused_delivery_hands_no_beat_over(
    http: httpx.AsyncClient, sink: FakeSink, beats: FakeBeats
) -> None:
    huge = {**OVERCOMMIT, "description": "x" * 20_000}  # over MEDIC_MAX_LABEL_VALUE_BYTES
    answer = await http.post("/webhooks/alertmanager", json=delivery(WATCHDOG, huge), headers=bearer())
    assert answer.status_code == 422, answer.text
    assert beats.beats == [] and sink.alerts == []


async def test_a_secret_in_a_watchdog_label_never_reaches_its_heartbeat(
    http: httpx.AsyncClient, beats: FakeBeats
) -> None:
    leaky = {**WATCHDOG, "url": "https://admin:hunter2-password@prometheus.example:9090"}
    answer = await http.post("/webhooks/alertmanager", json=delivery(leaky), headers=bearer())
    assert answer.status_code == 200, answer.text
    assert "hunter2" not in beats.beats[0].model_dump_json()


async def test_without_a_heartbeat_sink_watchdog_is_an_alert(sink: FakeSink) -> None:
    async with app_client(sink, None) as http:
        answer = await http.post("/webhooks/alertmanager", json=delivery(WATCHDOG), headers=bearer())
    assert answer.status_code == 200 and len(answer.json()["incidents"]) == 1


def test_explain_says_watchdog_is_a_heartbeat_and_no_incident() -> None:
    payload = AlertmanagerWebhook.model_validate(delivery(WATCHDOG, OVERCOMMIT))
    found = explain_webhook(payload, catalog=Catalog(), runbooks=[])
    [beat] = [e for e in found if "heartbeat" in e]
    assert (beat["heartbeat"], beat["labels"]) == ("watchdog", {"prometheus": WATCHDOG["prometheus"]})
    assert [a["alertname"] for e in found if "incident" in e for a in e["alerts"]] == ["KubeMemoryOvercommit"]
    assert beat["arms"] is False  # resent for its group's other alert
    said = render(found)
    assert "came with other alerts of its group: keeps it alive, does not arm it" in said
    alone = explain_webhook(
        AlertmanagerWebhook.model_validate(delivery(WATCHDOG)), catalog=Catalog(), runbooks=[]
    )
    assert [e["arms"] for e in alone] == [True]
    assert (
        "heartbeat watchdog (Watchdog, prometheus=monitoring/kube-prometheus-stack-prometheus; firing): no"
        in said
    )
    assert "alerting-pipeline is told when no beat comes for 15 min" in said
    # heartbeats: [] in the routing policy: Watchdog is an alert again
    assert all(
        "heartbeat" not in e for e in explain_webhook(payload, catalog=Catalog(), runbooks=[], heartbeats=[])
    )


async def test_a_delivery_naming_more_heartbeats_than_it_may_start_is_refused_whole(
    sink: FakeSink, beats: FakeBeats
) -> None:
    """Each heartbeat is a workflow, as each incident is: MEDIC_MAX_INCIDENTS_PER_DELIVERY bounds both."""
    many = [{**WATCHDOG, "prometheus": f"monitoring/p{i}"} for i in range(3)]
    async with app_client(sink, beats, max_incidents=3) as http:
        refused = await http.post(
            "/webhooks/alertmanager", json=delivery(*many, OVERCOMMIT), headers=bearer()
        )
        assert refused.status_code == 413, refused.text
        assert "1 incidents (services or groups) and 3 heartbeats" in refused.json()["detail"]
        assert beats.beats == [] and sink.alerts == []
        # three heartbeats alone fit the limit
        taken = await http.post("/webhooks/alertmanager", json=delivery(*many), headers=bearer())
        assert taken.status_code == 200, taken.text
    assert len(beats.beats) == 3


async def test_a_firing_copy_of_a_heartbeat_wins_over_a_resolved_one_in_the_same_delivery(
    http: httpx.AsyncClient, beats: FakeBeats
) -> None:
    """An upgrade's old Watchdog (severity none, resolved) and new one (info, firing) in one group are one
    heartbeat (severity is no part of it): the firing beat is handed over, whichever came last (a
    review found the resolved one kept, and the heartbeat told of an outage that was not)."""
    body = delivery(WATCHDOG, {**WATCHDOG, "severity": "info"})
    alerts: list[dict[str, object]] = body["alerts"]  # type: ignore[assignment]
    alerts[0]["status"], alerts[1]["status"] = "firing", "resolved"
    answer = await http.post("/webhooks/alertmanager", json=body, headers=bearer())
    assert answer.status_code == 200, answer.text
    [beat] = beats.beats
    assert beat.firing
