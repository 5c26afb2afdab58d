"""POST /webhooks/alertmanager and /webhooks/anomaly: verify, parse, hand to Temporal, answer.

2xx only after every alert is in an incident's Temporal history; 401/413/422 for bad
requests (which change nothing); 503 when Temporal cannot take it, so the sender retries.
"""

import asyncio
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.anomaly import AnomalySignal
from medic.assign import Assignment, assign_alerts, assign_anomalies
from medic.incident import AlertBatch, AnomalyBatch
from service.api.auth import require_token
from service.api.body import PayloadError, load_json, parse_json_model, parse_model, read_limited
from service.api.deps import Deps, get_deps
from service.ingest import TemporalUnavailable

__all__ = ["MAX_SIGNALS_PER_REQUEST", "WebhookAccepted", "router"]

router = APIRouter(tags=["webhooks"])
MAX_SIGNALS_PER_REQUEST = 1000

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong credentials"},
    413: {"description": "body over MEDIC_MAX_BODY_BYTES"},
    422: {"description": "malformed body; the message names the field"},
    503: {"description": "Temporal could not take the delivery; retry (Alertmanager does)"},
}


class WebhookAccepted(BaseModel):
    accepted: int
    incidents: list[str]


def _body_schema(ref: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}}


async def _accept(request: Request, deps: Deps) -> bytes:
    require_token(request, deps.settings.webhook_token)
    return await read_limited(request, deps.settings.max_body_bytes)


def _unavailable(deps: Deps, err: TemporalUnavailable) -> HTTPException:
    deps.metrics.temporal_unavailable.inc()
    return HTTPException(
        503, f"Temporal could not take the delivery, retry: {err}", headers={"Retry-After": "5"}
    )


class _Observe:
    """Count and time a webhook request whatever its outcome."""

    def __init__(self, deps: Deps, route: str) -> None:
        self._deps, self._route = deps, route

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        code = exc.status_code if isinstance(exc, HTTPException) else (500 if exc else 200)
        self._deps.metrics.webhook_requests.labels(self._route, str(code)).inc()
        self._deps.metrics.webhook_latency.labels(self._route).observe(time.perf_counter() - self._start)


async def _hand_over(
    deps: Deps, assignments: list[Assignment], batches: list[AlertBatch | AnomalyBatch]
) -> list[str]:
    """Hand every incident its share, concurrently; all must be durable before we answer."""
    try:
        results = await asyncio.gather(
            *(
                deps.sink.deliver(a.incident_id, a.service, b)
                for a, b in zip(assignments, batches, strict=True)
            )
        )
    except TemporalUnavailable as err:
        raise _unavailable(deps, err) from err
    return [a.incident_id for a, delivered in zip(assignments, results, strict=True) if delivered]


async def _deliver_alertmanager(
    deps: Deps, payload: AlertmanagerWebhook, received_at: datetime
) -> WebhookAccepted:
    alerts = normalise_webhook(payload, received_at=received_at)
    assignments = assign_alerts(deps.catalog, payload, alerts)
    batches: list[AlertBatch | AnomalyBatch] = [
        a.alert_batch(received_at, payload.truncatedAlerts) for a in assignments
    ]
    incidents = await _hand_over(deps, assignments, batches)
    deps.metrics.alerts_accepted.labels(alerts[0].source).inc(len(alerts))
    return WebhookAccepted(accepted=len(alerts), incidents=incidents)


@router.post(
    "/webhooks/alertmanager",
    response_model=WebhookAccepted,
    responses=_ERRORS,
    openapi_extra=_body_schema("#/components/schemas/AlertmanagerWebhook"),
    summary="Alertmanager webhook receiver (webhook v4)",
)
async def alertmanager_webhook(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> WebhookAccepted:
    with _Observe(deps, "alertmanager"):
        raw = await _accept(request, deps)
        return await _deliver_alertmanager(
            deps, parse_json_model(AlertmanagerWebhook, raw), datetime.now(UTC)
        )


@router.post(
    "/webhooks/anomaly",
    response_model=WebhookAccepted,
    responses=_ERRORS,
    openapi_extra=_body_schema("#/components/schemas/AnomalyWebhookBody"),
    summary="Anomaly signals (one or a list), or a Grafana alerting webhook",
)
async def anomaly_webhook(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> WebhookAccepted:
    with _Observe(deps, "anomaly"):
        raw = await _accept(request, deps)
        data = load_json(raw)
        received_at = datetime.now(UTC)
        if isinstance(data, dict) and "alerts" in data:
            return await _deliver_alertmanager(deps, parse_model(AlertmanagerWebhook, data), received_at)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise PayloadError("body: expected an anomaly signal or a non-empty list of them")
        if len(items) > MAX_SIGNALS_PER_REQUEST:
            raise PayloadError(f"body: at most {MAX_SIGNALS_PER_REQUEST} signals per request")
        multiple = isinstance(data, list)
        signals = [
            parse_model(AnomalySignal, item, f"[{i}]." if multiple else "") for i, item in enumerate(items)
        ]
        assignments = assign_anomalies(deps.catalog, signals)
        incidents = await _hand_over(deps, assignments, [a.anomaly_batch(received_at) for a in assignments])
        deps.metrics.alerts_accepted.labels("anomaly").inc(len(signals))
        return WebhookAccepted(accepted=len(signals), incidents=incidents)
