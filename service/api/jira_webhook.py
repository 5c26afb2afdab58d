"""POST /webhooks/jira: a Jira webhook (event *Issue updated*), so moving an incident's issue in Jira
acknowledges (into In Progress) or resolves (into Done) the incident, and stops Medic's own escalation.
Verify, parse, hand to Temporal, answer.

401 without MEDIC_JIRA_WEBHOOK_SECRET (X-Hub-Signature, X-Medic-Token, Bearer, or a basic-auth
password); 400 for a body that is not a Jira webhook payload; 202 once the acknowledge or resolve is held
by Temporal, and also for events Medic does not act on (other events, issues it did not open, other
statuses, its own moves, another occurrence's issue, incidents already resolved), saying why; 503 when
Temporal cannot take it (Jira retries)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from service.api.body import read_limited
from service.api.deps import Deps, get_deps
from service.api.observe import Observe
from service.api.responses import error_responses, temporal_unavailable
from service.jira_webhook import (
    SIGNATURE_HEADER,
    TOKEN_HEADER,
    JiraIgnored,
    WebhookRejected,
    parse_event,
    verify,
)
from service.temporal import UNREACHABLE
from workflows.incident import FromJira

__all__ = ["JiraWebhookAnswer", "router"]

router = APIRouter(tags=["webhooks"])
_MAX_BODY = 1024 * 1024  # an issue's fields come with the event: its description, comments' metadata
_ERRORS = error_responses(
    400,
    401,
    413,
    503,
    described={
        400: "not a Jira webhook payload (the field named)",
        401: f"no {SIGNATURE_HEADER} of the body with MEDIC_JIRA_WEBHOOK_SECRET, nor that secret as "
        f"{TOKEN_HEADER}, Bearer or basic-auth password (or Jira webhooks are not configured)",
        413: f"body over {_MAX_BODY} bytes",
        503: "Temporal unreachable: the move was not taken (Jira retries)",
    },
)


class JiraWebhookAnswer(BaseModel):
    handled: bool  # false: an event Medic does not act on, Medic's own, not its issue, done already
    incident: str | None = None
    ignored: str | None = None  # why nothing was done, when nothing was


@router.post(
    "/webhooks/jira",
    status_code=202,
    responses=_ERRORS,
    summary=f"Jira webhook, Issue updated: In Progress acknowledges, Done resolves ({SIGNATURE_HEADER})",
)
async def jira_webhook(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> JiraWebhookAnswer:
    with Observe(deps, "jira", request):
        return await _handle(request, deps)


async def _handle(request: Request, deps: Deps) -> JiraWebhookAnswer:
    secret = deps.settings.jira_webhook_secret
    body = await read_limited(request, _MAX_BODY)
    try:
        verify(
            secret.get_secret_value() if secret else None,
            body,
            signature=request.headers.get(SIGNATURE_HEADER),
            token=request.headers.get(TOKEN_HEADER),
            authorization=request.headers.get("authorization"),
        )
    except WebhookRejected as err:
        raise HTTPException(401, str(err)) from err
    try:
        action = parse_event(body, medic_user=deps.settings.jira_user)
    except ValueError as err:
        raise HTTPException(400, str(err)) from err
    if isinstance(action, JiraIgnored):
        return JiraWebhookAnswer(handled=False, incident=action.incident_id, ignored=action.why)
    if deps.people is None:
        return JiraWebhookAnswer(handled=False, incident=action.incident_id, ignored="no Temporal here")
    issue = FromJira(jira_key=action.issue_key, jira_at=action.at)
    try:
        done = await deps.people.take(
            action.incident_id,
            action.verb,
            actor=action.actor,
            source="jira",
            reason=action.reason,
            jira=issue,
        )
    except UNREACHABLE as err:
        raise temporal_unavailable(f"the {action.verb} from Jira was not taken", err) from err
    if done is None:
        return JiraWebhookAnswer(
            handled=False,
            incident=action.incident_id,
            ignored="the incident refused it: resolved, merged or gone, another occurrence's issue, or "
            "Medic's own move",
        )
    return JiraWebhookAnswer(handled=True, incident=action.incident_id)
