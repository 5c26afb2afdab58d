"""A settling incident's likely causes, a mixin of :class:`workflows.incident.IncidentWorkflow` (the
settle period and the state are the workflow's): Prometheus asked whether a service that could absorb
the incident alerts, again while every one is only pending; a firing cause's alerts that Alertmanager
still holds taken at once; taken alerts checked with Alertmanager when they come due; and the settle
period ended when nothing will absorb the incident. Every branch here that issues new commands is
behind a patch named below (``workflow.patched``), so recorded histories replay."""

import contextlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.correlate import (
        AlertingAnswer,
        AlertingRequest,
        CorrelationActivities,
        HandOverRequest,
        StillHeldAnswer,
        StillHeldRequest,
    )
    from medic.incident import IncidentState
    from medic.topology import ServiceContext, absorbed_by
    from medic.vocab import TimelineKind
    from workflows.notifier import Notifier

__all__ = [
    "HELD_EXPIRE_PATCH",
    "RECHECK_PATCH",
    "SETTLE_ASKS_AGAIN_PATCH",
    "SETTLE_SAID_ONCE_PATCH",
    "SETTLE_TAKES_HELD_PATCH",
    "CauseProbe",
]

# A cause firing in Prometheus may wait in Alertmanager (group_wait, group_interval) before the webhook
# delivers it: the settling symptom has its held alerts handed over at once (correlate.hand_over_held;
# marked only where Prometheus says a cause fires).
SETTLE_TAKES_HELD_PATCH = "settle-takes-held-cause"
# An alert taken so is firing until its ends_at (Alertmanager's "valid until"), unless a webhook delivers
# it meanwhile: then Alertmanager is asked again (correlate.still_held), and one it no longer holds is
# resolved, since Alertmanager never delivers the resolution of an alert it never notified (marked only
# where an incident holds such an alert when it comes due).
HELD_EXPIRE_PATCH = "held-alerts-expire"
# Alerts the webhook delivered are asked about once quiet: Alertmanager never sends the resolution of one
# silenced or inhibited when it resolved (alertmanager#226, #2754): without asking, its incident stayed
# open for good (the Silence button, kube-prometheus's InfoInhibitor).
RECHECK_PATCH = "delivered-alerts-rechecked"
# A cause only pending at the first ask fires once its rule's ``for:`` passes, and Alertmanager then holds
# it for its group's group_wait (30 s in the shipped receiver): the settling symptom asks Prometheus again
# every _REASK while it waits, and takes the cause from Alertmanager as soon as it fires (marked only where
# the first answer named pending causes only).
SETTLE_ASKS_AGAIN_PATCH = "settle-asks-again"
_REASK = timedelta(seconds=5)
# A run continued while it settled asks Prometheus again; its "settling" entry is written once (marked only
# where the timeline already holds one when the next run's answer comes).
SETTLE_SAID_ONCE_PATCH = "settle-said-once"
_REASK_MAX = timedelta(seconds=40)  # Prometheus not answering: asked less often, down to this
_HELD_RETRY = timedelta(seconds=60)  # Alertmanager did not answer: ask again this much later, at first
_HELD_RETRY_MAX = timedelta(minutes=15)
_HELD_GIVE_UP = timedelta(hours=6)  # unanswered this long since it was taken: resolved
# Prometheus says nothing alerts but an incident that could absorb it has not answered yet: this long.
_PEER_GRACE = timedelta(seconds=1)


