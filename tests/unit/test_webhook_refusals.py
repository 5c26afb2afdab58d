"""A webhook-token mismatch (a rotation done in Alertmanager before Medic, a GitOps render that made a new
token) got 401 on every delivery: Alertmanager does not retry a 4xx, so each alert was lost, and the
API said nothing in its log. Now each refused delivery is logged at WARNING, at most once a minute per
route and code with the number refused since (never the token); MEDIC_WEBHOOK_TOKEN_PREVIOUS is taken
beside the new token during a rotation, counted and logged, so neither side need change first."""

import dataclasses
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.api.refusals import RefusalLog
from service.settings import Settings
from tests.unit.test_api import FIRING, FakeReader, FakeSink

NEW, OLD, STALE = "new-webhook-token-0123456789", "old-webhook-token-9876543210", "stale-token-abcdef012345"
LOGGER = "service.api.refusals"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _app(settings: Settings, clock: Clock) -> FastAPI:
    async def ready() -> bool:
        return True

    app = create_app(settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready)
    app.state.deps = dataclasses.replace(app.state.deps, refusals=RefusalLog(clock=clock))
    return app


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def http(clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr(NEW),
        webhook_token_previous=SecretStr(OLD),
        max_body_bytes=64 * 1024,
    )
    transport = httpx.ASGITransport(app=_app(settings, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as client:
        yield client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


async def test_a_stale_token_is_logged_once_a_minute_with_the_count_never_the_token(
    http: httpx.AsyncClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for _ in range(6):
        answer = await http.post("/webhooks/alertmanager", json=FIRING, headers=_bearer(STALE))
        assert answer.status_code == 401
        clock.now += 5
    (first,) = _warnings(caplog)
    assert first.startswith("webhook alertmanager refused a delivery with 401, missing or wrong credentials")
    assert "MEDIC_WEBHOOK_TOKEN" in first and "Bearer credentials" in first and "lost" in first
    clock.now += 60
    await http.post("/webhooks/alertmanager", json=FIRING, headers={})
    await http.post("/webhooks/anomaly", json=FIRING, headers=_bearer(STALE))  # another route: its own line
    said = _warnings(caplog)
    assert len(said) == 3, said
    assert "no Authorization header" in said[1] and "5 more since the last such line" in said[1]
    assert said[2].startswith("webhook anomaly refused a delivery with 401")
    assert not any(token in line for line in said for token in (STALE, NEW, OLD))


async def test_a_body_refused_is_logged_with_what_was_wrong(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    answer = await http.post("/webhooks/alertmanager", json={"alerts": "no"}, headers=_bearer(NEW))
    assert answer.status_code == 422
    too_big = await http.post("/webhooks/alertmanager", content=b"x" * (65 * 1024), headers=_bearer(NEW))
    assert too_big.status_code == 413
    unreadable, over = _warnings(caplog)
    assert "with 422, a body Medic cannot read" in unreadable
    assert "with 413, over a size limit" in over


async def test_the_previous_token_is_taken_during_a_rotation_counted_and_logged(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    for token in (NEW, OLD, OLD):
        answer = await http.post("/webhooks/alertmanager", json=FIRING, headers=_bearer(token))
        assert answer.status_code == 200, answer.text
    assert (await http.get("/incidents", headers=_bearer(OLD))).status_code == 200
    (said,) = _warnings(caplog)
    assert "used MEDIC_WEBHOOK_TOKEN_PREVIOUS" in said and OLD not in said
    metrics = (await http.get("/metrics")).text
    assert 'medic_webhook_previous_token_total{route="alertmanager"} 2.0' in metrics
    assert 'medic_webhook_requests_total{code="200",route="alertmanager"} 3.0' in metrics
    # the refusals Alertmanager does not retry exist at 0, so that the alert sees a pod's first one
    assert 'medic_webhook_requests_total{code="401",route="anomaly"} 0.0' in metrics


async def test_without_a_previous_token_the_old_one_is_refused(clock: Clock) -> None:
    settings = Settings(_env_file=None, webhook_token=SecretStr(NEW))
    transport = httpx.ASGITransport(app=_app(settings, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as http:
        answer = await http.post("/webhooks/alertmanager", json=FIRING, headers=_bearer(OLD))
        assert answer.status_code == 401
        assert (await http.get("/incidents", headers=_bearer(OLD))).status_code == 401


async def test_a_pagerduty_opsgenie_or_jira_secret_that_differs_is_counted_and_said_as_acks_not_arriving(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A signing secret changed on one side: every acknowledgement made in PagerDuty or Opsgenie was
    refused, Medic went on paging the secondary and the manager, and neither the metrics nor the log
    said so (these routes were not counted)."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    settings = Settings(
        _env_file=None,
        webhook_token=SecretStr(NEW),
        pagerduty_webhook_secret=SecretStr("pd-secret-0123456789"),
        opsgenie_webhook_secret=SecretStr("og-secret-0123456789"),
        jira_webhook_secret=SecretStr("jira-secret-0123456789"),
    )
    transport = httpx.ASGITransport(app=_app(settings, clock))
    async with httpx.AsyncClient(transport=transport, base_url="http://medic") as http:
        before = (await http.get("/metrics")).text
        assert 'medic_webhook_requests_total{code="401",route="pagerduty"} 0.0' in before
        assert 'medic_webhook_requests_total{code="401",route="opsgenie"} 0.0' in before
        signed_otherwise = {"X-PagerDuty-Signature": "v1=" + "0" * 64}
        for _ in range(2):
            pd = await http.post("/webhooks/pagerduty", content=b'{"event": {}}', headers=signed_otherwise)
            assert pd.status_code == 401
        og = await http.post("/webhooks/opsgenie", json={"action": "Acknowledge"}, headers=_bearer(STALE))
        assert og.status_code == 401
        jira = await http.post("/webhooks/jira", json={"webhookEvent": "jira:issue_updated"})
        assert jira.status_code == 401
        slack = await http.post("/slack/commands", content=b"command=/medic")
        assert slack.status_code == 401
        metrics = (await http.get("/metrics")).text
    assert 'medic_webhook_requests_total{code="401",route="pagerduty"} 2.0' in metrics
    assert 'medic_webhook_requests_total{code="401",route="opsgenie"} 1.0' in metrics
    assert 'medic_webhook_requests_total{code="401",route="slack"} 1.0' in metrics
    assert 'medic_webhook_requests_total{code="401",route="jira"} 1.0' in metrics
    pd_line, og_line, jira_line, slack_line = _warnings(caplog)
    assert "MEDIC_JIRA_WEBHOOK_SECRET" in jira_line and "goes on escalating" in jira_line
    assert pd_line.startswith("webhook pagerduty refused a delivery with 401, not signed with ")
    assert "MEDIC_PAGERDUTY_WEBHOOK_SECRET" in pd_line and "goes on escalating" in pd_line
    assert "Alertmanager" not in pd_line
    assert "MEDIC_OPSGENIE_WEBHOOK_SECRET" in og_line and "goes on escalating" in og_line
    assert "Bearer credentials" in og_line and STALE not in og_line
    assert "MEDIC_SLACK_SIGNING_SECRET" in slack_line and "command or button was refused" in slack_line
