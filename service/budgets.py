"""The hourly action budgets, kept in Temporal: one ``ActionBudgetWorkflow`` per budget key, reserved
and released through its updates (atomic: a workflow runs its updates one at a time)."""

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from remediations.budget import BudgetReply, BudgetRequest, budget_workflow_id
from workflows.budget import ActionBudgetWorkflow, BudgetRelease

__all__ = ["TemporalBudgets"]


class TemporalBudgets:
    def __init__(self, client: Client, *, task_queue: str) -> None:
        self._client, self._task_queue = client, task_queue

    async def reserve(self, request: BudgetRequest) -> BudgetReply:
        """Start the budget's workflow unless it runs (an ended one starts afresh: it ended holding
        nothing), then reserve in it. Retried by the activity: a renewal, never a second hold."""
        handle = await self._client.start_workflow(
            ActionBudgetWorkflow.run,
            None,
            id=budget_workflow_id(request.key),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"Medic action budget: {request.key}",
        )
        reply: BudgetReply = await handle.execute_update(ActionBudgetWorkflow.reserve, request)
        return reply

    async def release(self, request: BudgetRequest) -> None:
        """Give a hold back; a budget no longer running holds nothing to give back."""
        handle = self._client.get_workflow_handle_for(
            ActionBudgetWorkflow.run, budget_workflow_id(request.key)
        )
        try:
            await handle.execute_update(ActionBudgetWorkflow.release, BudgetRelease(holder=request.holder))
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
