"""What people do to an incident from outside Medic's own chat (the PagerDuty, Opsgenie and Jira webhooks),
through the incident workflow's ``acknowledge`` and ``resolve`` updates (the ones the Slack buttons use,
whose validators have the last word) and its ``note`` signal.

Made for deliveries that may repeat or arrive late: an update the workflow refuses (already resolved,
merged) or an incident that is gone is not an error, it returns ``None``."""

import logging
from typing import Any, Literal

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from workflows import people
from workflows.incident import AckRequest, FromJira, IncidentWorkflow, ResolveRequest, UpdateResult

__all__ = ["IncidentPeople"]

log = logging.getLogger(__name__)


class IncidentPeople:
    def __init__(self, client: Client) -> None:
        self._client = client

    def _handle(self, incident_id: str) -> WorkflowHandle[Any, Any]:
        return self._client.get_workflow_handle(incident_id)

    async def acknowledge(
        self, incident_id: str, *, actor: str, source: str, jira: FromJira | None = None
    ) -> UpdateResult | None:
        """``jira``: the issue whose move this is, checked by the incident (service.jira_webhook)."""
        handle = self._handle(incident_id)
        request = AckRequest(actor=actor, source=source, **(jira.model_dump() if jira else {}))
        return await _refused_is_none(
            incident_id, handle.execute_update(IncidentWorkflow.acknowledge, request)
        )

    async def resolve(
        self,
        incident_id: str,
        *,
        actor: str,
        source: str,
        reason: str = "",
        jira: FromJira | None = None,
    ) -> UpdateResult | None:
        request = ResolveRequest(
            actor=actor, source=source, reason=reason, **(jira.model_dump() if jira else {})
        )
        return await _refused_is_none(
            incident_id, self._handle(incident_id).execute_update(IncidentWorkflow.resolve, request)
        )

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
        """A person's acknowledgement or resolution made in another tool, whichever ``verb`` says."""
        if verb == "acknowledge":
            return await self.acknowledge(incident_id, actor=actor, source=source, jira=jira)
        return await self.resolve(incident_id, actor=actor, source=source, reason=reason, jira=jira)

    async def note(self, incident_id: str, note: people.Note) -> bool:
        try:
            await self._handle(incident_id).signal(people.NOTE_SIGNAL, note)
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            log.info("incident %s is closed; note not recorded", incident_id)
            return False
        return True


async def _refused_is_none(incident_id: str, call: Any) -> UpdateResult | None:
    try:
        result: UpdateResult = await call
    except WorkflowUpdateFailedError as err:
        log.info("incident %s refused the update: %s", incident_id, getattr(err.cause, "message", err))
        return None
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        log.info("incident %s is closed or unknown", incident_id)
        return None
    return result
