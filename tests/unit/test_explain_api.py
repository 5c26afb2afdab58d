"""Issue 14: POST /explain, the webhook's dry run from the running API: the same answer as
`medic explain`, with the API's catalog, runbooks and cluster lookup, and nothing handed to Temporal."""

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from service.api.app import create_app
from service.settings import Settings
from tests.unit.test_api import FakeReader, FakeSink
from tests.unit.test_assign_kubernetes import fixture_catalog, payload
from tests.unit.test_subject import K8S_ALERTS, FakeCluster

REPO = Path(__file__).resolve().parents[2]
TOKEN = "t0ken-for-the-test"
NODE = "node/ip-10-0-1-12.eu-west-1.compute.internal"


async def _ready() -> bool:
    return True


def _app(sink: FakeSink, runbooks: Path = REPO / "runbooks", max_alerts: int = 1000) -> httpx.AsyncClient:
    config = Settings(
        _env_file=None,
        webhook_token=SecretStr(TOKEN),
        runbooks_dir=runbooks,
        max_alerts_per_delivery=max_alerts,
    )
    app = create_app(
        config, catalog=fixture_catalog(), sink=sink, reader=FakeReader(), ready=_ready, owners=FakeCluster()
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic")


def _body(*ids: str) -> str:
    return payload([e for e in K8S_ALERTS if e["id"] in ids]).model_dump_json()


HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


async def test_explain_answers_like_medic_explain_with_the_cluster_and_changes_nothing() -> None:
    sink = FakeSink()
    async with _app(sink) as http:
        body = _body(
            "KubePodCrashLooping/shop/checkout", "KubeNodeNotReady/ip-10-0-1-12.eu-west-1.compute.internal"
        )
        response = await http.post("/explain", content=body, headers=HEADERS)
    assert response.status_code == 200, response.text
    found = {i["incident"]: i for i in response.json()}
    checkout = found["incident-checkout"]
    assert checkout["service"] == "checkout" and checkout["runs_on_nodes"] == [NODE]
    (alert,) = checkout["alerts"]
    assert alert["target"] == "Deployment shop/checkout" and "(cluster)" in alert["why"]
    assert {p["runbook"] for p in alert["runbooks"]} == {
        "crashloop-restart",
        "crashloop-after-rollout-rollback",
    }
    (node,) = [i for i in found.values() if i["service"] == NODE]
    assert "checkout" in node["hosts_services"]
    assert sink.alerts == [] and sink.anomalies == []  # nothing reached Temporal


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({"Content-Type": "application/json"}, None, 401),
        ({**HEADERS, "Authorization": "Bearer wrong"}, None, 401),
        (HEADERS, '{"version": "4", "alerts": "no"}', 422),
        (HEADERS, "not json", 422),
    ],
)
async def test_explain_refuses_what_the_webhook_refuses(
    headers: dict[str, str], content: str | None, status: int
) -> None:
    sink = FakeSink()
    async with _app(sink) as http:
        body = content if content is not None else _body("KubePodCrashLooping/shop/checkout")
        response = await http.post("/explain", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert sink.alerts == []


async def test_explain_keeps_the_webhooks_limits() -> None:
    async with _app(FakeSink(), max_alerts=1) as http:
        body = _body("KubePodCrashLooping/shop/checkout", "KubePodCrashLooping/payments/payments")
        response = await http.post("/explain", content=body, headers=HEADERS)
    assert response.status_code == 413, response.text
    assert "MEDIC_MAX_ALERTS_PER_DELIVERY" in response.text


async def test_broken_runbooks_are_the_servers_problem_not_the_callers(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: bad\nsteps: nope\n")
    async with _app(FakeSink(), runbooks=tmp_path) as http:
        response = await http.post(
            "/explain", content=_body("KubePodCrashLooping/shop/checkout"), headers=HEADERS
        )
    assert response.status_code == 500 and "medic check" in response.text
