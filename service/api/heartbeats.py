"""GET /heartbeats: each heartbeat Medic watches (kube-prometheus's Watchdog, one per Prometheus), its
last beat, whether it is armed or missing, and the incidents its outages were told in; a read, behind
the same credentials as the incident routes."""

from fastapi import APIRouter, Depends, HTTPException, Request

from medic.redact import redact
from service.api.auth import require_incident_reader
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
