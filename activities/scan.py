"""The anomaly scan activity: fetch a scan's query over its lookback from Prometheus (or Loki, a LogQL
metric query: ``source: loki``), run each series' detector from its saved state, save the states,
and hand what it found to incidents through the same path as ``POST /webhooks/anomaly`` (injected:
``deliver``).

Before scoring, the incidents each series' signals joined are checked for false-positive marks
(``false_positives``, injected: the marks and opening of each one's latest run): a run marked after
the series joined it makes that series less sensitive, once (``medic.scan.learn_false_positives``).

Detector state lives in a :class:`ScanStateStore` (injected), never in workflow history; the
activity returns only counts. Two stores: :class:`ScanStore`, a JSON file per scan under
``MEDIC_DATA_DIR/scans`` (one worker, or a volume every worker shares), and
``activities.adapters.scan_state.ConfigMapScanStore``, a ConfigMap per scan that every worker sees
(``MEDIC_SCAN_STATE``). Running the same scan twice at once is prevented by the schedule (overlap:
skip); a retried run re-reads the saved state and scores only points after the last one it saved, so
nothing is scored twice. Should two runs still overlap (an attempt that timed out but kept going), a
shared store merges their states series by series (:func:`merge_stored`) instead of keeping one.
"""

import asyncio
import json
import math
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.observe import NO_RECORDER, Recorder
from activities.scan_io import MAX_SERIES, SCAN_ACTIVITY, Deliver, ScanFailure, ScanInput, ScanResult
from medic.anomaly import PREDICTION_SOURCE, AnomalySignal
from medic.ports import PermanentError, TransientError
from medic.promql import shortest_range
from medic.redact import redact
from medic.scan import (
    MAX_POINTS,
    IncidentMarks,
    RangeSeries,
    ScanOutcome,
    ScanSpec,
    SeriesState,
    days_before_spans,
    falling_now,
    filled_with_zeros,
    learn_false_positives,
    released_excursion,
    released_signal,
    remember_incidents,
    scan_series,
    series_key,
    shared_after,
    shared_signal,
    silences,
    with_days_before,
)
from medic.shared_silence import (
    MIN_MEMBERS,
    SharedSilence,
    Waiting,
    merge_shared,
    span_for,
    towards_silence,
    wait_for,
)

__all__ = [
    "RangeSource",
    "ScanActivities",
    "ScanFailure",
    "ScanInput",
    "ScanResult",
    "ScanStateStore",
    "ScanStore",
    "StoredScan",
    "merge_stored",
    "without_detectors",
]

_T = TypeVar("_T")
_R = TypeVar("_R")
_DAY = 86400
_KEEP_SETTLED = 500  # findings that waited, remembered once sent or held (for a merge of two saves)
_SUMMARY_STEP = 300.0  # the days before an anomaly, fetched for its summary: one point in 5 minutes at most


class RangeSource(Protocol):
    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]: ...


class StoredScan(BaseModel):
    """A scan's saved state: every series' detector, and when it last ran. Fields it does not know
    (a later release's, read by an earlier one in a rollback) are kept as they were."""

    model_config = ConfigDict(extra="allow")

    name: str
    last_run: float | None = None
    last_result: ScanResult | None = None
    # the latest run that failed for good (kept after a success: its ``at`` against ``last_run``
    # says which came last), and how many runs in a row failed (0 once one succeeds)
    last_error: ScanFailure | None = None
    failures_in_a_row: int = 0
    series: dict[str, SeriesState] = Field(default_factory=dict)
    shared_silence: SharedSilence | None = Field(
        default=None, description="a silence most of its series share, while it lasts (medic.shared_silence)"
    )
    waiting: list[Waiting] = Field(
        default_factory=list,
        description="findings of a fall towards 0 waiting to see if most series fall too",
    )
    settled: list[str] = Field(
        default_factory=list, description="the latest findings that waited and were sent or held (key@start)"
    )

    def run_fields(self) -> "StoredScan":
        """This state without its series: what the first of its parts carries (and a merge keeps)."""
        return self.model_copy(update={"series": {}})


