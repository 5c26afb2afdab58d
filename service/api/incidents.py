"""GET /incidents and GET /incidents/{id}, the postmortem and the chart: reads, behind the webhook,
read or operator token (``service.api.auth``); the postmortem and the chart also open with a signed
link Medic posted to Slack."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from service.api.auth import require_document_reader, require_incident_reader
from service.api.body import parse_model
from service.api.deps import Deps, get_deps
from service.api.errors import temporal_answers
from service.api.responses import error_responses
from service.incidents import (
    DOES_NOT_REPLAY,
    IncidentDetail,
    IncidentFilter,
    IncidentSummary,
)

__all__ = ["router"]

router = APIRouter(tags=["incidents"])
_READER = [Depends(require_incident_reader)]
_DOCUMENT = [Depends(require_document_reader)]
_LINK_401 = "missing or wrong credentials, or a signed link expired or altered"


@router.get(
    "/incidents",
    response_model=list[IncidentSummary],
    responses=error_responses(401, 422, 503),
    summary="Incidents, newest first",
    dependencies=_READER,
)
async def list_incidents(
    deps: Annotated[Deps, Depends(get_deps)],
    status: Annotated[str | None, Query(description="open, acknowledged, mitigating or resolved")] = None,
    service: Annotated[str | None, Query(description="a service name")] = None,
    priority: Annotated[str | None, Query(description="P1..P5")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[IncidentSummary]:
    flt = parse_model(
        IncidentFilter, {"status": status, "service": service, "priority": priority, "limit": limit}
    )
    with temporal_answers():
        return await deps.reader.list(flt)


@router.get(
    "/incidents/{incident_id}",
    response_model=IncidentDetail,
    responses=error_responses(401, 404, 422, 503, described={404: "no such incident"}),
    summary="One incident with its alerts, actions and timeline",
    dependencies=_READER,
)
async def get_incident(
    deps: Annotated[Deps, Depends(get_deps)],
    incident_id: Annotated[str, Path(description="an incident id, e.g. incident-checkout")],
    alerts: Annotated[
        int, Query(ge=0, le=5000, description="at most this many alerts, most recently seen")
    ] = 500,
    timeline: Annotated[
        int, Query(ge=0, le=10000, description="the latest timeline entries, at most")
    ] = 1000,
) -> IncidentDetail:
    with temporal_answers(incident_id):
        return await deps.reader.get(incident_id, alerts=alerts, timeline=timeline)


_POSTMORTEM = {
    200: {"content": {"text/markdown": {}}},
    **error_responses(
        401, 404, 409, 422, 503, described={401: _LINK_401, 404: "no such incident", 409: DOES_NOT_REPLAY}
    ),
}
_CHART = {
    200: {"content": {"image/svg+xml": {}}},
    **error_responses(
        401, 404, 409, 422, 503, described={401: _LINK_401, 404: "no such incident", 409: DOES_NOT_REPLAY}
    ),
}
IncidentId = Annotated[str, Path(description="an incident id")]
# A run of the id's workflow: each incident of a service is one (Temporal's run ids are UUIDs).
RunId = Annotated[
    str,
    Path(
        description="one incident of the id (a run of its workflow), as its postmortem link names it",
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]


@router.get(
    "/incidents/{incident_id}/postmortem",
    response_class=Response,
    responses=_POSTMORTEM,
    summary="The postmortem (Markdown) of the id's latest incident: a draft while open, final once resolved",
    dependencies=_DOCUMENT,
)
async def get_postmortem(deps: Annotated[Deps, Depends(get_deps)], incident_id: IncidentId) -> Response:
    return await _postmortem(deps, incident_id, None)


@router.get(
    "/incidents/{incident_id}/runs/{run_id}/postmortem",
    response_class=Response,
    responses=_POSTMORTEM,
    summary="The postmortem of one incident of the id (a service's incidents share its id)",
    dependencies=_DOCUMENT,
)
async def get_run_postmortem(
    deps: Annotated[Deps, Depends(get_deps)], incident_id: IncidentId, run_id: RunId
) -> Response:
    return await _postmortem(deps, incident_id, run_id)


async def _postmortem(deps: Deps, incident_id: str, run_id: str | None) -> Response:
    with temporal_answers(incident_id):
        markdown = await deps.postmortems.markdown(incident_id, run_id)
    return Response(markdown, media_type="text/markdown; charset=utf-8")


@router.get(
    "/incidents/{incident_id}/timeline.svg",
    response_class=Response,
    responses=_CHART,
    summary="The incident's timeline chart, as the postmortem shows it",
    dependencies=_DOCUMENT,
)
async def get_timeline_chart(deps: Annotated[Deps, Depends(get_deps)], incident_id: IncidentId) -> Response:
    return await _chart(deps, incident_id, None)


@router.get(
    "/incidents/{incident_id}/runs/{run_id}/timeline.svg",
    response_class=Response,
    responses=_CHART,
    summary="The timeline chart of one incident of the id, as its postmortem shows it",
    dependencies=_DOCUMENT,
)
async def get_run_timeline_chart(
    deps: Annotated[Deps, Depends(get_deps)], incident_id: IncidentId, run_id: RunId
) -> Response:
    return await _chart(deps, incident_id, run_id)


async def _chart(deps: Deps, incident_id: str, run_id: str | None) -> Response:
    with temporal_answers(incident_id):
        svg = await deps.postmortems.svg(incident_id, run_id)
    return Response(svg, media_type="image/svg+xml")
