"""POST /webhooks/jira: a Jira webhook (Issue updated) reaching the incident whose issue moved, through
the updates the Slack buttons, PagerDuty's and Opsgenie's webhooks use. A team whose incident work lives
in Jira moved the issue to In Progress or Done and Medic never knew: it escalated on, and its timeline
said nobody acknowledged (a Jira walk-through, 2026-12-07)."""

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from medic.catalog import Catalog
from service.api import create_app
from service.jira_webhook import JiraAction, JiraIgnored, WebhookRejected, incident_of, parse_event, verify
from service.settings import Settings
from tests.doubles.jira_webhooks import hub_signature, status_event
from tests.unit.test_api import FakeReader, FakeSink
from tests.unit.test_pagerduty_webhook import FakePeople

SECRET = "jira-webhook-secret"
INCIDENT = "incident-orders-db"
LABELS = ["medic", "medic-p1", f"{INCIDENT}-20261207T120000Z"]
AT_MS = 1_796_647_200_000  # 2026-12-07T12:40:00Z


def moved(
    was: str, now: str, *, user: str = "alice@shop.example", cloud: bool = True, labels: list[str] = LABELS
) -> bytes:
    event = status_event(
        base="https://shop.atlassian.net",
        cloud=cloud,
        issue_id="10001",
        key="OPS-7",
        labels=labels,
        user=user,
        was=was,
        now=now,
        timestamp_ms=AT_MS,
    )
    return json.dumps(event).encode()


def test_a_signed_post_or_the_secret_itself_is_taken() -> None:
    body = moved("To Do", "Done")
    verify(SECRET, body, signature=hub_signature(SECRET, body), token=None, authorization=None)
    verify(
        SECRET,
        body,
        signature=hub_signature(SECRET, body).upper().replace("SHA256", "sha256"),
        token=None,
        authorization=None,
    )
    verify(SECRET, body, signature=None, token=SECRET, authorization=None)  # Automation's custom header
    verify(SECRET, body, signature=None, token=None, authorization=f"Bearer {SECRET}")
    basic = base64.b64encode(f"jira:{SECRET}".encode()).decode()
    verify(SECRET, body, signature=None, token=None, authorization=f"Basic {basic}")
    for signature, token in (
        (None, None),
        (hub_signature("another", body), None),  # signed with another secret
        (hub_signature(SECRET, body + b" "), None),  # the body changed on the way
        ("sha1=" + "0" * 40, None),
        (None, SECRET + "x"),
    ):
        with pytest.raises(WebhookRejected):
            verify(SECRET, body, signature=signature, token=token, authorization=None)
    with pytest.raises(WebhookRejected, match="not configured"):
        verify(None, body, signature=hub_signature(SECRET, body), token=None, authorization=None)


def test_the_incident_is_the_issues_occurrence_label() -> None:
    assert incident_of(LABELS) == INCIDENT
    assert incident_of(["medic", INCIDENT]) == INCIDENT  # an issue filed before occurrence labels
    assert incident_of(["medic", "ops", "Incident-X"]) is None


@pytest.mark.parametrize("cloud", [True, False], ids=["cloud", "datacenter"])
def test_in_progress_acknowledges_and_done_resolves(cloud: bool) -> None:
    ack = parse_event(moved("To Do", "In Progress", cloud=cloud))
    assert isinstance(ack, JiraAction)
    assert (ack.verb, ack.incident_id, ack.actor, ack.issue_key) == (
        "acknowledge",
        INCIDENT,
        "Alice",
        "OPS-7",
    )
    assert ack.at == datetime(2026, 12, 7, 12, 40, tzinfo=UTC)
    done = parse_event(moved("In Progress", "Resolved", cloud=cloud))
    assert isinstance(done, JiraAction)
    assert (done.verb, done.reason) == ("resolve", "moved OPS-7 to Resolved in Jira")
    back = parse_event(moved("Done", "To Do", cloud=cloud))
    assert isinstance(back, JiraIgnored) and back.incident_id == INCIDENT


