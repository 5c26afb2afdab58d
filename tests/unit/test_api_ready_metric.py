"""With Temporal down, the API's pods answer /readyz 503 and Kubernetes takes them out of the Service:
no delivery reaches them any more, so medic_temporal_unavailable_total (counted at delivery) stops, and no
alert saw the outage from the API's side. The readiness answer is now a gauge, medic_api_ready{reason}
(1 for the reason given, from a small fixed set), which Prometheus still scrapes from unready pods and
MedicApiNotReady alerts on."""

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.readiness import READY_CAUSES
from service.settings import Settings
from tests.unit.test_api import FakeReader, FakeSink


class Readiness:
    """TemporalReadiness's shape: awaited for the answer, ``reason`` and ``cause`` say why."""

    def __init__(self) -> None:
        self.cause, self.reason, self.checks = "ready", "", 0

    async def __call__(self) -> bool:
        self.checks += 1
        return self.cause == "ready"


@pytest.fixture
def readiness() -> Readiness:
    return Readiness()


@pytest.fixture
async def http(readiness: Readiness) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(_env_file=None, webhook_token=SecretStr("s3cret-token"))
    app = create_app(settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=readiness)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        yield client


def _ready_series(text: str) -> dict[str, float]:
    prefix = 'medic_api_ready{reason="'
    return {
        line[len(prefix) : line.index('"}')]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


async def test_the_readiness_answer_is_a_gauge_by_reason(
    http: httpx.AsyncClient, readiness: Readiness
) -> None:
    assert (await http.get("/readyz")).status_code == 200
    series = _ready_series((await http.get("/metrics")).text)
    assert series == {cause: 1.0 if cause == "ready" else 0.0 for cause in READY_CAUSES}

    readiness.cause, readiness.reason = "temporal_unreachable", "Temporal is unreachable"
    answer = await http.get("/readyz")
    assert answer.status_code == 503 and answer.json() == {"status": "Temporal is unreachable"}
    series = _ready_series((await http.get("/metrics")).text)
    assert series["temporal_unreachable"] == 1.0 and series["ready"] == 0.0
    assert sum(series.values()) == 1.0


async def test_a_scrape_with_no_probe_before_checks_readiness_itself(
    http: httpx.AsyncClient, readiness: Readiness
) -> None:
    readiness.cause = "namespace_not_found"
    series = _ready_series((await http.get("/metrics")).text)  # no /readyz asked yet (a local medic api)
    assert series["namespace_not_found"] == 1.0 and readiness.checks == 1
    await http.get("/metrics")
    assert readiness.checks == 1  # fresh enough: a scrape does not ask Temporal each time
