"""Operator controls over HTTP: the kill switch, and approving or denying a remediation step.

Changes need the operator token (MEDIC_OPERATOR_TOKEN) and are recorded as that credential
(``api:operator-token``), whoever the body names: the HTTP API cannot prove who a person is, only
Slack's signed requests can (they reach the same calls as `/medic` commands and buttons). The webhook
token reads the controls but cannot change them (403). Bodies are JSON through
:mod:`service.json_limits` like every other route's."""

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictBool
from temporalio.client import WorkflowUpdateFailedError

from service.api.auth import require_incident_reader, require_operator
from service.api.body import PayloadError
from service.api.deps import ControlsPort, Deps, get_deps
from service.api.errors import temporal_answers
from service.api.responses import error_responses
from service.json_limits import JSONTooDeep, load_json_bounded
from workflows.control import KillSwitch, KillSwitchRequest
from workflows.feedback import FeedbackState
from workflows.remediation import Decision

__all__ = ["DecisionRequest", "KillSwitchChange", "router"]

log = logging.getLogger(__name__)
_REASON_MAX = 500  # what the kill switch and a decision keep (workflows.control, workflows.remediation)
_ACTOR_NOTE = (
    "Deprecated, not recorded: a change is recorded as the credential that made it (api:operator-token). "
    "Accepted so older clients keep working; logged by the API as the caller's claim."
)


class _BoundedJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = load_json_bounded(await self.body())
            except JSONTooDeep as err:
                raise PayloadError(f"body: {err}") from err
            except UnicodeDecodeError as err:  # FastAPI would answer an undocumented 400
                raise PayloadError(f"body: not UTF-8 JSON ({err.reason} at byte {err.start})") from err
        return self._json


class _BoundedJSONRoute(APIRoute):
    """FastAPI reads these routes' bodies with ``request.json()``: bounded like every other route."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(_BoundedJSONRequest(request.scope, request.receive))

        return bounded


router = APIRouter(tags=["control"], route_class=_BoundedJSONRoute)


class KillSwitchChange(BaseModel):
    on: StrictBool
    reason: str = Field(default="", max_length=_REASON_MAX)
    actor: str | None = Field(default=None, max_length=200, description=_ACTOR_NOTE)


class DecisionRequest(BaseModel):
    approve: StrictBool
    reason: str = Field(default="", max_length=_REASON_MAX)
    actor: str | None = Field(default=None, max_length=200, description=_ACTOR_NOTE)


def _available(deps: Deps) -> ControlsPort:
    if deps.controls is None:
        raise HTTPException(503, "controls are not available in this process")
    return deps.controls


def _reader(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> ControlsPort:
    """The kill switch and feedback are read like incidents (webhook, read or operator token)."""
    require_incident_reader(request, deps)
    return _available(deps)


def _operator(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> tuple[ControlsPort, str]:
    """Checked before the body is validated: a caller without the credential learns nothing more."""
    s = deps.settings
    actor = require_operator(request, webhook_token=s.webhook_token, operator_token=s.operator_token)
    return _available(deps), actor


Reader = Annotated[ControlsPort, Depends(_reader)]
Operator = Annotated[tuple[ControlsPort, str], Depends(_operator)]


def _claimed(claimed: str | None, actor: str, what: str) -> None:
    if claimed:
        log.info("%s by %s; the caller named %r (not verified, not recorded)", what, actor, claimed)


@router.get(
    "/control/kill-switch",
    response_model=KillSwitch,
    responses=error_responses(401, 503),
    summary="Whether remediations are stopped (webhook or operator token)",
)
async def get_kill_switch(controls: Reader) -> KillSwitch:
    with temporal_answers():
        return await controls.kill_switch()


@router.put(
    "/control/kill-switch",
    response_model=KillSwitch,
    responses=error_responses(401, 403, 422, 503),
    summary="Stop (or allow) every remediation (operator token)",
)
async def put_kill_switch(operator: Operator, body: KillSwitchChange) -> KillSwitch:
    controls, actor = operator
    _claimed(body.actor, actor, "kill switch change")
    with temporal_answers():
        return await controls.set_kill_switch(KillSwitchRequest(on=body.on, actor=actor, reason=body.reason))


@router.get(
    "/feedback",
    response_model=FeedbackState,
    responses=error_responses(401, 503),
    summary="False-positive marks per alert rule, from Slack",
)
async def get_feedback(controls: Reader) -> FeedbackState:
    with temporal_answers():
        return await controls.feedback()


class DecisionAnswer(BaseModel):
    remediation: str
    decision: str = Field(description="approved or denied")


@router.post(
    "/remediations/{remediation_id}/decision",
    response_model=DecisionAnswer,
    responses=error_responses(401, 403, 404, 409, 422, 503),
    summary="Approve or deny the step a remediation waits on (operator token)",
)
async def decide(
    operator: Operator,
    body: DecisionRequest,
    remediation_id: Annotated[str, Path(pattern=r"^remediate-[a-z0-9-]{1,120}$")],
) -> DecisionAnswer:
    controls, actor = operator
    _claimed(body.actor, actor, f"decision on {remediation_id}")
    # No approver groups: memberships count only as Slack reports them for a person who signed in.
    decision = Decision(approve=body.approve, actor=actor, reason=body.reason)
    with temporal_answers(not_found=f"no running remediation {remediation_id!r}"):
        try:
            outcome = await controls.decide(remediation_id, decision)
        except WorkflowUpdateFailedError as err:
            raise HTTPException(409, str(err.cause or err)) from err
    return DecisionAnswer(remediation=remediation_id, decision=outcome)
