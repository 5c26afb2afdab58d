"""The FastAPI application factory. Everything it needs is passed in."""

from collections.abc import Awaitable, Callable, Mapping
from importlib import metadata
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, RootModel

from medic.alerts import AlertmanagerWebhook
from medic.anomaly import AnomalySignal
from medic.catalog import Catalog
from medic.dead_man import HeartbeatRule, default_heartbeats
from medic.insights import TeamLearning
from medic.meta_alerts import IgnoreRule, default_ignored
from medic.subject import OwnerLookup
from service.api import (
    anomalies,
    control,
    explain,
    incidents,
    insights,
    jira_webhook,
    opsgenie,
    pagerduty,
    slack,
    webhooks,
)
from service.api import heartbeats as heartbeats_api
from service.api.deps import BeatSink, ControlsPort, Deps, PeoplePort, get_deps
from service.api.docs import mount_offline_docs
from service.api.responses import ErrorBody, internal_error, validation_failed
from service.chat.endpoint import SlackEndpoint
from service.incidents import IncidentReader
from service.ingest import IncidentSink
from service.links import link_signer, warn_if_reads_open
from service.metrics import ApiMetrics
from service.postmortems import Postmortems
from service.prometheus import tenant_warnings
from service.settings import Settings

__all__ = ["create_app"]


class AnomalyWebhookBody(RootModel[AnomalySignal | list[AnomalySignal] | AlertmanagerWebhook]):
    """One anomaly signal, a list of them, or a Grafana alerting webhook."""


class Readiness(BaseModel):
    status: str


def _declare_error_bodies(schema: dict[str, Any]) -> None:
    """Every error a route declares carries :class:`ErrorBody` unless it says otherwise."""
    ref = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                if code[:1] in ("4", "5") and "content" not in response:
                    response["content"] = ref


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        models: tuple[type[BaseModel], ...] = (AlertmanagerWebhook, AnomalyWebhookBody, ErrorBody)
        for model in models:
            model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(model_schema.pop("$defs", {}))
            components[model.__name__] = model_schema
        _declare_error_bodies(schema)
        app.openapi_schema = schema
        return schema

    return build


async def _ready(deps: Deps) -> bool:
    """Check readiness and export the answer as medic_api_ready{reason}: an unready pod is taken out of
    the Service, so no delivery reaches it to count the outage; Prometheus still scrapes it."""
    ok = await deps.ready()
    cause = getattr(deps.ready, "cause", None)  # TemporalReadiness says why; a bare callable does not
    deps.metrics.readiness(cause if isinstance(cause, str) else "ready" if ok else "temporal_unreachable")
    return ok


def create_app(
    settings: Settings,
    *,
    catalog: Catalog,
    sink: IncidentSink,
    reader: IncidentReader,
    ready: Callable[[], Awaitable[bool]],
    registry: CollectorRegistry | None = None,
    controls: ControlsPort | None = None,
    slack_endpoint: SlackEndpoint | None = None,
    postmortems: Postmortems | None = None,
    people: PeoplePort | None = None,
    owners: OwnerLookup | None = None,
    learning: Mapping[str, TeamLearning] | None = None,
    beats: BeatSink | None = None,
    heartbeats: list[HeartbeatRule] | None = None,
    ignored: list[IgnoreRule] | None = None,
) -> FastAPI:
    registry = registry if registry is not None else CollectorRegistry()
    app = FastAPI(
        title="Medic",
        version=metadata.version("medic"),  # pyproject's, as medic_build_info reports it
        description="Event-driven self-healing for Prometheus/Alertmanager on Kubernetes, built on Temporal.",
        docs_url=None,  # /docs and /redoc from the installed package, not a CDN (service/api/docs.py)
        redoc_url=None,
    )
    mount_offline_docs(app)
    app.state.deps = Deps(
        settings=settings,
        catalog=catalog,
        sink=sink,
        reader=reader,
        metrics=ApiMetrics(registry),
        ready=ready,
        postmortems=postmortems or Postmortems(settings, reader),
        controls=controls,
        slack=slack_endpoint,
        link_signer=link_signer(settings),
        people=people,
        owners=owners,
        learning=dict(learning or {}),
        beats=beats,
        heartbeats=list(heartbeats if heartbeats is not None else default_heartbeats()),
        ignored=list(ignored if ignored is not None else default_ignored()),
    )
    warn_if_reads_open(settings)
    tenant_warnings(settings)
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(Exception, internal_error)  # a 500 in the one error shape too
    app.include_router(webhooks.router)
    app.include_router(incidents.router)
    app.include_router(anomalies.router)
    app.include_router(insights.router)
    app.include_router(heartbeats_api.router)
    app.include_router(explain.router)
    app.include_router(control.router)
    app.include_router(slack.router)
    app.include_router(pagerduty.router)
    app.include_router(opsgenie.router)
    app.include_router(jira_webhook.router)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: Temporal reachable",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Temporal is unreachable"}},
    )
    async def readyz(deps: Annotated[Deps, Depends(get_deps)]) -> JSONResponse:
        if await _ready(deps):
            return JSONResponse({"status": "ready"})
        why = getattr(deps.ready, "reason", "") or "temporal unreachable"  # TemporalReadiness says why
        return JSONResponse({"status": why}, status_code=503)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics(deps: Annotated[Deps, Depends(get_deps)]) -> Response:
        if deps.metrics.readiness_stale():  # no probe asks (a local `medic api`): medic_api_ready stays true
            await _ready(deps)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
