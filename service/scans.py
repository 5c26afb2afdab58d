"""Anomaly scans in the worker: the scan activities wired to Prometheus, the state store and the
same incident sink as ``POST /webhooks/anomaly``; one Temporal Schedule per configured scan
(``medic-scan-<name>``), created, updated or removed to match ``anomaly.yaml`` at worker start;
and what ``GET /anomalies/scans`` shows of them."""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

from pydantic import BaseModel, Field
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.observe import NO_RECORDER, Recorder
from activities.scan import (
    ScanActivities,
    ScanFailure,
    ScanInput,
    ScanResult,
    ScanStateStore,
    ScanStore,
)
from activities.scan_io import Deliver
from medic.anomaly import AnomalySignal
from medic.assign import assign_anomalies
from medic.catalog import Catalog
from medic.incident import IncidentState
from medic.redact import redact, redact_data
from medic.scan import IncidentMarks, ScanSpec
from medic.shared_silence import SharedSilence
from service.incidents import IncidentNotFound, TemporalIncidentReader
from service.ingest import TemporalIncidentSink
from service.prometheus import loki, prometheus
from service.settings import Settings
from workflows.scan import SCAN_SCHEDULE_PREFIX, SCAN_WORKFLOW_PREFIX, AnomalyScanWorkflow

__all__ = [
    "ScanErrorView",
    "ScanView",
    "ScansReader",
    "SeriesView",
    "anomaly_delivery",
    "build_scan_activities",
    "scan_store",
    "start_scans",
    "sync_schedules",
]

log = logging.getLogger(__name__)


def scan_store(settings: Settings) -> ScanStateStore:
    """Where the scans keep their state (``MEDIC_SCAN_STATE``): files under ``MEDIC_DATA_DIR/scans``,
    or a ConfigMap per scan that every worker and the API share. A ConfigMap store that cannot be set
    up (no Kubernetes configuration, no namespace) raises :class:`~medic.ports.PermanentError`."""
    if settings.scan_state == "configmap":
        from activities.adapters.scan_state import ConfigMapScanStore  # noqa: PLC0415

        store = ConfigMapScanStore.from_settings(settings.kubeconfig, namespace=settings.scan_state_namespace)
        log.info("anomaly scan state: a ConfigMap per scan in namespace %s", store.namespace)
        return store
    return ScanStore(settings.data_dir / "scans")


def anomaly_delivery(client: Client, settings: Settings, catalog: Catalog) -> Deliver:
    """What the anomaly webhook does with a parsed body, for Medic's own findings (scans, heartbeats):
    assign to incidents, signal-with-start; the incidents that hold them."""
    sink = TemporalIncidentSink(client, settings)

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        received = datetime.now(UTC)
        incidents = []
        for a in assign_anomalies(catalog, signals, per_cluster=settings.incident_cluster_label):
            holder = await sink.deliver(a.incident_id, a.service, a.anomaly_batch(received))
            if holder is not None:  # (the incident holding it: this sink follows no merges, so its own)
                incidents.append(holder)
        return incidents

    return deliver


def build_scan_activities(
    client: Client,
    settings: Settings,
    catalog: Catalog,
    specs: dict[str, ScanSpec],
    *,
    recorder: Recorder = NO_RECORDER,
) -> ScanActivities:
    deliver = anomaly_delivery(client, settings, catalog)
    source = prometheus(settings)
    reader = TemporalIncidentReader(client, settings)

    async def false_positives(incident_ids: list[str]) -> dict[str, IncidentMarks]:
        """The false-positive marks of these incidents' latest runs, with when each run opened (their
        own record of the marks) and when a person resolved it; the unmarked and unresolved are left
        out."""
        slots = asyncio.Semaphore(8)

        async def read(incident_id: str) -> IncidentState | None:
            async with slots:
                try:
                    return await reader.state(incident_id)
                except IncidentNotFound:
                    return None
                except Exception as err:  # unreadable now: asked again next run
                    log.info("could not read %s for false-positive marks: %s", incident_id, err)
                    return None

        async def marks(incident_id: str) -> IncidentMarks | None:
            state = await read(incident_id)
            if state is None:
                return None
            found = [f.at.timestamp() for f in state.false_positives]
            if state.merged_into is not None:  # people mark the incident it joined (its cause's)
                into = await read(state.merged_into)
                found += [f.at.timestamp() for f in into.false_positives] if into is not None else []
            by_hand = state.resolved_at if state.resolved_by is not None else None
            if not found and by_hand is None:
                return None
            return IncidentMarks(
                opened_at=state.opened_at.timestamp(),
                marks=found,
                resolved_by_person=by_hand.timestamp() if by_hand is not None else None,
            )

        found = await asyncio.gather(*(marks(i) for i in incident_ids))
        return {i: m for i, m in zip(incident_ids, found, strict=True) if m is not None}

    return ScanActivities(
        source=source,
        loki=loki(settings),
        specs=lambda: specs,
        store=scan_store(settings),
        deliver=deliver,
        false_positives=false_positives,
        recorder=recorder,
    )


