"""The control workflow: one per namespace (id ``medic-control``), holding the operator's kill
switch. Remediations read it through an activity right before they act, so flipping it stops
every remediation that has not acted yet, on every worker, at once."""

from datetime import datetime

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from medic.names import empty

__all__ = ["CONTROL_ID", "ControlWorkflow", "KillSwitch", "KillSwitchRequest"]

CONTROL_ID = "medic-control"
_MAX_CHANGES_PER_RUN = 500


_NAME = "the person's name, where the actor is a Slack user id"


class KillSwitchRequest(BaseModel):
    on: bool
    actor: str = Field(min_length=1, max_length=200)
    actor_name: str = Field(default="", max_length=200, exclude_if=empty, description=_NAME)
    reason: str = Field(default="", max_length=500)


class KillSwitch(BaseModel):
    on: bool = False
    actor: str | None = None
    actor_name: str = Field(default="", exclude_if=empty, description=_NAME)
    reason: str = ""
    at: datetime | None = None
    history: list[str] = Field(default_factory=list)


@workflow.defn(name="MedicControlWorkflow")
class ControlWorkflow:
    @workflow.init
    def __init__(self, state: KillSwitch | None = None) -> None:
        self._state = state or KillSwitch()
        self._changes = 0

    @workflow.run
    async def run(self, state: KillSwitch | None = None) -> None:
        # Lives forever; starts afresh (keeping its state) before its history grows long.
        await workflow.wait_condition(
            lambda: self._changes >= _MAX_CHANGES_PER_RUN and workflow.all_handlers_finished()
        )
        workflow.continue_as_new(self._state.model_copy(update={"history": self._state.history[-50:]}))

    @workflow.update(name="set_kill_switch")
    def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch:
        now = workflow.now()
        self._state.on, self._state.actor, self._state.reason, self._state.at = (
            request.on,
            request.actor,
            request.reason,
            now,
        )
        self._state.actor_name = request.actor_name
        word = "ON" if request.on else "off"
        by = f"{request.actor_name} ({request.actor})" if request.actor_name else request.actor
        self._state.history.append(f"{now:%Y-%m-%d %H:%M:%S}Z kill switch {word} by {by}: {request.reason}")
        self._changes += 1
        return self._state

    @workflow.query(name="kill_switch")
    def kill_switch(self) -> KillSwitch:
        return self._state
