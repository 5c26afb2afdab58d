"""What route handlers need, set once by the app factory and read per request."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request

from medic.catalog import Catalog
from service.incidents import IncidentReader
from service.ingest import IncidentSink
from service.metrics import ApiMetrics
from service.settings import Settings

__all__ = ["Deps", "get_deps"]


@dataclass(frozen=True)
class Deps:
    settings: Settings
    catalog: Catalog
    sink: IncidentSink
    reader: IncidentReader
    metrics: ApiMetrics
    ready: Callable[[], Awaitable[bool]]


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps
