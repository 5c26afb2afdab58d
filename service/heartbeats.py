"""Heartbeats in the API (``medic.dead_man``): each beat the Alertmanager webhook receives is handed to
its heartbeat's workflow (signal-with-start, durable before the webhook answers, as an alert is), and
``GET /heartbeats`` shows every heartbeat's state."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from medic.dead_man import Beat, HeartbeatState, heartbeat_id, match_digest, parse_heartbeat_id
from medic.incident import IncidentState, IncidentStatus
from medic.matchers import format_duration
from medic.mrkdwn import Markup, escape
from medic.routing import RoutingPolicy
from service.incidents import IncidentNotFound
from service.ingest import failed_delivery
from service.settings import Settings
from service.temporal import UNREACHABLE, rpc_timeout
from workflows.dead_man import BEAT_SIGNAL, HEARTBEAT_WORKFLOW, RETIRE_SIGNAL, STATE_QUERY, HeartbeatWorkflow

__all__ = [
    "HeartbeatSink",
    "HeartbeatView",
    "HeartbeatsReader",
    "keep_retiring",
    "render_heartbeats",
    "resolved_since",
    "retire",
    "retire_gone",
]

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
        wid = heartbeat_id(beat.rule, beat.labels, queue=self._settings.task_queue)
        timeout = rpc_timeout(self._settings)
        try:
            if not beat.firing:
                await _signal_running(self._client, self._settings, wid, BEAT_SIGNAL, beat)
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
    status: str = Field(
        description="ok (armed), unarmed (its beats' cadence not yet shown to fit missing_after), missing,"
        " or muted (a person resolved its outage's incident: told no more until its next beat)"
    )
    beats: int
    beats_with_other_alerts: int = Field(
        description="beats whose delivery held other alerts of their group: resent for those, they keep"
        " it alive but do not arm it (give the heartbeat a route of its own)"
    )
    first_beat_at: datetime | None
    last_beat_at: datetime | None
    missing_after_seconds: float
    longest_gap_seconds: float | None = Field(description="the longest time between two beats while armed")
    next_check_at: datetime | None = Field(
        description="when it is an outage without a beat before (while missing: when it is said again);"
        " null while unarmed or muted"
    )
    forget_at: datetime | None = Field(description="when it is forgotten without a beat before")
    arming: str | None = Field(
        description="while unarmed: how far its beats are from arming it, and what to do"
    )
    missing_since: datetime | None
    muted_at: datetime | None = Field(description="when a person resolved the outage's incident")
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

    async def retire(self, wid: str, why: str) -> bool:
        return await retire(self._client, self._settings, wid, why)

    async def list(self) -> list[HeartbeatView]:
        found = await _states(self._client, self._settings)
        return sorted(
            (_view(wid, state) for wid, state in found.items()),
            key=lambda v: (v.status != "missing", v.name, v.id),
        )


def _running(settings: Settings) -> str:
    """The visibility query of this installation's running heartbeats."""
    return (
        f"WorkflowType='{HEARTBEAT_WORKFLOW}' AND ExecutionStatus='Running'"
        f" AND TaskQueue='{settings.task_queue}'"
    )


async def _states(client: Client, settings: Settings) -> dict[str, HeartbeatState]:
    """The state of each heartbeat running on this installation's task queue (at most 500)."""
    ids = [wf.id async for wf in client.list_workflows(_running(settings), limit=_LISTED)]
    slots = asyncio.Semaphore(8)

    async def read(wid: str) -> HeartbeatState | None:
        async with slots:
            try:
                state: HeartbeatState | None = await client.get_workflow_handle(wid).query(
                    STATE_QUERY, result_type=HeartbeatState, rpc_timeout=rpc_timeout(settings)
                )
            except RPCError as err:  # ended meanwhile, or its worker away: left out, said in the log
                log.info("heartbeat %s not read: %s", wid, err)
                return None
        return state

    states = await asyncio.gather(*(read(wid) for wid in ids))
    return {wid: state for wid, state in zip(ids, states, strict=True) if state is not None}


async def retire(client: Client, settings: Settings, wid: str, why: str) -> bool:
    """Tell a running heartbeat of this installation to end (its outage's last word says ``why``);
    False when none runs with that id on its task queue (another installation's in the same namespace
    is not this one's to retire)."""
    try:
        found = await client.get_workflow_handle(wid).describe(rpc_timeout=rpc_timeout(settings))
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    if found.task_queue != settings.task_queue:
        return False
    return await _signal_running(client, settings, wid, RETIRE_SIGNAL, why)