class ScanStateStore(Protocol):
    """Where scans keep their state between runs. ``load`` of a scan never saved is an empty
    :class:`StoredScan`; a store that cannot answer raises :class:`~medic.ports.TransientError` (try
    again) or :class:`~medic.ports.PermanentError` (it cannot work: configuration, size)."""

    def load(self, name: str) -> StoredScan: ...

    def load_view(self, name: str) -> StoredScan:
        """:meth:`load` without the detectors' state (:func:`without_detectors`), for a view."""
        ...

    def save(self, stored: StoredScan) -> None: ...


def without_detectors(stored: StoredScan) -> StoredScan:
    """``stored`` as a view needs it: each series' detector state dropped, its size kept
    (``detector_bytes``). A view of 2,000 series at one point a minute held 166 MB of them."""
    for state in stored.series.values():
        if state.detector is not None:
            state.detector_bytes = len(json.dumps(state.detector))
            state.detector = None
    return stored


def merge_stored(ours: StoredScan, theirs: StoredScan) -> StoredScan:
    """``ours`` written over ``theirs``, a state someone else saved meanwhile, losing neither: every
    series of both, each from the side that scored it further (``last_time``, then ``points``; ours on
    a tie), and the later run's ``last_run``/``last_result``. A run removes only series long gone from
    its query (:func:`forget_gone`); one the other side still had comes back and goes again next run."""
    series = dict(theirs.series)
    for key, state in ours.series.items():
        other = series.get(key)
        if other is None or _progress(state) >= _progress(other):
            series[key] = state
    newer, older = (ours, theirs) if (ours.last_run or 0.0) >= (theirs.last_run or 0.0) else (theirs, ours)
    # findings waiting to be sent from both, but for those the other side sent or held already
    done = {*newer.settled, *older.settled}
    mine = {_waited(w) for w in newer.waiting}
    waiting = [
        *(w for w in newer.waiting if _waited(w) not in done),
        *(w for w in older.waiting if _waited(w) not in mine and _waited(w) not in done),
    ]
    settled = [*older.settled, *(k for k in newer.settled if k not in set(older.settled))][-_KEEP_SETTLED:]
    shared = merge_shared(newer.shared_silence, older.shared_silence)
    return newer.run_fields().model_copy(
        update={
            "name": ours.name,
            "series": series,
            "waiting": waiting,
            "settled": settled,
            "shared_silence": shared,
        }
    )


MAX_KEPT = MAX_SERIES * 3 // 2  # series states a scan keeps, those it scored in its last run first


def forget_gone(stored: StoredScan, returned: set[str], before: float, scored: set[str] | None = None) -> int:
    """Drop the series the query did not return whose last point is older than ``before`` (the last one
    the source answered: not a 0 filled in, ``absent: zero``); how many. Without it a query over
    short-lived label sets (pod names) would grow the state without end. Past :data:`MAX_KEPT` the
    ones not ``scored`` this run go (default: not returned), those answered longest ago first: a scan of
    pods deployed every few runs kept a day of replaced pods (6,000 states for 2,000 pods, 1.5 GiB of
    worker for each run's load and save; a walk-through), and a run's answer holds every pod replaced
    within its lookback, far more than it scores."""
    gone = [key for key, state in stored.series.items() if key not in returned and state.answered() < before]
    for key in gone:
        del stored.series[key]
    over = len(stored.series) - MAX_KEPT
    if over > 0:
        kept = returned if scored is None else scored
        absent = sorted(
            (k for k in stored.series if k not in kept), key=lambda k: stored.series[k].answered()
        )
        for key in absent[:over]:
            del stored.series[key]
        return len(gone) + min(over, len(absent))
    return len(gone)


def _progress(state: SeriesState) -> tuple[float, int]:
    return (state.last_time if state.last_time is not None else float("-inf"), state.points)


