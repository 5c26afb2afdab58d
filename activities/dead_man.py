"""The activity of a heartbeat's workflow (``workflows.dead_man``): hand a missing heartbeat's finding
to its incident, through the same sink as ``POST /webhooks/anomaly`` and Medic's scans."""

from collections.abc import Awaitable, Callable

from temporalio import activity

from medic.anomaly import AnomalySignal

__all__ = ["ALARM_ACTIVITY", "Deliver", "HeartbeatActivities"]

ALARM_ACTIVITY = "heartbeat_alarm"  # the activity's name in every recorded history: never change it

Deliver = Callable[[list[AnomalySignal]], Awaitable[list[str]]]


class HeartbeatActivities:
    def __init__(self, deliver: Deliver) -> None:
        self._deliver = deliver

    @activity.defn(name=ALARM_ACTIVITY)
    async def alarm(self, signal: AnomalySignal) -> list[str]:
        """The incidents that hold the finding. Safe to repeat: an incident takes a finding once (its
        identity is the heartbeat's labels; a window no later than the one held changes nothing)."""
        return await self._deliver([signal])

    def all(self) -> list[Callable[..., object]]:
        return [self.alarm]