def _schedule(settings: Settings, spec: ScanSpec) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            AnomalyScanWorkflow.run,
            ScanInput(name=spec.name),
            id=f"{SCAN_WORKFLOW_PREFIX}{spec.name}",
            task_queue=settings.task_queue,
            execution_timeout=timedelta(minutes=10),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=spec.every_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


_UNKNOWN = ""  # a schedule whose queue could not be read: neither ours nor to take over


async def _queue_of(client: Client, sid: str) -> str | None:
    """The task queue a schedule's runs start on (None: not a workflow start, or gone meanwhile;
    ``_UNKNOWN`` when Temporal could not say: it is left alone, and the others are synchronised)."""
    try:
        action = (await client.get_schedule_handle(sid).describe()).schedule.action
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        log.warning("anomaly scan schedule %s left as it is: %s", sid, err)
        return _UNKNOWN
    return action.task_queue if isinstance(action, ScheduleActionStartWorkflow) else None


async def sync_schedules(client: Client, settings: Settings, specs: dict[str, ScanSpec]) -> None:
    """One schedule per scan: created, or updated to the current spec; schedules of scans no longer
    configured are deleted. Safe to run from every worker (the last writer wins with the same spec).
    Only this installation's schedules, those whose runs start on its task queue
    (``MEDIC_TASK_QUEUE``), are updated or deleted: another installation in the same Temporal
    namespace (another queue), or the old workers during a side-by-side move to a new queue, keep
    theirs; a scan of the same name as one of theirs is left to them, and said so. Nothing is taken
    over on a guess (a queue nobody polls now may be another installation's, down for a while): after
    a move, the old queue's schedules are deleted by hand once its workers are gone
    (docs/anomaly.md)."""
    ours, theirs = set(), {}
    async for entry in await client.list_schedules():
        if entry.id.startswith(SCAN_SCHEDULE_PREFIX):
            queue = await _queue_of(client, entry.id)
            if queue == settings.task_queue:
                ours.add(entry.id)
            elif queue is not None:
                theirs[entry.id] = queue
    for spec in specs.values():
        sid = f"{SCAN_SCHEDULE_PREFIX}{spec.name}"
        if sid in theirs and theirs[sid] == _UNKNOWN:
            log.warning("anomaly scan %s not scheduled: Temporal could not describe %s", spec.name, sid)
            continue
        if sid in theirs:
            log.warning(
                "anomaly scan %s not scheduled: the schedule %s starts its runs on task queue %r, not %r"
                " (another Medic in this Temporal namespace, or this one's old queue after a move: delete"
                " it with `temporal schedule delete --schedule-id %s` once that queue's workers are"
                " gone, then restart a worker); rename the scan, or remove theirs",
                spec.name,
                sid,
                theirs[sid],
                settings.task_queue,
                sid,
            )
            continue
        schedule = _schedule(settings, spec)
        if sid in ours:

            def replace(_: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(sid).update(replace)
        else:
            with contextlib.suppress(ScheduleAlreadyRunningError):  # another worker made it meanwhile
                await client.create_schedule(sid, schedule)
        log.info("anomaly scan %s every %d s: %s", spec.name, spec.every_seconds, spec.query)
    for sid in ours - {f"{SCAN_SCHEDULE_PREFIX}{name}" for name in specs}:
        await client.get_schedule_handle(sid).delete()
        log.info("anomaly scan schedule %s removed (no longer in anomaly.yaml)", sid)


async def start_scans(client: Client, settings: Settings) -> None:
    """At worker start: the schedules to match ``anomaly.yaml`` (a Temporal that cannot take them is
    logged, not fatal: the scans resume at the next start)."""
    from service.config_files import anomaly_near_miss, load_anomaly_file  # noqa: PLC0415

    if settings.anomaly is not None and not settings.anomaly.is_file():
        # a typo'd path read as "no scans" deleted every scan's schedule, said at INFO (a review, 2026-12-06)
        log.error(
            "MEDIC_ANOMALY names %s, which is no file: this worker runs no anomaly scans and leaves"
            " their schedules as they are (correct the path; `medic check` says the same)",
            settings.anomaly,
        )
        return
    near = anomaly_near_miss(settings.anomaly_file)
    if near is not None:  # a misnamed key of one's own ConfigMap: none would run, said nowhere
        log.error(
            "no anomaly scans at %s, but %s is beside it: this worker leaves the scans' schedules as they"
            " are and runs none, their runs failing until it is mended (name it %s, or set MEDIC_ANOMALY;"
            " `medic check` says the same)",
            settings.anomaly_file,
            near,
            settings.anomaly_file.name,
        )
        return
    specs = load_anomaly_file(settings.anomaly_file)
    configured = {"prometheus": settings.prometheus_url, "loki": settings.loki_url}
    for name in sorted({s.source for s in specs.values() if not configured[s.source]}):
        # said, and scheduled all the same: a worker that lacks one source stopped the schedules of
        # every scan from being made, updated or deleted (a review); a run that reaches it is retried
        # by another worker, and fails with these words where none has it
        log.warning(
            "anomaly scans %s ask MEDIC_%s_URL, which this worker lacks: their runs that reach it are"
            " retried by another worker, and fail where none has it (set it)",
            ", ".join(sorted(s.name for s in specs.values() if s.source == name)),
            name.upper(),
        )
    try:
        await sync_schedules(client, settings, specs)
    except Exception as err:
        log.warning("anomaly scan schedules not synchronised: %s", err)


class SeriesView(BaseModel):
    labels: dict[str, str]
    last_time: datetime | None
    last_value: float | None
    last_score: float = Field(description="the score of the last point scored, 0..1")
    max_score: float = Field(description="the highest score of the last run")
    points: int = Field(description="points scored since the series was first seen")
    anomalies: int = Field(description="runs that raised an anomaly signal")
    state_bytes: int = Field(description="size of the detector state kept between runs")
    sensitivity: float = Field(description="learned from false-positive marks (1.0: as configured)")
    false_positives: int = Field(description="its anomalies' incidents marked false positive")


class ScanErrorView(BaseModel):
    at: datetime
    error: str = Field(description="what failed, in the words of whoever refused (Prometheus's), redacted")
    attempts: int = Field(description="attempts the run made")


ScheduleStatus = Literal["scheduled", "paused", "missing", "other-installation", "unknown", "no-temporal"]


class SharedSilenceView(BaseModel):
    began: datetime = Field(description="the earliest first 0 of its members")
    services: list[str] = Field(description="its members' services")
    series: int = Field(description="its members (series)")
    back: int = Field(description="the members whose lines came back")
    raised: list[str] = Field(description="the services whose own findings are held in it")
    told: list[str] = Field(description="the services still silent after it was released, told as their own")
    released: datetime | None = Field(
        description="when the lines came back to most members (a member still silent is its own finding)"
    )
    sent: datetime | None = Field(description="when its finding was first sent (null: not yet)")


def _shared_view(shared: SharedSilence | None) -> SharedSilenceView | None:
    if shared is None:
        return None
    named = shared.services
    return SharedSilenceView(
        began=datetime.fromtimestamp(shared.began, UTC),
        services=sorted({named.get(k, k) for k in shared.members}),
        series=len(shared.members),
        back=len(shared.ended),
        raised=sorted({named.get(k, k) for k in shared.held}),
        told=sorted({named.get(k, k) for k in shared.told}),
        released=_at(shared.released),
        sent=_at(shared.sent),
    )


class ScanView(BaseModel):
    name: str
    query: str
    source: str = Field(default="prometheus", description="where the query is asked: prometheus or loki")
    detector: str
    threshold: float
    every_seconds: int
    last_run: datetime | None
    next_run: datetime | None = Field(description="from the scan's Temporal Schedule")
    schedule: ScheduleStatus = Field(
        default="unknown",
        description="what the scan's Temporal Schedule says (next_run is null unless scheduled): "
        "missing (no worker made it: none running), other-installation (a "
        "schedule of that name runs on another task queue), unknown (Temporal could not say), "
        "no-temporal (the API has no Temporal client)",
    )
    last_result: ScanResult | None
    last_error: ScanErrorView | None = Field(
        default=None,
        description="the latest run that failed for good (its last attempt, or a query Prometheus "
        "refused); kept after a success: its `at` against last_run says which came last",
    )
    failures_in_a_row: int = Field(default=0, description="runs failed in a row (0 once one succeeds)")
    skipped_runs: int | None = Field(
        default=None,
        description="runs the schedule skipped because the one before was still running (its runs take"
        " longer than every_seconds, or no worker takes them), since the schedule was made (updates keep"
        " the count): raise every_seconds, narrow the query, or start a worker; null when the schedule"
        " could not be read",
    )
    waiting: int = Field(
        default=0,
        description="findings of a fall towards 0 held back a run to see whether most series fall silent "
        "with it (pipeline_service)",
    )
    shared_silence: SharedSilenceView | None = Field(
        default=None,
        description="a silence most of the scan's series share, while it lasts and an hour after (its "
        "members' findings are held in one finding of the scan's pipeline_service)",
    )
    series: list[SeriesView]


def _at(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def _error_view(failure: ScanFailure | None) -> ScanErrorView | None:
    if failure is None:
        return None
    # redacted again as shown: a secret registered since the run failed (a rotated token)
    return ScanErrorView(
        at=datetime.fromtimestamp(failure.at, UTC), error=redact(failure.error), attempts=failure.attempts
    )


class ScansReader:
    """What ``GET /anomalies/scans`` shows: each configured scan's series from the state store, and
    the next run from its schedule (none without a Temporal client, or when Temporal cannot say)."""

    def __init__(self, client: Client | None, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        self._store: ScanStateStore | None = None  # built at the first read, then kept

    async def list(self) -> list[ScanView]:
        """Raises :class:`~medic.yamldoc.ConfigError` when the anomaly file cannot be read: one that
        ``MEDIC_ANOMALY`` names and that is not there (or is a directory) is no "no scans" (it read as
        one: ``[]``), nor is one that does not validate."""
        from service.config_files import load_anomaly_file  # noqa: PLC0415

        named_by = "MEDIC_ANOMALY" if self._settings.anomaly is not None else None
        specs = await asyncio.to_thread(
            partial(load_anomaly_file, self._settings.anomaly_file, named_by=named_by, near_misses=True)
        )
        if self._store is None:
            self._store = await asyncio.to_thread(scan_store, self._settings)
        store = self._store
        out = []
        for spec in specs.values():
            # (the ConfigMap store drops each shard's detectors as it reads it)
            stored = await asyncio.to_thread(store.load_view, spec.name)
            series = [
                SeriesView(
                    # as the series' signals, timeline and logs show them (a URL with a password, a key)
                    labels={str(k): str(v) for k, v in redact_data(s.labels).items()},
                    last_time=_at(s.last_time),
                    last_value=s.last_value,
                    last_score=s.last_score,
                    max_score=s.max_score,
                    points=s.points,
                    anomalies=s.anomalies,
                    state_bytes=s.detector_bytes or len("{}"),
                    sensitivity=s.sensitivity,
                    false_positives=s.false_positives,
                )
                for s in stored.series.values()
            ]
            out.append(
                ScanView(
                    name=spec.name,
                    query=spec.query,
                    source=spec.source,
                    detector=spec.detector,
                    threshold=spec.threshold,
                    every_seconds=spec.every_seconds,
                    last_run=_at(stored.last_run),
                    **(await self._schedule(spec.name)),
                    last_result=stored.last_result,
                    last_error=_error_view(stored.last_error),
                    failures_in_a_row=stored.failures_in_a_row,
                    waiting=len(stored.waiting),
                    shared_silence=_shared_view(stored.shared_silence),
                    series=series,
                )
            )
        return out

    async def _schedule(self, name: str) -> dict[str, Any]:
        """``next_run`` and ``schedule``: a null next run said nothing of why (a review, 2026-12-06)."""
        if self._client is None:
            return {"next_run": None, "schedule": "no-temporal"}
        try:
            desc = await self._client.get_schedule_handle(f"{SCAN_SCHEDULE_PREFIX}{name}").describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return {"next_run": None, "schedule": "missing"}
            log.info("could not read the schedule of scan %s: %s", name, err)
            return {"next_run": None, "schedule": "unknown"}
        except Exception as err:
            log.info("could not read the schedule of scan %s: %s", name, err)
            return {"next_run": None, "schedule": "unknown"}
        action = desc.schedule.action
        if (
            not isinstance(action, ScheduleActionStartWorkflow)
            or action.task_queue != self._settings.task_queue
        ):  # another installation's scan of the same name: not when this one runs
            return {"next_run": None, "schedule": "other-installation"}
        if desc.schedule.state.paused:
            return {
                "next_run": None,
                "schedule": "paused",
                "skipped_runs": desc.info.num_actions_skipped_overlap,
            }
        times = desc.info.next_action_times
        return {
            "next_run": times[0] if times else None,
            "schedule": "scheduled",
            "skipped_runs": desc.info.num_actions_skipped_overlap,
        }