class ScanStore:
    """The file store: one JSON file per scan, replaced atomically (write, fsync, rename). Each worker
    sees its own folder unless ``MEDIC_DATA_DIR`` is a volume they all share."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.json"

    def load(self, name: str) -> StoredScan:
        path = self.path(name)
        if not path.exists():
            return StoredScan(name=name)
        return StoredScan.model_validate_json(path.read_bytes())

    def load_view(self, name: str) -> StoredScan:
        return without_detectors(self.load(name))

    def save(self, stored: StoredScan) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(stored.name)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as fh:
            fh.write(stored.model_dump_json())
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)


# which of these incidents someone marked a false positive
FalsePositives = Callable[[list[str]], Awaitable[dict[str, IncidentMarks]]]
_MAX_CHECKED = 200  # incidents asked about per run


class ScanActivities:
    def __init__(
        self,
        *,
        source: RangeSource | None,
        specs: Callable[[], dict[str, ScanSpec]],
        store: ScanStateStore,
        deliver: Deliver,
        loki: RangeSource | None = None,
        false_positives: FalsePositives | None = None,
        clock: Callable[[], float] = time.time,
        recorder: Recorder = NO_RECORDER,
    ) -> None:
        self._recorder = recorder
        self._sources: dict[str, RangeSource | None] = {"prometheus": source, "loki": loki}
        self._specs = specs
        self._store = store
        self._deliver = deliver
        self._false_positives = false_positives
        self._clock = clock
        recorder.scans_known(sorted(specs()))

    @activity.defn(name=SCAN_ACTIVITY)
    async def scan(self, request: ScanInput) -> ScanResult:
        """One run; each attempt counted by outcome (``ok``, ``retried``, ``failed``), and a run that
        failed for good kept with the scan's state (``last_error``, ``failures_in_a_row``)."""
        try:
            result = await self._run(request)
        except Exception as err:
            await self._failed(request.name, err)
            raise
        except asyncio.CancelledError:
            # its timeout (a first run that outlasted it), or its worker stopping: a failure like the
            # others, kept when it was the run's last attempt (it was not an Exception, and went unseen)
            await self._failed(request.name, TimeoutError("the run was cancelled: it outlasted its timeout"))
            raise
        self._recorder.scan_run(request.name, "ok")
        return result

    async def _failed(self, name: str, err: Exception) -> None:
        """A failed attempt: counted; when it is the run's last, kept in the scan's state (best effort:
        a store that cannot be written is often why the run failed)."""
        final = _final(err)
        self._recorder.scan_run(name, "failed" if final else "retried")
        if not final or name not in self._specs():
            return
        said = str(err) if isinstance(err, ApplicationError) else f"{type(err).__name__}: {err}"
        failure = ScanFailure(at=self._clock(), error=redact(said)[:1000], attempts=_attempt())

        def record() -> None:
            stored = self._store.load(name)
            stored.last_error = failure
            stored.failures_in_a_row += 1
            self._store.save(stored)

        try:
            await asyncio.to_thread(record)
        except Exception as problem:
            activity.logger.warning("scan %s: its failure not kept in its state: %s", name, problem)

    async def _run(self, request: ScanInput) -> ScanResult:
        spec = self._specs().get(request.name)
        if spec is None:
            # retried: another worker may know it (a rolling deploy that adds a scan; a worker whose
            # MEDIC_ANOMALY is wrong runs none), where a refusal lost the run (an owner review)
            raise ApplicationError(f"this worker knows no scan named {request.name!r} in its anomaly.yaml")
        source = self._sources[spec.source]
        if source is None:
            # retried: another worker may have it (a worker set up without it runs no scan of it)
            raise ApplicationError(
                f"no {spec.source_name} configured on this worker (MEDIC_{spec.source.upper()}_URL)"
            )
        # on the scan's grid: Prometheus evaluates at start + k * step, so an unaligned end shifts
        # every run's points by the clock's jitter, and the next run's first point came a fraction
        # of a step after the last one scored (1,578 points a day instead of 1,440 at one a minute)
        now = self._clock()
        end = math.floor(now / spec.step_seconds) * spec.step_seconds
        stored = await self._stored(self._store.load, spec.name)
        before = _previous_end(spec, stored)
        start, fetched = await self._fetch(source, spec, before, end)
        # a series of native histograms alone has nothing to score: counted (the view says it), and
        # otherwise as a series the query no longer returns
        found = [s for s in fetched if s.values or not s.histograms]
        histograms = len(fetched) - len(found)  # (before zeros are filled in for series not returned)
        if spec.source == "loki" or spec.absent_is_zero:
            found = [_settled(s, end, spec.step_seconds) for s in found]
        returned = {series_key(s.labels) for s in found}
        seen = {series_key(s.labels): max(s.times) for s in found if s.times}  # (before any 0 is filled in)
        if spec.absent_is_zero:
            for state in stored.series.values():  # (a state saved before: its last point was answered;
                if state.last_seen is None:  # pinned, for the zeros filled in move last_time on)
                    state.last_seen = state.last_time
            found = filled_with_zeros(
                found,
                stored.series,
                start=start,
                end=end,
                step=spec.step_seconds,
                recent=now - spec.forget_after_seconds,
            )
        await self._learn(stored, now)
        legacy = set(stored.series)  # the keys as the run found them
        result = ScanResult(truncated=len(found) > MAX_SERIES, histograms=histograms)
        if result.truncated:
            found = _latest_first(found)
            # said where the operator looks: only in the run's result, the rest of the series went unwatched
            activity.logger.warning(
                "scan %s: the query returned %d series; only the %d with the latest points are scored "
                "(Medic's limit per scan), the other %d are not watched: aggregate the query (e.g. by "
                "service) or split it into several scans",
                spec.name,
                len(found),
                MAX_SERIES,
                len(found) - MAX_SERIES,
            )
        incidents: dict[str, None] = {}
        # a silence most series share (medic.shared_silence): judged once every series is scored
        sharing = spec.pipeline_service is not None and spec.absent_is_zero
        # (also where a silence is open and the scan no longer shares: its held findings are told)
        seen_quiet = silences(spec, found[:MAX_SERIES]) if sharing or stored.shared_silence else None
        scored: list[tuple[str, ScanOutcome, str | None]] = []
        for series in found[:MAX_SERIES]:
            key = series_key(series.labels)
            # off the event loop: scoring a series (and reading its state) is CPU, and thousands of
            # them held the loop that the worker's other activities and workflows run on
            saved, moved = _state_of(stored, series.labels, key, legacy)
            try:
                outcome = await asyncio.to_thread(
                    partial(scan_series, since=before, end=end),
                    spec,
                    series.labels,
                    series.times,
                    series.values,
                    saved,
                )
            except Exception:  # one series that cannot be scored does not stop the others
                activity.logger.exception("scan %s: series %s not scored (its state is kept)", spec.name, key)
                result.failed += 1
                continue
            scored.append((key, outcome, moved))
        shared = (
            shared_after(
                spec, seen_quiet, stored.shared_silence, {k: o.silence for k, o, _ in scored}, end=end
            )
            if seen_quiet is not None and sharing
            else None
        )
        span = span_for(spec.step_seconds)
        wait = wait_for(spec.step_seconds, shortest_range(spec.query))
        # a fall waits only where most series are falling with it (a single service's stop goes at once),
        # and only where the next run comes within the wait (an hourly scan's falls go at once)
        down = falling_now(seen_quiet, {k: o.ordinary for k, o, _ in scored}) if seen_quiet is not None else 0
        may_wait = (
            sharing
            and seen_quiet is not None
            and down >= MIN_MEMBERS
            and 2 * down >= seen_quiet.able
            and spec.every_seconds <= wait
        )
        held: list[AnomalySignal] = []  # members' findings of the shared silence
        waiting: list[Waiting] = []  # findings of a fall towards 0 waiting to be sent
        settled: list[str] = []  # findings that waited, sent or held this run
        earlier: dict[str, tuple[list[float], list[float]]] | None = None  # the days before, once a run
        for key, outcome, moved in scored:
            state = outcome.state
            if shared is not None and key in shared.members:
                # its own finding of the silence is held in the shared one; others go as ever
                mine = [s for s in outcome.signals if _of(shared, key, s, span, end)]
                if mine:
                    _hold(shared, key, mine, held, result)
                    outcome.signals = [s for s in outcome.signals if s not in mine]
                    if not any(s.source != PREDICTION_SOURCE for s in outcome.signals):
                        outcome.anomaly_at = None  # (no summary of its days before to fetch)
            if outcome.anomaly_at is not None and spec.lookback_seconds < _DAY:
                # the run's points do not reach a day back: what the series did then, for its summary
                if earlier is None:
                    earlier = await self._days_before(source, spec, end)
                times, values = earlier.get(key, ([], []))
                outcome.signals = [
                    s
                    if s.source == PREDICTION_SOURCE
                    else with_days_before(spec, s, outcome.anomaly_at, times, values)
                    for s in outcome.signals
                ]
            if may_wait:  # a fall towards 0 waits to see whether most series fall silent with it
                falls = [
                    s
                    for s in outcome.signals
                    if towards_silence(s) and s.window.start.timestamp() + wait > end
                ]
                waiting += [Waiting(key=key, signal=s, due=s.window.start.timestamp() + wait) for s in falls]
                outcome.signals = [s for s in outcome.signals if s not in falls]
            result.series += 1
            result.points += outcome.scored
            for signal in outcome.signals:
                if signal.source == PREDICTION_SOURCE:  # (an "exhausted" one has no forecast points)
                    result.predictions += 1
                else:
                    result.anomalies += 1
            if outcome.signals:  # per series, so its false-positive marks find their way back to it
                joined = await self._deliver(outcome.signals)
                # (when the hand-over returned: an incident it opened opened before then); a prediction
                # alone is no anomaly of the detector's: a mark on its incident made the series blind
                if any(s.source != PREDICTION_SOURCE for s in outcome.signals):
                    state = remember_incidents(state, joined, self._clock())
                incidents.update(dict.fromkeys(joined))
            if key in seen:
                state.last_seen = max(seen[key], state.last_seen or seen[key])
            stored.series[key] = state
            if moved is not None:  # scored under its new key: the old one goes
                del stored.series[moved]
        for early in stored.waiting:  # the earlier runs' falls: held in a shared silence, sent, or kept
            if shared is not None and _of(shared, early.key, early.signal, span, end):
                _hold(shared, early.key, [early.signal], held, result)
                settled.append(_waited(early))
            elif early.due <= end or (shared is None and not may_wait):
                await self._own(stored, early.key, [early.signal], result, incidents)
                settled.append(_waited(early))
            else:
                waiting.append(early)
        dropped = stored.shared_silence
        gone = dropped is not None and (shared is None or not set(shared.members) & set(dropped.members))
        if dropped is not None and seen_quiet is not None and gone:
            # a silence dropped (another in its place, or the scan no longer shares) while a member whose
            # finding it held is still silent: told as its own now, not lost with it
            for key in dropped.silent_held(seen_quiet.last_lines):
                await self._own(
                    stored, key, [released_signal(spec, dropped, key, end=end)], result, incidents
                )
        if shared is not None:
            # the lines came back to most, not to it: a member still silent is its own outage
            for key in shared.still_silent(span=span, now=end):
                await self._own(stored, key, [released_signal(spec, shared, key, end=end)], result, incidents)
                shared.told.append(key)
        if shared is not None and held:
            # one finding for all of them; its incident is no series' own (a mark on it is not theirs)
            joined = await self._deliver([shared_signal(spec, shared, held)])
            incidents.update(dict.fromkeys(joined))
            result.anomalies += 1
            if shared.sent is None:
                shared.sent = now
        stored.waiting = waiting
        stored.settled = [*stored.settled, *settled][-_KEEP_SETTLED:]
        stored.shared_silence = shared
        result.incidents = list(incidents)
        result.forgotten = forget_gone(
            stored, returned, now - spec.forget_after_seconds, scored={key for key, _, _ in scored}
        )
        stored.last_run = now
        stored.last_result = result
        stored.failures_in_a_row = 0
        # saved after the hand-over: a run that fails to deliver is retried from the same state
        await self._stored(self._store.save, stored)
        activity.logger.info(
            "scan %s: %d series, %d points, %d anomalies, %d predictions%s",
            spec.name,
            result.series,
            result.points,
            result.anomalies,
            result.predictions,
            (f", {result.failed} series not scored" if result.failed else "")
            + (f", {result.histograms} series of native histograms not scored" if result.histograms else ""),
        )
        return result

    async def _own(
        self,
        stored: StoredScan,
        key: str,
        signals: list[AnomalySignal],
        result: ScanResult,
        incidents: dict[str, None],
    ) -> None:
        """Send a series' findings as its own (one that waited, or one released from a shared silence)."""
        joined = await self._deliver(signals)
        result.anomalies += len(signals)
        incidents.update(dict.fromkeys(joined))
        if key in stored.series:
            stored.series[key] = remember_incidents(stored.series[key], joined, self._clock())

    async def _fetch(
        self, source: RangeSource, spec: ScanSpec, before: float | None, end: float
    ) -> tuple[float, list[RangeSeries]]:
        """Where the run's query started, and its points: from :func:`_start` (back to the last run's
        end after a gap), or the lookback as any run asks it when the source cannot answer that longer
        range: it says so (its sample limit, its resolution limit, a query timed out), or it failed
        once already (the run is retried first: a blip must not cost the catch-up). A catch-up never
        stops a scan that would run without it; a query the source refuses for itself (a parse error)
        is not asked twice."""
        start, usual = _start(spec, before, end), _on_grid(end - spec.lookback_seconds, spec.step_seconds)
        if before is not None and start > before:
            activity.logger.warning(
                "scan %s: %d s before %s not scored (over a day since the last run)",
                spec.name,
                int(start - before),
                datetime.fromtimestamp(start, UTC).isoformat(),
            )
        try:
            try:
                return start, await asyncio.to_thread(
                    source.query_range, spec.query, start=start, end=end, step=spec.step_seconds
                )
            except (PermanentError, TransientError) as err:
                if start >= usual or not (
                    _too_long(err) or (isinstance(err, TransientError) and _attempt() > 1)
                ):
                    raise
                activity.logger.warning(
                    "scan %s: the %d s since the last run not fetched (%s); the lookback only",
                    spec.name,
                    int(usual - start),
                    err,
                )
                return usual, await asyncio.to_thread(
                    source.query_range, spec.query, start=usual, end=end, step=spec.step_seconds
                )
        except (PermanentError, TransientError) as err:
            raise _application_error(err) from err

    async def _days_before(
        self, source: RangeSource, spec: ScanSpec, end: float
    ) -> dict[str, tuple[list[float], list[float]]]:
        """Each series' points around this run's lookback on the days before (one point in 5 minutes
        at most: a summary's range), by series; none when Prometheus cannot say (the signals go
        without it: a scan never fails for its summary)."""
        out: dict[str, tuple[list[float], list[float]]] = {}
        for start, stop in days_before_spans(end, float(spec.lookback_seconds)):
            try:
                found = await asyncio.to_thread(
                    source.query_range,
                    spec.query,
                    start=start,
                    end=stop,
                    step=max(float(spec.step_seconds), _SUMMARY_STEP),
                )
            except (PermanentError, TransientError) as err:
                activity.logger.info("scan %s: the days before not known: %s", spec.name, err)
                return out
            for series in found[:MAX_SERIES]:
                times, values = out.setdefault(series_key(series.labels), ([], []))
                times.extend(series.times)
                values.extend(series.values)
        return out

    async def _stored(self, call: Callable[[_T], _R], arg: _T) -> _R:
        """A store call off the event loop, its port errors as Temporal sees them."""
        try:
            return await asyncio.to_thread(call, arg)
        except (PermanentError, TransientError) as err:
            raise _application_error(err) from err

    async def _learn(self, stored: StoredScan, now: float) -> None:
        """Series whose anomalies were marked false positives become less sensitive; what marks took
        comes back with time. A finding held while its series stays shifted is let go once its
        incident is resolved by a person or marked a false positive."""
        if self._false_positives is None:
            return
        # the most recently joined first: the series' order asked the same 200 at every run, and the
        # marks of the rest were never read (230 services, a review, 2026-12-06)
        last: dict[str, float] = {}
        for st in stored.series.values():
            for i, (_, at) in st.joined.items():
                last[i] = max(at, last.get(i, at))
        asked = sorted(last, key=lambda i: -last[i])[:_MAX_CHECKED]
        marks = await self._false_positives(asked) if asked else {}
        for key, state in stored.series.items():
            if marks or state.sensitivity < 1.0:
                stored.series[key] = released_excursion(learn_false_positives(state, marks, now), marks)

    def all(self) -> list[Callable[..., object]]:
        return [self.scan]


