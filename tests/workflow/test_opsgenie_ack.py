"""A team paged by Opsgenie, chatting in Teams, with no Slack and no PagerDuty, acknowledges in Opsgenie's
app: Opsgenie's Webhook integration posts the action to POST /webhooks/opsgenie, the incident is
acknowledged by that person, the next level is not paged, Teams is told, and the postmortem names who
acknowledged. Before, nobody could acknowledge: the ack was ignored, the manager was paged, and the
postmortem said "never acknowledged". Found by a field walk-through."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from temporalio.client import Client

from medic.alerts import AlertStatus
from medic.catalog import Catalog
from medic.incident import IncidentStatus
from service.api import create_app
from service.opsgenie import MEDIC_USER
from service.people import IncidentPeople
from service.settings import Settings
from tests.unit.test_api import FakeReader, FakeSink
from tests.workflow.opsgenie_stack import INCIDENT, KEYS, T0, OpsgenieStack, batch, burn, opsgenie_stack
from tests.workflow.test_notifications import until
from workflows.incident import IncidentWorkflow

__all__ = ["opsgenie_stack"]

SECRET = "og-webhook-secret"
ACK = "Acknowledged by jane@shop.example (opsgenie)."


async def deliver(client: Client, payload: dict[str, Any]) -> httpx.Response:
    """An Opsgenie Webhook integration post, with the shared secret as its custom header, through the real
    API app acting on incidents through ``client``."""

    async def ready() -> bool:
        return True

    settings = Settings(
        _env_file=None, webhook_token=SecretStr("t"), opsgenie_webhook_secret=SecretStr(SECRET)
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
            "/webhooks/opsgenie", content=json.dumps(payload).encode(), headers={"X-Medic-Token": SECRET}
        )


async def test_ack_in_opsgenie_stops_escalation(opsgenie_stack: OpsgenieStack, tmp_path: Path) -> None:
    s = opsgenie_stack
    async with s.worker:
        handle = await s.open(batch(burn()))
        await until(handle, lambda st: st.notifications.pages.get("checkout") == "trigger", "level 1")
        await s.env.sleep(timedelta(minutes=3))
        answer = await deliver(
            s.env.client, s.opsgenie.act_in_app(INCIDENT, "Acknowledge", username="jane@shop.example")
        )
        assert answer.status_code == 202
        assert answer.json() == {"handled": True, "incident": INCIDENT, "ignored": None}
        state = await until(handle, lambda st: st.status is IncidentStatus.ACKNOWLEDGED, "the ack")
        assert state.acknowledged_by == "jane@shop.example"
        await until(handle, lambda st: st.notifications.pages.get("checkout") == "acknowledge", "ack sent")
        await s.env.sleep(timedelta(hours=1))  # level 2 was due at 5 minutes, the manager at 15
        state = await handle.query(IncidentWorkflow.state)
        assert set(state.notifications.pages) == {"checkout"}
        assert [a.alias for a in s.opsgenie.alerts()] == [INCIDENT]
        assert s.creates_by_key() == [KEYS["checkout"]]
        assert [e.message for e in state.timeline].count(ACK) == 1
        # What Medic sent Opsgenie through the API (its acknowledge, its notes) comes back through the
        # Webhook integration under Medic's name: accepted and ignored, no second ack, no loop.
        echoes = s.opsgenie.posted_back(INCIDENT)
        assert "Acknowledge" in [e["action"] for e in echoes]
        assert {e["alert"]["username"] for e in echoes} == {MEDIC_USER}  # the adapter names itself
        for echo in echoes:
            answer = await deliver(s.env.client, echo)
            assert answer.status_code == 202 and answer.json()["handled"] is False, echo
        await handle.signal(
            IncidentWorkflow.alerts, batch(burn(AlertStatus.RESOLVED), at=T0 + timedelta(minutes=70))
        )
        result = await handle.result()
        for echo in s.opsgenie.posted_back(INCIDENT):  # Medic's close too
            assert (await deliver(s.env.client, echo)).json()["handled"] is False
        state = await handle.query(IncidentWorkflow.state)
    assert result.status is IncidentStatus.RESOLVED and state.acknowledged_by == "jane@shop.example"
    assert [e.message for e in state.timeline].count(ACK) == 1
    assert state.resolved_by is None  # resolved by its alerts, not by Medic's own close coming back
    assert s.opsgenie.alert(INCIDENT).status == "closed"
    # Teams, the team's chat: told who acknowledged, once; never "paging" the next levels.
    texts = s.teams_texts()
    assert sum(ACK in t for t in texts) == 1
    assert not any("Escalation level 2" in t or "Escalation level 3" in t for t in texts), texts
    assert s.slack.posts == []  # no Slack here
    (postmortem,) = (tmp_path / "pm" / INCIDENT).glob("*/postmortem.md")
    text = postmortem.read_text()
    assert "jane@shop.example" in text and "never acknowledged" not in text


async def test_close_in_opsgenie_of_a_later_level_resolves_the_incident(
    opsgenie_stack: OpsgenieStack,
) -> None:
    """The secondary closes the alert their integration got (alias ``<incident id>:<key>``) by hand."""
    s = opsgenie_stack
    secondary = f"{INCIDENT}:checkout-secondary"
    async with s.worker:
        handle = await s.open(batch(burn()))
        await s.env.sleep(timedelta(minutes=6))
        await until(
            handle, lambda st: st.notifications.pages.get("checkout-secondary") == "trigger", "level 2"
        )
        answer = await deliver(
            s.env.client, s.opsgenie.act_in_app(secondary, "Close", username="sam@shop.example")
        )
        assert answer.status_code == 202 and answer.json()["handled"] is True
        result = await handle.result()
        state = await handle.query(IncidentWorkflow.state)
        assert (
            await deliver(
                s.env.client, s.opsgenie.act_in_app(secondary, "Close", username="sam@shop.example")
            )
        ).json() == {
            "handled": False,
            "incident": INCIDENT,
            "ignored": "the incident is resolved, merged or gone",
        }
    assert result.status is IncidentStatus.RESOLVED and state.resolved_by == "sam@shop.example"
    assert "Resolved by sam@shop.example (opsgenie): closed in Opsgenie." in [
        e.message for e in state.timeline
    ]
    assert "eng-managers" not in state.notifications.pages
    assert {a.alias: a.status for a in s.opsgenie.alerts()} == {INCIDENT: "closed", secondary: "closed"}
