"""Slack's routes: `/medic` commands and message buttons. Verified before anything is read."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response

from service.api.body import read_limited
from service.api.deps import Deps, get_deps
from service.api.observe import Observe
from service.api.responses import error_responses
from service.chat.endpoint import SlackEndpoint, SlackPayloadError
from service.chat.verify import SlackRequestRejected

__all__ = ["router"]

router = APIRouter(tags=["slack"])
_MAX_SLACK_BODY = 64 * 1024
_ERRORS = error_responses(
    400,
    401,
    413,
    described={
        401: "not signed by Slack, however malformed (or Slack is not configured here)",
        413: f"body over {_MAX_SLACK_BODY} bytes",
    },
)


async def _verified(request: Request, deps: Deps) -> tuple[SlackEndpoint, bytes]:
    if deps.slack is None:
        raise HTTPException(401, "Slack is not configured here (MEDIC_SLACK_SIGNING_SECRET is unset)")
    body = await read_limited(request, _MAX_SLACK_BODY)
    try:
        deps.slack.verifier.check(body, request.headers)
    except SlackRequestRejected as err:
        raise HTTPException(401, f"not a valid Slack request: {err}") from err
    return deps.slack, body


@router.post("/slack/commands", responses=_ERRORS, summary="Slack slash command /medic (Slack-signed)")
async def slack_command(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> dict[str, Any]:
    with Observe(deps, "slack", request):
        slack, body = await _verified(request, deps)
        try:
            return await slack.command(body)
        except SlackPayloadError as err:
            raise HTTPException(400, str(err)) from err


@router.post("/slack/interactions", responses=_ERRORS, summary="Slack message buttons (Slack-signed)")
async def slack_interaction(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> Response:
    with Observe(deps, "slack", request):
        slack, body = await _verified(request, deps)
        try:
            await slack.interaction(body)
        except SlackPayloadError as err:
            raise HTTPException(400, str(err)) from err
        return Response(status_code=200)