def _previous_end(spec: ScanSpec, stored: StoredScan) -> float | None:
    """Where the scan's last run ended (on the grid), when it ran."""
    if stored.last_run is None:
        return None
    return math.floor(stored.last_run / spec.step_seconds) * spec.step_seconds


# what Prometheus, Thanos, Mimir and Cortex say of a range too long for them, which the lookback alone may
# fit: Prometheus's sample limit (422), its resolution limit (400), an evaluation past its timeout (503);
# Mimir's and Cortex's query length limit (400, "the [total] query time range exceeds the limit") and
# their per-query limits on chunks, chunk bytes, series, estimated memory (Mimir, 422: "the query
# exceeded the maximum number of chunks (limit: ...) (err-mimir-max-chunks-per-query)"; Cortex and
# Amazon Managed Prometheus: "the query hit the max number of chunks limit", "the query hit the
# aggregated chunks size limit"); the store-gateway's and Thanos's store limits ("exceeded series
# limit: limit 1000 violated", "exceeded bytes limit"); Loki's (pkg/querier/queryrange/limits.go and
# pkg/loghttp/query.go: "the query time range exceeds the limit", "exceeded maximum resolution of
# 11,000 points per time series", "the query would read too many bytes", the 504 "Request timed out")
_TOO_LONG = (
    "too many samples",
    "maximum resolution",
    "timed out",
    "timeout",
    "time range exceeds the limit",
    "err-mimir-max-",
    "exceeded the maximum number of",
    "the query hit the max number of",
    "the query hit the aggregated",
    "exceeded series limit",
    "exceeded samples limit",
    "exceeded chunks limit",
    "exceeded bytes limit",
    "would read too many bytes",
)


def _of(shared: SharedSilence, key: str, signal: AnomalySignal, span: float, now: float) -> bool:
    """Whether a series' finding is of the shared silence (a fall towards 0 from its run of 0)."""
    return towards_silence(signal) and shared.holds(key, signal.window.start.timestamp(), span=span, now=now)


def _hold(
    shared: SharedSilence,
    key: str,
    signals: list[AnomalySignal],
    held: list[AnomalySignal],
    result: ScanResult,
) -> None:
    held.extend(signals)
    shared.held[key] = max(signals, key=lambda s: s.window.end)
    result.held += len(signals)


def _waited(early: Waiting) -> str:
    """What a finding that waited is remembered by once sent or held (a merge must not bring it back)."""
    return f"{early.key}@{early.signal.window.start.timestamp():.3f}"


def _too_long(err: PermanentError | TransientError) -> bool:
    """On the server's own words when the error keeps them apart (a refused query's message quotes the
    query, whose metric may be named ``..._timeout_total``)."""
    said = (getattr(err, "said", None) or str(err)).lower()
    return any(words in said for words in _TOO_LONG)


def _attempt() -> int:
    """This activity's attempt (1 outside an activity: called directly, as the tests do)."""
    try:
        return activity.info().attempt
    except RuntimeError:
        return 1


