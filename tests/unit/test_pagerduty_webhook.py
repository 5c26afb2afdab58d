"""POST /webhooks/pagerduty: PagerDuty's own signature vectors, and each event type reaching the
incident through the same updates the Slack buttons use (issue 15)."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import SecretStr
from temporalio.service import RPCError, RPCStatusCode

from medic.catalog import Catalog
from medic.incident import IncidentStatus
from service.api import create_app
from service.pagerduty import WebhookRejected, parse_event, sign, verify_signature
from service.settings import Settings
from tests.unit.test_api import FakeReader, FakeSink
from workflows.incident import FromJira, UpdateResult
from workflows.people import Note

VECTOR = json.loads(
    (Path(__file__).parents[1] / "fixtures/pagerduty/go_pagerduty_webhookv3_vector.json").read_text()
)
SECRET = "whsec-medic-test"
INCIDENT = "incident-orders-db"


def test_pagerduty_signature_vectors() -> None:
    body = VECTOR["body"].encode()
    verify_signature(VECTOR["secret"], body, VECTOR["valid"])
    # Several signatures (a secret rotation): one match is enough, wherever it is.
    verify_signature(VECTOR["secret"], body, f"{VECTOR['mismatch']},{VECTOR['valid']}")
    verify_signature(VECTOR["secret"], body, f"v1=zz, {VECTOR['valid']}")
    for header in (VECTOR["mismatch"], None, "", VECTOR["valid"][3:], "v0=" + VECTOR["valid"][3:]):
        with pytest.raises(WebhookRejected):
            verify_signature(VECTOR["secret"], body, header)
    with pytest.raises(WebhookRejected):
        verify_signature(VECTOR["secret"], body + b" ", VECTOR["valid"])  # the raw body, unaltered
    with pytest.raises(WebhookRejected):
        verify_signature(None, body, VECTOR["valid"])  # not configured
    assert sign(VECTOR["secret"], body) == VECTOR["valid"]


def test_the_documented_payload_is_not_a_medic_incident() -> None:
    # incident.priority_updated, and no incident_key Medic made: nothing to do.
    assert parse_event(VECTOR["body"].encode()) is None


def event(event_type: str, *, key: str | None = INCIDENT, **data: Any) -> bytes:
    payload = json.loads(VECTOR["body"])
    payload["event"]["event_type"] = event_type
    if key is not None:
        payload["event"]["data"]["incident_key"] = key
    payload["event"]["data"].update(data)
    return json.dumps(payload).encode()


class FakePeople:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []
        self.jira: list[FromJira | None] = []  # the issue each acknowledge or resolve came from
        self.down = False

    def _result(self, status: IncidentStatus) -> UpdateResult:
        return UpdateResult(incident_id=INCIDENT, status=status, acknowledged_by=None, resolved_by=None)

    async def take(
        self,
        incident_id: str,
        verb: Literal["acknowledge", "resolve"],
        *,
        actor: str,
        source: str,
        reason: str = "",
        jira: FromJira | None = None,
    ) -> UpdateResult | None:
        if self.down:
            raise RPCError("unavailable", RPCStatusCode.UNAVAILABLE, b"")
        self.calls.append((verb, incident_id, actor, source if verb == "acknowledge" else reason))
        self.jira.append(jira)
        return self._result(IncidentStatus.ACKNOWLEDGED if verb == "acknowledge" else IncidentStatus.RESOLVED)

    async def note(self, incident_id: str, note: Note) -> bool:
        self.calls.append(("note", incident_id, note.actor, note.message))
        return True


@pytest.fixture
def people() -> FakePeople:
    return FakePeople()


@pytest.fixture
async def http(people: FakePeople) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None, webhook_token=SecretStr("t"), pagerduty_webhook_secret=SecretStr(SECRET)
    )
    app = create_app(
        settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready, people=people
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        yield client


async def post(http: httpx.AsyncClient, body: bytes, signature: str | None = "sign") -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = sign(SECRET, body)
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    return await http.post("/webhooks/pagerduty", content=body, headers=headers)


async def test_acknowledge_and_resolve_in_pagerduty_reach_the_incident(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    answer = await post(http, event("incident.acknowledged"))
    assert answer.status_code == 202 and answer.json() == {"handled": True, "incident": INCIDENT}
    answer = await post(
        http,
        event(
            "incident.resolved",
            resolve_reason={
                "type": "merge_resolve_reason",
                "incident": {"id": "PX1", "summary": "db outage"},
            },
        ),
    )
    assert answer.status_code == 202
    assert people.calls == [
        ("acknowledge", INCIDENT, "Tenex Engineer", "pagerduty"),
        ("resolve", INCIDENT, "Tenex Engineer", "merged in PagerDuty into db outage"),
    ]


async def test_reassign_and_escalate_are_noted_with_who(http: httpx.AsyncClient, people: FakePeople) -> None:
    for kind in ("incident.reassigned", "incident.escalated"):
        assert (await post(http, event(kind))).status_code == 202
    assert people.calls == [
        ("note", INCIDENT, "Tenex Engineer", "Reassigned in PagerDuty by Tenex Engineer to User 123."),
        ("note", INCIDENT, "Tenex Engineer", "Escalated in PagerDuty by Tenex Engineer to User 123."),
    ]


async def test_unsigned_or_forged_is_401_and_changes_nothing(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    body = event("incident.acknowledged")
    assert (await post(http, body, signature=None)).status_code == 401
    assert (await post(http, body, signature=VECTOR["valid"])).status_code == 401  # another secret's
    assert (await post(http, body, signature=sign(SECRET, body + b"\n"))).status_code == 401
    assert people.calls == []


async def test_other_events_and_incidents_are_accepted_and_ignored(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    for body in (event("incident.priority_updated"), event("incident.acknowledged", key="d3640fbd41094207")):
        answer = await post(http, body)
        assert answer.status_code == 202 and answer.json()["handled"] is False
    assert (await post(http, b'{"event": 1}')).status_code == 400
    assert people.calls == []


async def test_temporal_down_is_503(http: httpx.AsyncClient, people: FakePeople) -> None:
    people.down = True
    answer = await post(http, event("incident.acknowledged"))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
