"""A secret that lets requests in is never the empty string: set empty (an optional key of an existing
Secret left blank, ``MEDIC_OPERATOR_TOKEN=`` in a ``.env``) it is unset, and one of whitespace only is
refused at start. Empty, it was a credential anyone could present: basic auth ``x:`` flipped the kill
switch and read every incident, and Slack requests signed with the empty key ran `/medic` commands."""

import base64
import hashlib
import hmac
import time
from typing import cast

import httpx
import pytest
from pydantic import ValidationError
from temporalio.client import Client

from medic.catalog import Catalog
from medic.routing import RoutingPolicy
from service.api import create_app
from service.control import Controls as Controls_
from service.incidents import TemporalIncidentReader
from service.postmortems import Postmortems
from service.runner import build_slack_endpoint
from service.settings import Settings
from tests.unit.test_api import TOKEN, FakeReader, FakeSink
from tests.unit.test_operator_token import Controls

# The secrets requests to Medic are checked against.
INBOUND = (
    "webhook_token",
    "webhook_token_previous",
    "operator_token",
    "read_token",
    "link_secret",
    "slack_signing_secret",
    "pagerduty_webhook_secret",
    "opsgenie_webhook_secret",
    "jira_webhook_secret",
)
EMPTY_PASSWORD = {"Authorization": "Basic " + base64.b64encode(b"anyone:").decode()}


def _env(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    for name, value in values.items():
        monkeypatch.setenv(f"MEDIC_{name.upper()}", value)
    return Settings(_env_file=None)


@pytest.mark.parametrize("field", INBOUND)
def test_an_empty_secret_is_unset(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    assert getattr(_env(monkeypatch, **{field: ""}), field) is None


@pytest.mark.parametrize("value", [" ", "\t", " \n"])
@pytest.mark.parametrize("field", INBOUND)
def test_a_whitespace_secret_is_refused(monkeypatch: pytest.MonkeyPatch, field: str, value: str) -> None:
    with pytest.raises(ValidationError, match="is only whitespace"):
        _env(monkeypatch, **{field: value})


def test_a_secret_with_spaces_inside_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _env(monkeypatch, operator_token="two words")
    assert settings.operator_token is not None
    assert settings.operator_token.get_secret_value() == "two words"


async def test_empty_operator_and_read_tokens_let_nobody_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe: MEDIC_OPERATOR_TOKEN and MEDIC_READ_TOKEN set empty, basic auth with an empty password
    turned the kill switch on (200, recorded as api:operator-token) and listed the incidents."""
    settings = _env(monkeypatch, webhook_token=TOKEN, operator_token="", read_token="")
    controls = Controls()

    async def ready() -> bool:
        return True

    app = create_app(
        settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready, controls=controls
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        switched = await http.put("/control/kill-switch", json={"on": True}, headers=EMPTY_PASSWORD)
        listed = await http.get("/incidents", headers=EMPTY_PASSWORD)
        delivered = await http.post("/webhooks/alertmanager", json={}, headers=EMPTY_PASSWORD)
    assert (switched.status_code, listed.status_code, delivered.status_code) == (401, 401, 401)
    assert controls.switches == []


async def test_a_request_signed_with_the_empty_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set empty, the signing secret was the HMAC key: anyone could sign a `/medic` command (an approve,
    a resolve) as any user id. The Slack endpoint is built as `medic api` builds it."""
    settings = _env(monkeypatch, webhook_token=TOKEN, slack_signing_secret="")
    reader = FakeReader()
    endpoint = build_slack_endpoint(
        settings,
        cast(Client, None),
        Catalog(),
        reader=cast(TemporalIncidentReader, reader),
        controls=cast(Controls_, Controls()),
        postmortems=Postmortems(settings, reader),
        policy=RoutingPolicy(),
    )

    async def ready() -> bool:
        return True

    app = create_app(
        settings, catalog=Catalog(), sink=FakeSink(), reader=reader, ready=ready, slack_endpoint=endpoint
    )
    body = b"command=%2Fmedic&text=help&user_id=U0SRE1&response_url=https%3A%2F%2Fhooks.slack.com%2Fx"
    stamp = str(int(time.time()))
    signature = "v0=" + hmac.new(b"", f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
        "Content-Type": "application/x-www-form-urlencoded",
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        answer = await http.post("/slack/commands", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert endpoint is None
