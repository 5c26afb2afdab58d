"""The action budget workflow: one per budget key (a service, or a namespace for targets without one),
keeping the ledger of ``remediations.budget``. Remediations reserve and release through an activity
that calls its updates; Temporal runs one workflow's updates one at a time, so two remediations
starting in the same instant, on any workers, never both take the last hold. Its state is its history:
a worker crash loses nothing. It starts on the first reservation, continues as new before its history
grows long, and ends once every hold is an hour old and nothing has asked for a while."""

import contextlib
from collections.abc import Callable
from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from remediations.budget import BudgetLedger, BudgetReply, BudgetRequest

__all__ = ["ActionBudgetWorkflow", "BudgetRelease"]

_MAX_CHANGES_PER_RUN = 500
_IDLE = timedelta(minutes=10)  # kept open a while after the last hold expires: no churn of runs


class BudgetRelease(BaseModel):
    holder: str


@workflow.defn(name="MedicActionBudgetWorkflow")
class ActionBudgetWorkflow:
    @workflow.init
    def __init__(self, ledger: BudgetLedger | None = None) -> None:
        self._ledger = ledger or BudgetLedger()
        self._changes = 0

    @workflow.run
    async def run(self, ledger: BudgetLedger | None = None) -> None:
        while True:
            seen = self._changes
            wait = max(self._ledger.expires_in(workflow.now()), _IDLE)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(self._changed_since(seen), timeout=wait)
            if self._changes == seen or self._changes >= _MAX_CHANGES_PER_RUN:
                await workflow.wait_condition(workflow.all_handlers_finished)
                self._ledger = self._ledger.pruned(workflow.now())
                if self._changes >= _MAX_CHANGES_PER_RUN:
                    workflow.continue_as_new(self._ledger)
                if not self._ledger.holds and self._changes == seen:
                    return

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._changes != seen

    @workflow.update(name="reserve")
    def reserve(self, request: BudgetRequest) -> BudgetReply:
        self._changes += 1
        return self._ledger.reserve(request, workflow.now())

    @workflow.update(name="release")
    def release(self, request: BudgetRelease) -> bool:
        self._changes += 1
        return self._ledger.release(request.holder)

    @workflow.query(name="budget")
    def budget(self) -> BudgetLedger:
        return self._ledger
