"""What route handlers need, set once by the app factory and read per request."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from fastapi import Request

from medic.catalog import Catalog
from medic.dead_man import Beat, HeartbeatRule
from medic.insights import TeamLearning
from medic.links import LinkSigner
from medic.meta_alerts import IgnoreRule
from medic.subject import OwnerLookup
from service.api.refusals import RefusalLog
from service.chat.endpoint import SlackEndpoint
from service.incidents import IncidentReader
from service.ingest import IncidentSink
from service.metrics import ApiMetrics
from service.postmortems import Postmortems
from service.settings import Settings
from workflows.control import KillSwitch, KillSwitchRequest
from workflows.feedback import FeedbackState
from workflows.incident import FromJira, UpdateResult
from workflows.people import Note
from workflows.remediation import Decision

__all__ = ["BeatSink", "ControlsPort", "Deps", "PeoplePort", "get_deps"]


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
    link_signer: LinkSigner | None = None  # verifies the signed postmortem and chart links
    people: "PeoplePort | None" = None  # ack/resolve/note from PagerDuty's, Opsgenie's, Jira's webhooks
    owners: OwnerLookup | None = None  # who owns an alert's pod (MEDIC_SUBJECT_LOOKUP); None: naming patterns
    # The routing policy's ``learning:`` opt-ins, per team: GET /insights says which proposals Medic applies.
    learning: Mapping[str, TeamLearning] = field(default_factory=dict)
    # Where a heartbeat's beats go (``service.heartbeats``); None: heartbeats are alerts like any other.
    beats: "BeatSink | None" = None
    heartbeats: list[HeartbeatRule] = field(default_factory=list)  # the routing policy's heartbeats:
    ignored: list[IgnoreRule] = field(default_factory=list)  # the routing policy's ignore: (meta_alerts)
    refusals: RefusalLog = field(default_factory=RefusalLog)  # refused webhook deliveries, in the log


class BeatSink(Protocol):
    async def beat(self, beat: Beat) -> None: ...


class ControlsPort(Protocol):
    async def kill_switch(self) -> KillSwitch: ...

    async def set_kill_switch(self, request: KillSwitchRequest) -> KillSwitch: ...

    async def decide(self, remediation_id: str, decision: Decision) -> str: ...

    async def feedback(self) -> FeedbackState: ...


class PeoplePort(Protocol):
    """``service.people.IncidentPeople``: the incident's acknowledge/resolve updates (``take``, whichever a
    person did in PagerDuty, Opsgenie or Jira) and note signal."""

    async def take(
        self,
        incident_id: str,
        verb: Literal["acknowledge", "resolve"],
        *,
        actor: str,
        source: str,
        reason: str = "",
        jira: FromJira | None = None,
    ) -> UpdateResult | None: ...

    async def note(self, incident_id: str, note: Note) -> bool: ...


def get_deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps
