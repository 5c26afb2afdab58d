"""IncidentWorkflow: one durable incident.

Alert and anomaly deliveries arrive as signals (signal-with-start from the API, so the
first delivery creates the incident). The workflow keeps an :class:`IncidentState`,
publishes its status as search attributes and memo so the Temporal UI and Medic's
``/incidents`` listing read it from visibility, and resolves once nothing has fired for
the quiet period. A firing alert during the quiet period keeps it open.
"""

import contextlib
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from medic.incident import AlertBatch, AnomalyBatch, IncidentState, IncidentStatus
    from workflows import search_attributes as sa

__all__ = [
    "ALERTS_SIGNAL",
    "ANOMALIES_SIGNAL",
    "STATE_QUERY",
    "IncidentInput",
    "IncidentResult",
    "IncidentWorkflow",
]

ALERTS_SIGNAL = "alerts"
ANOMALIES_SIGNAL = "anomalies"
STATE_QUERY = "state"


class IncidentInput(BaseModel):
    incident_id: str
    quiet_period_seconds: float = 300.0
    # Carried across continue-as-new; None for a new incident.
    state: IncidentState | None = None


class IncidentResult(BaseModel):
    incident_id: str
    status: IncidentStatus
    opened_at: datetime
    resolved_at: datetime | None
    alert_count: int


@workflow.defn(name="IncidentWorkflow")
class IncidentWorkflow:
    @workflow.init
    def __init__(self, inp: IncidentInput) -> None:
        self._quiet = timedelta(seconds=inp.quiet_period_seconds)
        if inp.state is not None:
            self._state = inp.state
        else:
            now = workflow.now()
            self._state = IncidentState(id=inp.incident_id, opened_at=now)
            self._state.record(now, "incident.opened", "Incident opened.")
        self._published = -1

    @workflow.run
    async def run(self, inp: IncidentInput) -> IncidentResult:
        while not self._quiet_period_over():
            self._publish()
            seen = self._state.revision

            def changed(seen: int = seen) -> bool:
                return self._state.revision != seen

            deadline = self._state.quiet_deadline(self._quiet)
            timeout = None if deadline is None else max((deadline - workflow.now()).total_seconds(), 0.001)
            # On timeout the loop condition decides whether the quiet period is really over.
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(changed, timeout=timeout)
        self._state.resolve(workflow.now())
        self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return IncidentResult(
            incident_id=self._state.id,
            status=self._state.status,
            opened_at=self._state.opened_at,
            resolved_at=self._state.resolved_at,
            alert_count=self._state.alert_count,
        )

    @workflow.signal(name=ALERTS_SIGNAL)
    def alerts(self, batch: AlertBatch) -> None:
        self._state.apply_alerts(batch, at=workflow.now())

    @workflow.signal(name=ANOMALIES_SIGNAL)
    def anomalies(self, batch: AnomalyBatch) -> None:
        self._state.apply_anomalies(batch, at=workflow.now())

    @workflow.query(name=STATE_QUERY)
    def state(self) -> IncidentState:
        return self._state

    def _quiet_period_over(self) -> bool:
        deadline = self._state.quiet_deadline(self._quiet)
        return deadline is not None and workflow.now() >= deadline

    def _publish(self) -> None:
        """Mirror the state into search attributes, memo and UI details, once per revision."""
        state = self._state
        if state.revision == self._published:
            return
        self._published = state.revision
        workflow.upsert_search_attributes(
            [
                sa.STATUS.value_set(state.status.value),
                sa.PRIORITY.value_set(state.priority),
                sa.IMPACT.value_set(state.impact),
                sa.SERVICES.value_set(state.services),
                sa.SEVERITY.value_set(state.severity),
            ]
        )
        workflow.upsert_memo(
            {
                "title": state.title,
                "alert_count": state.alert_count,
                "opened_at": state.opened_at.isoformat(),
                "acknowledged_at": state.acknowledged_at.isoformat() if state.acknowledged_at else None,
                "resolved_at": state.resolved_at.isoformat() if state.resolved_at else None,
            }
        )
        workflow.set_current_details(_details(state))


def _details(state: IncidentState) -> str:
    """Markdown shown in the Temporal UI's 'Current details' panel."""
    lines = [
        f"**{state.title}**",
        "",
        f"Status **{state.status.value}** · priority **{state.priority}** · impact {state.impact:.0f}/100 · "
        f"severity {state.severity}",
        f"Services: {', '.join(state.services) or 'unknown'} · alerts: {state.alert_count} "
        f"({state.firing_count} firing)",
        "",
        "Latest events:",
    ]
    lines += [f"- {e.at:%Y-%m-%d %H:%M:%S}Z {e.message}" for e in state.timeline[-5:]]
    return "\n".join(lines)
