"""POST /webhooks/opsgenie: Opsgenie's Webhook integration (alert actions), so an acknowledgement or a
close made in Opsgenie reaches the incident and stops Medic's own escalation. Verify, parse, hand to
Temporal, answer.

401 without MEDIC_OPSGENIE_WEBHOOK_SECRET (X-Medic-Token, Bearer, or a basic-auth password); 400 for a
body that is not Opsgenie's alert action data; 202 once the acknowledge or resolve is held by Temporal,
and also for actions Medic does not act on (other actions, alerts it did not open, its own actions,
incidents already resolved), saying why; 503 when Temporal cannot take it."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from service.api.body import read_limited
from service.api.deps import Deps, get_deps
from service.api.observe import Observe
from service.api.responses import error_responses, temporal_unavailable
from service.opsgenie import TOKEN_HEADER, OpsgenieIgnored, WebhookRejected, parse_event, verify_secret
from service.temporal import UNREACHABLE

__all__ = ["OpsgenieWebhookAnswer", "router"]

router = APIRouter(tags=["webhooks"])
_MAX_BODY = 256 * 1024
_ERRORS = error_responses(
    400,
    401,
    413,
    503,
    described={
        400: "not Opsgenie's alert action data (the field named)",
        401: f"no {TOKEN_HEADER}, Bearer or basic-auth password equal to MEDIC_OPSGENIE_WEBHOOK_SECRET (or "
        "Opsgenie webhooks are not configured)",
        413: f"body over {_MAX_BODY} bytes",
        503: "Temporal unreachable: the action was not taken",
    },
)


class OpsgenieWebhookAnswer(BaseModel):
    handled: (
        bool  # false: an action Medic does not act on, Medic's own, an alert it did not open, done already
    )
    incident: str | None = None
    ignored: str | None = None  # why nothing was done, when nothing was


@router.post(
    "/webhooks/opsgenie",
    status_code=202,
    responses=_ERRORS,
    summary=f"Opsgenie Webhook integration: Acknowledge and Close ({TOKEN_HEADER} or basic auth)",
)
async def opsgenie_webhook(
    request: Request, deps: Annotated[Deps, Depends(get_deps)]
) -> OpsgenieWebhookAnswer:
    with Observe(deps, "opsgenie", request):
        return await _handle(request, deps)


async def _handle(request: Request, deps: Deps) -> OpsgenieWebhookAnswer:
    secret = deps.settings.opsgenie_webhook_secret
    try:
        verify_secret(
            secret.get_secret_value() if secret else None,
            token=request.headers.get(TOKEN_HEADER),
            authorization=request.headers.get("authorization"),
        )
    except WebhookRejected as err:
        raise HTTPException(401, str(err)) from err
    body = await read_limited(request, _MAX_BODY)
    try:
        action = parse_event(body)
    except ValueError as err:
        raise HTTPException(400, str(err)) from err
    if isinstance(action, OpsgenieIgnored):
        return OpsgenieWebhookAnswer(handled=False, incident=action.incident_id, ignored=action.why)
    if deps.people is None:
        return OpsgenieWebhookAnswer(handled=False, incident=action.incident_id, ignored="no Temporal here")
    try:
        done = await deps.people.take(
            action.incident_id, action.verb, actor=action.actor, source="opsgenie", reason=action.reason
        )
    except UNREACHABLE as err:
        raise temporal_unavailable(f"the {action.verb} from Opsgenie was not taken", err) from err
    if done is None:
        return OpsgenieWebhookAnswer(
            handled=False, incident=action.incident_id, ignored="the incident is resolved, merged or gone"
        )
    return OpsgenieWebhookAnswer(handled=True, incident=action.incident_id)
