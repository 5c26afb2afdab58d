"""The operator's controls (the kill switch) and the guardrail facts that live in Temporal."""

from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.remediate import FactsRequest
from medic.feedback import FalsePositive
from remediations.guardrails import GuardrailFacts
from service.settings import Settings
from workflows import search_attributes as sa
from workflows.control import CONTROL_ID, ControlWorkflow, KillSwitch, KillSwitchRequest
from workflows.feedback import FEEDBACK_ID, FeedbackState, FeedbackWorkflow
from workflows.remediation import Decision, RemediationWorkflow

__all__ = ["ACTED", "Controls", "TemporalFacts"]

# Remediation outcomes that changed something (and so count for cooldowns and rate limits).
ACTED = ("executed", "verified", "rolled-back", "failed")


class Controls:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client, self._settings = client, settings

    async def _handle(self) -> WorkflowHandle[ControlWorkflow, None]:
        return await self._client.start_workflow(
            ControlWorkflow.run,
            None,
            id=CONTROL_ID,
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary="Medic controls: kill switch",
        )

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch:
        handle = await self._handle()
        return await handle.execute_update(ControlWorkflow.set_kill_switch, request)

    async def decide(self, remediation_id: str, decision: Decision) -> str:
        """Approve or deny a remediation step; the workflow's validator decides who may."""
        handle = self._client.get_workflow_handle(remediation_id)
        result: str = await handle.execute_update(RemediationWorkflow.decide, decision)
        return result

    async def mark_false_positive(self, mark: FalsePositive) -> None:
        """Keep the mark per alert rule in the feedback workflow (started on first use)."""
        await self._client.start_workflow(
            FeedbackWorkflow.run,
            None,
            id=FEEDBACK_ID,
            task_queue=self._settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal="false_positive",
            start_signal_args=[mark],
            static_summary="Medic feedback: false positives per alert rule",
        )

    async def feedback(self) -> FeedbackState:
        try:
            return await self._client.get_workflow_handle_for(FeedbackWorkflow.run, FEEDBACK_ID).query(
                FeedbackWorkflow.feedback
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return FeedbackState()
            raise

    async def kill_switch(self) -> KillSwitch:
        try:
            return await self._client.get_workflow_handle_for(ControlWorkflow.run, CONTROL_ID).query(
                ControlWorkflow.kill_switch
            )
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return KillSwitch()  # never set: off
            raise


class TemporalFacts:
    """Guardrail facts from Temporal: the kill switch, and recent remediations from visibility."""

    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._controls = Controls(client, settings)

    async def gather(self, request: FactsRequest) -> GuardrailFacts:
        switch = await self._controls.kill_switch()
        now = datetime.now(UTC)
        acted = " OR ".join(f"{sa.ACTION.name}='{o}'" for o in ACTED)
        last = None
        if request.cooldown_seconds:
            since = (now - timedelta(seconds=request.cooldown_seconds)).isoformat()
            query = (
                f"WorkflowType='RemediationWorkflow' AND WorkflowId='{request.remediation_id}' AND ({acted}) "
                f"AND StartTime > '{since}'"
            )
            async for execution in self._client.list_workflows(query, limit=1):
                last = execution.start_time
        count = 0
        if request.service:
            hour_ago = (now - timedelta(hours=1)).isoformat()
            query = (
                f"WorkflowType='RemediationWorkflow' AND {sa.SERVICES.name}='{request.service}' "
                f"AND ({acted}) "
                f"AND StartTime > '{hour_ago}'"
            )
            count = (await self._client.count_workflows(query)).count
        return GuardrailFacts(
            kill_switch=switch.on,
            kill_switch_by=switch.actor,
            last_action_on_target_at=last,
            actions_on_service_last_hour=count,
        )
