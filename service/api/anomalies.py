"""GET /anomalies/scans: Medic's own anomaly scans, each series' last score and state size, and the
next run; a read, behind the same credentials as the incident routes."""

from fastapi import APIRouter, Depends, HTTPException, Request

from medic.ports import PermanentError, TransientError
from medic.redact import redact
from medic.yamldoc import ConfigError
from service.api.auth import require_incident_reader
from service.api.deps import get_deps
from service.api.responses import RETRY_AFTER, error_responses
from service.scans import ScansReader, ScanView

__all__ = ["router"]

router = APIRouter(tags=["anomalies"])


@router.get(
    "/anomalies/scans",
    response_model=list[ScanView],
    responses=error_responses(
        401,
        500,
        503,
        described={
            500: "the anomaly scans' file cannot be used: MEDIC_ANOMALY names no file, it does not "
            "validate, or a misnamed one lies beside the catalog (anomaly.yml; run medic check)"
        },
    ),
    summary="The configured anomaly scans: each series' state, last score and the next run",
    dependencies=[Depends(require_incident_reader)],
)
async def list_scans(request: Request) -> list[ScanView]:
    reader = getattr(request.app.state, "scans", None)
    if not isinstance(reader, ScansReader):  # an app built without a Temporal client: no next run
        reader = ScansReader(None, get_deps(request).settings)
    try:
        return await reader.list()
    except ConfigError as err:  # not the caller's fault, and no "no scans" either: the API's own file
        raise HTTPException(
            500,
            "the anomaly scans' file cannot be used, so no scan can be shown (`medic check` tells of it"
            f" too): {redact(str(err))[:1000]}",
        ) from err
    except (TransientError, PermanentError) as err:  # the ConfigMaps unreachable, or not configured
        raise HTTPException(
            503, f"the scans' state could not be read: {redact(str(err))[:500]}", headers=RETRY_AFTER
        ) from err
