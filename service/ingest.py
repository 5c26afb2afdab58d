"""Handing alerts to Temporal: the only thing a webhook does before it answers.

A delivery is acknowledged only once Temporal has written it to an incident's history
(signal-with-start returns after the event is durable). Temporal unreachable, overloaded or too
slow is :class:`TemporalUnavailable`, which the API turns into a 503 so Alertmanager retries;
Temporal refusing what it was given (INVALID_ARGUMENT, e.g. "Blob data size exceeds limit") is
:class:`DeliveryRefused`, which no retry can fix. Signals are kept under a byte size
(MEDIC_MAX_SIGNAL_BYTES), far inside Temporal's 2 MB per payload: a larger batch goes as several.

Under a storm, many requests carry alerts for the same incident at the same moment.
:class:`CoalescingSink` folds those into one signal per incident per short window, and
answers each request only once the signal carrying its alerts is durable; if the process
dies first, no request was answered, so every sender retries and nothing is lost.
"""

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol, TypeVar, cast

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.alerts import Alert, AlertStatus
from medic.anomaly import AnomalySignal
from medic.incident import AlertBatch, AnomalyBatch, IncidentState
from medic.limits import fit_text, runs_within
from medic.topology import ServiceContext
from service.settings import Settings
from service.temporal import UNREACHABLE, rpc_timeout
from workflows import search_attributes as sa
from workflows.incident import ALERTS_SIGNAL, ANOMALIES_SIGNAL, IncidentInput, IncidentWorkflow

__all__ = [
    "CoalescingSink",
    "DeliveryRefused",
    "IncidentSink",
    "MergeRedirects",
    "TemporalIncidentSink",
    "TemporalUnavailable",
    "envelope_size",
    "failed_delivery",
    "split",
    "summary_for",
]

log = logging.getLogger(__name__)

Batch = AlertBatch | AnomalyBatch


class TemporalUnavailable(Exception):
    """Temporal did not durably take a delivery (unreachable, overloaded, or no answer in time); the
    sender must retry."""


class DeliveryRefused(Exception):
    """Temporal refused the delivery itself (INVALID_ARGUMENT: a payload or value over its limits);
    retrying the same delivery cannot succeed."""


# How Temporal says "this request can never succeed": anything else is taken as unavailability.
_PERMANENT = frozenset({RPCStatusCode.INVALID_ARGUMENT})


def failed_delivery(incident_id: str, err: Exception) -> Exception:
    """The error a failed hand-over becomes."""
    if isinstance(err, RPCError) and err.status in _PERMANENT:
        log.error("Temporal refused a delivery for %s: %s", incident_id, err)
        return DeliveryRefused(str(err))
    log.warning("Temporal did not take a delivery for %s: %s", incident_id, err)
    return TemporalUnavailable(str(err))


class IncidentSink(Protocol):
    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> str | None:
        """Durably hand a batch to its incident; the id of the incident that holds it now (the one
        ``incident_id`` merged into, when the delivery went there), None when there was nothing to
        deliver to."""


def summary_for(incident_id: str, batch: Batch) -> str:
    """The readable one-line summary the Temporal UI shows for a new incident."""
    state = IncidentState(id=incident_id, opened_at=batch.received_at)
    if isinstance(batch, AlertBatch):
        state.apply_alerts(batch, at=batch.received_at)
    else:
        state.apply_anomalies(batch, at=batch.received_at)
    return fit_text(f"{state.priority} · {state.title}")


class _Summaries:
    """The start summary per incident, remembered for a while: Temporal uses it only when a delivery
    starts the workflow, and working it out (a whole incident state over the batch) cost a sixth of
    the API's CPU in a storm when done for every delivery."""

    def __init__(self, *, ttl: float = 60.0, size: int = 4096) -> None:
        self._ttl, self._size = ttl, size
        self._held: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def get(self, incident_id: str, batch: Batch) -> str:
        now = time.monotonic()
        held = self._held.get(incident_id)
        if held is not None and now - held[0] < self._ttl:
            return held[1]
        summary = summary_for(incident_id, batch)
        self._held[incident_id] = (now, summary)
        self._held.move_to_end(incident_id)
        while len(self._held) > self._size:
            self._held.popitem(last=False)
        return summary


