"""GET /insights: which alert rules earn their pages, and what to change (``service.insights``), and
which changes Medic applies itself (the demotions a team opted in to); a read, behind the same
credentials as the incident routes."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.api.auth import require_incident_reader
from service.api.deps import Deps, get_deps
from service.api.errors import temporal_answers
from service.api.responses import error_responses
from service.insights import LIMIT, READ, Insights, insights

__all__ = ["router"]

router = APIRouter(tags=["insights"])


@router.get(
    "/insights",
    response_model=Insights,
    responses=error_responses(401, 422, 503),
    summary="Per alert rule: pages, how often anyone acted, time to auto-resolve; proposals with evidence",
    dependencies=[Depends(require_incident_reader)],
)
async def get_insights(
    deps: Annotated[Deps, Depends(get_deps)],
    limit: Annotated[
        int, Query(ge=1, le=50_000, description="resolved incidents to learn from (of the last 28 days)")
    ] = LIMIT,
) -> Insights:
    with temporal_answers():
        return await insights(deps.reader, limit=limit, learning=deps.learning, cache=READ)
