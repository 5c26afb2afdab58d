"""IncidentWorkflow: one durable incident per service (or per Alertmanager group).

Alert and anomaly deliveries arrive as signals (signal-with-start from the API, so the
first delivery creates the incident). The workflow keeps an :class:`IncidentState`, talks
to the incidents of neighbouring services to fold symptoms into the incident of their
cause (see ``workflows.messages``), publishes its status as search attributes and memo so
the Temporal UI and ``/incidents`` read it from visibility, and resolves once nothing has
fired for the quiet period.
"""

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AliasChoices, BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from medic.correlation import join_decision
    from medic.feedback import FalsePositive, SilenceRecord
    from medic.handover import MAX_CARRIED_BYTES, compact_for_handover, pack, payload_size, unpack
    from medic.incident import AlertBatch, AnomalyBatch, IncidentState, IncidentStatus
    from medic.keys import service_incident_id
    from medic.limits import leading_within, model_size, runs_within
    from medic.names import empty
    from medic.timeline import TimelineEntry
    from medic.topology import ServiceContext, absorbed_by
    from medic.vocab import RUNNING, TimelineKind
    from remediations.plan import RemediationEvent
    from workflows import messages as msg
    from workflows import people
    from workflows.causes import HELD_EXPIRE_PATCH, RECHECK_PATCH, CauseProbe
    from workflows.local import Decisions
    from workflows.notifier import Notifier
    from workflows.publish import Publisher
    from workflows.remediation import REMEDIATION_EVENT
    from workflows.remediator import ARRIVED_WHILE_BUSY_PATCH, Remediator

__all__ = [
    "ALERTS_SIGNAL",
    "ANOMALIES_SIGNAL",
    "STATE_QUERY",
    "AckRequest",
    "FromJira",
    "IncidentInput",
    "IncidentResult",
    "IncidentView",
    "IncidentWorkflow",
    "ResolveRequest",
    "UpdateResult",
    "ViewRequest",
]

ALERTS_SIGNAL = "alerts"
_MERGE_CHUNK = 400  # alerts or timeline entries per merge part ...
_MERGE_PART_BYTES = 512 * 1024  # ... and JSON bytes, as the webhook's signals (merge-parts-within-bytes)
# Signals' payloads sent in one workflow task at most: its completion carries them all, and gRPC refuses a
# message over 4 MB ("GRPC Message too large": the task fails at every retry and the incident stands still)
_TASK_BYTES = 2 * 1024 * 1024
MERGE_BYTES_PATCH = "merge-parts-within-bytes"
FLUSH_BYTES_PATCH = "flush-within-bytes"
ANOMALIES_SIGNAL = "anomalies"
STATE_QUERY = "state"
JOIN_RULE_PATCH = "join-rule-starts"
PUBLISH_PATCH = "publish-after-flush"
# Only an incident that could still be absorbed (a dependency of its service ranks before it) settles.
SETTLE_ABSORBABLE_PATCH = "settle-only-absorbable"
# A node's incident says hello to the services whose pods run on it, and they join it (marked only
# where a node's context names such services, or a hello names this incident's service among them).
NODE_ABSORBS_PATCH = "node-absorbs-its-workloads"
# A node's incident waits for the incidents of the services on it to answer its hello (they join it) before
# it tells anyone, up to settle_seconds, and is told to the team of the one that ranks first: it told at once,
# to the default key (or nobody), and resolved their teams' pages as they joined (marked only where a new
# node's context names hosted services).
NODE_SETTLES_PATCH = "node-settles-for-its-workloads"
# A service's incident says hello to the incidents of the nodes its pods run on (its context names them),
# so a node's incident opened first absorbs it; it settles until they answer (marked only where a
# service's context names nodes).
SERVICE_JOINS_NODE_PATCH = "service-joins-its-node"
# A settling incident asks Prometheus whether a service that could absorb it alerts (correlate.alerting):
# none, it tells at once; one, it waits up to settle_max_seconds (marked only where it asks).
SETTLE_PROBE_PATCH = "settle-asks-prometheus"
# A merged incident whose first JIRA issue was being created as the merge landed learns its key only after
# handing over its timeline: it sends that entry on, so the incident it joined links the issue to its own
# (marked only where a key comes back after the merge).
LATE_ISSUE_PATCH = "merge-forwards-late-issue"
# An incident whose anomalies were seen within the correlation window, no alert firing, joins and absorbs
# as one whose alerts fire (marked only where that is the case).
ANOMALY_JOINS_PATCH = "anomalies-join"
# Of those anomalies, only the ones whose own window ended within the correlation window count: a finding
# delivered late is no outage beginning now (marked only where a late one would have counted).
STALE_ANOMALY_PATCH = "stale-anomalies-no-cause"
# A signal that reopened the incident as it closed (its pages already resolved) restarted the notifier
# where the chain had got to: the first level was never paged again and the next levels were paged on the
# old timers. Its chain now starts again from the reopening (marked only where an incident reopens so).
PAGES_AGAIN_PATCH = "reopened-pages-again"
# How far Jira's clock and Temporal's may differ, for telling Medic's own moves of an issue from a person's.
JIRA_CLOCKS = timedelta(seconds=10)
# The same for an incident standing alone again after its merge failed (its pages resolved at the merge):
# it kept its chain where it was, paging only the levels left, on the old timers.
UNMERGED_PAGES_AGAIN_PATCH = "unmerged-pages-again"


