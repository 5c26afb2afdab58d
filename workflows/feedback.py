"""The feedback workflow (id ``medic-feedback``): false-positive marks per alert rule, kept in
Temporal for the learning work. One long-lived workflow; it continues as new (keeping a compact
state) before its history grows long. People mark rarely, so one workflow is no bottleneck."""

from datetime import datetime

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from medic.feedback import FalsePositive

__all__ = ["FEEDBACK_ID", "FeedbackState", "FeedbackWorkflow", "RuleFeedback"]

FEEDBACK_ID = "medic-feedback"
_MARKS_PER_RUN = 500
_KEEP_PER_RULE = 20
_KEEP_KEYS = 5000


class RuleFeedback(BaseModel):
    rule: str
    false_positives: int = 0
    last_at: datetime | None = None
    recent: list[FalsePositive] = Field(default_factory=list, description="the latest marks, newest last")
    marked: list[str] = Field(
        default_factory=list, description="incident|actor pairs counted (the latest 5,000)"
    )


class FeedbackState(BaseModel):
    rules: dict[str, RuleFeedback] = Field(default_factory=dict)


@workflow.defn(name="MedicFeedbackWorkflow")
class FeedbackWorkflow:
    @workflow.init
    def __init__(self, state: FeedbackState | None = None) -> None:
        self._state = state or FeedbackState()
        self._marks = 0

    @workflow.run
    async def run(self, state: FeedbackState | None = None) -> None:
        await workflow.wait_condition(
            lambda: self._marks >= _MARKS_PER_RUN and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(self._state)

    @workflow.signal(name="false_positive")
    def false_positive(self, mark: FalsePositive) -> None:
        self._marks += 1
        for rule in mark.rules:
            held = self._state.rules.setdefault(rule, RuleFeedback(rule=rule))
            key = f"{mark.incident_id}|{mark.actor}"
            if key in held.marked:
                continue  # the same person on the same incident: counted once
            held.marked = [*held.marked, key][-_KEEP_KEYS:]
            held.false_positives += 1
            held.last_at = mark.at
            held.recent = [*held.recent, mark][-_KEEP_PER_RULE:]

    @workflow.query(name="feedback")
    def feedback(self) -> FeedbackState:
        return self._state