class CauseProbe:
    """The settle period's questions to Prometheus and Alertmanager (see the module's doc)."""

    _state: IncidentState
    _ctx: ServiceContext | None
    _notifier: Notifier | None
    _settle_end: datetime | None
    _causes_quiet: bool
    _node_hellos: set[str]
    _peer_hellos: set[str]

    def _settling(self) -> bool:
        raise NotImplementedError  # the workflow's

    def _cluster(self) -> str:
        return self._ctx.cluster if self._ctx is not None else ""

    async def _alerting(
        self, services: list[str], *, attempts: int, within: timedelta | None = None
    ) -> AlertingAnswer:
        """Prometheus' answer on which of ``services`` alert; not known when it did not answer (in time)."""
        try:
            return await workflow.execute_activity_method(
                CorrelationActivities.alerting,
                # (a cluster's incident, MEDIC_INCIDENTS_PER_CLUSTER: its own cluster's causes; an
                # activity's input, no command: '' for every incident begun without it, as before)
                AlertingRequest(services=services, cluster=self._cluster()),
                start_to_close_timeout=timedelta(seconds=5),
                schedule_to_close_timeout=within,
                retry_policy=RetryPolicy(maximum_attempts=attempts),
            )
        except ActivityError:
            return AlertingAnswer(known=False)

    async def _settle_on_answer(self, causes: list[str], longest: timedelta) -> None:
        answer = await self._alerting(causes, attempts=2)  # not known: the plain settle period
        notifier = self._notifier
        if not answer.known or self._settle_end is None or notifier is None or notifier.settled:
            return  # merged, told, or past the settle period already
        now = workflow.now()
        if not answer.alerting:
            self._nothing_alerts(causes, "")
            return
        until = self._state.opened_at + longest
        said = "; ".join(
            f"{service}: {', '.join(names)}" for service, names in sorted(answer.alerting.items())
        )
        take = bool(answer.firing) and workflow.patched(SETTLE_TAKES_HELD_PATCH)
        # A run continued while it settled asks again: the wait it said before still stands.
        said_before = any(e.kind == TimelineKind.INCIDENT_SETTLING for e in self._state.timeline)
        if not (said_before and workflow.patched(SETTLE_SAID_ONCE_PATCH)):
            self._state.record(
                now,
                TimelineKind.INCIDENT_SETTLING,
                f"Its likely cause alerts in Prometheus ({said}): it waits up to "
                f"{longest.total_seconds():g} s from its start for that incident to absorb it before "
                "telling anyone.",
                alerting=answer.alerting,
            )
        if until > self._settle_end:
            self._settle_end = until
            notifier.settle_until(until)
        if take:
            await self._take_held(answer.firing)
        elif answer.takes_held and workflow.patched(SETTLE_ASKS_AGAIN_PATCH):
            await self._ask_until_firing(causes)

    def _nothing_alerts(self, causes: list[str], still: str) -> None:
        self._state.record(
            workflow.now(),
            TimelineKind.INCIDENT_SETTLED,
            f"No service it depends on ({', '.join(causes)}) has an alert pending or firing in "
            f"Prometheus{still}: unless one of their incidents is open, it tells now.",
        )
        # Prometheus can miss a cause (an alert only the cluster lookup assigns, an incident in its
        # quiet period): an open incident that could absorb it, or a node's, still gets its say.
        self._causes_quiet = True
        self._end_settle_if_alone()

    async def _ask_until_firing(self, causes: list[str]) -> None:
        """Its likely causes are only pending: ask again every _REASK while it settles (Prometheus answers
        from the probe's cache, one query per worker however many symptoms ask), and take a cause from
        Alertmanager once it fires, instead of waiting out the group's group_wait for the webhook. Only
        where the worker can take held alerts (the answer says so); less often while Prometheus does not
        answer; and a cause that stopped alerting before it fired ends the wait as the first answer would."""
        notifier = self._notifier
        assert notifier is not None
        wait = _REASK

        def over() -> bool:
            end = self._settle_end
            return (
                self._state.merged_into is not None
                or notifier.settled
                or end is None
                or workflow.now() + _REASK >= end
            )

        while True:
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(over, timeout=wait.total_seconds())
            if over():
                return  # joined, told, or too late for an answer to matter
            answer = await self._alerting(causes, attempts=1, within=_REASK)
            if over():
                return
            if not answer.known:
                wait = min(wait * 2, _REASK_MAX)  # Prometheus slow or down: do not add to its load
                continue
            wait = _REASK
            if answer.firing:
                await self._take_held(answer.firing)
                return
            if not answer.alerting:
                self._nothing_alerts(causes, " any more")
                return

    async def _take_held(self, firing: list[str]) -> None:
        """The firing causes' alerts Alertmanager still holds for Medic go to their incidents now, so the
        cause's team hears of it without waiting for the group's group_wait or group_interval (and this
        incident joins it in milliseconds). Nothing held, or no answer: the webhook brings them later."""
        try:
            answer = await workflow.execute_activity_method(
                CorrelationActivities.hand_over_held,
                HandOverRequest(services=firing, asked_by=self._state.id, cluster=self._cluster()),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            return
        if not answer.handed or self._state.merged_into is not None:
            return  # nothing taken; or the cause's incident absorbed this one meanwhile: its alerts say it
        said = "; ".join(f"{service}: {', '.join(names)}" for service, names in sorted(answer.handed.items()))
        self._state.record(
            workflow.now(),
            TimelineKind.INCIDENT_CAUSE_TAKEN,
            f"Took its likely cause's alerts from Alertmanager ({said}), without waiting for their delivery: "
            f"handed to {', '.join(answer.incidents) or 'their incidents'} now.",
            incidents=answer.incidents,
        )

    async def _check_held(self) -> None:
        """Held alerts whose ends_at came without Alertmanager delivering them: still held there, they
        run on to its new ends_at; gone, they resolve (see :data:`HELD_EXPIRE_PATCH`)."""
        now = workflow.now()
        due = self._state.held_due(now)
        try:
            answer = await workflow.execute_activity_method(
                CorrelationActivities.still_held,
                StillHeldRequest(fingerprints=due),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            answer = StillHeldAnswer(known=False)
        now = workflow.now()
        if not answer.known:
            # Nothing is resolved on a guess: asked again later, less often the longer Alertmanager has
            # said nothing of it (1 to 15 minutes), and given up after _HELD_GIVE_UP (Alertmanager gone
            # for good, or no longer configured): resolved then, saying so.
            records = {f: self._state.alerts[f] for f in due}
            stale = [f for f, r in records.items() if now - r.last_seen_at >= _HELD_GIVE_UP]
            later = {
                f: now + min(max(now - r.last_seen_at, _HELD_RETRY), _HELD_RETRY_MAX)
                for f, r in records.items()
                if f not in stale
            }
            self._state.settle_held(later, stale, at=now, unanswered=True)
            return
        # Still held but already past its end there (a clock apart): looked at again a little later.
        still = {f: max(until, now + _HELD_RETRY) for f, until in answer.until.items() if f in due}
        self._state.settle_held(still, [f for f in due if f not in answer.until], at=now)

    async def _recheck_delivered(self) -> None:
        """Ask Alertmanager which delivered alerts it still holds, muted or not (see
        :data:`RECHECK_PATCH` and ``IncidentState.recheck_at``)."""
        asked = self._state.recheck_asked()
        names = sorted({self._state.alerts[f].name for f in asked})
        try:
            answer = await workflow.execute_activity_method(
                CorrelationActivities.still_held,
                StillHeldRequest(fingerprints=asked, names=names),
                start_to_close_timeout=timedelta(seconds=15),
                retry_policy=RetryPolicy(maximum_attempts=3),
            )
        except ActivityError:
            answer = StillHeldAnswer(known=False)
        held = answer.until if answer.known else None
        self._state.settle_rechecked(asked, held, at=workflow.now())

    def _end_settle_if_alone(self) -> None:
        """With Prometheus' "nothing alerts": the settle ends at once when every incident that could
        absorb it (its upstream peers', its nodes') is known not to be open (their hellos failed); while
        a peer's hello is unanswered, after a short grace for an open peer's answer (an absorb takes
        milliseconds); while a node's is, as the node settle says."""
        if not self._causes_quiet or self._node_hellos or self._settle_end is None:
            return
        notifier = self._notifier
        if not self._peer_hellos:
            self._settle_end = None
            if notifier is not None:
                notifier.nothing_to_join()
            return
        grace = workflow.now() + _PEER_GRACE
        if grace < self._settle_end:
            self._settle_end = grace
            if notifier is not None:
                notifier.settle_until(grace)

    def _node_closed(self, incident_id: str) -> None:
        """No incident is open on one of the nodes our pods run on: once none is, nothing will absorb us
        (unless a dependency does: then the settle period runs on)."""
        self._node_hellos.discard(incident_id)
        self._end_settle_if_alone()
        ctx = self._ctx
        if self._node_hellos or ctx is None or any(absorbed_by(ctx, other) for other in ctx.upstream):
            return
        self._settle_end = None
        if self._notifier is not None:
            self._notifier.nothing_to_join()