# Running incidents that merged into another: resolved as far as their status goes, still running.
MERGED_QUERY = (
    f"WorkflowType = 'IncidentWorkflow' AND ExecutionStatus = 'Running' AND {sa.STATUS.name} = 'resolved'"
)


class MergeRedirects:
    """Where the API sends deliveries for incidents that merged into another.

    A merged incident forwards whatever reaches it to the incident it merged into: correct, but each
    forward costs a second signal and two more workflow tasks, and in a cascading storm most alerts
    belong to merged incidents. So while alerts pour in (``busy`` or more per ``interval``), the
    API reads the merged incidents from Temporal visibility every ``interval`` seconds and signals the
    surviving incident directly; at an ordinary pace it looks every ``calm`` seconds, and not at all
    when nothing arrives. The table is only a shortcut: until it knows of a merge the merged incident
    still forwards, and a delivery redirected to an incident that has closed goes to its own incident.

    The webhook's answer names the incident that holds each delivery, so a delivery that finds the
    table older than ``fresh`` seconds waits for it to be read (one read for every delivery waiting,
    ``wait`` seconds at most; not read, it goes on with the table it has). Without this the first
    delivery after a quiet spell went to the merged incident, forwarded from there, and the answer
    (and ``medic fire``) named the merged incident, not the one holding the alerts (a review,
    2026-12-06). A merge visibility does not show yet (a second or two) is still named so. The wait
    is only for a visibility that answers: not while its reads fail, nor when the last one took longer
    than ``wait``, nor on a read in flight for longer (a read is bounded by ``rpc_timeout``); there a
    delivery goes on at once, the long way (a hung read made every later webhook wait its whole
    second, and slow ones a second each: a second review)."""

    def __init__(
        self,
        client: Client,
        *,
        interval: float = 0.5,
        busy: int = 200,
        calm: float = 30.0,
        fresh: float = 1.0,
        wait: float = 0.2,
        rpc_timeout: float = 5.0,
    ) -> None:
        self._client = client
        self._interval, self._busy, self._calm = interval, busy, calm
        self._fresh, self._wait, self._rpc_timeout = fresh, wait, rpc_timeout
        self._read_started = 0.0  # when the read in flight began
        self._took = 0.0  # how long the last read that ended took
        self._into: dict[str, str] = {}
        self._alerts = 0  # delivered since the reader last looked
        self._read_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._reading_now: asyncio.Task[None] | None = None
        self._failures = 0

    @property
    def reading(self) -> bool:
        """Whether the reader is running (it stops by itself once deliveries stop)."""
        return self._task is not None and not self._task.done()

    async def target(self, incident_id: str, *, alerts: int = 1) -> str | None:
        """The incident that holds this one's alerts now (following merges of merges), if any, for a
        delivery of ``alerts``; from a table read within ``fresh`` seconds, when it can be read."""
        self._alerts += max(alerts, 1)
        if not self.reading:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="merge-redirects")
        if self._worth_waiting():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._read()), self._wait)
        return self.known(incident_id)

    def _worth_waiting(self) -> bool:
        """Whether a delivery should wait for the table to be read: it is stale, and visibility answers
        (its last read ended without failing, within ``wait``, and none has been in flight longer)."""
        now = asyncio.get_running_loop().time()
        if self._read_at is not None and now - self._read_at < self._fresh:
            return False  # fresh enough
        if self._failures or self._took > self._wait:
            return False  # failing or slow: the reader tries again in the background
        in_flight = self._reading_now is not None and not self._reading_now.done()
        return not in_flight or now - self._read_started <= self._wait

    def known(self, incident_id: str) -> str | None:
        """:meth:`target` from the table as it is."""
        target, seen = None, {incident_id}
        while (nxt := self._into.get(target or incident_id)) is not None and nxt not in seen:
            target = nxt
            seen.add(nxt)
        return target

    def forget(self, incident_id: str) -> None:
        self._into.pop(incident_id, None)

    def _read(self) -> "asyncio.Task[None]":
        """The read in flight, or a new one: deliveries and the reader share it."""
        if self._reading_now is None or self._reading_now.done():
            # dated as it is made: deliveries in the same turn see it as just begun, and wait for it
            self._read_started = asyncio.get_running_loop().time()
            self._reading_now = asyncio.get_running_loop().create_task(self._refresh_now())
        return self._reading_now

    async def _refresh_now(self) -> None:
        """Read the table; never fails (a delivery goes the long way instead)."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._rpc_timeout + 5.0):  # (the listing's pages, and their retries)
                await self.refresh()
            self._failures = 0
        except Exception as err:  # a shortcut: no failure of it may fail a delivery
            self._failures += 1
            if self._failures == 1:  # once per run of failures, not twice a second
                log.warning("could not read merged incidents (deliveries go the long way): %s", err)
        finally:
            # when it ended: a read that took longer than ``fresh`` was not stale at once (slow reads
            # ran back to back); a failed one is not retried by every delivery
            self._read_at = loop.time()
            self._took = self._read_at - self._read_started

    async def refresh(self) -> None:
        into: dict[str, str] = {}
        async for execution in self._client.list_workflows(
            MERGED_QUERY, rpc_timeout=timedelta(seconds=self._rpc_timeout)
        ):
            merged = (await execution.memo()).get("merged_into")
            if isinstance(merged, str) and merged:
                into[execution.id] = merged
        self._into = into

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._alerts:
            stale = self._read_at is None or loop.time() - self._read_at >= self._calm
            if self._alerts >= self._busy or stale:
                self._alerts = 0
                await asyncio.shield(self._read())
            else:
                self._alerts = 0
            await asyncio.sleep(self._interval)


class TemporalIncidentSink:
    """Signal-with-start into ``IncidentWorkflow`` with a deterministic workflow id."""

    def __init__(
        self, client: Client, settings: Settings, *, redirects: MergeRedirects | None = None
    ) -> None:
        self._client = client
        self._settings = settings
        self._summaries = _Summaries()
        self._redirects = redirects

    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> str | None:
        signal = ALERTS_SIGNAL if isinstance(batch, AlertBatch) else ANOMALIES_SIGNAL
        size = len(batch.alerts) if isinstance(batch, AlertBatch) else len(batch.signals)
        redirects = self._redirects
        target = await redirects.target(incident_id, alerts=size) if redirects is not None else None
        if target is not None and redirects is not None:
            if await self._signal_existing(target, signal, batch):
                return target
            redirects.forget(incident_id)  # it closed: this incident's own workflow decides
        if isinstance(batch, AlertBatch) and all(a.status is AlertStatus.RESOLVED for a in batch.alerts):
            # Resolutions never open an incident: a late duplicate after the incident closed
            # must not start an empty one.
            if await self._signal_existing(incident_id, signal, batch):
                return incident_id
            log.info("resolution for %s arrived after the incident closed; nothing to do", incident_id)
            return None
        try:
            await self._client.start_workflow(
                IncidentWorkflow.run,
                IncidentInput(
                    incident_id=incident_id,
                    quiet_period_seconds=self._settings.resolve_quiet_seconds,
                    correlation_window_seconds=self._settings.correlation_window_seconds,
                    settle_seconds=self._settings.settle_seconds,
                    settle_max_seconds=self._settings.settle_max_seconds
                    if self._settings.prometheus_url
                    else 0.0,
                    service=service,
                    ask_alertmanager=bool(
                        self._settings.alertmanager_url and self._settings.alertmanager_receiver
                    ),
                    pipeline_floor=True,
                    current_reads=True,
                ),
                id=incident_id,
                task_queue=self._settings.task_queue,
                start_signal=signal,
                start_signal_args=[batch],
                static_summary=self._summaries.get(incident_id, batch),
                rpc_timeout=rpc_timeout(self._settings),
            )
        except UNREACHABLE as err:
            raise failed_delivery(incident_id, err) from err
        return incident_id

    async def _signal_existing(self, incident_id: str, signal: str, batch: Batch) -> bool:
        """A plain signal to a running incident; False when it is not running (closed, or never was)."""
        handle = self._client.get_workflow_handle(incident_id)
        try:
            await handle.signal(signal, batch, rpc_timeout=rpc_timeout(self._settings))
        except UNREACHABLE as err:
            if isinstance(err, RPCError) and err.status is RPCStatusCode.NOT_FOUND:
                return False
            raise failed_delivery(incident_id, err) from err
        return True


@dataclass
class _Pending:
    service: ServiceContext | None
    batches: list[Batch] = field(default_factory=list)
    done: "asyncio.Future[str | None]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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
    """Group commit per incident: at most one signal in flight for an incident; deliveries that
    arrive meanwhile wait and go together in the next one. Under load batches grow by themselves,
    unloaded a delivery waits only ``window`` seconds (0: none) before its signal starts.
    Ordering per incident is kept, and a signal never carries more than ``max_items`` alerts nor
    more than ``max_bytes`` of payload (larger batches go as consecutive signals, all durable before
    anyone is answered). A flush that has not finished within ``deadline`` seconds fails as
    :class:`TemporalUnavailable`, so an incident's queue never waits longer than that on Temporal (the
    API puts its own deadline on each request, however long the queue it joined)."""

    def __init__(
        self,
        inner: IncidentSink,
        *,
        window: float,
        max_items: int = 500,
        max_bytes: int = 512 * 1024,
        deadline: float | None = None,
    ) -> None:
        self._inner = inner
        self._window = window
        self._max = max_items
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._pending: dict[tuple[str, str], _Pending] = {}
        self._in_flight: set[tuple[str, str]] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def deliver(self, incident_id: str, service: ServiceContext | None, batch: Batch) -> str | None:
        key = (incident_id, type(batch).__name__)
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = _Pending(service)
            if key not in self._in_flight:
                if self._window > 0:
                    asyncio.get_running_loop().call_later(self._window, self._start_flush, key)
                else:
                    asyncio.get_running_loop().call_soon(self._start_flush, key)
        pending.batches.append(batch)
        # Shielded: a sender that hangs up does not cancel the hand-off of the others' alerts.
        return await asyncio.shield(pending.done)

    def _start_flush(self, key: tuple[str, str]) -> None:
        if key in self._in_flight or key not in self._pending:
            return
        pending = self._pending.pop(key)
        self._in_flight.add(key)
        task = asyncio.get_running_loop().create_task(self._flush(key, pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, key: tuple[str, str], pending: _Pending) -> None:
        try:
            delivered: str | None = None
            async with asyncio.timeout(self._deadline):
                for chunk in split(_merge(pending.batches), max_items=self._max, max_bytes=self._max_bytes):
                    delivered = await self._inner.deliver(key[0], pending.service, chunk) or delivered
        except TimeoutError:
            pending.done.set_exception(
                TemporalUnavailable(f"Temporal did not take the delivery within {self._deadline:g} s")
            )
        except asyncio.CancelledError:
            pending.done.cancel()
            raise
        except Exception as err:
            pending.done.set_exception(err)
        else:
            pending.done.set_result(delivered)
        finally:
            self._in_flight.discard(key)
            if key in self._pending:  # what arrived meanwhile goes next, at once
                self._start_flush(key)


def envelope_size(batch: Batch) -> int:
    """Bytes of a batch's payload without its alerts or signals (times, truncation, catalog slices)."""
    empty = (
        batch.model_copy(update={"alerts": []})
        if isinstance(batch, AlertBatch)
        else batch.model_copy(update={"signals": []})
    )
    return len(empty.__pydantic_serializer__.to_json(empty))


B = TypeVar("B", bound=AlertBatch | AnomalyBatch)


def split(batch: B, *, max_items: int, max_bytes: int) -> list[B]:
    """The batch as consecutive batches of at most ``max_items`` items and ``max_bytes`` of payload
    each, in order; the batch itself when it fits."""
    items: Sequence[Alert | AnomalySignal] = batch.alerts if isinstance(batch, AlertBatch) else batch.signals
    if len(items) <= 1:
        return [batch]
    groups = runs_within(items, room=max_bytes - envelope_size(batch), max_items=max_items)
    if len(groups) == 1:
        return [batch]
    field_name = "alerts" if isinstance(batch, AlertBatch) else "signals"
    parts = [batch.model_copy(update={field_name: list(items[g.start : g.stop])}) for g in groups]
    return cast("list[B]", parts)  # model_copy keeps the type; mypy sees the bound
