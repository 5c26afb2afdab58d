"""What route handlers need, set once by the app factory and read per request."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from fastapi import Request

from medic.catalog import Catalog
from service.incidents import IncidentReader
from service.ingest import IncidentSink
from service.metrics import ApiMetrics
from service.settings import Settings
from workflows.control import KillSwitch, KillSwitchRequest
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
    controls: "ControlsPort | None" = None


class ControlsPort(Protocol):
    async def kill_switch(self) -> KillSwitch: ...

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch: ...

    async def decide(self, remediation_id: str, decision: Decision) -> str: ...


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps
