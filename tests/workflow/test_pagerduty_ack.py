"""Issue 15: an acknowledgement made in PagerDuty (a signed v3 webhook) stops Medic's escalation and is
on the timeline with who did it; a resolution there resolves the incident once."""

from datetime import timedelta

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from medic.catalog import Catalog
from medic.incident import IncidentStatus
from service.api import create_app
from service.pagerduty import sign
from service.people import IncidentPeople
from service.settings import Settings
from tests.unit.test_api import FakeReader, FakeSink
from tests.unit.test_pagerduty_webhook import event
from tests.workflow.test_notifications import Harness, harness, open_incident, pages, until  # noqa: F401
from workflows.incident import IncidentWorkflow

SECRET = "whsec-pagerduty"


async def deliver(client: Client, body: bytes) -> httpx.Response:
    """A signed PagerDuty webhook through the real API app, acting on incidents through ``client``."""

    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None, webhook_token=SecretStr("t"), pagerduty_webhook_secret=SecretStr(SECRET)
    )
    app = create_app(
        settings,
        catalog=Catalog(),
        sink=FakeSink(),
        reader=FakeReader(),
        ready=ready,
        people=IncidentPeople(client),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://medic") as http:
        return await http.post(
            "/webhooks/pagerduty", content=body, headers={"X-PagerDuty-Signature": sign(SECRET, body)}
        )


async def test_ack_in_pagerduty_stops_escalation(harness: Harness) -> None:  # noqa: F811
    h = harness
    async with h.worker():
        handle = await open_incident(h)
        await until(handle, lambda s: s.notifications.pages.get("data") == "trigger", "the first page")
        await h.env.sleep(timedelta(minutes=3))
        answer = await deliver(h.env.client, event("incident.acknowledged"))
        assert answer.status_code == 202 and answer.json()["handled"] is True
        await until(handle, lambda s: s.status is IncidentStatus.ACKNOWLEDGED, "the ack")
        await h.env.sleep(timedelta(hours=1))  # level 2 was due at 5 minutes
        assert pages(h) == [("trigger", "data"), ("acknowledge", "data")]
        state = await handle.query(IncidentWorkflow.state)
        assert "Acknowledged by Tenex Engineer (pagerduty)." in [e.message for e in state.timeline]
        answer = await deliver(h.env.client, event("incident.resolved"))
        assert answer.json()["handled"] is True
        result = await handle.result()
        assert result.status is IncidentStatus.RESOLVED
        again = await deliver(
            h.env.client, event("incident.resolved")
        )  # a redelivery: accepted, nothing to do
        assert again.status_code == 202 and again.json()["handled"] is False
    assert pages(h).count(("resolve", "data")) == 1