def test_what_medic_leaves() -> None:
    other = parse_event(moved("To Do", "Done", labels=["ops"]))
    assert isinstance(other, JiraIgnored) and other.incident_id is None
    created = json.loads(moved("To Do", "Done"))
    created["webhookEvent"] = "jira:issue_created"
    assert isinstance(parse_event(json.dumps(created).encode()), JiraIgnored)
    commented = json.loads(moved("To Do", "Done"))
    commented["changelog"]["items"][0]["field"] = "labels"
    assert isinstance(parse_event(json.dumps(commented).encode()), JiraIgnored)
    # Medic's own move, where its Jira user shows in the event (Data Center: its user name).
    own = parse_event(moved("Open", "Resolved", user="medic-bot", cloud=False), medic_user="medic-bot")
    assert isinstance(own, JiraIgnored) and "Medic itself" in own.why
    with pytest.raises(ValueError, match="webhookEvent"):
        parse_event(b'{"issue": {}}')


@pytest.fixture
def people() -> FakePeople:
    return FakePeople()


@pytest.fixture
async def http(people: FakePeople) -> AsyncIterator[httpx.AsyncClient]:
    async def ready() -> bool:
        return True

    settings = Settings(_env_file=None, webhook_token=SecretStr("t"), jira_webhook_secret=SecretStr(SECRET))
    app = create_app(
        settings, catalog=Catalog(), sink=FakeSink(), reader=FakeReader(), ready=ready, people=people
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as client:
        yield client


async def post(http: httpx.AsyncClient, body: bytes, *, signed: bool = True) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signed:
        headers["X-Hub-Signature"] = hub_signature(SECRET, body)
    return await http.post("/webhooks/jira", content=body, headers=headers)


async def test_the_route(http: httpx.AsyncClient, people: FakePeople) -> None:
    assert (await post(http, moved("To Do", "In Progress"), signed=False)).status_code == 401
    answer = await post(http, moved("To Do", "In Progress"))
    assert answer.status_code == 202 and answer.json() == {
        "handled": True,
        "incident": INCIDENT,
        "ignored": None,
    }
    answer = await post(http, moved("In Progress", "Done"))
    assert answer.json()["handled"] is True
    assert people.calls == [
        ("acknowledge", INCIDENT, "Alice", "jira"),
        ("resolve", INCIDENT, "Alice", "moved OPS-7 to Done in Jira"),
    ]
    assert [(j.jira_key, j.jira_at) for j in people.jira if j] == [
        ("OPS-7", datetime(2026, 12, 7, 12, 40, tzinfo=UTC))
    ] * 2
    ignored = await post(http, moved("Done", "To Do"))
    assert ignored.status_code == 202 and ignored.json()["handled"] is False
    assert (await post(http, b'{"webhookEvent": 1}')).status_code == 400
    people.down = True
    answer = await post(http, moved("To Do", "In Progress"))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"


def _with_long_description(body: bytes, *, status: bool) -> bytes:
    """``body``'s event as Jira posts it when the person also edited the description (a resolve screen
    with a root-cause field, or an edit alone): the changelog carries the new text in full."""
    event = json.loads(body)
    described = {
        "field": "description",
        "fieldtype": "jira",
        "fieldId": "description",
        "from": None,
        "fromString": "",
        "to": None,
        "toString": "Root cause: the primary lost its disk. " * 20,  # 780 characters
    }
    event["changelog"]["items"] = [*(event["changelog"]["items"] if status else []), described]
    return json.dumps(event).encode()


async def test_a_long_field_changed_with_the_move_is_no_400(
    http: httpx.AsyncClient, people: FakePeople
) -> None:
    """A changelog value over 255 characters made the whole event a 400: an issue resolved on a screen
    that also took a long description left the incident open (and every description edit of a Medic
    issue raised MedicWebhookRefused)."""
    answer = await post(http, _with_long_description(moved("In Progress", "Done"), status=True))
    assert answer.status_code == 202 and answer.json()["handled"] is True
    assert people.calls == [("resolve", INCIDENT, "Alice", "moved OPS-7 to Done in Jira")]
    edited = await post(http, _with_long_description(moved("In Progress", "Done"), status=False))
    assert edited.status_code == 202 and edited.json()["handled"] is False
    assert people.calls == [("resolve", INCIDENT, "Alice", "moved OPS-7 to Done in Jira")]
