"""Postmortems outside the workflow: the draft served by the API and sent to Slack on request,
and the activity's writer and state source, built from settings in one place."""

from datetime import UTC, datetime

from activities.observe import NO_RECORDER, Recorder
from activities.postmortem import PostmortemActivities, PostmortemWriter
from medic.incident import IncidentState
from service.incidents import IncidentReader
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
    return PostmortemActivities(writer_for(settings), reader.state, recorder=recorder)


class Postmortems:
    def __init__(self, settings: Settings, reader: IncidentReader) -> None:
        self._writer = writer_for(settings)
        self._reader = reader

    async def render(self, incident_id: str) -> tuple[IncidentState, str, str]:
        """(state, markdown, svg): final once resolved, a draft as of now while open."""
        state = await self._reader.state(incident_id)
        now = state.resolved_at or datetime.now(UTC)
        markdown, svg = self._writer.render(state, now=now)
        return state, markdown, svg

    async def for_slack(self, incident_id: str) -> tuple[str, str]:
        _, markdown, _ = await self.render(incident_id)
        return markdown, self._writer.url(incident_id)
