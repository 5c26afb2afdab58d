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


class _Execution:
    def __init__(self, workflow_id: str) -> None:
        self.id = workflow_id


class Listed(Temporal):
    """Visibility's running incidents of a service (MEDIC_INCIDENTS_PER_CLUSTER)."""

    def __init__(self, *running: str) -> None:
        super().__init__(*running)
        self.queries: list[str] = []

    async def list_workflows(self, query: str, *, limit: int) -> Any:
        self.queries.append(query)
        for workflow_id in self.known:
            yield _Execution(workflow_id)


def _per_cluster(temporal: Temporal, reader: Reader) -> ChatRunner:
    runner = _runner(temporal, reader)
    runner._settings = Settings(_env_file=None, incidents_per_cluster=True)
    return runner


async def test_with_incidents_per_cluster_a_service_is_found_in_its_one_cluster() -> None:
    """`/medic ack checkout` found nothing once incidents were `incident-prod-eu--checkout` (a
    walk-through of several clusters, 2026-12-07): the one cluster's incident, the one merged into
    another's id set aside; in several clusters, which ones to name."""
    one = Reader("incident-prod-eu--checkout")
    temporal = Listed("incident-prod-eu--checkout", "incident-prod-eu--payments")  # (checkout merged in)
    reply = await _per_cluster(temporal, one).command("show checkout", user=SlackUser(id="U1"))
    assert one.asked == ["incident-prod-eu--checkout"], reply.text
    assert temporal.queries == [
        "WorkflowType='IncidentWorkflow' AND ExecutionStatus='Running' AND MedicServices='checkout'"
    ]
    two = Reader()
    reply = await _per_cluster(
        Listed("incident-prod-eu--checkout", "incident-prod-us--checkout"), two
    ).command("ack checkout", user=SlackUser(id="U1"))
    assert (
        two.asked == [] and "several clusters" in reply.text and "`incident-prod-us--checkout`" in reply.text
    )
    off = Reader()
    await _runner(Listed("incident-prod-eu--checkout"), off).command("show checkout", user=SlackUser(id="U1"))
    assert off.asked == ["incident-checkout"]  # the setting off: as before
