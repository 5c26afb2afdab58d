"""Operator controls over HTTP: the kill switch, and approving or denying a remediation step.
Same credentials as the webhooks; Slack's buttons and `/medic` commands reach the same calls."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from temporalio.client import WorkflowUpdateFailedError

from service.api.auth import require_token
from service.api.deps import ControlsPort, Deps, get_deps
from service.api.errors import temporal_answers
from workflows.control import KillSwitch, KillSwitchRequest
from workflows.feedback import FeedbackState
from workflows.remediation import Decision

__all__ = ["router"]

router = APIRouter(tags=["control"])


def _controls(request: Request, deps: Deps) -> ControlsPort:
    require_token(request, deps.settings.webhook_token)
    if deps.controls is None:
        raise HTTPException(503, "controls are not available in this process")
    return deps.controls


@router.get("/control/kill-switch", response_model=KillSwitch, summary="Whether remediations are stopped")
async def get_kill_switch(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> KillSwitch:
    controls = _controls(request, deps)
    with temporal_answers():
        return await controls.kill_switch()


@router.put("/control/kill-switch", response_model=KillSwitch, summary="Stop (or allow) every remediation")
async def put_kill_switch(
    body: KillSwitchRequest, request: Request, deps: Annotated[Deps, Depends(get_deps)]
) -> KillSwitch:
    controls = _controls(request, deps)
    with temporal_answers():
        return await controls.set_kill_switch(body)


@router.get(
    "/feedback", response_model=FeedbackState, summary="False-positive marks per alert rule, from Slack"
)
async def get_feedback(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> FeedbackState:
    controls = _controls(request, deps)
    with temporal_answers():
        return await controls.feedback()


@router.post(
    "/remediations/{remediation_id}/decision", summary="Approve or deny the step a remediation waits on"
)
async def decide(
    body: Decision,
    request: Request,
    deps: Annotated[Deps, Depends(get_deps)],
    remediation_id: Annotated[str, Path(pattern=r"^remediate-[a-z0-9-]{1,120}$")],
) -> dict[str, str]:
    controls = _controls(request, deps)
    # Group memberships count only as Slack reports them (the Slack path resolves them itself); a caller
    # of this route names who decides, it cannot also claim the approver groups that person is in.
    decision = body.model_copy(update={"groups": []})
    with temporal_answers(not_found=f"no running remediation {remediation_id!r}"):
        try:
            outcome = await controls.decide(remediation_id, decision)
        except WorkflowUpdateFailedError as err:
            raise HTTPException(409, str(err.cause or err)) from err
    return {"remediation": remediation_id, "decision": outcome}
