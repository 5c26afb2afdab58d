"""POST /webhooks/alertmanager and /webhooks/anomaly: verify, parse, hand to Temporal, answer.

2xx only after every alert is in an incident's Temporal history; 401/413/422 for bad
requests (which change nothing); 503 when Temporal cannot take it, so the sender retries.
"""

import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel

from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.anomaly import AnomalySignal
from medic.incident import AlertBatch, AnomalyBatch
from medic.keys import anomaly_incident_id, group_incident_id
from service.api.auth import require_token
from service.api.body import PayloadError, load_json, parse_model, read_limited
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


async def _deliver_alertmanager(
    deps: Deps, data: Any, received_at: datetime, prefix: str = ""
) -> WebhookAccepted:
    payload = parse_model(AlertmanagerWebhook, data, prefix)
    alerts = normalise_webhook(payload, received_at=received_at)
    incident_id = group_incident_id(
        receiver=payload.receiver,
        group_key=payload.groupKey,
        group_labels=payload.groupLabels,
        first_alertname=alerts[0].name,
    )
    batch = AlertBatch(alerts=alerts, received_at=received_at, truncated=payload.truncatedAlerts)
    try:
        delivered = await deps.sink.deliver_alerts(incident_id, batch)
    except TemporalUnavailable as err:
        raise _unavailable(deps, err) from err
    deps.metrics.alerts_accepted.labels(alerts[0].source).inc(len(alerts))
    return WebhookAccepted(accepted=len(alerts), incidents=[incident_id] if delivered else [])


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
        return await _deliver_alertmanager(deps, load_json(raw), datetime.now(UTC))


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
            return await _deliver_alertmanager(deps, data, received_at)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise PayloadError("body: expected an anomaly signal or a non-empty list of them")
        if len(items) > MAX_SIGNALS_PER_REQUEST:
            raise PayloadError(f"body: at most {MAX_SIGNALS_PER_REQUEST} signals per request")
        multiple = isinstance(data, list)
        signals = [
            parse_model(AnomalySignal, item, f"[{i}]." if multiple else "") for i, item in enumerate(items)
        ]
        by_incident: dict[str, list[AnomalySignal]] = defaultdict(list)
        for signal in signals:
            by_incident[anomaly_incident_id(signal.service)].append(signal)
        try:
            for incident_id, group in by_incident.items():
                await deps.sink.deliver_anomalies(
                    incident_id, AnomalyBatch(signals=group, received_at=received_at)
                )
        except TemporalUnavailable as err:
            raise _unavailable(deps, err) from err
        deps.metrics.alerts_accepted.labels("anomaly").inc(len(signals))
        return WebhookAccepted(accepted=len(signals), incidents=list(by_incident))
