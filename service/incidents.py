"""Reading incidents back: the listing comes from Temporal visibility (no second
database), the detail from a query to the incident's workflow."""

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client, WorkflowExecution, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from medic.correlation import RootCauseCandidate
from medic.feedback import FalsePositive, SilenceRecord
from medic.impact import Impact
from medic.incident import AlertRecord, AnomalyRecord, IncidentState, RemediationTrack
from medic.insights import IncidentOutcome
from medic.names import named_text
from medic.redact import redact
from medic.timeline import TimelineEntry
from medic.vocab import Priority
from service.settings import Settings
from service.temporal import rpc_timeout
from workflows import search_attributes as sa
from workflows.incident import IncidentView, IncidentWorkflow, ViewRequest
from workflows.publish import MERGED, OUTCOME_MEMO

__all__ = [
    "DOES_NOT_REPLAY",
    "IncidentDetail",
    "IncidentFilter",
    "IncidentNotFound",
    "IncidentReader",
    "IncidentSummary",
    "IncidentUnreadable",
    "NamedEntry",
    "ResolvedRun",
    "ResolvedRuns",
    "RunReader",
    "TemporalIncidentReader",
    "does_not_replay",
    "task_failing",
]

log = logging.getLogger(__name__)
_QUERY_TIMEOUT = timedelta(seconds=20)


class IncidentSummary(BaseModel):
    id: str
    title: str
    status: str
    priority: str
    impact: float
    services: list[str]
    opened_at: datetime | None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    alert_count: int


class NamedEntry(TimelineEntry):
    """A timeline entry as the API shows it: ``actor`` stays the Slack user id of a person who acted
    through Slack, ``actor_name`` is their name (as their request named them), and the message names them."""

    model_config = ConfigDict(from_attributes=True)  # (a plain TimelineEntry is one without a name)

    actor_name: str | None = Field(default=None, description="the person's name, where actor is a Slack id")


class IncidentDetail(IncidentSummary):
    severity: str
    impact_explanation: Impact | None = Field(
        default=None, description="the factors behind impact and priority"
    )
    root_causes: list[RootCauseCandidate] = Field(default_factory=list, description="most likely first")
    merged_into: str | None = Field(default=None, description="set when this incident folded into another")
    alerts_shown: int = Field(default=0, description="alerts below: the most recently seen, up to the limit")
    anomaly_count: int = Field(
        default=0, description="all anomalies; the most recently seen are below, as many as one answer holds"
    )
    timeline_total: int = Field(
        default=0, description="all timeline entries; the latest are below, up to the limit"
    )
    absorbed: list[str] = Field(default_factory=list, description="incidents folded into this one")
    alerts: list[AlertRecord]
    anomalies: list[AnomalyRecord]
    actions: list[dict[str, Any]] = Field(default_factory=list)
    remediations: dict[str, RemediationTrack] = Field(
        default_factory=dict, description="remediation workflow id -> runbook, alerts and outcome"
    )
    silences: list[SilenceRecord] = Field(default_factory=list, description="silences created from Slack")
    false_positives: list[FalsePositive] = Field(default_factory=list)
    timeline: list[NamedEntry]
    partial: str | None = Field(
        default=None,
        description="set when the incident's own workflow cannot answer (its history no longer replays on "
        "the running workers, so every query to it fails) and this detail is only what Temporal visibility "
        "keeps (title, status, priority, impact, services, times, alert count, merge): why",
    )


class IncidentFilter(BaseModel):
    status: str | None = Field(default=None, pattern=r"^(open|acknowledged|mitigating|resolved)$")
    service: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$")
    priority: Priority | None = None
    limit: int = Field(default=100, ge=1, le=5000)  # (the API's /incidents caps its own at 1,000)
    # Not resolved (nor merged): asked for in the query, so the limit counts only those.
    unresolved: bool = False

    def visibility_query(self) -> str:
        # Values are checked above (patterns, an enum), so quoting them cannot break the query.
        clauses = ["WorkflowType='IncidentWorkflow'"]
        if self.status:
            clauses.append(f"{sa.STATUS.name}='{self.status}'")
        elif self.unresolved:
            clauses.append(f"{sa.STATUS.name}!='resolved'")
        if self.service:
            clauses.append(f"{sa.SERVICES.name}='{self.service}'")
        if self.priority:
            clauses.append(f"{sa.PRIORITY.name}='{self.priority}'")
        return " AND ".join(clauses)


class IncidentNotFound(Exception):
    pass


class IncidentUnreadable(Exception):
    """The incident exists but its workflow could not answer (no worker, or a failing query)."""


class ResolvedRun(BaseModel):
    """One resolved incident as learning counts it: a run of its workflow. A service's incidents share
    its id (``incident-<service>``), each a run of its own, so an id stands for many incidents."""

    id: str
    run_id: str
    opened_at: datetime | None
    resolved_at: datetime | None
    outcome: IncidentOutcome | None = Field(
        default=None,
        description="as its workflow published it on resolving (memo); None for a run resolved before "
        "it did, read from its state instead",
    )
    merged: bool = Field(default=False, description="it merged into another incident: nothing to learn here")


