"""Writing the postmortem when an incident resolves: Markdown and a timeline chart, from the
incident's own state, into MEDIC_POSTMORTEM_DIR: ``<dir>/<incident id>/<opened, UTC>/postmortem.md``
and ``timeline.svg``, one folder per incident (a service's incidents share its id), and the latest
again as ``<dir>/<incident id>/postmortem.md``. The workflow then posts it to the Slack thread and the
JIRA issue, with a link to the run's own document (``/incidents/<id>/runs/<run id>/postmortem``).

The state is read through an injected source (a query to the incident's workflow) rather than
passed in: a large incident's state would not fit in an activity's input."""

import os
import re
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from temporalio import activity

from activities.observe import NO_RECORDER, Recorder
from medic.chart import render_timeline_svg
from medic.incident import IncidentState
from medic.postmortem import render_postmortem
from medic.redact import redact
from medic.story import IncidentMetrics, fmt_duration, incident_metrics

__all__ = [
    "PostmortemActivities",
    "PostmortemRequest",
    "PostmortemWriter",
    "PostmortemWritten",
    "StateSource",
]

CHART_NAME = "timeline.svg"
# Incidents' folders kept per id, the latest: a busy service's 900 incidents a day filled the chart's
# 1 GiB postmortem volume in about 94 days, and the kubelet evicts the worker then (an owner review).
KEEP_PER_ID = 200
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z$")
# (incident id, run id): the state of that run of the id's workflow (None: its latest run)
StateSource = Callable[[str, str | None], Awaitable[IncidentState]]


class PostmortemRequest(BaseModel):
    incident_id: str


class PostmortemWritten(BaseModel):
    path: str
    url: str
    summary: str
    markdown: str


class PostmortemWriter:
    """Renders and stores postmortems; shared by the activity and the API's draft route."""

    def __init__(self, folder: Path, *, template: str | None = None, base_url: str = "") -> None:
        self.folder, self.template, self.base_url = folder, template, base_url.rstrip("/")

    def url(self, incident_id: str, run_id: str | None = None) -> str:
        """The document's link: the run's own when ``run_id`` is given (a service's next incident is a
        new run of the same id, and ``/incidents/<id>/postmortem`` is the latest one's)."""
        run = f"/runs/{run_id}" if run_id else ""
        return f"{self.base_url}/incidents/{incident_id}{run}/postmortem"

    def markdown(self, state: IncidentState, *, now: datetime, run_id: str | None = None) -> str:
        links = {"Medic API": self.url(state.id, run_id)} if self.base_url else None
        markdown = render_postmortem(state, now=now, template=self.template, chart=CHART_NAME, links=links)
        # Entries are redacted already; alert labels and annotations quoted in the document are not.
        return redact(markdown)

    def svg(self, state: IncidentState, *, now: datetime) -> str:
        return render_timeline_svg(state, now=now)  # every text in it is redacted as it is escaped

    def render(self, state: IncidentState, *, now: datetime, run_id: str | None = None) -> tuple[str, str]:
        return self.markdown(state, now=now, run_id=run_id), self.svg(state, now=now)

    def write(self, state: IncidentState, *, now: datetime, run_id: str | None = None) -> tuple[Path, str]:
        """Both files, atomically, in the incident's own folder (named for when it opened), and again
        as the id's latest; the incident's path and the Markdown written."""
        markdown, svg = self.render(state, now=now, run_id=run_id)
        latest = self.folder / _safe(state.id)
        own = latest / state.opened_at.astimezone(UTC).strftime("%Y-%m-%dT%H%M%SZ")
        own.mkdir(parents=True, exist_ok=True)
        for folder in (own, latest):
            _atomic_write(folder / CHART_NAME, svg)
            _atomic_write(folder / "postmortem.md", markdown)
        _prune(latest, keep=KEEP_PER_ID)
        return own / "postmortem.md", markdown


def _summary(state: IncidentState, m: IncidentMetrics) -> str:
    acked = (
        f", acknowledged after {fmt_duration(m.time_to_acknowledge)}"
        if m.time_to_acknowledge is not None
        else ", never acknowledged"
    )
    services = ", ".join(state.services) or "unknown services"
    return (
        f"{state.priority} · {state.title}: resolved after {fmt_duration(m.time_to_resolve)}{acked}; "
        f"{state.alert_count} alerts on {services}."
    )


class PostmortemActivities:
    def __init__(
        self, writer: PostmortemWriter, source: StateSource, *, recorder: Recorder = NO_RECORDER
    ) -> None:
        self._writer, self._source, self._rec = writer, source, recorder

    @activity.defn(name="postmortem_write")
    async def write(self, request: PostmortemRequest) -> PostmortemWritten:
        # this run's state: a service's next incident is a new run of the same id
        run_id = activity.info().workflow_run_id
        state = await self._source(request.incident_id, run_id)
        now = state.resolved_at or datetime.now(UTC)
        path, markdown = self._writer.write(state, now=now, run_id=run_id)
        m = incident_metrics(state, now=now)
        self._rec.incident_resolved(
            state.priority,
            mtta=m.time_to_acknowledge.total_seconds() if m.time_to_acknowledge is not None else None,
            mttr=m.time_to_resolve.total_seconds() if m.time_to_resolve is not None else None,
        )
        return PostmortemWritten(
            path=str(path),
            url=self._writer.url(state.id, run_id),
            summary=_summary(state, m),
            markdown=markdown,
        )

    def all(self) -> list[Callable[..., object]]:
        return [self.write]


def _prune(folder: Path, *, keep: int) -> None:
    """All but the latest ``keep`` incidents' folders of an id (their names sort as their times)."""
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and _STAMP.match(p.name))
    for old in runs[: max(len(runs) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)


def _safe(incident_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in incident_id)


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
