"""A heartbeat's durable timer (``medic.dead_man``): one workflow per heartbeat (``heartbeat-<rule>-
<digest of its match>-<digest of its labels>``), started by its first beat (signal-with-start from the
API) and signalled by each one after.

Once armed, it waits for the next beat at most ``missing_after``; past it, the outage's finding goes to
the incident path (the activity), again every ``repeat`` while it lasts, and a last time when the beats
come back. An outage whose incident a person resolved is muted until the next beat. A heartbeat silent
``forget_after`` is forgotten, and one retired (``DELETE /heartbeats/{id}``, or its rule gone from the
routing policy) ends: its next beat starts it again. Its history is a few events a beat; it continues as
new after ``continue_after`` beats, its state carried over.
"""

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.dead_man import ALARM_ACTIVITY, AlarmRequest, AlarmResult
    from medic.anomaly import AnomalySignal
    from medic.dead_man import Beat, HeartbeatState

__all__ = ["BEAT_SIGNAL", "HEARTBEAT_WORKFLOW", "RETIRE_SIGNAL", "STATE_QUERY", "HeartbeatWorkflow"]

HEARTBEAT_WORKFLOW = "HeartbeatWorkflow"
BEAT_SIGNAL = "beat"
RETIRE_SIGNAL = "retire"
STATE_QUERY = "state"
_INCIDENTS_KEPT = 20
_LATE = timedelta(minutes=1)  # a timer this late (or missing_after) means no worker ran it meanwhile
_GRACE = timedelta(minutes=5)  # how long such a late outage waits for a beat before it is told


@workflow.defn(name=HEARTBEAT_WORKFLOW)
class HeartbeatWorkflow:
    def __init__(self) -> None:
        self._beats: list[Beat] = []
        self._state: HeartbeatState | None = None
        self._retired: str | None = None

    @workflow.signal(name=BEAT_SIGNAL)
    def beat(self, beat: Beat) -> None:
        # a beat is never later than now: an API replica whose clock runs ahead would make the next
        # honest beat look like a copy of this one
        self._beats.append(beat.model_copy(update={"at": min(beat.at, workflow.now())}))

    @workflow.signal(name=RETIRE_SIGNAL)
    def retire(self, why: str) -> None:
        self._retired = self._retired or why

    @workflow.query(name=STATE_QUERY)
    def state(self) -> HeartbeatState | None:
        return self._state

    @workflow.run
    async def run(self, state: HeartbeatState) -> HeartbeatState:
        self._state = state
        taken = 0
        waited_for = None  # the due time a late timer already waited a grace for
        while True:
            while self._beats:
                taken += 1
                if state.take(self._beats.pop(0)):  # the beats are back: the outage's last word
                    await self._tell(state, state.finding(workflow.now(), back=True))
                    state.end_outage()
            now = workflow.now()
            if self._retired is not None:
                if state.missing_since is not None and state.muted_at is None:
                    await self._tell(state, state.finding(now, retired=self._retired))
                return state
            due = state.due()
            if due is not None and now >= due:
                if state.forgotten(now):
                    if state.missing_since is not None and state.muted_at is None:
                        await self._tell(state, state.finding(now, forgotten=True))
                    return state
                if state.missing_since is None:  # armed, and no beat for missing_after: an outage
                    if now - due > min(_LATE, state.rule.missing_after) and waited_for != due:
                        # the timer fired late: no worker ran this heartbeat meanwhile (a rollback to a
                        # release without it, whose API sent no beat either); a beat may be on its way
                        waited_for = due
                        with contextlib.suppress(TimeoutError):
                            await workflow.wait_condition(
                                lambda: bool(self._beats) or self._retired is not None,
                                timeout=min(state.rule.missing_after, _GRACE).total_seconds(),
                            )
                        continue
                    state.missing_since = state.last_beat_at
                    state.outages += 1
                finding = state.finding(now)
                state.told_until = finding.window.end  # (said again a repeat before it, told or not)
                await self._tell(state, finding)
                continue
            if taken >= state.continue_after or workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(state)  # no beat is pending: every one was taken above
            with contextlib.suppress(TimeoutError):  # the time came: the loop's next turn acts on it
                await workflow.wait_condition(
                    lambda: bool(self._beats) or self._retired is not None,
                    timeout=(due - now).total_seconds() if due is not None else None,
                )

    async def _tell(self, state: HeartbeatState, finding: AnomalySignal) -> None:
        """Hand the finding over (a few attempts: one that fails is said again at the next repeat),
        unless a person resolved the outage's incident: then it is muted until the next beat."""
        request = AlarmRequest(finding=finding, told=state.told, since=state.first_told_at)
        try:
            result: AlarmResult = await workflow.execute_activity(
                ALARM_ACTIVITY,
                request,
                result_type=AlarmResult,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=2),
                    maximum_interval=timedelta(seconds=30),
                    maximum_attempts=5,
                    non_retryable_error_types=["DeliveryRefused"],
                ),
            )
        except ActivityError as err:
            workflow.logger.warning("heartbeat %s: its finding was not handed over: %s", state.rule.name, err)
            return
        if result.resolved is not None:
            state.muted_at = workflow.now()
            return
        state.first_told_at = state.first_told_at or workflow.now()
        for incident in result.incidents:
            if incident not in state.told:
                state.told.append(incident)
            if incident not in state.incidents:
                state.incidents.append(incident)
        del state.incidents[:-_INCIDENTS_KEPT]
