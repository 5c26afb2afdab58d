"""POST /webhooks/alertmanager and /webhooks/anomaly: verify, parse, check limits, hand to Temporal, answer.

2xx only after every alert is in an incident's Temporal history; 401/413/422 for bad
requests (which change nothing: every limit is checked before the first hand-over); 503 when
Temporal cannot take it, so the sender retries.

The hand-over has one deadline, MEDIC_TEMPORAL_RPC_TIMEOUT_SECONDS, whatever it waits on (the
incident's coalescing queue, the client's reconnects, the RPCs): past it the answer is 503 with
Retry-After. Part of the delivery may have reached Temporal by then; the sender's retry carries
the same alerts, which an incident takes once (by fingerprint).
"""

import asyncio
import functools
import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.anomaly import AnomalySignal
from medic.assign import Assignment, assign_alerts, assign_anomalies
from medic.dead_man import Beat, split_beats
from medic.grafana_alerts import is_test_notification
from medic.incident import AlertBatch, AnomalyBatch
from medic.meta_alerts import split_ignored
from service.api import limits
from service.api.auth import require_token
from service.api.body import (
    PayloadError,
    load_json,
    parse_json_model,
    parse_model,
    read_limited,
    refuse_form_content,
)
from service.api.deps import Deps, get_deps
from service.api.observe import Observe
from service.api.responses import temporal_unavailable
from service.ingest import DeliveryRefused, TemporalUnavailable

__all__ = ["FAN_OUT", "WebhookAccepted", "router"]

router = APIRouter(tags=["webhooks"])
log = logging.getLogger(__name__)
# A Grafana contact point's Test button (medic.grafana_alerts): acknowledged and counted
# (medic_alerts_ignored_total{rule="grafana-test-notification"}), no incident: Grafana never resolves it.
GRAFANA_TEST = "grafana-test-notification"
TEST_NOTE = "a test notification from Grafana: received, no incident"
# Incidents one request hands over to at once (a delivery reaches at most MEDIC_MAX_INCIDENTS_PER_DELIVERY).
FAN_OUT = 16

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "missing or wrong credentials"},
    413: {
        "description": "body over MEDIC_MAX_BODY_BYTES, more alerts than MEDIC_MAX_ALERTS_PER_DELIVERY, or "
        "alerts for more incidents than MEDIC_MAX_INCIDENTS_PER_DELIVERY; nothing was handed over"
    },
    415: {"description": "a body sent as a form or text/plain (Content-Type): send application/json"},
    422: {
        "description": "malformed body, a non-finite number, a label or annotation over its limit "
        "(MEDIC_MAX_LABEL_VALUE_BYTES, MEDIC_MAX_ANNOTATION_VALUE_BYTES, MEDIC_MAX_LABELS_PER_ALERT), an "
        "alert too large for one signal (MEDIC_MAX_SIGNAL_BYTES), or refused by Temporal; the message "
        "names the field or the setting"
    },
    503: {
        "description": "Temporal unreachable, overloaded or not done within "
        "MEDIC_TEMPORAL_RPC_TIMEOUT_SECONDS; retry after Retry-After (Alertmanager does)",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}},
    },
}


class WebhookAccepted(BaseModel):
    accepted: int
    incidents: list[str]
    note: str | None = Field(
        default=None,
        description="said when part of the delivery opened nothing by design (a test notification)",
    )


