"""Postmortems outside the workflow: the draft served by the API and sent to Slack on request,
and the activity's writer and state source, built from settings in one place."""

import asyncio
from datetime import UTC, datetime

from activities.observe import NO_RECORDER, Recorder
from activities.postmortem import PostmortemActivities, PostmortemWriter, StateSource
from medic.incident import IncidentState
from service.incidents import IncidentReader
from service.links import signed
from service.settings import Settings

__all__ = ["Postmortems", "postmortem_activities", "writer_for"]


def writer_for(settings: Settings) -> PostmortemWriter:
    template = None
    if settings.postmortem_template is not None:
        template = settings.postmortem_template.read_text(encoding="utf-8")
    return PostmortemWriter(settings.effective_postmortem_dir, template=template, base_url=settings.api_url)


def postmortem_activities(
    settings: Settings, reader: IncidentReader, *, recorder: Recorder = NO_RECORDER
) -> PostmortemActivities:
    return PostmortemActivities(writer_for(settings), _state_of(reader), recorder=recorder)


def _state_of(reader: IncidentReader) -> StateSource:
    """The state of a run of an incident's id, or of its latest run."""

    async def state(incident_id: str, run_id: str | None) -> IncidentState:
        if run_id is None:
            return await reader.state(incident_id)
        return await reader.run_state(incident_id, run_id)

    return state


class Postmortems:
    def __init__(self, settings: Settings, reader: IncidentReader) -> None:
        self._writer = writer_for(settings)
        self._state = _state_of(reader)
        self._sign = signed(settings)  # the link in Slack opens for whoever sees it, for a while

    async def markdown(self, incident_id: str, run_id: str | None = None) -> str:
        """Final once resolved, a draft as of now while open; the id's latest incident, or the run's."""
        state = await self._state(incident_id, run_id)
        # Off the event loop: a large incident's document takes tens of milliseconds to render, and
        # the loop is the one that answers webhooks.
        return await asyncio.to_thread(self._writer.markdown, state, now=_as_of(state), run_id=run_id)

    async def svg(self, incident_id: str, run_id: str | None = None) -> str:
        state = await self._state(incident_id, run_id)
        return await asyncio.to_thread(self._writer.svg, state, now=_as_of(state))

    async def for_slack(self, incident_id: str) -> tuple[str, str]:
        return await self.markdown(incident_id), self._sign(self._writer.url(incident_id))


def _as_of(state: IncidentState) -> datetime:
    return state.resolved_at or datetime.now(UTC)
