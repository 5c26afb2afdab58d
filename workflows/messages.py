"""Signals incidents send each other to correlate: a small, idempotent protocol.

* ``peer_hello``: "an incident on my service is active" - sent to the incidents of the
  services within the correlation depth when an incident opens or reopens.
* ``absorb_request``: "you depend on me and we fail together: merge into me".
* ``merge_in``: the whole state of an incident handed to the one that absorbs it.
* ``parent_resolved``: the absorbing incident resolved; its merged ones may close.

Merges always go toward the upstream service (``medic.topology.absorbs``), so both sides of
a pair agree whoever speaks first, and repeating any message changes nothing.
"""

from datetime import datetime

from pydantic import BaseModel, Field

from medic.incident import AlertRecord, IncidentState
from medic.timeline import TimelineEntry

__all__ = [
    "ABSORB",
    "HELLO",
    "MERGE_IN",
    "PARENT_RESOLVED",
    "AbsorbRequest",
    "MergeIn",
    "ParentResolved",
    "PeerHello",
]

HELLO = "peer_hello"
ABSORB = "absorb_request"
MERGE_IN = "merge_in"
MERGE_PART = "merge_part"
PARENT_RESOLVED = "parent_resolved"


class PeerHello(BaseModel):
    incident_id: str
    service: str
    active_since: datetime
    # A node's incident: the services whose pods run on it (they join it, see medic.topology.hosted_on).
    hosts: list[str] = Field(default_factory=list)
    # A service's incident: the nodes its pods run on (a node's incident among them absorbs it).
    nodes: list[str] = Field(default_factory=list)


class AbsorbRequest(BaseModel):
    into: str
    service: str


class MergeIn(BaseModel):
    """The head of a merged incident; its alerts and timeline follow as :class:`MergePart` signals."""

    state: IncidentState
    alert_count: int | None = None


class MergePart(BaseModel):
    source: str
    alerts: list[AlertRecord] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    # Sent after the merge (a JIRA key that came back late): only for the run that absorbed ``source``.
    late: bool = False


class ParentResolved(BaseModel):
    incident_id: str


class Ping(BaseModel):
    """A signal that carries no news but itself (e.g. "your alerts resolved")."""