def _body_schema(ref: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": ref}}}}}


async def _accept(request: Request, deps: Deps, route: str) -> bytes:
    settings = deps.settings
    if require_token(request, settings.webhook_token, previous=settings.webhook_token_previous):
        deps.metrics.previous_token.labels(route).inc()
        deps.refusals.previous_token(route)
    refuse_form_content(request)
    return await read_limited(request, settings.max_body_bytes)


def _unavailable(deps: Deps, err: Exception, what: str = "the delivery was not taken") -> HTTPException:
    deps.metrics.temporal_unavailable.inc()
    return temporal_unavailable(what, err)


async def _hand_over(
    deps: Deps,
    assignments: list[Assignment],
    batches: list[AlertBatch | AnomalyBatch],
    beats: list[Beat] | None = None,
) -> list[str]:
    """Hand every incident its share, :data:`FAN_OUT` at a time; all must be durable before we answer,
    within the one deadline of the request. Temporal refusing a payload is a 422 even when other shares
    were taken: the limits checked before make it a bug, and no retry of the same body could succeed.
    The answer names, once each, the incidents that hold the shares: for an incident merged into
    another, the one it merged into (which its share was signalled to)."""
    deadline = deps.settings.temporal_rpc_timeout_seconds
    slots = asyncio.Semaphore(FAN_OUT)

    async def deliver(a: Assignment, b: AlertBatch | AnomalyBatch) -> str | None:
        async with slots:
            return await deps.sink.deliver(a.incident_id, a.service, b)

    async def beat(one: Beat) -> None:
        async with slots:
            if deps.beats is not None:
                await deps.beats.beat(one)

    try:
        async with asyncio.timeout(deadline):
            results, _ = await asyncio.gather(
                asyncio.gather(*(deliver(a, b) for a, b in zip(assignments, batches, strict=True))),
                asyncio.gather(*(beat(one) for one in beats or [])),
            )
    except TimeoutError as err:
        within = f"the delivery was not taken within {deadline:g} s, MEDIC_TEMPORAL_RPC_TIMEOUT_SECONDS"
        raise _unavailable(deps, TemporalUnavailable(within), within) from err
    except TemporalUnavailable as err:
        raise _unavailable(deps, err) from err
    except DeliveryRefused as err:
        raise PayloadError(f"body: Temporal refused the delivery: {err}") from err
    return list(dict.fromkeys(holder for holder in results if holder is not None))


async def _deliver_alertmanager(
    deps: Deps, payload: AlertmanagerWebhook, received_at: datetime
) -> WebhookAccepted:
    limits.check_alertmanager(payload, deps.settings)
    received = normalise_webhook(payload, received_at=received_at)
    # a Grafana contact point's test: acknowledged, no incident (Grafana never resolves it)
    tests = sum(is_test_notification(a.labels, grafana=payload.is_grafana) for a in received)
    incoming = [a for a in received if not is_test_notification(a.labels, grafana=payload.is_grafana)]
    if tests:
        log.info("%s (receiver %r)", TEST_NOTE, payload.receiver)
        deps.metrics.ignored.labels(GRAFANA_TEST).inc(tests)
    # heartbeats (Watchdog) are no incident: their workflow watches them (none without a sink for them)
    rules = deps.heartbeats if deps.beats is not None else []
    taken, others = split_beats(rules, incoming, at=received_at)
    alerts, ignored = split_ignored(deps.ignored, others)  # InfoInhibitor: no incident's
    per_cluster = deps.settings.incident_cluster_label
    if not alerts:
        assignments = []
    elif deps.owners is None:
        assignments = assign_alerts(deps.catalog, payload, alerts, per_cluster=per_cluster)
    else:  # the cluster lookup blocks (cached, short timeouts): off the event loop
        assignments = await asyncio.to_thread(
            functools.partial(assign_alerts, per_cluster=per_cluster),
            deps.catalog,
            payload,
            alerts,
            deps.owners,
        )
    # one a heartbeat (its rule and labels: severity is no part of it), a firing copy before a resolved
    # one (an upgrade's old and new Watchdog in one group); the sink names its workflow
    one: dict[tuple[str, tuple[tuple[str, str], ...]], Beat] = {}
    for _, b in sorted(taken, key=lambda t: t[1].firing):
        one[b.rule.name, tuple(sorted(b.labels.items()))] = b
    beats = list(one.values())
    limits.check_fan_out(assignments, deps.settings, heartbeats=len(beats))
    batches: list[AlertBatch | AnomalyBatch] = [
        a.alert_batch(received_at, payload.truncatedAlerts) for a in assignments
    ]
    limits.check_fit(alerts, batches, deps.settings)
    incidents = await _hand_over(deps, assignments, batches, beats)
    deps.metrics.alerts_accepted.labels(received[0].source).inc(len(received))
    if beats:
        deps.metrics.heartbeats.inc(len(beats))
    for rule, count in Counter(rule.name for _, rule in ignored).items():
        deps.metrics.ignored.labels(rule).inc(count)
    return WebhookAccepted(accepted=len(received), incidents=incidents, note=TEST_NOTE if tests else None)


@router.post(
    "/webhooks/alertmanager",
    response_model=WebhookAccepted,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra=_body_schema("#/components/schemas/AlertmanagerWebhook"),
    summary="Alertmanager webhook receiver (webhook v4)",
)
async def alertmanager_webhook(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> WebhookAccepted:
    with Observe(deps, "alertmanager", request):
        raw = await _accept(request, deps, "alertmanager")
        return await _deliver_alertmanager(
            deps, parse_json_model(AlertmanagerWebhook, raw), datetime.now(UTC)
        )


@router.post(
    "/webhooks/anomaly",
    response_model=WebhookAccepted,
    response_model_exclude_none=True,
    responses=_ERRORS,
    openapi_extra=_body_schema("#/components/schemas/AnomalyWebhookBody"),
    summary="Anomaly signals (one or a list), or a Grafana alerting webhook",
)
async def anomaly_webhook(request: Request, deps: Annotated[Deps, Depends(get_deps)]) -> WebhookAccepted:
    with Observe(deps, "anomaly", request):
        raw = await _accept(request, deps, "anomaly")
        data = load_json(raw)
        received_at = datetime.now(UTC)
        if isinstance(data, dict) and "alerts" in data:
            return await _deliver_alertmanager(deps, parse_model(AlertmanagerWebhook, data), received_at)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise PayloadError("body: expected an anomaly signal or a non-empty list of them")
        limits.check_delivery_count(len(items), deps.settings, "signals")
        multiple = isinstance(data, list)
        signals = [
            parse_model(AnomalySignal, item, f"[{i}]." if multiple else "") for i, item in enumerate(items)
        ]
        limits.check_anomalies(signals, deps.settings, multiple=multiple, received_at=received_at)
        assignments = assign_anomalies(
            deps.catalog, signals, per_cluster=deps.settings.incident_cluster_label
        )
        limits.check_fan_out(assignments, deps.settings)
        batches: list[AlertBatch | AnomalyBatch] = [a.anomaly_batch(received_at) for a in assignments]
        limits.check_fit(
            signals, batches, deps.settings, path="[{}]".format if multiple else lambda _: "body"
        )
        incidents = await _hand_over(deps, assignments, batches)
        deps.metrics.alerts_accepted.labels("anomaly").inc(len(signals))
        return WebhookAccepted(accepted=len(signals), incidents=incidents)