class IncidentInput(BaseModel):
    incident_id: str
    quiet_period_seconds: float = 300.0
    correlation_window_seconds: float = 900.0
    # The catalog slice of the service this incident is keyed by; None for group-keyed ones.
    service: ServiceContext | None = None
    # Carried across continue-as-new; None for a new incident. A state too large for one payload comes
    # zlib-compressed and base64-encoded in packed_state instead.
    state: IncidentState | None = None
    packed_state: str | None = None
    # Tell Slack, PagerDuty and JIRA, and run runbooks (off in tests that exercise correlation alone).
    notify: bool = True
    remediate: bool = True
    # Continue as new once history reaches this many events; 0: when Temporal suggests it.
    history_limit: int = Field(default=0, ge=0)
    # How long a quiet incident waits for a remediation that never reports its outcome (terminated by
    # an operator, stuck failing) before it closes anyway: far beyond any approval plus verification.
    remediation_wait_seconds: float = Field(default=7200.0, gt=0)
    # Decide before telling: an incident whose service has neighbours in the catalog says nothing for
    # this long after it opens, so a join with its cause (or of its symptoms) is decided first. Incidents
    # with no neighbours (and group-keyed ones) have nothing to join and tell at once.
    settle_seconds: float = Field(default=0.0, ge=0)
    # With Prometheus to ask: how long a possible symptom waits for a cause that has an alert pending or
    # firing there (0: it does not ask; settle_seconds alone decides).
    settle_max_seconds: float = Field(default=0.0, ge=0)
    # Carried across continue-as-new while the incident still waits for its join decision: when the
    # wait ends (Prometheus may have extended it) and whether Prometheus' answer was still to come (the
    # next run asks again). None and False for a new incident, and in runs continued before these existed.
    settle_until: datetime | None = None
    settle_ask: bool = False
    # An Alertmanager to ask (MEDIC_ALERTMANAGER_URL): about delivered alerts that went quiet, since it
    # sends no resolution for one silenced or inhibited when it resolved (IncidentState.recheck_at).
    ask_alertmanager: bool = False
    # The monitoring stack's critical alerts raise the incident to P2 (medic.pipeline_alerts). False for
    # incidents started before it: replayed, their priority (and the plans it asks for) stays as it was.
    pipeline_floor: bool = False
    # Read and worded as this release does (SLO burns: medic.slo; the title's "(+N more alerts)"). False
    # for incidents started before: replayed, their priority and title stay as they were.
    current_reads: bool = Field(  # (named slo_current in this release's first commits: still read)
        default=False, validation_alias=AliasChoices("current_reads", "slo_current")
    )


_NAME = "the person's name, where the actor is a Slack user id (written so outside Slack)"


class FromJira(BaseModel):
    """Where an acknowledge or resolve comes from a move of a JIRA issue (service.jira_webhook): which
    issue, and when Jira says it happened."""

    jira_key: str | None = Field(default=None, max_length=255)
    jira_at: datetime | None = None


class AckRequest(FromJira):
    actor: str = Field(min_length=1, max_length=200, description="who acknowledges, e.g. a Slack user")
    # The person's name beside a Slack id (the id stays the actor: comparisons use it); empty elsewhere,
    # and then not in the payload at all.
    actor_name: str = Field(default="", max_length=200, exclude_if=empty, description=_NAME)
    source: str = Field(default="api", max_length=50)


class ResolveRequest(FromJira):
    actor: str = Field(min_length=1, max_length=200)
    actor_name: str = Field(default="", max_length=200, exclude_if=empty, description=_NAME)
    source: str = Field(default="api", max_length=50)
    reason: str = Field(default="", max_length=1000)


class ViewRequest(BaseModel):
    """How much of a large incident a reader wants: query results must stay well under gRPC's 4 MB."""

    alerts: int = Field(default=500, ge=0, le=5000)
    timeline: int = Field(default=1000, ge=0, le=10000)
    # The answer's alerts are cut to this many bytes too: 500 alerts with 4.5 KB annotations are over
    # Temporal's 2 MB per payload, and the query failed with "Blob data size exceeds limit".
    max_bytes: int = Field(default=1_500_000, ge=0, le=1_900_000)


class IncidentView(BaseModel):
    state: IncidentState = Field(description="the state with the most recent alerts and timeline entries")
    alerts_total: int
    timeline_total: int
    anomalies_total: int = 0


class UpdateResult(BaseModel):
    incident_id: str
    status: IncidentStatus
    acknowledged_by: str | None = None
    resolved_by: str | None = None
    changed: bool = Field(
        default=True, description="whether this request changed the incident (false: it was so already)"
    )


class IncidentResult(BaseModel):
    incident_id: str
    status: IncidentStatus
    opened_at: datetime
    resolved_at: datetime | None
    alert_count: int
    merged_into: str | None = None


def _counted(parts: list[list[Any]], size: int) -> bool:
    """Whether ``parts`` are what cutting their items every ``size`` gives (the parts before
    merge-parts-within-bytes)."""
    lengths = [len(p) for p in parts]
    total = sum(lengths)
    return lengths == [min(size, total - i) for i in range(0, total, size)]


def _within_a_task(batch: list["_Outgoing"]) -> list[list["_Outgoing"]]:
    """``batch`` as groups whose payloads take at most ``_TASK_BYTES`` together, each sent (and its
    sends ended) before the next: one group, as before flush-within-bytes, when the whole fits (asked
    only when it does not, so a history whose batches fitted replays without a marker)."""
    if len(batch) == 1:  # nothing to split (and no payload is over 2 MB): the common pass, not sized
        return [batch]
    payloads = [m.payload for m in batch]
    if sum(model_size(p) + 1 for p in payloads) <= _TASK_BYTES or not workflow.patched(FLUSH_BYTES_PATCH):
        return [batch]
    return [batch[r.start : r.stop] for r in runs_within(payloads, room=_TASK_BYTES)]


