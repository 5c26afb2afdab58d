"""The activity of a heartbeat's workflow (``workflows.dead_man``): hand a missing heartbeat's finding
to its incident, through the same sink as ``POST /webhooks/anomaly`` and Medic's scans; unless a person
resolved the incident it was told in since the outage began (a Prometheus taken away: the heartbeat is
muted until it beats again, and no new incident is opened for it)."""

from collections.abc import Awaitable, Callable
from datetime import datetime

from pydantic import BaseModel, Field
from temporalio import activity

from activities.scan_io import Deliver
from medic.anomaly import AnomalySignal

__all__ = ["ALARM_ACTIVITY", "AlarmRequest", "AlarmResult", "HeartbeatActivities", "ResolvedSince"]

ALARM_ACTIVITY = "heartbeat_alarm"  # the activity's name in every recorded history: never change it

# whether a person resolved this incident (or the one it merged into) at or after this time
ResolvedSince = Callable[[str, datetime], Awaitable[bool]]


class AlarmRequest(BaseModel):
    finding: AnomalySignal
    told: list[str] = Field(default_factory=list, description="the incidents this outage was told in")
    since: datetime | None = Field(default=None, description="when this outage was first told; None: now")


class AlarmResult(BaseModel):
    incidents: list[str] = Field(default_factory=list, description="the incidents that hold the finding")
    resolved: str | None = Field(
        default=None, description="the incident a person resolved since the outage was told: nothing sent"
    )


class HeartbeatActivities:
    def __init__(self, deliver: Deliver, resolved: ResolvedSince | None = None) -> None:
        self._deliver = deliver
        self._resolved = resolved

    @activity.defn(name=ALARM_ACTIVITY)
    async def alarm(self, request: AlarmRequest) -> AlarmResult:
        """Safe to repeat: an incident takes a finding once (its identity is the heartbeat's labels; a
        window no later than the one held changes nothing)."""
        if request.since is not None and self._resolved is not None:
            for incident in request.told:
                if await self._resolved(incident, request.since):
                    return AlarmResult(resolved=incident)
        return AlarmResult(incidents=await self._deliver([request.finding]))

    def all(self) -> list[Callable[..., object]]:
        return [self.alarm]
