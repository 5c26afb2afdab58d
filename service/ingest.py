"""Handing alerts to Temporal: the only thing a webhook does before it answers.

A delivery is acknowledged only once Temporal has written it to an incident's history
(signal-with-start returns after the event is durable). Any failure to do so is
:class:`TemporalUnavailable`, which the API turns into a 503 so Alertmanager retries.
"""

import logging
from typing import Protocol

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.alerts import AlertStatus
from medic.incident import AlertBatch, AnomalyBatch, IncidentState
from service.settings import Settings
from service.temporal import rpc_timeout
from workflows.incident import ALERTS_SIGNAL, ANOMALIES_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["IncidentSink", "TemporalIncidentSink", "TemporalUnavailable", "summary_for"]

log = logging.getLogger(__name__)


class TemporalUnavailable(Exception):
    """Temporal did not durably take a delivery; the sender must retry."""


class IncidentSink(Protocol):
    async def deliver_alerts(self, incident_id: str, batch: AlertBatch) -> bool:
        """Durably hand a batch to its incident; False when there was nothing to deliver to."""

    async def deliver_anomalies(self, incident_id: str, batch: AnomalyBatch) -> bool: ...


def summary_for(incident_id: str, batch: AlertBatch | AnomalyBatch) -> str:
    """The readable one-line summary the Temporal UI shows for a new incident."""
    state = IncidentState(id=incident_id, opened_at=batch.received_at)
    if isinstance(batch, AlertBatch):
        state.apply_alerts(batch, at=batch.received_at)
    else:
        state.apply_anomalies(batch, at=batch.received_at)
    return f"{state.priority} · {state.title}"


class TemporalIncidentSink:
    """Signal-with-start into ``IncidentWorkflow`` with a deterministic workflow id."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def deliver_alerts(self, incident_id: str, batch: AlertBatch) -> bool:
        if all(a.status is AlertStatus.RESOLVED for a in batch.alerts):
            # Resolutions never open an incident: a late duplicate after the incident closed
            # must not start an empty one.
            return await self._signal_existing(incident_id, ALERTS_SIGNAL, batch)
        await self._signal_with_start(incident_id, ALERTS_SIGNAL, batch)
        return True

    async def deliver_anomalies(self, incident_id: str, batch: AnomalyBatch) -> bool:
        await self._signal_with_start(incident_id, ANOMALIES_SIGNAL, batch)
        return True

    async def _signal_with_start(
        self, incident_id: str, signal: str, batch: AlertBatch | AnomalyBatch
    ) -> None:
        try:
            await self._client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(
                    incident_id=incident_id, quiet_period_seconds=self._settings.resolve_quiet_seconds
                ),
                id=incident_id,
                task_queue=self._settings.task_queue,
                start_signal=signal,
                start_signal_args=[batch],
                static_summary=summary_for(incident_id, batch),
                rpc_timeout=rpc_timeout(self._settings),
            )
        except RPCError as err:
            log.warning("Temporal did not take a delivery for %s: %s", incident_id, err.message)
            raise TemporalUnavailable(err.message) from err

    async def _signal_existing(self, incident_id: str, signal: str, batch: AlertBatch) -> bool:
        handle = self._client.get_workflow_handle(incident_id)
        try:
            await handle.signal(signal, batch, rpc_timeout=rpc_timeout(self._settings))
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                log.info("resolution for %s arrived after the incident closed; nothing to do", incident_id)
                return False
            log.warning("Temporal did not take a resolution for %s: %s", incident_id, err.message)
            raise TemporalUnavailable(err.message) from err
        return True