async def _signal_running(client: Client, settings: Settings, wid: str, signal: str, arg: object) -> bool:
    """Signal a heartbeat that runs; False when none does (ended, forgotten, never started)."""
    try:
        await client.get_workflow_handle(wid).signal(signal, arg, rpc_timeout=rpc_timeout(settings))
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def retire_gone(client: Client, settings: Settings, policy: RoutingPolicy) -> list[str]:
    """At a worker's start: retire the heartbeats whose rule the routing policy no longer has (renamed,
    removed, ``heartbeats: []``), which no beat reaches any more and which would page as outages until
    forgotten; the ids retired. Temporal unreachable: logged, none retired (the next start does it)."""
    matches = {rule.name: match_digest(rule) for rule in policy.heartbeats}
    try:
        gone: dict[str, str] = {}
        async for wf in client.list_workflows(_running(settings), limit=_LISTED):
            parsed = parse_heartbeat_id(wf.id)
            if parsed is None:
                continue
            name, match = parsed
            if name not in matches:
                gone[wf.id] = f"its rule {name!r} is no longer in the routing policy"
            elif matches[name] != match:
                gone[wf.id] = f"its rule {name!r} matches other labels now"
        for wid, why in gone.items():  # (a signal needs no worker: this runs before the worker does)
            await retire(client, settings, wid, why)
    except UNREACHABLE as err:
        log.warning("heartbeats whose rule is gone could not be retired now: %s", err)
        return []
    if gone:
        log.info("retired %d heartbeat(s) whose rule is gone: %s", len(gone), ", ".join(gone))
    return list(gone)


class StateReader(Protocol):
    async def state(self, incident_id: str) -> IncidentState: ...


def resolved_since(reader: StateReader) -> "Callable[[str, datetime], Awaitable[bool]]":
    """Whether a person resolved this incident (or the one it merged into) at or after a time: the
    heartbeat's activity asks before telling an outage again. One that resolved by itself (its finding's
    window ended while tellings failed, or no worker ran) is no person's word: the outage is told
    again, into a new incident. One that cannot be read now is taken as open (told: fail open)."""

    async def resolved(incident_id: str, since: datetime) -> bool:
        try:
            state = await reader.state(incident_id)
            if state.merged_into is not None:
                state = await reader.state(state.merged_into)
        except IncidentNotFound:
            return False
        except Exception as err:  # unreadable now (no worker, a history that does not replay): told
            log.warning("heartbeat: could not read %s (told again as if open): %s", incident_id, err)
            return False
        at = state.resolved_at
        by_hand = state.resolved_by is not None  # (one that resolved by itself has no resolver)
        return state.status is IncidentStatus.RESOLVED and by_hand and at is not None and at >= since

    return resolved


def _view(wid: str, state: HeartbeatState) -> HeartbeatView:
    due = state.due()
    return HeartbeatView(
        id=wid,
        name=state.rule.name,
        labels=state.labels,
        service=state.rule.service,
        status=state.status,
        beats=state.beats,
        beats_with_other_alerts=state.shared,
        first_beat_at=state.first_beat_at,
        last_beat_at=state.last_beat_at,
        missing_after_seconds=state.rule.missing_after.total_seconds(),
        longest_gap_seconds=state.longest_gap_seconds,
        next_check_at=due.astimezone(UTC) if due is not None and state.status in ("ok", "missing") else None,
        forget_at=(state.last_beat_at + state.rule.forget_after).astimezone(UTC)
        if state.last_beat_at
        else None,
        arming=state.arming(),
        missing_since=state.missing_since,
        muted_at=state.muted_at,
        resolved_at=state.resolved_at,
        outages=state.outages,
        incidents=state.incidents,
    )


async def keep_retiring(
    client: Client, settings: Settings, policy: RoutingPolicy, *, every: float = 1800
) -> None:
    """:func:`retire_gone` every ``every`` seconds, until cancelled: an API pod of the release before,
    still running through a rollout, starts a heartbeat of a rule that is gone after the worker's start
    retired it."""
    while True:
        await asyncio.sleep(every)
        try:
            await retire_gone(client, settings, policy)
        except Exception as err:  # never the worker's end: said, and tried again
            log.warning("heartbeats whose rule is gone could not be retired: %s", err)


_STATUS = {
    "missing": ":red_circle:",
    "muted": ":no_bell:",
    "ok": ":large_green_circle:",
    "unarmed": ":white_circle:",
}


def render_heartbeats(views: list[HeartbeatView], *, now: datetime, top: int = 20) -> str:
    """``/medic heartbeats``: the missing ones first, each with its labels, last beat and what to do."""
    if not views:
        return (
            "No heartbeat yet: no Watchdog reached Medic. Route it here every few minutes "
            "(docs/heartbeats.md); `medic doctor` says where Alertmanager sends it."
        )
    lines = [f"*Heartbeats* ({len(views)}):"]
    for v in views[:top]:
        labels = ", ".join(f"{k}={val}" for k, val in v.labels.items()) or "no other labels"
        last = v.last_beat_at
        ago = format_duration(now - last - (now - last) % timedelta(minutes=1)) if last else "never"
        line = f"{_STATUS.get(v.status, '')} `{escape(v.name)}` ({escape(labels)}): {v.status}"
        line += f", last beat {ago} ago"
        if v.status == "missing" and v.incidents:
            line += f", told in `{escape(v.incidents[-1])}`"
        elif v.status == "unarmed" and v.arming:
            line += f"; not armed: {escape(v.arming)}"
            if v.beats_with_other_alerts:
                line += f" ({v.beats_with_other_alerts} came with other alerts of their group)"
        lines.append(Markup(line))
    if len(views) > top:
        lines.append(f"… and {len(views) - top} more (GET /heartbeats lists them all).")
    return "\n".join(lines)
