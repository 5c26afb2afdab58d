"""The webhook's path for alerts a settling symptom takes from Alertmanager before it delivers them
(``activities.correlate``, ``correlate.hand_over_held``), in the worker: the same limits per alert as
``POST /webhooks/alertmanager`` (an alert the webhook would refuse is left out, and logged), the same
assignment to incidents (the cluster lookup too, MEDIC_SUBJECT_LOOKUP), signals split to fit Temporal's
payload limit as the API splits them, and signal-with-start into each incident."""

import asyncio
import logging
from datetime import UTC, datetime

from fastapi import HTTPException

from activities.correlate import DeliverAlerts
from medic.alerts import AlertmanagerWebhook, normalise_webhook
from medic.assign import assign_alerts
from medic.catalog import Catalog
from medic.ports import PermanentError
from medic.subject import OwnerLookup
from service.api.limits import check_alertmanager, check_fit
from service.ingest import DeliveryRefused, IncidentSink, split
from service.settings import Settings

__all__ = ["held_delivery"]

log = logging.getLogger(__name__)


def held_delivery(
    sink: IncidentSink, catalog: Catalog, settings: Settings, owners: OwnerLookup | None = None
) -> DeliverAlerts:
    """Hand ``payload``'s alerts (marked as coming from ``source``) to their incidents: the incidents that
    took one. Temporal refusing a signal is a :class:`PermanentError` (retrying cannot help)."""

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
        if owners is None:
            assignments = assign_alerts(catalog, payload, alerts)
        else:  # the cluster lookup blocks (cached, short timeouts): off the event loop
            assignments = await asyncio.to_thread(assign_alerts, catalog, payload, alerts, owners)
        batches = [a.alert_batch(received, payload.truncatedAlerts) for a in assignments]
        try:
            check_fit(alerts, batches, settings)
        except HTTPException as err:
            log.warning(
                "alerts Alertmanager holds would not fit a signal, left to the webhook: %s", err.detail
            )
            return []
        taken = []
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
            if any(delivered):
                taken.append(assignment.incident_id)
        return taken

    return deliver