@dataclass
class _Outgoing:
    target: str
    signal: str
    payload: BaseModel
    # What to do when the target is gone: None (nothing), "merge_failed", "forward_failed".
    on_failure: str | None = None


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow(CauseProbe):
    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        self._quiet = timedelta(seconds=inp.quiet_period_seconds)
        self._window = timedelta(seconds=inp.correlation_window_seconds)
        self._remediation_wait = timedelta(seconds=inp.remediation_wait_seconds)
        self._ctx = inp.service
        # Only an incident with neighbours has a join to decide before it tells or acts (see settle_seconds).
        joinable = inp.service is not None and bool(inp.service.neighbours)
        self._settle = timedelta(seconds=inp.settle_seconds if joinable else 0.0)
        # Whose join is decided by others: an incident no other absorbs (nothing it depends on ranks
        # before it, e.g. a database) only ever absorbs, so it is the survivor and may tell at once.
        ctx = inp.service
        self._absorbable = ctx is not None and any(absorbed_by(ctx, other) for other in ctx.upstream)
        new = inp.state is None and inp.packed_state is None
        # A new run's state opens now, so its settle period ends settle after workflow.now().
        self._settle_end: datetime | None = workflow.now() + self._settle if new and self._settle else None
        if not new and inp.settle_until is not None and inp.settle_seconds > 0:
            # Continued mid-settle (waiting for its cause, or for its nodes' incidents): it keeps waiting
            # for its join, up to the same end.
            self._settle = timedelta(seconds=inp.settle_seconds)
            self._settle_end, self._absorbable = inp.settle_until, True
        if inp.packed_state is not None:
            self._state = unpack(inp.packed_state)
        elif inp.state is not None:
            self._state = inp.state
        else:
            now = workflow.now()
            self._state = IncidentState(id=inp.incident_id, opened_at=now)
            if inp.service is not None:
                self._state.contexts[inp.service.name] = inp.service
            self._state.record(now, TimelineKind.INCIDENT_OPENED, "Incident opened.")
        self._state.pipeline_floor = inp.pipeline_floor or self._state.pipeline_floor
        self._state.current_reads = inp.current_reads or self._state.current_reads
        self._outbox: list[_Outgoing] = []
        self._nodes_told: list[str] = []  # the node incidents the last hello went to
        self._node_hellos: set[str] = set()  # of the first hello: those not yet known to be closed
        self._peers_told: set[str] = set()  # incidents of upstream peers that could absorb it, last told
        self._peer_hellos: set[str] = set()  # of the first hello: those not yet known to be closed
        self._host_hellos: set[str] = set()  # a node's: incidents of its services that may still join it
        self._causes_quiet = False  # Prometheus: nothing that could absorb it alerts
        self._probe: asyncio.Task[None] | None = None  # asking Prometheus about its likely causes
        self._parent_resolved = False
        self._escalate_again = False
        self._published = -1
        self._publisher = Publisher()
        self._notify = inp.notify
        self._notifier: Notifier | None = None  # one per stretch of the incident being open
        self._escalation: asyncio.Task[None] | None = None
        # The run's quick decisions, the main loop's and the notifier's (workflows/local.py).
        self._decisions = Decisions()
        self._remediator = (
            Remediator(lambda: self._state, self._signal_child, decisions=self._decisions)
            if inp.remediate
            else None
        )

    # ---- main loop -------------------------------------------------------------------------------

    @workflow.run
    async def run(self, inp: IncidentInput) -> IncidentResult:
        if inp.state is None and inp.packed_state is None:
            self._hello_peers()  # a continued run's peers already know it
            self._node_hellos = set(self._nodes_told)
            self._peer_hellos = set(self._peers_told)
            if self._ctx is not None and self._ctx.hosts and not self._ctx.in_catalog:
                self._host_hellos = {
                    service_incident_id(h, cluster=self._ctx.cluster) for h in self._ctx.hosts
                }
        if self._node_hellos and not self._absorbable:
            # Only a node may absorb it: it settles until the nodes' incidents answer (or are not there).
            self._absorbable, self._settle = True, timedelta(seconds=inp.settle_seconds)
            self._settle_end = self._state.opened_at + self._settle if self._settle else None
        if self._settle and not self._absorbable and workflow.patched(SETTLE_ABSORBABLE_PATCH):
            self._settle, self._settle_end = timedelta(0), None
        if self._host_hellos and workflow.patched(NODE_SETTLES_PATCH):
            # A node: its services' incidents join it first, so it is told once, to one of their teams.
            self._state.hosts_route = True
            self._settle = timedelta(seconds=inp.settle_seconds)
            self._settle_end = self._state.opened_at + self._settle if self._settle else None
        tasks = self._start_notifier()
        if inp.settle_until is not None and self._settle_end is not None and self._notifier is not None:
            self._notifier.settle_until(self._settle_end)
        self._probe = self._ask_about_causes(inp)
        while True:
            while not self._finished():
                # Once per activation, after every signal of it: see IncidentState.apply_alerts.
                self._state.derive(workflow.now())
                if self._remediator is not None and not self._settling():
                    await self._remediator.consider()
                self._publish()
                await self._flush()
                if self._state.revision != self._published and workflow.patched(PUBLISH_PATCH):
                    # A signal handled while the messages went out (a merge decided on a hello's answer)
                    # is seen from here on: publish it now, or visibility would not show it until the
                    # next change (the API redirects deliveries of merged incidents by visibility).
                    self._publish()
                if self._escalate_again and self._notifier is not None:
                    self._escalate_again = False
                    if self._escalation is None or self._escalation.done():  # never two climbing at once
                        self._escalation = asyncio.create_task(self._notifier.escalate())
                        tasks.append(self._escalation)
                if self._history_full(inp):
                    tasks = await self._continue_as_new(inp, tasks)
                if self._remediation_behind():
                    continue  # alerts came in while it was busy: look at them now, not at the next change
                # A merged incident handed its alerts over: the incident it joined checks them.
                due = self._state.held_until() if self._state.merged_into is None else None
                if due is not None and workflow.patched(HELD_EXPIRE_PATCH):
                    if due <= workflow.now():
                        await self._check_held()
                        continue
                else:
                    due = None
                recheck = (
                    self._state.recheck_at()
                    if inp.ask_alertmanager and self._state.merged_into is None
                    else None
                )
                if recheck is not None and workflow.patched(RECHECK_PATCH):
                    if recheck <= workflow.now():
                        await self._recheck_delivered()
                        continue
                    due = recheck if due is None else min(due, recheck)
                seen = self._state.revision
                closes = self._closes_at()
                if due is not None:
                    closes = due if closes is None else min(closes, due)
                if self._settling():  # wake when it ends: runbooks are considered then
                    assert self._settle_end is not None
                    closes = self._settle_end if closes is None else min(closes, self._settle_end)
                timeout = None if closes is None else max((closes - workflow.now()).total_seconds(), 0.001)

                def changed(seen: int = seen) -> bool:
                    return self._state.revision != seen or bool(self._outbox) or self._parent_resolved

                # On timeout the loop condition decides whether the quiet period is really over.
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(changed, timeout=timeout)
            if self._state.merged_into is None and self._state.status is not IncidentStatus.RESOLVED:
                self._state.resolve(workflow.now())
            self._tell_absorbed()
            self._publish()
            await self._flush()
            if self._notifier is not None:
                self._notifier.close()
                await asyncio.gather(*tasks)
                self._publish()
            await workflow.wait_condition(workflow.all_handlers_finished)
            if self._state.status is IncidentStatus.RESOLVED and not self._outbox:
                break
            n = self._state.notifications
            if (
                self._state.status is not IncidentStatus.RESOLVED
                and "resolve" in n.pages.values()
                and workflow.patched(PAGES_AGAIN_PATCH)
            ):
                n.restart_chain(workflow.now())  # its pages were resolved: people must hear of it again
            tasks = self._start_notifier()  # a late signal reopened it (or unmerged it): carry on
        return IncidentResult(
            incident_id=self._state.id,
            status=self._state.status,
            opened_at=self._state.opened_at,
            resolved_at=self._state.resolved_at,
            alert_count=self._state.alert_count,
            merged_into=self._state.merged_into,
        )

    # ---- long incidents --------------------------------------------------------------------------

    def _history_full(self, inp: IncidentInput) -> bool:
        if self._state.merged_into is not None or self._outbox:
            return False  # a merged incident is short-lived and waits on its parent: let it finish
        info = workflow.info()
        if inp.history_limit:
            return info.get_current_history_length() >= inp.history_limit
        return info.is_continue_as_new_suggested()

    async def _continue_as_new(
        self, inp: IncidentInput, tasks: list["asyncio.Task[None]"]
    ) -> list["asyncio.Task[None]"]:
        """Start afresh before the history grows too long, carrying the whole state: the notifier and
        escalation resume from ``state.notifications``, remediations report to the incident's id, so
        nothing is sent twice and nothing is lost. Returns (with the notifier running again) only when
        the incident merged into another while handing over: that must finish here."""
        # Still waiting for its join decision: the next run waits on, to the same end (handing over
        # ends this run's wait, so this is read first).
        settling = self._settling() and (self._notifier is None or not self._notifier.settled)
        settle_until = self._settle_end if settling else None
        settle_ask = settling and self._probe is not None and not self._probe.done()
        if self._notifier is not None:
            self._notifier.hand_over()
            await asyncio.gather(*tasks)
        await workflow.wait_condition(workflow.all_handlers_finished)
        # Signals that arrived meanwhile may have queued messages to other incidents (a merge, forwards):
        # they go out before this run ends, or they would be lost with it.
        await self._flush()
        if self._state.merged_into is not None or self._outbox:
            return self._start_notifier()
        info = workflow.info()
        state = compact_for_handover(self._state, previous_run=info.run_id)
        state.record(
            workflow.now(),
            TimelineKind.INCIDENT_CONTINUED,
            f"Continued as a new run after {info.get_current_history_length()} history events; "
            "the incident's state and timeline carry over.",
            previous_run=info.run_id,
        )
        carried = inp.model_copy(
            update={
                "state": state,
                "service": self._ctx,
                "packed_state": None,
                "settle_until": settle_until,
                "settle_ask": settle_ask,
            }
        )
        if payload_size(state) > MAX_CARRIED_BYTES:
            # Even compacted it would not fit in one payload (thousands of firing alerts): compressed.
            carried = carried.model_copy(update={"state": None, "packed_state": pack(state)})
        workflow.continue_as_new(carried)

    def _start_notifier(self) -> list["asyncio.Task[None]"]:
        if not self._notify:
            return []
        self._notifier = Notifier(
            lambda: self._state, decisions=self._decisions, settle=self._settle, late_issue=self._late_issue
        )
        self._state.notifications.finished = False
        if self._state.status is not IncidentStatus.RESOLVED:
            self._state.notifications.postmortem = None  # reopened: its resolution gets a postmortem again
        self._escalation = asyncio.create_task(self._notifier.escalate())
        return [asyncio.create_task(self._notifier.run()), self._escalation]

    def _remediation_behind(self) -> bool:
        r = self._remediator
        return (
            r is not None
            and not self._settling()
            and r.behind()
            and workflow.patched(ARRIVED_WHILE_BUSY_PATCH)
        )

    def _settling(self) -> bool:
        """Whether the incident is still waiting for its join decision (see ``settle_seconds``): runbooks
        wait too, or a symptom would be remediated in the moments before it joins its cause."""
        if self._settle_end is None:
            return False
        if self._state.merged_into is not None or workflow.now() >= self._settle_end:
            self._settle_end = None
            return False
        return True

    def _finished(self) -> bool:
        if self._outbox:
            return False
        if self._state.resolved_by is not None and self._state.status is IncidentStatus.RESOLVED:
            return True  # resolved by a person
        if self._state.merged_into is not None:
            return self._parent_resolved  # its remediations went with it: the parent waits for them
        closes = self._closes_at()
        if closes is None or workflow.now() < closes:
            return False
        self._state.give_up_on_remediations(workflow.now())
        return True

    def _closes_at(self) -> datetime | None:
        """When the incident may close if nothing changes before: the end of the quiet period, or, while a
        fix is being applied or verified (its outcome belongs to this incident), when that fix reports,
        waited for at most ``remediation_wait_seconds`` from its start. None while firing or merged."""
        if self._state.merged_into is not None:
            return None
        deadline = self._state.quiet_deadline(self._quiet)
        if deadline is None:
            return None
        running = [t for t in self._state.remediations.values() if t.outcome in RUNNING]
        if not running:
            return deadline
        latest = max(t.started_at or deadline for t in running)
        return max(deadline, latest + self._remediation_wait)

    # ---- signals from the API ----------------------------------------------------------------

    @workflow.signal(name=ALERTS_SIGNAL)
    def alerts(self, batch: AlertBatch) -> None:
        if self._forwarded(ALERTS_SIGNAL, batch):
            return
        self._apply(lambda now: self._state.apply_alerts(batch, at=now, derive=False))

    @workflow.signal(name=ANOMALIES_SIGNAL)
    def anomalies(self, batch: AnomalyBatch) -> None:
        if self._forwarded(ANOMALIES_SIGNAL, batch):
            return
        self._apply(lambda now: self._state.apply_anomalies(batch, at=now, derive=False))

    @workflow.query(name=STATE_QUERY)
    def state(self) -> IncidentState:
        return self._readable()

    def _readable(self) -> IncidentState:
        """The state with its derived fields current. A query can arrive before the main loop derives
        (in the same activation as a signal); it must not change the real state, so it derives a copy."""
        if self._state.derived_revision == self._state.revision:
            return self._state
        # Deriving replaces top-level fields and appends to the timeline, nothing deeper: a shallow copy
        # with a timeline of its own leaves the real state as it was (a deep copy of a large incident
        # cost tens of milliseconds per query).
        copy = self._state.model_copy(update={"timeline": list(self._state.timeline)})
        copy.derive(workflow.now())
        return copy

    @workflow.query(name="view")
    def view(self, request: ViewRequest) -> IncidentView:
        s = self._readable()
        recent = sorted(s.alerts.values(), key=lambda a: a.last_seen_at, reverse=True)[: request.alerts]
        trimmed = s.model_copy(update={"alerts": {}, "anomalies": {}, "timeline": []})
        # Queries record nothing in history: bounding the answer needs no patch. The timeline entries
        # asked for and every anomaly when they fit together, as the timeline alone was before; else
        # the anomalies within half the room (the first one seen, then the most recently seen: 1,000
        # made an answer over Temporal's limit, and the incident unreadable: its page, /medic show, its
        # postmortem, its false-positive marks) and the latest timeline entries in the rest. The
        # alerts, most recently seen first, in what is left.
        room = request.max_bytes - payload_size(trimmed)
        latest = s.timeline[-request.timeline :] if request.timeline else []
        seen = sorted(s.anomalies.values(), key=lambda a: (a.last_seen_at, a.signal.window.end), reverse=True)
        if seen:
            first = min(seen, key=lambda a: (a.first_seen_at, a.signal.window.start))
            seen = [first, *(a for a in seen if a is not first)]
        sizes = sum(model_size(e) + 1 for e in latest), sum(model_size(a) + 1 for a in seen)
        if sum(sizes) > room:
            seen = leading_within(seen, min(sizes[1], room // 2))
            latest = leading_within(latest[::-1], room - sum(model_size(a) + 1 for a in seen))[::-1]
        trimmed.anomalies = {a.key: a for a in seen}
        trimmed.timeline = latest
        room -= sum(model_size(e) + 1 for e in latest) + sum(model_size(a) + 1 for a in seen)
        trimmed.alerts = {a.fingerprint: a for a in leading_within(recent, room)}
        trimmed.left_out = {
            k: n
            for k, n in (
                ("alerts", len(s.alerts) - len(trimmed.alerts)),
                ("anomalies", len(s.anomalies) - len(seen)),
            )
            if n
        }
        return IncidentView(
            state=trimmed,
            alerts_total=len(s.alerts),
            timeline_total=len(s.timeline),
            anomalies_total=len(s.anomalies),
        )

    @workflow.query(name="rules")
    def rules(self) -> list[str]:
        """The alert rules behind the incident (what a false-positive mark covers)."""
        return self._state.rules()

    @workflow.query(name="fingerprints")
    def fingerprints(self) -> list[str]:
        """Every alert fingerprint the incident holds (compact, for bulk checks)."""
        return list(self._state.alerts)

    # ---- people ------------------------------------------------------------------------------

    @workflow.update(name="acknowledge")
    def acknowledge(self, request: AckRequest) -> UpdateResult:
        before = self._state.revision
        self._state.acknowledge(
            workflow.now(), actor=request.actor, source=request.source, name=request.actor_name
        )
        return self._result().model_copy(update={"changed": self._state.revision != before})

    @acknowledge.validator
    def _check_acknowledge(self, request: AckRequest) -> None:
        self._must_be_open("acknowledge")
        self._check_jira(request)

    @workflow.update(name="resolve")
    def resolve(self, request: ResolveRequest) -> UpdateResult:
        self._state.resolve_by_hand(
            workflow.now(),
            actor=request.actor,
            source=request.source,
            reason=request.reason,
            name=request.actor_name,
        )
        return self._result()

    @resolve.validator
    def _check_resolve(self, request: ResolveRequest) -> None:
        self._must_be_open("resolve")
        self._check_jira(request)

    def _check_jira(self, request: FromJira) -> None:
        """A move of a JIRA issue acts only on the incident whose issue it is, and only when it is a
        person's: not the echo of Medic's own close or reopen (Medic's close still standing, or an event
        from before Medic last moved the issue, give or take Jira's and Temporal's clocks)."""
        if request.jira_key is None:
            return
        n = self._state.notifications
        if request.jira_key != n.jira_key:
            raise ValueError(f"{request.jira_key} is not {self._state.id}'s issue (that is {n.jira_key})")
        if n.jira_closed or n.jira_reopen:
            raise ValueError(f"{request.jira_key} was closed by Medic and is being reopened")
        if (
            request.jira_at is not None
            and n.jira_moved_at is not None
            and request.jira_at <= n.jira_moved_at + JIRA_CLOCKS
        ):
            raise ValueError(f"{request.jira_key} was moved before Medic last moved it: not a person's move")

    def _must_be_open(self, verb: str) -> None:
        """Validators reject before anything is written to history."""
        if self._state.merged_into:
            raise ValueError(f"{self._state.id} was merged into {self._state.merged_into}: {verb} that one")
        if self._state.status is IncidentStatus.RESOLVED:
            raise ValueError(f"{self._state.id} is already resolved")

    def _result(self) -> UpdateResult:
        s = self._state
        return UpdateResult(
            incident_id=s.id, status=s.status, acknowledged_by=s.acknowledged_by, resolved_by=s.resolved_by
        )

    def _apply(self, change: Callable[[datetime], bool]) -> None:
        now = workflow.now()
        was_quiet = self._state.quiet_since is not None or self._state.status is IncidentStatus.RESOLVED
        if not change(now):
            return
        self._state.reopen_if_firing(now)
        if was_quiet and self._state.quiet_since is None:
            self._hello_peers()

    @workflow.signal(name=people.NOTE_SIGNAL)
    def note(self, note: people.Note) -> None:
        if self._forwarded(people.NOTE_SIGNAL, note):
            return
        self._state.add_note(
            workflow.now(),
            kind=note.kind,
            message=note.message,
            actor=note.actor,
            data=note.data,
            name=note.actor_name,
        )

    @workflow.signal(name=people.SILENCE_SIGNAL)
    def silenced(self, silence: SilenceRecord) -> None:
        if self._forwarded(people.SILENCE_SIGNAL, silence):
            return
        self._state.add_silence(silence, at=workflow.now())

    @workflow.signal(name=people.FALSE_POSITIVE_SIGNAL)
    def false_positive(self, mark: FalsePositive) -> None:
        if self._forwarded(people.FALSE_POSITIVE_SIGNAL, mark):
            return
        self._state.mark_false_positive(mark)

    # ---- signals from other incidents ----------------------------------------------------------

    @workflow.signal(name=msg.HELLO)
    def peer_hello(self, hello: msg.PeerHello) -> None:
        if self._state.merged_into is not None:
            self._send(self._state.merged_into, msg.HELLO, hello)  # our parent may absorb them
            return
        if (
            self._ctx is None
            or self._state.status is IncidentStatus.RESOLVED
            or hello.incident_id == self._state.id
        ):
            return
        hosted = self._ctx.name in hello.hosts and workflow.patched(NODE_ABSORBS_PATCH)
        on_me = self._ctx.name in hello.nodes and workflow.patched(SERVICE_JOINS_NODE_PATCH)
        decision = join_decision(
            mine=self._ctx,
            other=hello.service,
            my_active_since=self._active_since(),
            their_active_since=hello.active_since,
            window=self._window,
            their_hosts=hello.hosts if hosted else (),
            their_nodes=hello.nodes if on_me else (),
        )
        if decision == "absorb":
            self._send(
                hello.incident_id, msg.ABSORB, msg.AbsorbRequest(into=self._state.id, service=self._ctx.name)
            )
        elif decision == "join":
            self._merge_into(hello.incident_id)

    @workflow.signal(name=msg.ABSORB)
    def absorb_request(self, request: msg.AbsorbRequest) -> None:
        if self._active_since() is not None and self._absorbed_by(request.service):
            self._merge_into(request.into)

    @workflow.signal(name=msg.MERGE_IN)
    def merge_in(self, incoming: msg.MergeIn) -> None:
        if self._forwarded(msg.MERGE_IN, incoming):
            return
        for joined in (incoming.state.id, *incoming.state.absorbed):  # (a host's own joined ones too)
            self._host_answered(joined)
        self._apply(
            lambda now: self._state.absorb(
                incoming.state, at=now, derive=False, alert_count=incoming.alert_count
            )
        )

    @workflow.signal(name=msg.MERGE_PART)
    def merge_part(self, part: msg.MergePart) -> None:
        if self._forwarded(msg.MERGE_PART, part):
            return
        if part.late and part.source not in self._state.absorbed:
            return  # a later run of this id (the one it joined closed, a new outage opened it): not ours
        self._apply(
            lambda now: self._state.absorb_part(part.source, part.alerts, part.timeline, at=now, derive=False)
        )

    @workflow.signal(name=REMEDIATION_EVENT)
    def remediation_event(self, event: RemediationEvent) -> None:
        if self._forwarded(REMEDIATION_EVENT, event):
            return
        if self._remediator is not None:
            self._remediator.on_event(event)
        else:
            self._state.relay(workflow.now(), event.kind, event.message)

    def _signal_child(self, target: str, signal: str) -> None:
        self._send(target, signal, msg.Ping())

    @workflow.signal(name=msg.PARENT_RESOLVED)
    def parent_resolved(self, note: msg.ParentResolved) -> None:
        if self._state.merged_into == note.incident_id:
            self._parent_resolved = True

    # ---- the protocol's moves ----------------------------------------------------------------

    def _active_since(self) -> datetime | None:
        """When this incident's outage began, for join decisions; None when it may not join or absorb
        (see IncidentState.active_since). Histories from before the rule counted from the arrival of
        the last firing signal, quiet or not (no ``join-rule-starts`` marker)."""
        if workflow.patched(JOIN_RULE_PATCH):
            since = self._state.active_since()
            if since is not None:
                return since
            seen = self._state.anomalies_since(workflow.now(), self._window)
            if seen is None or not workflow.patched(ANOMALY_JOINS_PATCH):
                return None
            live = self._state.anomalies_since(workflow.now(), self._window, live=True)
            return live if live != seen and workflow.patched(STALE_ANOMALY_PATCH) else seen
        if self._state.merged_into is not None or self._state.status is IncidentStatus.RESOLVED:
            return None
        return self._state.last_fired_at

    def _absorbed_by(self, other: str) -> bool:
        return self._ctx is not None and absorbed_by(self._ctx, other)

    def _hello_peers(self) -> None:
        since = self._active_since()
        if self._ctx is None or since is None:
            return  # merged, quiet or resolved: nothing to join
        peers, hosts, nodes = self._ctx.neighbours, list[str](), list[str]()
        if self._ctx.hosts and workflow.patched(NODE_ABSORBS_PATCH):
            hosts = self._ctx.hosts
            peers = sorted(set(peers) | set(hosts))
        if self._ctx.nodes and workflow.patched(SERVICE_JOINS_NODE_PATCH):
            nodes = self._ctx.nodes
        hello = msg.PeerHello(
            incident_id=self._state.id, service=self._ctx.name, active_since=since, hosts=hosts, nodes=nodes
        )
        # One cluster's incident (MEDIC_INCIDENTS_PER_CLUSTER) correlates with its own cluster's only;
        # '' for every incident begun without it, so their peers' ids are what they were.
        where = self._ctx.cluster
        for peer in peers:
            # The failure of a hello to a peer that could absorb us means no incident is open there: it
            # only tells the settle period (see _settle_on_answer); no command depends on it.
            self._send(service_incident_id(peer, cluster=where), msg.HELLO, hello, on_failure="peer_closed")
        self._peers_told = {service_incident_id(p, cluster=where) for p in peers if absorbed_by(self._ctx, p)}
        self._nodes_told = [service_incident_id(node, in_catalog=False, cluster=where) for node in nodes]
        for target in self._nodes_told:
            self._send(target, msg.HELLO, hello, on_failure="node_closed")

    def _merge_into(self, target: str) -> None:
        head, alerts, timeline = self._state.merge_parts(_MERGE_CHUNK, max_bytes=_MERGE_PART_BYTES)
        # parts by bytes as well as by count: asked only where they differ, so a history whose parts
        # were the same replays without a marker
        counted = _counted(alerts, _MERGE_CHUNK) and _counted(timeline, _MERGE_CHUNK)
        if not counted and not workflow.patched(MERGE_BYTES_PATCH):
            head, alerts, timeline = self._state.merge_parts(_MERGE_CHUNK)
        self._state.mark_merged(target, at=workflow.now())
        self._send(
            target,
            msg.MERGE_IN,
            msg.MergeIn(state=head, alert_count=self._state.alert_count),
            on_failure="merge_failed",
        )
        # Each part alone stays far below Temporal's 2 MB payload limit, however large the incident.
        for chunk in alerts:
            self._send(target, msg.MERGE_PART, msg.MergePart(source=self._state.id, alerts=chunk))
        for entries in timeline:
            self._send(target, msg.MERGE_PART, msg.MergePart(source=self._state.id, timeline=entries))

    def _late_issue(self, entry: TimelineEntry) -> None:
        """The notifier opened a JIRA issue after this incident handed its timeline over (the create was
        in flight as the merge landed): the incident it joined learns the key and links it to its own."""
        into = self._state.merged_into
        # Once the incident it joined has resolved, that one no longer tells anyone: nothing to link.
        if into is not None and not self._parent_resolved and workflow.patched(LATE_ISSUE_PATCH):
            part = msg.MergePart(source=self._state.id, timeline=[entry], late=True)
            self._send(into, msg.MERGE_PART, part)

    def _tell_absorbed(self) -> None:
        note = msg.ParentResolved(incident_id=self._state.id)
        for child in self._state.absorbed:
            self._send(child, msg.PARENT_RESOLVED, note)

    def _forwarded(self, signal: str, payload: BaseModel) -> bool:
        """A merged incident passes what reaches it to the incident it merged into (which holds its
        alerts, remediations and people now); if that one has closed, it stands alone again."""
        if self._state.merged_into is None:
            return False
        self._send(self._state.merged_into, signal, payload, on_failure="forward_failed")
        return True

    def _send(self, target: str, signal: str, payload: BaseModel, *, on_failure: str | None = None) -> None:
        self._outbox.append(_Outgoing(target, signal, payload, on_failure))

    async def _flush(self) -> None:
        while self._outbox:
            batch, self._outbox = self._outbox, []
            for group in _within_a_task(batch):
                results = await asyncio.gather(
                    *(
                        workflow.get_external_workflow_handle(m.target).signal(m.signal, m.payload)
                        for m in group
                    ),
                    return_exceptions=True,
                )
                for message, result in zip(group, results, strict=True):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    if isinstance(result, BaseException):
                        self._failed(message)

    def _failed(self, message: _Outgoing) -> None:
        """The target incident is closed (or never existed)."""
        now = workflow.now()
        if message.on_failure == "merge_failed" and self._state.merge_failed(message.target, at=now):
            self._stand_alone_again()  # nothing was handed over: stay as we were
        elif message.on_failure == "forward_failed" and self._state.merged_into == message.target:
            self._state.unmerge(at=now, reason=f"{message.target} has closed")
            self._parent_resolved = False
            self._stand_alone_again()
            # Deliver what could not be forwarded here instead: nothing accepted is dropped.
            self._redeliver(message.payload, now)
            self._hello_peers()
        elif message.on_failure == "forward_failed":
            # We already stand alone again (an earlier forward failed): take it here.
            self._redeliver(message.payload, now)
        elif message.on_failure == "node_closed":
            self._node_closed(message.target)
        elif message.on_failure == "peer_closed":
            self._peer_hellos.discard(message.target)
            self._end_settle_if_alone()
            self._host_answered(message.target)

    def _host_answered(self, incident_id: str) -> None:
        """A node's: one of its services' incidents joined it, or none is open. Once all have answered,
        nothing more will join it: its settle period ends (others answer within it, or not at all)."""
        if incident_id not in self._host_hellos:
            return
        self._host_hellos.discard(incident_id)
        if not self._host_hellos and self._state.hosts_route and self._settle_end is not None:
            self._settle_end = None
            if self._notifier is not None:
                self._notifier.nothing_to_join()

    def _ask_about_causes(self, inp: IncidentInput) -> "asyncio.Task[None] | None":
        """A new incident that could be a symptom asks Prometheus whether a service that could absorb it
        (its likely cause) alerts there: pending (its ``for:`` not passed) or firing (not delivered yet)."""
        ctx = self._ctx
        new = inp.state is None and inp.packed_state is None
        # A new run, or one continued before the answer came; not once the (carried) settle is over.
        if not (new or inp.settle_ask) or ctx is None or inp.settle_max_seconds <= 0 or not self._settling():
            return None
        causes = sorted(other for other in ctx.upstream if absorbed_by(ctx, other))
        if not causes or not workflow.patched(SETTLE_PROBE_PATCH):
            return None
        return asyncio.create_task(self._settle_on_answer(causes, timedelta(seconds=inp.settle_max_seconds)))

    def _stand_alone_again(self) -> None:
        """Merged, the notifier had finished and escalation had stopped: people must hear of this
        incident again (its notifier resumes on the next revision; escalation restarts in the loop)."""
        n = self._state.notifications
        n.finished = False
        self._escalate_again = self._notifier is not None
        if "resolve" in n.pages.values() and workflow.patched(UNMERGED_PAGES_AGAIN_PATCH):
            n.restart_chain(workflow.now())  # its pages were resolved at the merge: paged again from now

    def _redeliver(self, payload: BaseModel, now: datetime) -> None:
        if isinstance(payload, AlertBatch):
            self._state.apply_alerts(payload, at=now, derive=False)
        elif isinstance(payload, AnomalyBatch):
            self._state.apply_anomalies(payload, at=now, derive=False)
        elif isinstance(payload, msg.MergeIn):
            self._state.absorb(payload.state, at=now, derive=False, alert_count=payload.alert_count)
        elif isinstance(payload, msg.MergePart):
            self._state.absorb_part(payload.source, payload.alerts, payload.timeline, at=now, derive=False)
        elif isinstance(payload, people.Note):
            self.note(payload)
        elif isinstance(payload, SilenceRecord):
            self.silenced(payload)
        elif isinstance(payload, FalsePositive):
            self.false_positive(payload)
        elif isinstance(payload, RemediationEvent):
            self.remediation_event(payload)

    def _publish(self) -> None:
        self._state.derive(workflow.now())
        if self._state.revision != self._published:
            self._published = self._state.revision
            self._publisher.publish(self._state)