def _final(err: Exception) -> bool:
    """Whether this failed attempt is its run's last: an error Temporal does not retry, or the last
    attempt its retry policy allows (outside an activity, as the tests call it: every call is a run)."""
    if isinstance(err, ApplicationError) and err.non_retryable:
        return True
    try:
        policy = activity.info().retry_policy
    except RuntimeError:
        return True
    limit = policy.maximum_attempts if policy is not None else 0
    return 0 < limit <= _attempt()


_FIRST_POINTS = 1440  # a scan's first run: a day back, this many points a series at most


def _start(spec: ScanSpec, before: float | None, end: float) -> float:
    """Where a run's query starts: its lookback, or earlier, back to the last run's end when the runs
    came further apart than the lookback (``every_seconds`` over it, or an outage of the workers or
    of Prometheus): the points between are scored, not skipped; a day back at most (or the lookback,
    when longer), and never more than Prometheus's 11,000 points a series (scoring 2,000 series of
    them would outlast the activity's timeout). A scan's first run reaches back as far."""
    # (one step under Prometheus's limit: it counts the points at both ends)
    furthest = end - min(max(spec.lookback_seconds, _DAY), (MAX_POINTS - 1) * spec.step_seconds)
    if before is None:
        # A scan's first run (or one whose state was lost) reaches back a day, 1,440 points at most
        # (series finer than a minute keep no days), so its detectors are warm from the start: the
        # docs' example (an hour's lookback at one point a minute, a warm-up of 150 points) saw nothing
        # for its first 100 minutes, and showed a score of 0 meanwhile. A retry asks the lookback only:
        # a first run that outlasted its timeout, or its worker's memory, would fail every time.
        if _attempt() > 1:
            return _on_grid(end - spec.lookback_seconds, spec.step_seconds)
        span = max(float(spec.lookback_seconds), min(_DAY, _FIRST_POINTS * spec.step_seconds))
        return end - math.ceil(span / spec.step_seconds) * spec.step_seconds  # (on the scan's grid)
    # on the grid (a lookback that is no whole number of steps asked other instants than the end's:
    # a Loki or a Thanos aligning queries to the step answered other ones than Medic filled zeros at)
    return _on_grid(min(end - spec.lookback_seconds, max(before, furthest)), spec.step_seconds)


def _settled(series: RangeSeries, end: float, step: float) -> RangeSeries:
    """``series`` without its point at the run's end: Loki takes lines in a few seconds late, so the
    last step's count may be short of them; scored, it became the series' last point and the next run
    skipped the whole count there. It is the next run's (as a 0 filled in at the end was)."""
    keep = [i for i, t in enumerate(series.times) if t < end - 0.5 * step]
    if len(keep) == len(series.times):
        return series
    return RangeSeries(
        labels=series.labels,
        times=[series.times[i] for i in keep],
        values=[series.values[i] for i in keep],
        histograms=series.histograms,
    )


def _latest_first(found: list[RangeSeries]) -> list[RangeSeries]:
    """A query's series past the scan's limit, those with the latest points first (in the answer's order
    among equals, so the same ones are watched at every run). Prometheus sorts a matrix by labels: after
    a rolling deploy the lookback holds the replaced pods beside the running ones, and the first 2,000
    in that order left up to the whole of a service's running pods unwatched for as long as the replaced
    ones stay in the lookback, where a replaced pod has nothing left to score (a walk-through, 2026-12-07)."""
    return sorted(found, key=lambda s: -max(s.times) if s.times else math.inf)


def _on_grid(t: float, step: float) -> float:
    """``t`` down to a whole number of steps (the scan's grid, where each run's end is)."""
    q = t / step
    whole = round(q)
    # (a whole number of steps in floating point: at 1.7e9 s and a step of 0.1 s, t / step is off by
    # some 1e-6, and flooring it lost a whole step one time in 30)
    return (whole if abs(q - whole) <= 1e-12 * max(1.0, abs(q)) else math.floor(q)) * step


def _state_of(
    stored: StoredScan, labels: dict[str, str], key: str, legacy: set[str]
) -> tuple[SeriesState | None, str | None]:
    """A series' saved state, by its key, and the key it was saved under when that is the key from
    before values were escaped (a label value holding ``\\``, ``,`` or ``=``): only a key the run
    found at its start (``legacy``), and only a state of these very labels (``{a: "1,b=2"}`` and
    ``{a: "1", b: "2"}`` had the same old key)."""
    state = stored.series.get(key)
    if state is None:
        old = ",".join(f"{k}={labels[k]}" for k in sorted(labels))
        found = stored.series.get(old) if old != key and old in legacy else None
        if found is not None and found.labels == labels:
            return found, old
    return state, None


def _application_error(err: PermanentError | TransientError) -> ApplicationError:
    if isinstance(err, PermanentError):
        return ApplicationError(str(err), type="PermanentError", non_retryable=True)
    return ApplicationError(str(err), type="TransientError")


def state_size(stored: StoredScan) -> int:
    return len(json.dumps(stored.model_dump(mode="json")))