# (the readers' ``list`` method hides the builtin in their classes)
ResolvedRuns = list[ResolvedRun]


class RunReader(Protocol):
    """What learning reads: every resolved run, newest first, and one run's state."""

    async def resolved_runs(self, *, limit: int, since: datetime | None = None) -> ResolvedRuns: ...

    async def run_state(self, incident_id: str, run_id: str) -> IncidentState: ...


class IncidentReader(RunReader, Protocol):
    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]: ...

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail: ...

    async def state(self, incident_id: str) -> IncidentState: ...


def detail_from_view(view: IncidentView) -> IncidentDetail:
    """The API's view of an incident: its state trimmed by the query, with the real totals. People who
    acted through Slack keep their ids as actors, with their names beside them (``state.names``)."""
    state = view.state
    names = state.names
    return IncidentDetail(
        id=state.id,
        title=state.title,
        status=state.status.value,
        priority=state.priority,
        impact=state.impact,
        services=state.services,
        opened_at=state.opened_at,
        acknowledged_at=state.acknowledged_at,
        resolved_at=state.resolved_at,
        alert_count=view.alerts_total,
        anomaly_count=view.anomalies_total,
        severity=state.severity,
        impact_explanation=state.impact_detail,
        root_causes=state.root_causes,
        merged_into=state.merged_into,
        absorbed=state.absorbed,
        actions=state.actions,
        remediations=state.remediations,
        silences=[
            s.model_copy(update={"created_by_name": s.created_by_name or names.get(s.created_by, "")})
            for s in state.silences
        ],
        false_positives=[
            f.model_copy(update={"actor_name": f.actor_name or names.get(f.actor, "")})
            for f in state.false_positives
        ],
        alerts=sorted(state.alerts.values(), key=lambda a: a.first_seen_at),
        anomalies=list(state.anomalies.values()),
        timeline=[  # (sorted: merged entries are appended)
            NamedEntry.model_validate(e).model_copy(
                update={"message": named_text(e.message, names), "actor_name": names.get(e.actor)}
            )
            for e in sorted(state.timeline, key=lambda e: e.at)
        ],
        alerts_shown=len(state.alerts),
        timeline_total=view.timeline_total,
    )


DOES_NOT_REPLAY = (
    "its history does not replay on the running workers, so only its summary can be read (GET "
    "/incidents/<id> gives it, marked partial); Temporal's Web UI shows the history"
)
"""Why an incident's whole state cannot be read (the API's 409)."""


def does_not_replay(err: BaseException | None) -> bool:
    """A query that failed because the worker could not replay the history (sdk-core's
    "[TMPRL1100] Nondeterminism error"), not because of this one query (its handler, its size); or one
    Temporal refused because the incident's workflow task keeps failing (:func:`task_failing`: an open
    incident signalled after such an upgrade). ``err``: the query's failure, or an
    :class:`IncidentUnreadable` raised from one."""
    if isinstance(err, IncidentUnreadable):
        err = err.__cause__
    if task_failing(err):
        return True
    if not isinstance(err, WorkflowQueryFailedError):
        return False
    text = str(err)
    return "TMPRL1100" in text or "Nondeterminism" in text


def task_failing(err: BaseException | None) -> bool:
    """Temporal's refusal of a query to a workflow whose workflow task has failed and is being retried
    (FAILED_PRECONDITION "Unable to query workflow due to Workflow Task in failed state."): no worker
    is asked, the query is not what failed. A plain RPCError, though Temporal itself is fine."""
    return (
        isinstance(err, RPCError)
        and err.status is RPCStatusCode.FAILED_PRECONDITION
        and "workflow task in failed state" in str(err).lower()
    )


def _optional_time(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _outcome(value: object) -> IncidentOutcome | None:
    """A run's published outcome; None when it published none (or one this release cannot read: its
    state is read instead)."""
    if not isinstance(value, dict):
        return None
    try:
        return IncidentOutcome.model_validate(value)
    except ValidationError as err:
        log.info("an incident's published outcome is not readable (%s); reading its state", err)
        return None


class TemporalIncidentReader:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def list(self, flt: IncidentFilter) -> list[IncidentSummary]:
        items: dict[str, IncidentSummary] = {}
        async for execution in self._client.list_workflows(
            flt.visibility_query(), limit=flt.limit * 2, rpc_timeout=rpc_timeout(self._settings)
        ):
            if execution.id in items:
                continue  # an older run of the same incident id; the newest comes first
            items[execution.id] = await self._summary(execution)
            if len(items) >= flt.limit:
                break
        return sorted(items.values(), key=lambda i: i.opened_at or datetime.min, reverse=True)

    async def get(self, incident_id: str, *, alerts: int = 500, timeline: int = 1000) -> IncidentDetail:
        try:
            view = await self._view(incident_id, alerts=alerts, timeline=timeline)
        except IncidentUnreadable as err:
            cause = err.__cause__
            if not does_not_replay(cause):
                raise
            # A history that no longer replays fails every query, for good: answering 503 "retry"
            # forever would hide the incident; visibility still holds its summary.
            return await self._from_visibility(incident_id, reason=str(cause), unreadable=err)
        return detail_from_view(view)

    async def _from_visibility(
        self, incident_id: str, *, reason: str, unreadable: IncidentUnreadable
    ) -> IncidentDetail:
        reason = redact(reason)
        log.warning(
            "incident %s answered from visibility only: its history does not replay: %s", incident_id, reason
        )
        try:
            description = await self._client.get_workflow_handle(incident_id).describe(
                rpc_timeout=rpc_timeout(self._settings)
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise IncidentNotFound(incident_id) from err  # gone meanwhile (retention)
            raise unreadable from err
        summary = await self._summary(description)
        memo = await description.memo()
        merged_into = memo.get("merged_into")
        return IncidentDetail(
            **summary.model_dump(),
            severity=description.typed_search_attributes.get(sa.SEVERITY) or "unknown",
            merged_into=merged_into if isinstance(merged_into, str) else None,
            alerts=[],
            anomalies=[],
            timeline=[],
            partial=f"its history does not replay on the running workers ({reason[:500]}); Temporal's "
            "Web UI still shows it",
        )

    async def state(self, incident_id: str) -> IncidentState:
        """As much of the state as one query answer may carry (gRPC's 4 MB): the 2,000 most recently
        seen alerts and the latest 4,000 timeline entries, enough for any postmortem (which abbreviates
        both)."""
        return (await self._view(incident_id, alerts=2000, timeline=4000)).state

    async def run_state(self, incident_id: str, run_id: str) -> IncidentState:
        """:meth:`state` of one run of the id (a closed one is replayed by a worker to answer)."""
        return (await self._view(incident_id, alerts=2000, timeline=4000, run_id=run_id)).state

    async def resolved_runs(self, *, limit: int, since: datetime | None = None) -> ResolvedRuns:
        """Every resolved incident, each run of an id on its own, newest first: at most ``limit``, and
        none started before ``since``. A run that continued as new is the same incident as its last
        run, which carries its whole state."""
        query = (
            f"WorkflowType='IncidentWorkflow' AND {sa.STATUS.name}='resolved'"
            " AND ExecutionStatus!='ContinuedAsNew'"
        )
        if since is not None:
            query += f" AND StartTime>'{since.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}'"
        runs: ResolvedRuns = []
        async for execution in self._client.list_workflows(
            query, limit=limit, rpc_timeout=rpc_timeout(self._settings)
        ):
            memo = await execution.memo()
            runs.append(
                ResolvedRun(
                    id=execution.id,
                    run_id=execution.run_id,
                    opened_at=_optional_time(memo.get("opened_at")) or execution.start_time,
                    resolved_at=_optional_time(memo.get("resolved_at")),
                    outcome=_outcome(memo.get(OUTCOME_MEMO)),
                    merged=memo.get(OUTCOME_MEMO) == MERGED,
                )
            )
        return runs

    async def _view(
        self, incident_id: str, *, alerts: int, timeline: int, run_id: str | None = None
    ) -> IncidentView:
        handle = self._client.get_workflow_handle(incident_id, run_id=run_id)
        try:
            view = await handle.query(
                IncidentWorkflow.view,
                ViewRequest(alerts=alerts, timeline=timeline),
                # A query runs on a worker: after a restart, or under load, it can take longer than a
                # webhook may wait. Readers would rather wait a little than get a 503.
                rpc_timeout=max(rpc_timeout(self._settings), _QUERY_TIMEOUT),
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise IncidentNotFound(incident_id) from err
            if task_failing(err):  # the incident's workflow, not Temporal: no 503 "Temporal is not reachable"
                raise IncidentUnreadable(f"{incident_id} could not be read: {err}") from err
            raise
        except WorkflowQueryFailedError as err:
            raise IncidentUnreadable(f"{incident_id} could not be read: {err}") from err
        return view

    @staticmethod
    async def _summary(execution: WorkflowExecution) -> IncidentSummary:
        memo = await execution.memo()
        attrs = execution.typed_search_attributes
        return IncidentSummary(
            id=execution.id,
            title=str(memo.get("title", execution.id)),
            status=attrs.get(sa.STATUS) or "open",
            priority=attrs.get(sa.PRIORITY) or Priority.P5,
            impact=attrs.get(sa.IMPACT) or 0.0,
            services=list(attrs.get(sa.SERVICES) or []),
            opened_at=_optional_time(memo.get("opened_at")) or execution.start_time,
            acknowledged_at=_optional_time(memo.get("acknowledged_at")),
            resolved_at=_optional_time(memo.get("resolved_at")),
            alert_count=int(memo.get("alert_count", 0)),
        )
