"""Heartbeats in the API (``medic.dead_man``): each beat the Alertmanager webhook receives is handed to
its heartbeat's workflow (signal-with-start, durable before the webhook answers, as an alert is), and
``GET /heartbeats`` shows every heartbeat's state."""

import asyncio
import logging
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.dead_man import Beat, HeartbeatState, heartbeat_id
from service.ingest import failed_delivery
from service.settings import Settings
from service.temporal import UNREACHABLE, rpc_timeout
from workflows.dead_man import BEAT_SIGNAL, HEARTBEAT_WORKFLOW, STATE_QUERY, HeartbeatWorkflow

__all__ = ["HeartbeatSink", "HeartbeatView", "HeartbeatsReader"]

log = logging.getLogger(__name__)
_LISTED = 500  # heartbeats GET /heartbeats shows at most


class HeartbeatSink:
    """Signal-with-start into the heartbeat's workflow; a beat Alertmanager sends resolved only
    signals a heartbeat being watched (it starts none: a late resolution of one forgotten)."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def beat(self, beat: Beat) -> None:
        """Raises :class:`~service.ingest.TemporalUnavailable` (the sender retries) or
        :class:`~service.ingest.DeliveryRefused`."""
        wid = heartbeat_id(beat.rule.name, beat.labels)
        timeout = rpc_timeout(self._settings)
        try:
            if not beat.firing:
                try:
                    await self._client.get_workflow_handle(wid).signal(BEAT_SIGNAL, beat, rpc_timeout=timeout)
                except RPCError as err:
                    if err.status is not RPCStatusCode.NOT_FOUND:
                        raise
                return
            labels = ", ".join(f"{k}={v}" for k, v in beat.labels.items())
            await self._client.start_workflow(
                HeartbeatWorkflow.run,
                HeartbeatState(rule=beat.rule, labels=beat.labels),
                id=wid,
                task_queue=self._settings.task_queue,
                start_signal=BEAT_SIGNAL,
                start_signal_args=[beat],
                static_summary=f"Heartbeat {beat.rule.name}" + (f" ({labels})" if labels else "")[:200],
                rpc_timeout=timeout,
            )
        except UNREACHABLE as err:
            raise failed_delivery(wid, err) from err


class HeartbeatView(BaseModel):
    """One heartbeat as ``GET /heartbeats`` shows it."""

    id: str = Field(description="its workflow id (the Temporal Web UI shows its history)")
    name: str = Field(description="the heartbeats: rule of the routing policy")
    labels: dict[str, str] = Field(description="the labels that tell it from the rule's other heartbeats")
    service: str = Field(description="whose team is told when it stops")
    status: str = Field(description="ok (armed), unarmed (no two beats within missing_after yet) or missing")
    beats: int
    first_beat_at: datetime | None
    last_beat_at: datetime | None
    missing_after_seconds: float
    longest_gap_seconds: float | None = Field(description="the longest time between two beats while armed")
    next_check_at: datetime | None = Field(
        description="when it is an outage without a beat before (while missing: when it is said again)"
    )
    missing_since: datetime | None
    resolved_at: datetime | None = Field(
        description="when Alertmanager sent it resolved, since its last beat"
    )
    outages: int
    incidents: list[str] = Field(description="the incidents its outages were told in, latest last")


class HeartbeatsReader:
    """The running heartbeats of this installation (its task queue), from Temporal's visibility and
    each one's state query."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def list(self) -> list[HeartbeatView]:
        query = (
            f"WorkflowType='{HEARTBEAT_WORKFLOW}' AND ExecutionStatus='Running'"
            f" AND TaskQueue='{self._settings.task_queue}'"
        )
        ids = []
        async for wf in self._client.list_workflows(query, limit=_LISTED):
            ids.append(wf.id)
        slots = asyncio.Semaphore(8)

        async def view(wid: str) -> HeartbeatView | None:
            async with slots:
                try:
                    state = await self._client.get_workflow_handle(wid).query(
                        STATE_QUERY, result_type=HeartbeatState, rpc_timeout=rpc_timeout(self._settings)
                    )
                except RPCError as err:  # ended meanwhile, or its worker away: left out, said in the log
                    log.info("heartbeat %s not read: %s", wid, err)
                    return None
            return _view(wid, state) if state is not None else None

        found = await asyncio.gather(*(view(wid) for wid in ids))
        return sorted(
            (v for v in found if v is not None), key=lambda v: (v.status != "missing", v.name, v.id)
        )


def _view(wid: str, state: HeartbeatState) -> HeartbeatView:
    due = state.due()
    return HeartbeatView(
        id=wid,
        name=state.rule.name,
        labels=state.labels,
        service=state.rule.service,
        status=state.status,
        beats=state.beats,
        first_beat_at=state.first_beat_at,
        last_beat_at=state.last_beat_at,
        missing_after_seconds=state.rule.missing_after.total_seconds(),
        longest_gap_seconds=state.longest_gap_seconds,
        next_check_at=due.astimezone(UTC) if due is not None else None,
        missing_since=state.missing_since,
        resolved_at=state.resolved_at,
        outages=state.outages,
        incidents=state.incidents,
    )
