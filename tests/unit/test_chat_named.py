"""An incident of a service outside the catalog is found by the name people see: its id is
``incident-svc-<name>-<digest>``, and `/medic show payments-gateway` said "there is no incident" though
its title says "on payments-gateway" (a walk-through's leftover, 2026-12-06)."""

from typing import Any, cast

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.access import AccessPolicy
from medic.keys import service_incident_id
from service.chat.authz import Authorizer
from service.chat.runner import ChatRunner, SlackUser
from service.control import Controls
from service.incidents import IncidentDetail, IncidentNotFound, TemporalIncidentReader
from service.settings import Settings
from tests.unit.test_chat_silence import CHECKOUT, OneSilence

OUTSIDE = service_incident_id("payments-gateway", in_catalog=False)


class _Handle:
    def __init__(self, workflow_id: str, known: set[str]) -> None:
        self.id, self._known = workflow_id, known

    async def describe(self) -> object:
        if self.id not in self._known:
            raise RPCError("workflow not found", RPCStatusCode.NOT_FOUND, b"")
        return object()


class Temporal:
    def __init__(self, *known: str) -> None:
        self.known = set(known)

    def get_workflow_handle(self, workflow_id: str) -> _Handle:
        return _Handle(workflow_id, self.known)


class Reader:
    def __init__(self, *known: str) -> None:
        self.known = set(known)
        self.asked: list[str] = []

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        self.asked.append(incident_id)
        if incident_id not in self.known:
            raise IncidentNotFound(incident_id)
        fields: dict[str, Any] = {
            **CHECKOUT.model_dump(),
            "id": incident_id,
            "services": ["payments-gateway"],
        }
        return IncidentDetail(**fields, severity="critical", alerts=[], anomalies=[], timeline=[])


def _runner(temporal: Temporal, reader: Reader) -> ChatRunner:
    return ChatRunner(
        client=cast(Client, temporal),
        settings=Settings(_env_file=None),
        reader=cast(TemporalIncidentReader, reader),
        controls=cast(Controls, None),
        authorizer=Authorizer(AccessPolicy()),
        silences=OneSilence(),
    )


async def test_a_service_outside_the_catalog_is_found_by_its_name() -> None:
    reader = Reader(OUTSIDE)
    reply = await _runner(Temporal(OUTSIDE), reader).command("show payments-gateway", user=SlackUser(id="U1"))
    assert reader.asked == [OUTSIDE] and OUTSIDE in reply.text


async def test_a_catalog_incident_of_that_name_comes_first_and_a_name_nobody_has_is_said() -> None:
    both = Reader("incident-payments-gateway", OUTSIDE)
    await _runner(Temporal("incident-payments-gateway", OUTSIDE), both).command(
        "show payments-gateway", user=SlackUser(id="U1")
    )
    assert both.asked == ["incident-payments-gateway"]
    none = Reader()
    reply = await _runner(Temporal(), none).command("show nothing-here", user=SlackUser(id="U1"))
    assert (
        none.asked == ["incident-nothing-here"]
        and "There is no incident `incident-nothing-here`" in reply.text
    )
