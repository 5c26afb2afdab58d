"""What route handlers need, set once by the app factory and read per request."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from medic.catalog import Catalog
from service.chat.endpoint import SlackEndpoint
from service.incidents import IncidentReader
from service.ingest import IncidentSink
from service.metrics import ApiMetrics
from service.postmortems import Postmortems
from service.settings import Settings
from workflows.control import KillSwitch, KillSwitchRequest
from workflows.feedback import FeedbackState
from workflows.remediation import Decision

__all__ = ["ControlsPort", "Deps", "get_deps"]


@dataclass(frozen=True)
class Deps:
    settings: Settings
    catalog: Catalog
    sink: IncidentSink
    reader: IncidentReader
    metrics: ApiMetrics
    ready: Callable[[], Awaitable[bool]]
    postmortems: Postmortems
    controls: "ControlsPort | None" = None
    slack: "SlackEndpoint | None" = None


class ControlsPort(Protocol):
    async def kill_switch(self) -> KillSwitch: ...

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch: ...

    async def decide(self, remediation_id: str, decision: Decision) -> str: ...

    async def feedback(self) -> FeedbackState: ...


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps
