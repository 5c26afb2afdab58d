"""The operator's controls (the kill switch) and the guardrail facts that live in Temporal."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.remediate import FactsRequest
from medic.feedback import FalsePositive
from medic.redact import redact
from medic.vocab import ACTED
from remediations.guardrails import GuardrailFacts
from service.settings import Settings
from workflows import search_attributes as sa
from workflows.control import CONTROL_ID, ControlWorkflow, KillSwitch, KillSwitchRequest
from workflows.feedback import FEEDBACK_ID, FeedbackState, FeedbackWorkflow
from workflows.remediation import Decision, RemediationWorkflow

__all__ = ["ACTED", "Controls", "TemporalFacts"]  # ACTED: medic.vocab's, re-exported

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Controls:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client, self._settings = client, settings

    async def _singleton(self, run: Any, workflow_id: str, summary: str, **start: Any) -> Any:
        """One of Medic's singleton workflows, started on first use (or the running one)."""
        return await self._client.start_workflow(
            run,
            None,
            id=workflow_id,
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=summary,
            **start,
        )

    async def _handle(self) -> WorkflowHandle[ControlWorkflow, None]:
        handle: WorkflowHandle[ControlWorkflow, None] = await self._singleton(
            ControlWorkflow.run, CONTROL_ID, "Medic controls: kill switch"
        )
        return handle

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch:
        handle = await self._handle()
        return await handle.execute_update(ControlWorkflow.set_kill_switch, _redacted(request))

    async def decide(self, remediation_id: str, decision: Decision) -> str:
        """Approve or deny a remediation step; the workflow's validator decides who may."""
        handle = self._client.get_workflow_handle(remediation_id)
        result: str = await handle.execute_update(RemediationWorkflow.decide, _redacted(decision))
        return result

    async def mark_false_positive(self, mark: FalsePositive) -> None:
        """Keep the mark per alert rule in the feedback workflow (started on first use)."""
        await self._singleton(
            FeedbackWorkflow.run,
            FEEDBACK_ID,
            "Medic feedback: false positives per alert rule",
            start_signal="false_positive",
            start_signal_args=[mark],
        )

    async def feedback(self) -> FeedbackState:
        return await self._query(FEEDBACK_ID, FeedbackWorkflow.feedback, FeedbackState())

    async def kill_switch(self) -> KillSwitch:
        return await self._query(CONTROL_ID, ControlWorkflow.kill_switch, KillSwitch())  # never set: off

    async def _query(self, workflow_id: str, query: Callable[[Any], T], default: T) -> T:
        """A query to one of the singleton workflows; ``default`` while it was never started."""
        try:
            result: T = await self._client.get_workflow_handle(workflow_id).query(query)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return default
            raise
        return result


def _redacted(request: M) -> M:
    """A request's free text (reason, actor), from Slack or HTTP, redacted before it enters the
    workflow's history (``medic.redact``), and held to its field's bound (redaction can lengthen it)."""
    update: dict[str, str] = {}
    for name, field in type(request).model_fields.items():
        value = getattr(request, name)
        if isinstance(value, str):
            limit = next((m.max_length for m in field.metadata if hasattr(m, "max_length")), None)
            update[name] = redact(value)[:limit]
    return request.model_copy(update=update)


class TemporalFacts:
    """Guardrail facts from Temporal: the kill switch, and recent remediations from visibility."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._controls = Controls(client, settings)

    async def gather(self, request: FactsRequest) -> GuardrailFacts:
        switch = await self._controls.kill_switch()
        now = datetime.now(UTC)
        acted = " OR ".join(f"{sa.ACTION.name}='{o.value}'" for o in sorted(ACTED))
        last = None
        try:
            target, service = sa.literal(request.remediation_id), sa.literal(request.service or "")
            own = f" AND RunId!={sa.literal(request.run_id)}" if request.run_id else ""
        except ValueError:
            # A label no query can carry: the limits cannot be checked, so they count as reached.
            return GuardrailFacts(
                kill_switch=switch.on,
                kill_switch_by=switch.actor_name or switch.actor,
                last_action_on_target_at=now,
                actions_on_service_last_hour=1_000_000,
            )
        if request.cooldown_seconds:
            # from when the last remediation that acted on it ended ("leave the target alone afterwards"):
            # from its start, one that waited 20 minutes for approval and verified for 15 left no
            # cooldown 5 minutes after it ended (a runbook author's walk-through, 2026-12-07)
            since = (now - timedelta(seconds=request.cooldown_seconds)).isoformat()
            query = (
                f"WorkflowType='RemediationWorkflow' AND WorkflowId={target}{own} AND ({acted}) "
                f"AND CloseTime > '{since}'"
            )
            async for execution in self._client.list_workflows(query, limit=20):
                ended = execution.close_time or now
                last = ended if last is None else max(last, ended)
        count = 0
        if request.service and not request.budgeted:  # budgeted: the action budget counts (budgets.py)
            hour_ago = (now - timedelta(hours=1)).isoformat()
            query = (
                f"WorkflowType='RemediationWorkflow' AND {sa.SERVICES.name}={service} "
                f"AND ({acted}) "
                f"AND StartTime > '{hour_ago}'"
            )
            count = (await self._client.count_workflows(query)).count
        return GuardrailFacts(
            kill_switch=switch.on,
            kill_switch_by=switch.actor_name or switch.actor,
            last_action_on_target_at=last,
            actions_on_service_last_hour=count,
        )
