"""POST /webhooks/pagerduty: PagerDuty v3 webhooks (signed), so an acknowledgement or resolution made in
PagerDuty reaches the incident and stops Medic's own escalation. Verify, parse, hand to Temporal, answer.

401 unless signed with MEDIC_PAGERDUTY_WEBHOOK_SECRET; 400 for a signed body that is not a v3 payload;
202 once handled, and also for events Medic does not act on (other event types, incidents it did not
open, incidents already resolved), so PagerDuty does not retry them; 503 when Temporal cannot take it
(PagerDuty retries)."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from medic.vocab import TimelineKind
from service.api.body import read_limited
from service.api.deps import Deps, get_deps
from service.api.observe import Observe
from service.api.responses import error_responses, temporal_unavailable
from service.pagerduty import WebhookRejected, parse_event, verify_signature
from service.temporal import UNREACHABLE
from workflows.people import Note

__all__ = ["PagerDutyWebhookAnswer", "router"]

router = APIRouter(tags=["webhooks"])
_MAX_BODY = 256 * 1024
_ERRORS = error_responses(
    400,
    401,
    413,
    503,
    described={
        401: "not signed with MEDIC_PAGERDUTY_WEBHOOK_SECRET (or PagerDuty webhooks are not configured)",
        413: f"body over {_MAX_BODY} bytes",
        503: "Temporal unreachable: PagerDuty retries",
    },
)


class PagerDutyWebhookAnswer(BaseModel):
    handled: bool  # false: an event type Medic does not act on, an incident it did not open, or done already
    incident: str | None = None


@router.post(
    "/webhooks/pagerduty",
    status_code=202,
    responses=_ERRORS,
    summary="PagerDuty v3 webhook: acknowledge, resolve, reassign, escalate (X-PagerDuty-Signature)",
)
async def pagerduty_webhook(
    request: Request, deps: Annotated[Deps, Depends(get_deps)]
) -> PagerDutyWebhookAnswer:
    with Observe(deps, "pagerduty", request):
        return await _handle(request, deps)


async def _handle(request: Request, deps: Deps) -> PagerDutyWebhookAnswer:
    body = await read_limited(request, _MAX_BODY)
    secret = deps.settings.pagerduty_webhook_secret
    try:
        verify_signature(
            secret.get_secret_value() if secret else None, body, request.headers.get("x-pagerduty-signature")
        )
    except WebhookRejected as err:
        raise HTTPException(401, str(err)) from err
    try:
        action = parse_event(body)
    except ValueError as err:
        raise HTTPException(400, str(err)) from err
    if action is None or deps.people is None:
        return PagerDutyWebhookAnswer(handled=False)
    try:
        if action.verb != "note":
            done: object = await deps.people.take(
                action.incident_id, action.verb, actor=action.actor, source="pagerduty", reason=action.message
            )
        else:
            note = Note(
                kind=TimelineKind.COMMAND_PAGERDUTY,
                actor=action.actor,
                message=action.message,
                data={"via": "pagerduty", "pagerduty_incident": action.pagerduty_incident or ""},
            )
            done = await deps.people.note(action.incident_id, note) or None
    except UNREACHABLE as err:
        raise temporal_unavailable("the event was not taken; PagerDuty retries by itself", err) from err
    return PagerDutyWebhookAnswer(handled=done is not None, incident=action.incident_id)
