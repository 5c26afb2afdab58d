"""GET /heartbeats: each heartbeat Medic watches (kube-prometheus's Watchdog, one per Prometheus), its
last beat, whether it is armed or missing, and the incidents its outages were told in; a read, behind
the same credentials as the incident routes. DELETE /heartbeats/{id} (operator token) retires one: a
Prometheus taken away for good, whose heartbeat would page as an outage until forgotten."""

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request
from pydantic import BaseModel

from medic.dead_man import ID_PATTERN
from medic.redact import redact
from service.api.auth import require_incident_reader, require_operator
from service.api.deps import Deps, get_deps
from service.api.responses import RETRY_AFTER, error_responses
from service.heartbeats import HeartbeatsReader, HeartbeatView
from service.temporal import UNREACHABLE

__all__ = ["router"]

router = APIRouter(tags=["heartbeats"])


@router.get(
    "/heartbeats",
    response_model=list[HeartbeatView],
    responses=error_responses(401, 503),
    summary="The heartbeats Medic watches (Watchdog): last beat, armed or missing, and their incidents",
    dependencies=[Depends(require_incident_reader)],
)
async def list_heartbeats(request: Request) -> list[HeartbeatView]:
    reader = getattr(request.app.state, "heartbeats", None)
    if not isinstance(reader, HeartbeatsReader):  # an app built without a Temporal client
        return []
    try:
        return await reader.list()
    except UNREACHABLE as err:
        raise HTTPException(
            503, f"Temporal could not list the heartbeats: {redact(str(err))[:500]}", headers=RETRY_AFTER
        ) from err


class HeartbeatRetired(BaseModel):
    id: str
    retired: bool = True


@router.delete(
    "/heartbeats/{heartbeat_id}",
    response_model=HeartbeatRetired,
    responses=error_responses(401, 403, 404, 422, 503),
    summary="Retire a heartbeat (operator token): its outage is told a last time and no more",
)
async def retire_heartbeat(
    request: Request,
    deps: Annotated[Deps, Depends(get_deps)],
    heartbeat_id: Annotated[str, Path(pattern=f"^{ID_PATTERN}$")],
) -> HeartbeatRetired:
    s = deps.settings
    actor = require_operator(request, webhook_token=s.webhook_token, operator_token=s.operator_token)
    reader = getattr(request.app.state, "heartbeats", None)
    if not isinstance(reader, HeartbeatsReader):
        raise HTTPException(503, "heartbeats are not available in this process")
    try:
        running = await reader.retire(heartbeat_id, f"retired by {actor} (DELETE /heartbeats)")
    except UNREACHABLE as err:
        raise HTTPException(
            503, f"Temporal could not take it: {redact(str(err))[:500]}", headers=RETRY_AFTER
        ) from err
    if not running:
        raise HTTPException(404, f"no running heartbeat {heartbeat_id!r} (GET /heartbeats lists them)")
    return HeartbeatRetired(id=heartbeat_id)
