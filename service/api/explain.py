"""POST /explain: what Medic would do with an Alertmanager or Grafana webhook body, changing nothing.

The same answer as ``medic explain FILE`` (``service.explain``), from the running API: its catalog,
its runbooks folder and, with MEDIC_SUBJECT_LOOKUP, the cluster (pod owners, the nodes a service's
pods run on, a node's workloads). The body and its limits are the webhook's; the webhook's credentials
(whoever may send alerts may ask what they would do). Nothing reaches Temporal or the cluster's write
API; the first thing to run when Medic groups something unexpectedly.
"""

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request

from medic.alerts import AlertmanagerWebhook
from medic.yamldoc import ConfigError
from service.api import limits
from service.api.auth import require_token
from service.api.body import parse_json_model, read_limited, refuse_form_content
from service.api.deps import Deps, get_deps
from service.api.responses import error_responses
from service.config_files import load_runbooks
from service.explain import explain_webhook

__all__ = ["router"]

router = APIRouter(tags=["explain"])


@router.post(
    "/explain",
    response_model=list[dict[str, Any]],
    responses=error_responses(
        401, 413, 415, 422, 500, described={500: "the API's own runbooks folder has errors (run medic check)"}
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AlertmanagerWebhook"}}},
        }
    },
    summary="Dry run of the Alertmanager webhook: each alert's incident, service and why, score, runbooks",
)
async def explain(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> list[dict[str, Any]]:
    require_token(request, deps.settings.webhook_token, previous=deps.settings.webhook_token_previous)
    refuse_form_content(request)
    raw = await read_limited(request, deps.settings.max_body_bytes)
    payload = parse_json_model(AlertmanagerWebhook, raw)
    limits.check_alertmanager(payload, deps.settings)
    try:
        runbooks = load_runbooks(deps.settings.runbooks_dir)  # as they are now: small files, read per ask
    except ConfigError as err:  # not the caller's fault: the API's own files are broken
        raise HTTPException(500, f"the runbooks folder has errors (run medic check): {err}") from err
    # The cluster lookup blocks (cached, short timeouts): off the event loop, as the webhook does it.
    return await asyncio.to_thread(
        explain_webhook,
        payload,
        catalog=deps.catalog,
        runbooks=runbooks,
        lookup=deps.owners,
        heartbeats=deps.heartbeats if deps.beats is not None else [],
        ignored=deps.ignored,
        queue=deps.settings.task_queue,
        scope=deps.settings.cluster_scope,
        per_cluster=deps.settings.incident_cluster_label,
    )
