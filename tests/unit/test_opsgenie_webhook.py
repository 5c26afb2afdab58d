"""POST /webhooks/opsgenie: Opsgenie's Webhook integration (alert action data) reaching the incident
through the same updates the Slack buttons and PagerDuty's webhook use. A team paged by Opsgenie, with
Teams and no Slack, had no way to acknowledge: an ack in Opsgenie's app was ignored and the incident
escalated to the manager. Found by a field walk-through."""

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.opsgenie import (
    CLOSED_REASON,
    MEDIC_SOURCE,
    MEDIC_USER,
    OpsgenieAction,
    OpsgenieIgnored,
    WebhookRejected,
    incident_of,
    parse_event,
    verify_secret,
)
from service.settings import Settings
from tests.doubles.opsgenie import webhook_payload
from tests.unit.test_api import FakeReader, FakeSink
from tests.unit.test_pagerduty_webhook import FakePeople

SECRET = "og-shared-secret"
INCIDENT = "incident-orders-db"
# The documented example (https://docs.opsgenie.com/docs/marid-alert-action-data, "Acknowledge"), with
# Medic's alias: what Opsgenie posts when someone acknowledges in its web app.
DOCUMENTED_ACK: dict[str, Any] = {
    "source": {"name": "", "type": "web"},
    "alert": {
        "updatedAt": 1420452224764002246,
        "tags": ["tag1", "tag2"],
        "message": "test alert",
        "username": "fili@ifountain.com",
        "alertId": "052652ac-5d1c-464a-812a-7dd18bbfba8c",
        "source": "fili@ifountain.com",
        "alias": INCIDENT,
        "tinyId": "23",
        "createdAt": 1420452191104,
        "userId": "daed1180-0ce8-438b-8f8e-57e1a5920a2d",
        "entity": "",
    },
    "action": "Acknowledge",
    "integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d",
    "integrationName": "Integration1",
}


def action(verb: str, *, alias: str = INCIDENT, username: str = "fili@ifountain.com", **source: str) -> bytes:
    payload = json.loads(json.dumps(DOCUMENTED_ACK))
    payload["action"] = verb
    payload["alert"]["alias"] = alias
    payload["alert"]["username"] = username
    payload["source"].update(source)
    return json.dumps(payload).encode()


def test_the_secret_is_taken_as_a_header_a_bearer_or_a_basic_password_only() -> None:
    verify_secret(SECRET, token=SECRET, authorization=None)
    verify_secret(SECRET, token=None, authorization=f"Bearer {SECRET}")
    basic = base64.b64encode(f"opsgenie:{SECRET}".encode()).decode()
    verify_secret(SECRET, token=None, authorization=f"Basic {basic}")
    verify_secret(SECRET, token="wrong", authorization=f"Basic {basic}")
    wrong = base64.b64encode(f"{SECRET}:nope".encode()).decode()  # the secret as user is not enough
    for token, authorization in (
        (None, None),
        ("", ""),
        (SECRET + "x", None),
        (None, f"Basic {wrong}"),
        (None, "Basic !!!"),
        (None, f"GenieKey {SECRET}"),
    ):
        with pytest.raises(WebhookRejected):
            verify_secret(SECRET, token=token, authorization=authorization)
    with pytest.raises(WebhookRejected, match="not configured"):
        verify_secret(None, token=SECRET, authorization=None)


def test_the_incident_is_the_alias_up_to_its_key() -> None:
    assert incident_of(INCIDENT) == INCIDENT
    assert incident_of(f"{INCIDENT}:checkout-secondary") == INCIDENT  # a later escalation level's alert
    assert incident_of("aliastest") is None and incident_of("") is None and incident_of(None) is None


def test_the_documented_actions() -> None:
    ack = parse_event(json.dumps(DOCUMENTED_ACK).encode())
    assert isinstance(ack, OpsgenieAction)
    assert (ack.verb, ack.incident_id, ack.actor) == ("acknowledge", INCIDENT, "fili@ifountain.com")
    close = parse_event(action("Close", alias=f"{INCIDENT}:boss", type="mobile"))
    assert isinstance(close, OpsgenieAction)
    assert (close.verb, close.incident_id, close.reason) == ("resolve", INCIDENT, CLOSED_REASON)
    for name in ("Create", "UnAcknowledge", "AddNote", "Delete", "TakeOwnership", "Escalate", "Restart"):
        ignored = parse_event(action(name))
        assert isinstance(ignored, OpsgenieIgnored) and ignored.incident_id == INCIDENT, name


