"""Handing alerts to Temporal: the only thing a webhook does before it answers.

A delivery is acknowledged only once Temporal has written it to an incident's history
(signal-with-start returns after the event is durable). Any failure to do so is
:class:`TemporalUnavailable`, which the API turns into a 503 so Alertmanager retries.

Under a storm, many requests carry alerts for the same incident at the same moment.
:class:`CoalescingSink` folds those into one signal per incident per short window, and
answers each request only once the signal carrying its alerts is durable; if the process
dies first, no request was answered, so every sender retries and nothing is lost.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.alerts import AlertStatus
from medic.incident import AlertBatch, AnomalyBatch, IncidentState
from medic.topology import ServiceContext
from service.settings import Settings
from service.temporal import rpc_timeout
from workflows.incident import ALERTS_SIGNAL, ANOMALIES_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = ["CoalescingSink", "IncidentSink", "TemporalIncidentSink", "TemporalUnavailable", "summary_for"]

log = logging.getLogger(__name__)

Batch = AlertBatch | AnomalyBatch


class TemporalUnavailable(Exception):
    """Temporal did not durably take a delivery; the sender must retry."""


class IncidentSink(Protocol):
    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> bool:
        """Durably hand a batch to its incident; False when there was nothing to deliver to."""


def summary_for(incident_id: str, batch: Batch) -> str:
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

    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> bool:
        signal = ALERTS_SIGNAL if isinstance(batch, AlertBatch) else ANOMALIES_SIGNAL
        if isinstance(batch, AlertBatch) and all(a.status is AlertStatus.RESOLVED for a in batch.alerts):
            # Resolutions never open an incident: a late duplicate after the incident closed
            # must not start an empty one.
            return await self._signal_existing(incident_id, signal, batch)
        try:
            await self._client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(
                    incident_id=incident_id,
                    quiet_period_seconds=self._settings.resolve_quiet_seconds,
                    correlation_window_seconds=self._settings.correlation_window_seconds,
                    service=service,
                ),
                id=incident_id,
                task_queue=self._settings.task_queue,
                start_signal=signal,
                start_signal_args=[batch],
                static_summary=summary_for(incident_id, batch),
                rpc_timeout=rpc_timeout(self._settings),
            )
        except (RPCError, RuntimeError) as err:
            log.warning("Temporal did not take a delivery for %s: %s", incident_id, err)
            raise TemporalUnavailable(str(err)) from err
        return True

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
        except RuntimeError as err:
            raise TemporalUnavailable(str(err)) from err
        return True


@dataclass
class _Pending:
    service: ServiceContext | None
    batches: list[Batch] = field(default_factory=list)
    size: int = 0
    done: "asyncio.Future[bool]" = field(default_factory=lambda: asyncio.get_running_loop().create_future())


def _merge(batches: list[Batch]) -> Batch:
    first = batches[0]
    if len(batches) == 1:
        return first
    contexts = {c.name: c for b in batches for c in b.contexts}
    received = min(b.received_at for b in batches)
    if isinstance(first, AlertBatch):
        alerts = [a for b in batches if isinstance(b, AlertBatch) for a in b.alerts]
        truncated = max(b.truncated for b in batches if isinstance(b, AlertBatch))
        return AlertBatch(
            alerts=alerts, received_at=received, truncated=truncated, contexts=list(contexts.values())
        )
    signals = [s for b in batches if isinstance(b, AnomalyBatch) for s in b.signals]
    return AnomalyBatch(signals=signals, received_at=received, contexts=list(contexts.values()))


class CoalescingSink:
    """Folds deliveries for the same incident within ``window`` seconds into one signal."""

    def __init__(self, inner: IncidentSink, *, window: float, max_items: int = 1000) -> None:
        self._inner = inner
        self._window = window
        self._max = max_items
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> bool:
        if self._window <= 0:
            return await self._inner.deliver(incident_id, service, batch)
        key = (incident_id, type(batch).__name__)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(service)
            asyncio.get_running_loop().call_later(self._window, self._start_flush, key, pending)
        pending.batches.append(batch)
        pending.size += len(batch.alerts) if isinstance(batch, AlertBatch) else len(batch.signals)
        if pending.size >= self._max:
            self._start_flush(key, pending)
        # Shielded: a sender that hangs up does not cancel the hand-off of the others' alerts.
        return await asyncio.shield(pending.done)

    def _start_flush(self, key: tuple[str, str], pending: _Pending) -> None:
        if self._pending.get(key) is not pending:
            return  # already flushed (size limit reached before the timer)
        del self._pending[key]
        task = asyncio.get_running_loop().create_task(self._flush(key[0], pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, incident_id: str, pending: _Pending) -> None:
        try:
            result = await self._inner.deliver(incident_id, pending.service, _merge(pending.batches))
        except asyncio.CancelledError:
            pending.done.cancel()
            raise
        except Exception as err:
            pending.done.set_exception(err)
        else:
            pending.done.set_result(result)
