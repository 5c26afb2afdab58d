"""The webhook's path for alerts a settling symptom takes from Alertmanager before it delivers them
(``activities.correlate``, ``correlate.hand_over_held``), in the worker: the same limits per alert as
``POST /webhooks/alertmanager`` (an alert the webhook would refuse is left out, and logged), the same
assignment to incidents (the cluster lookup too, MEDIC_SUBJECT_LOOKUP), signals split to fit Temporal's
payload limit as the API splits them, and signal-with-start into each incident."""

import asyncio
import functools
import logging
from datetime import UTC, datetime

from fastapi import HTTPException

from activities.correlate import DeliverAlerts
from medic.alerts import Alert, AlertmanagerWebhook, normalise_webhook
from medic.assign import Assignment, assign_alerts
from medic.catalog import Catalog
from medic.ports import PermanentError
from medic.subject import OwnerLookup
from service.api.limits import check_alertmanager, unfit
from service.ingest import DeliveryRefused, IncidentSink, split
from service.settings import Settings

__all__ = ["held_delivery"]

log = logging.getLogger(__name__)


def held_delivery(
    sink: IncidentSink, catalog: Catalog, settings: Settings, owners: OwnerLookup | None = None
) -> DeliverAlerts:
    """Hand ``payload``'s alerts (marked as coming from ``source``) to their incidents: the incidents that
    took one. Temporal refusing a signal is a :class:`PermanentError` (retrying cannot help)."""

    async def assign(payload: AlertmanagerWebhook, alerts: list[Alert]) -> list[Assignment]:
        per_cluster = settings.incident_cluster_label
        if owners is None:
            return assign_alerts(catalog, payload, alerts, per_cluster=per_cluster)
        # the cluster lookup blocks (cached, short timeouts): off the event loop
        assigning = functools.partial(assign_alerts, per_cluster=per_cluster)
        return await asyncio.to_thread(assigning, catalog, payload, alerts, owners)

    async def deliver(payload: AlertmanagerWebhook, source: str) -> list[str]:
        received = datetime.now(UTC)
        kept = []
        for alert in payload.alerts:
            try:
                check_alertmanager(payload.model_copy(update={"alerts": [alert]}), settings)
            except HTTPException as err:
                log.warning(
                    "an alert Alertmanager holds is one the webhook would refuse, left out: %s", err.detail
                )
                continue
            kept.append(alert)
        if not kept:
            return []
        payload = payload.model_copy(update={"alerts": kept})
        alerts = [
            a.model_copy(update={"source": source}) for a in normalise_webhook(payload, received_at=received)
        ]
        assignments = await assign(payload, alerts)
        batches = [a.alert_batch(received, payload.truncatedAlerts) for a in assignments]
        refused = unfit(alerts, batches, settings)
        if refused:
            # Left out alone (the webhook refuses it, 413): the others are still handed over. Without it the
            # envelopes only shrink, so the rest still fit.
            too_large = {i for i, _, _ in refused}
            for i, size, room in refused:
                log.warning(
                    "an alert Alertmanager holds would not fit a signal (%d bytes, %d allowed), left out: %s",
                    size,
                    room,
                    alerts[i].fingerprint,
                )
            left = [i for i in range(len(alerts)) if i not in too_large]
            if not left:
                return []
            payload = payload.model_copy(update={"alerts": [payload.alerts[i] for i in left]})
            alerts = [alerts[i] for i in left]
            assignments = await assign(payload, alerts)
            batches = [a.alert_batch(received, payload.truncatedAlerts) for a in assignments]
        taken: list[str] = []
        for assignment, batch in zip(assignments, batches, strict=True):
            parts = split(
                batch, max_items=settings.max_alerts_per_delivery, max_bytes=settings.max_signal_bytes
            )
            try:
                delivered = [await sink.deliver(assignment.incident_id, assignment.service, p) for p in parts]
            except DeliveryRefused as err:
                raise PermanentError(
                    f"Temporal refused the alerts for {assignment.incident_id}: {err}"
                ) from err
            taken.extend(holder for holder in delivered if holder is not None)  # (where each part went)
        return list(dict.fromkeys(taken))

    return deliver