def test_medic_s_own_actions_and_opsgenie_s_are_ignored() -> None:
    for body in (
        action("Acknowledge", username=MEDIC_USER, type="API"),
        action("Close", username=MEDIC_USER, type="API"),
        action("Close", username="", name=MEDIC_SOURCE, type="API"),  # named by its source alone
        action("Close", username="System", type="system"),  # an auto-close policy: nobody closed it
    ):
        found = parse_event(body)
        assert isinstance(found, OpsgenieIgnored), body


@pytest.fixture
def people() -> FakePeople:
    return FakePeople()


@pytest.fixture
async def http(people: FakePeople) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None, webhook_token=SecretStr("t"), opsgenie_webhook_secret=SecretStr(SECRET)
    )
    app = create_app(
        settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready, people=people
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        yield client


async def post(http: httpx.AsyncClient, body: bytes, token: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Medic-Token"] = token
    return await http.post("/webhooks/opsgenie", content=body, headers=headers)


async def test_acknowledge_and_close_in_opsgenie_reach_the_incident(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    answer = await post(http, json.dumps(DOCUMENTED_ACK).encode())
    assert answer.status_code == 202
    assert answer.json() == {"handled": True, "incident": INCIDENT, "ignored": None}
    answer = await post(http, action("Close", alias=f"{INCIDENT}:data-2", username="jane@shop.example"))
    assert answer.status_code == 202 and answer.json()["handled"] is True
    assert people.calls == [
        ("acknowledge", INCIDENT, "fili@ifountain.com", "opsgenie"),
        ("resolve", INCIDENT, "jane@shop.example", CLOSED_REASON),
    ]


async def test_without_the_secret_is_401_and_changes_nothing(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    body = json.dumps(DOCUMENTED_ACK).encode()
    assert (await post(http, body, token=None)).status_code == 401
    assert (await post(http, body, token="og-shared-secreT")).status_code == 401
    basic = base64.b64encode(f"x:{SECRET}".encode()).decode()
    answer = await http.post("/webhooks/opsgenie", content=body, headers={"Authorization": f"Basic {basic}"})
    assert answer.status_code == 202
    assert people.calls == [("acknowledge", INCIDENT, "fili@ifountain.com", "opsgenie")]


async def test_not_configured_is_401(people: FakePeople) -> None:
    async def ready() -> bool:
        return True

    app = create_app(
        Settings(_env_file=None, webhook_token=SecretStr("t")),
        catalog=Catalog(),
        sink=FakeSink(),
        reader=FakeReader(),
        ready=ready,
        people=people,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        # the webhook token is no Opsgenie secret either
        for token in (SECRET, "t"):
            answer = await post(client, json.dumps(DOCUMENTED_ACK).encode(), token=token)
            assert answer.status_code == 401
    assert people.calls == []


async def test_malformed_and_oversized_bodies_are_refused(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    for body in (b"", b"not json", b"[]", b'{"action": "Acknowledge"}', b'{"action": 1, "alert": {}}'):
        answer = await post(http, body)
        assert answer.status_code == 400, body
        assert "not an Opsgenie webhook payload" in answer.json()["detail"]
    assert (await post(http, b'{"alert": {}}')).json()["detail"].endswith("action: Field required")
    assert (await post(http, b" " * (256 * 1024 + 1))).status_code == 413
    assert people.calls == []


async def test_other_actions_alerts_and_medic_s_own_are_accepted_and_ignored(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    cases = {
        action("AddNote"): "AddNote: Medic acts on Acknowledge and Close",
        action("UnAcknowledge"): "UnAcknowledge: Medic acts on Acknowledge and Close",
        action("Acknowledge", alias="aliastest"): "not an alert Medic opened (its alias is no incident id)",
        action("Acknowledge", username=MEDIC_USER, type="API"): "Acknowledge sent by Medic itself",
        action("Close", username=MEDIC_USER, type="API"): "Close sent by Medic itself",
        action("Close", username="System"): "Close by Opsgenie itself, not a person",
    }
    for body, why in cases.items():
        answer = await post(http, body)
        assert answer.status_code == 202 and answer.json()["handled"] is False
        assert answer.json()["ignored"] == why
    assert people.calls == []


async def test_a_payload_made_by_the_double_is_understood(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    body = webhook_payload(
        "Acknowledge", alias=f"{INCIDENT}:boss", username="ann@shop.example", alert_id="a1"
    )
    assert (await post(http, json.dumps(body).encode())).json()["handled"] is True
    assert people.calls == [("acknowledge", INCIDENT, "ann@shop.example", "opsgenie")]


async def test_temporal_down_is_503(http: httpx.AsyncClient, people: FakePeople) -> None:
    people.down = True
    answer = await post(http, json.dumps(DOCUMENTED_ACK).encode())
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
