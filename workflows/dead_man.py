"""A heartbeat's durable timer (``medic.dead_man``): one workflow per heartbeat (``heartbeat-<rule>-
<digest of its labels>``), started by its first beat (signal-with-start from the API) and signalled
by each one after.

Armed once two beats came within ``missing_after``, it waits for the next beat at most that long; past
it, the outage's finding goes to the incident path (the activity), again every ``repeat`` while it
lasts, and a last time when the beats come back. A heartbeat silent ``forget_after`` is forgotten: its
workflow ends, and its next beat starts it again. Its history is a few events a beat; it continues as
new after 1,000 beats, its state carried over.
"""

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.dead_man import ALARM_ACTIVITY
    from medic.anomaly import AnomalySignal
    from medic.dead_man import Beat, HeartbeatState

__all__ = ["BEAT_SIGNAL", "HEARTBEAT_WORKFLOW", "STATE_QUERY", "HeartbeatWorkflow"]

HEARTBEAT_WORKFLOW = "HeartbeatWorkflow"
BEAT_SIGNAL = "beat"
STATE_QUERY = "state"
_INCIDENTS_KEPT = 20


@workflow.defn(name=HEARTBEAT_WORKFLOW)
class HeartbeatWorkflow:
    def __init__(self) -> None:
        self._beats: list[Beat] = []
        self._state: HeartbeatState | None = None

    @workflow.signal(name=BEAT_SIGNAL)
    def beat(self, beat: Beat) -> None:
        self._beats.append(beat)

    @workflow.query(name=STATE_QUERY)
    def state(self) -> HeartbeatState | None:
        return self._state

    @workflow.run
    async def run(self, state: HeartbeatState) -> HeartbeatState:
        self._state = state
        taken = 0
        while True:
            while self._beats:
                taken += 1
                if state.take(self._beats.pop(0)):  # the beats are back: the outage's last word
                    await self._tell(state, state.finding(workflow.now(), back=True))
                    state.missing_since = state.told_until = None
            now = workflow.now()
            due = state.due()
            if due is not None and now >= due:
                if state.forgotten(now):
                    if state.missing_since is not None:
                        await self._tell(state, state.finding(now, forgotten=True))
                    return state
                if state.missing_since is None:  # armed, and no beat for missing_after: an outage
                    state.missing_since = state.last_beat_at
                    state.outages += 1
                finding = state.finding(now)
                await self._tell(state, finding)
                state.told_until = finding.window.end
                continue
            if taken >= state.continue_after or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(state)  # no beat is pending: every one was taken above
            with contextlib.suppress(TimeoutError):  # the time came: the loop's next turn acts on it
                await workflow.wait_condition(
                    lambda: bool(self._beats),
                    timeout=(due - now).total_seconds() if due is not None else None,
                )

    async def _tell(self, state: HeartbeatState, finding: AnomalySignal) -> None:
        held: list[str] = await workflow.execute_activity(
            ALARM_ACTIVITY,
            finding,
            result_type=list[str],
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
            ),
        )
        for incident in held:
            if incident not in state.incidents:
                state.incidents.append(incident)
        del state.incidents[:-_INCIDENTS_KEPT]
