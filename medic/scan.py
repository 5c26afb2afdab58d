"""Medic's own anomaly scans: what ``anomaly.yaml`` configures (``medic.scan_config``, re-exported
here), and what one scan of one series finds (pure: the activity fetches the points and keeps the
state; this decides).

    scans:
      - name: disk-usage
        query: 'max by (service, instance) (node_filesystem_used_ratio)'
        service_label: service      # the label naming the catalog service (or `service:` for all)
        every_seconds: 300          # the Temporal Schedule's interval
        lookback_seconds: 21600     # the query_range span fetched each run
        step_seconds: 60
        threshold: 0.5              # anomaly score (one scale for every series) that raises a signal
        capacity: 0.95              # optional: predict exhaustion of this level...
        horizon_seconds: 86400      # ...when it is expected within this long

Each series keeps its detector's state between runs (``SeriesState``, a small JSON document); a
run scores only the points more than half a step after the last one it scored, so the same point
is never scored twice and the detector sees each series as one stream (the activity asks for the
scan's step grid, so every run's points are the same instants).
"""

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from medic.anomaly import SCAN_LABEL, AnomalySignal, ExpectedBand, TimeWindow
from medic.detect import make_detector, restore_detector
from medic.forecast import exhaustion_signal, time_to_exhaustion
from medic.matchers import format_duration
from medic.promql import shortest_range
from medic.scan_config import MAX_POINTS, AnomalyConfig, ScanSpec, load_anomaly_config
from medic.shared_silence import SharedSilence, advance, falling, quiet_since, span_for

__all__ = [
    "MAX_POINTS",
    "AnomalyConfig",
    "IncidentMarks",
    "RangeSeries",
    "ScanOutcome",
    "ScanSpec",
    "SeriesState",
    "Silences",
    "days_before_spans",
    "falling_now",
    "filled_with_zeros",
    "learn_false_positives",
    "load_anomaly_config",
    "query_digest",
    "released_excursion",
    "released_signal",
    "remember_incidents",
    "scan_series",
    "series_key",
    "service_name",
    "shared_after",
    "shared_signal",
    "silences",
    "with_days_before",
]

_FP_FACTOR = 0.7  # each incident of a series' anomalies marked a false positive: 30% less sensitive
# Two such incidents at most: at 0.24 a 20-sigma spike scored 0.38, and at 0.1 a drop to 0 scored 0.2,
# both unseen; at 0.5 a 20-sigma spike and a drop to 0 still raise (a review, 2026-12-06).
_MIN_SENSITIVITY = 0.5
_RECOVERY_HALF_LIFE = 14 * 86400.0  # what a mark took comes back, half of it in two weeks
_KEEP_INCIDENTS = 20
_KEEP_COUNTED = 200
# Seconds a join may precede its incident's opening: a worker's clock off Temporal's, an incident whose
# first workflow task ran late (90 s and 75 s lost marks at 60, a review). A later incident of the same
# id opens a quiet period (5 minutes) after the last signal at least.
_SKEW = 300.0
_DAY = 86400.0
_DAYS_BEFORE = 7  # a signal's summary says what the series did at its time on as many days before

SOURCE = "medic-scan"


@dataclass(frozen=True)
class RangeSeries:
    """One series of a range query: its labels and its points (epoch seconds, value; NaN for "NaN");
    ``histograms``: its native histogram samples, left out (no detector scores a histogram)."""

    labels: dict[str, str]
    times: list[float]
    values: list[float]
    histograms: int = 0


class Excursion(BaseModel):
    """An anomaly whose series left the band it kept before and has not come back (a level shift):
    its finding is told again at every run while the series stays out (``shift_hold_seconds``)."""

    start: float = Field(description="epoch seconds of its first anomalous point")
    lower: float = Field(description="the band the series kept before it (1st percentile)")
    upper: float = Field(description="the band's 99th percentile")
    above: bool = Field(description="it left the band upwards (else downwards)")
    score: float = Field(description="its finding's score")


class SeriesState(BaseModel):
    """What a scan keeps of one series between runs (outside workflow history)."""

    labels: dict[str, str]
    detector: dict[str, Any] | None = None
    last_time: float | None = None  # epoch seconds of the last point scored
    last_value: float | None = None
    last_score: float = 0.0
    max_score: float = 0.0  # of the last run
    points: int = 0
    anomalies: int = 0
    sensitivity: float = Field(default=1.0, description="learned: lowered by false-positive marks")
    incidents: list[str] = Field(
        default_factory=list, description="incidents its signals joined, newest last"
    )
    false_positives: int = 0
    # Added later (a state without them counts only what joins since)
    joined: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="incident -> when the series' signals first and last joined it (epoch seconds)",
    )
    counted: list[str] = Field(
        default_factory=list, description="the incident runs whose marks were counted (id@opened)"
    )
    learned_at: float | None = Field(default=None, description="when the sensitivity was last learned")
    # set on a read for a view, which drops the detector itself (never saved)
    detector_bytes: int | None = Field(default=None, exclude=True)
    step_seconds: float | None = Field(
        default=None, description="the scan's step when its detector was made (a change starts it over)"
    )
    infinite: bool = Field(default=False, description="its last point scored was +Inf or -Inf")
    query: str | None = Field(
        default=None,
        description="the digest of the scan's query when its detector was made (a change starts it over)",
    )
    last_seen: float | None = Field(
        default=None,
        description="epoch seconds of the last point the source answered (not one filled in as 0: "
        "absent: zero); what forgetting a series goes by",
    )
    excursion: Excursion | None = Field(
        default=None, description="a finding held while its series stays outside the band it left"
    )

    def answered(self) -> float:
        """When the source last answered a point of it (``last_seen``; a state saved before it was
        kept: its last point scored), ``-inf`` before any: what forgetting it goes by."""
        found = self.last_seen if self.last_seen is not None else self.last_time
        return found if found is not None else float("-inf")


class ScanOutcome(BaseModel):
    state: SeriesState
    signals: list[AnomalySignal] = Field(default_factory=list)
    scored: int = 0
    anomaly_at: float | None = None  # the anomaly signal's most surprising point (epoch seconds)
    silence: float | None = None  # its run of zeros' surprise at its last point (the detector's silence())
    ordinary: bool = False  # its run of zeros now is an ordinary one (the detector's silence_ordinary())


_KEY_ESCAPE = str.maketrans({"\\": "\\\\", ",": "\\,", "=": "\\="})


def series_key(labels: dict[str, str]) -> str:
    """The series' key in a scan's state: its labels as ``k=v`` pairs in name order, a ``\\``, ``,``
    or ``=`` within a value escaped (so two label sets never share a key; a label set without those
    keeps the key it had before they were escaped)."""
    return ",".join(f"{k}={labels[k].translate(_KEY_ESCAPE)}" for k in sorted(labels))


def filled_with_zeros(
    found: list[RangeSeries],
    known: Mapping[str, SeriesState],
    *,
    start: float,
    end: float,
    step: float,
    recent: float,
) -> list[RangeSeries]:
    """A run's series where a step without a point is a 0 (``absent: zero``: Loki answers no point for
    a step whose range held no log line, so a count of 0 is a gap): each series at every instant the
    source evaluated (``start + k * step`` before ``end``: the last step may still be taken in), 0
    where it answered none; and each series
    it answered before and not in this run (no line at all in the range) at 0 throughout, while the
    last point the source answered for it (``last_seen``, else ``last_time``) is after ``recent`` (past
    that it is forgotten as any series the query no longer returns). Without it a series of rare errors
    was an outage between its lines, and the detector kept quiet after each one."""
    # up to the step before ``end``: the run's last step is left to the next run (a range Loki has not
    # taken all its lines in yet: no 0 filled in there; the scan activity leaves the source's own point
    # there to the next run too)
    n = math.floor((end - start) / step - 0.5) + 1 if end - start >= 0.5 * step else 0
    grid = [start + k * step for k in range(n)]
    out: list[RangeSeries] = []
    returned: set[str] = set()
    for series in found:
        returned.add(series_key(series.labels))
        if not series.values:  # (native histograms alone: counted, not scored)
            out.append(series)
            continue
        values = [0.0] * n
        off_grid: list[tuple[float, float]] = []
        for t, v in zip(series.times, series.values, strict=True):
            k = round((t - start) / step)
            if 0 <= k < n and abs(t - grid[k]) < 0.5 * step:
                values[k] = v
            else:
                off_grid.append((t, v))
        points = sorted([*zip(grid, values, strict=True), *off_grid])
        out.append(
            RangeSeries(
                labels=series.labels,
                times=[t for t, _ in points],
                values=[v for _, v in points],
                histograms=series.histograms,
            )
        )
    unlabelled = series_key({})
    for key, state in known.items():
        if key in returned or state.answered() < recent or not n:
            continue
        # the labels it is kept under (an unlabelled series is kept with the scan's name as its labels)
        labels = state.labels if series_key(state.labels) == key else {} if key == unlabelled else None
        if labels is not None:
            out.append(RangeSeries(labels=labels, times=list(grid), values=[0.0] * n))
    return out


def query_digest(query: str) -> str:
    """What a series' state remembers of the query it was scored under (a change starts it over)."""
    return hashlib.sha256(query.encode()).hexdigest()[:16]


_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_.:/-]+")


def service_name(raw: str) -> str:
    """A label's value as a service name (``medic.anomaly.NAME_PATTERN``): a value from the query
    (``Checkout API``, ``_internal``, 200 characters) becomes a name the signal can carry (the series'
    labels keep it as it was); ``unknown`` when nothing of it is left."""
    return _NOT_IN_NAME.sub("-", raw).lstrip("_.:/-")[:128].rstrip("-") or "unknown"


def _service(spec: ScanSpec, labels: dict[str, str]) -> str:
    return spec.service or service_name(labels.get(spec.service_label) or "unknown")


# Labels that say where a series was scraped from, not which thing it is about (cAdvisor's id, image,
# name and uid are long and say it again).
_SCRAPE_LABELS = frozenset(
    {"__name__", "job", "instance", "endpoint", "prometheus", "metrics_path", "service", "cluster", "node"}
    | {"id", "image", "name", "uid", "container_id"}
)
# Said first: what people name a thing by in Kubernetes.
_NAMED_FIRST = ("namespace", "persistentvolumeclaim", "pod", "container", "deployment", "statefulset")


def _which(spec: ScanSpec, labels: dict[str, str]) -> str:
    """Which series of the scan a finding is about, in people's words: the labels that tell one from
    another (a volume, a pod), not where it was scraped from. "" for a query that aggregates them away."""
    order = {k: i for i, k in enumerate(_NAMED_FIRST)}
    shown = [
        f"{k}={v}"
        for k, v in sorted(labels.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))
        if k not in _SCRAPE_LABELS and k not in (spec.service_label, SCAN_LABEL) and v
    ]
    said = ", ".join(shown)
    return f" ({said[:160]})" if said else ""


_HUGE = float(np.finfo(np.float64).max)


def scan_series(
    spec: ScanSpec,
    labels: dict[str, str],
    times: list[float],
    values: list[float],
    state: SeriesState | None,
    *,
    since: float | None = None,
    end: float | None = None,
) -> ScanOutcome:
    """Score the points after ``state.last_time``; an anomaly signal when one reaches the threshold,
    a predictive one when exhaustion of ``capacity`` is expected within the horizon. ``since``: where
    the scan's previous run ended, when known (a series it did not return then raises what came
    after it). ``end``: this run's end: a prediction counts from it, and a series whose points stopped
    well before it (a deleted pod) predicts nothing (it was predicted from its last point, into the
    past)."""
    labels = labels or {"scan": spec.name}  # a query answering one unlabelled series
    state = state or SeriesState(labels=labels)
    t = np.asarray(times, dtype=np.float64)
    raw = np.asarray(values, dtype=np.float64)
    # +Inf and -Inf (a ratio whose divisor fell to 0) are anomalies in themselves (score 1), not the
    # missing points NaN is; the detector, which has no use for the value, sees them as missing
    infinite = np.isinf(raw)
    x = np.where(infinite, np.nan, raw)
    # after the last point scored by half a step at least: a point a fraction of a step after it (an
    # answer not on the scan's grid) would make a day more points than the detector's day
    fresh = (
        t > state.last_time + 0.5 * spec.step_seconds
        if state.last_time is not None
        else np.ones(t.shape[0], dtype=bool)
    )
    try:
        det = restore_detector(state.detector) if state.detector is not None else None
    except (KeyError, TypeError, ValueError):  # a state this release cannot read: the series starts over
        det = None
    # the scan's step or detector changed (its days are another number of points, or another model):
    # start over. By the step the scan asked for when the detector was made, not the one the
    # detector measured: a sparse series (a `> 0` filter) measures twice the step, and was started
    # over at every run that decided it. A state from before the step was kept: as then.
    if state.step_seconds is None:
        changed = (
            det is not None and det.step > 0 and abs(det.step - spec.step_seconds) > 0.1 * spec.step_seconds
        )
    else:
        changed = state.step_seconds != spec.step_seconds
    # so does a changed query (another unit, another quantile: the old model would find every point
    # of the new one an anomaly); a state from before the query was kept goes on
    digest = query_digest(spec.query)
    changed = changed or (state.query is not None and state.query != digest)
    if det is not None and (changed or det.kind != spec.detector):
        det = None
    # A detector made now (a series seen for the first time, or started over: a changed step, query or
    # detector, a state lost or unreadable) learns from every point fetched, and raises only what no
    # run raised yet: the points after the last one the series scored, else after the previous run's
    # end, else the last ``every_seconds``. It reported the lookback's old anomalies again, as new
    # incidents once the ones they had joined had resolved; and a series started over saw only the
    # few points after its last one, blind for its warm-up.
    learn, cut, before = fresh, None, state.infinite
    if det is None:
        det = make_detector(spec.detector, warmup=spec.warmup)
        learn, before = np.ones(t.shape[0], dtype=bool), False
        if state.last_time is not None:
            cut = state.last_time
        elif since is not None:
            cut = since
        elif t.shape[0]:
            cut = float(t[-1]) - spec.every_seconds
    det.warmup = spec.warmup
    det.sensitivity = spec.sensitivity * state.sensitivity
    signals: list[AnomalySignal] = []
    anomaly_at = None
    tl = t[learn]
    learned = det.update(x[learn], tl) if tl.shape[0] else np.zeros(0)
    # an infinite value is an anomaly where it begins (not at every point of a ratio stuck at +Inf:
    # one signal a stretch, as the detector reports a departure once)
    inf_l = infinite[learn]
    began = inf_l & ~np.concatenate([[before], inf_l[:-1]])
    learned = np.where(began, 1.0, learned)
    own = fresh[learn]  # the points this run is the first to score
    tn, xn, rawn, scores = tl[own], x[learn][own], raw[learn][own], learned[own]
    new = state.model_copy()
    new.detector = det.state()
    new.step_seconds = spec.step_seconds
    new.query = digest
    if tl.shape[0]:
        new.last_time = float(tl[-1])
        new.infinite = bool(inf_l[-1])
    if tn.shape[0]:
        new.last_value = float(xn[-1]) if math.isfinite(xn[-1]) else None
        new.last_score = float(scores[-1])
        new.max_score = float(scores.max())
        new.points = state.points + int(tn.shape[0])
        hits = np.flatnonzero((scores >= spec.threshold) & (tn > cut if cut is not None else True))
        if hits.shape[0]:
            new.anomalies = state.anomalies + 1
            top = int(hits[np.argmax(scores[hits])])
            signals.append(
                _anomaly(spec, labels, t=t, x=raw, tn=tn, xn=rawn, scores=scores, hits=hits, top=top)
            )
            anomaly_at = float(tn[top])
    # a finding whose series stays outside the band it left is told again while it does (a level shift
    # found once was its incident's whole life: resolved a quiet period later, the error rate still 5x)
    found = signals.pop() if signals else None
    banded = found is not None and bool(np.isfinite(raw[t < found.window.start.timestamp()]).any())
    kept = state.excursion if state.query in (None, digest) else None
    new.excursion, told = _excursion(spec, labels, kept, found, banded, tn, rawn)
    signals += [told] if told is not None else []
    if spec.capacity is not None and spec.horizon_seconds is not None:
        est = time_to_exhaustion(
            t,
            raw,
            capacity=spec.capacity,
            window=float(spec.lookback_seconds),
            now=end,
            direction=spec.direction,
        )
        if est is not None and est.within(spec.horizon_seconds):
            last = float(x[np.isfinite(x)][-1])
            signals.append(
                exhaustion_signal(
                    est,
                    service=_service(spec, labels),
                    series=_signal_labels(spec, labels),
                    value=last,
                    severity=spec.severity,
                    # active until the run after next: a prediction that stops (the resource
                    # recovered) lets its incident go, where it was held to the predicted time
                    # (a step longer than the runs' interval: `end` is up to a step in the past)
                    hold_seconds=_until_run_after_next(spec),
                    said=f"scan {spec.name}{_which(spec, labels)}: ",
                )
            )
    return ScanOutcome(
        state=new,
        signals=signals,
        scored=int(tn.shape[0]),
        anomaly_at=anomaly_at,
        silence=det.silence(),
        ordinary=det.silence_ordinary(),
    )


def _anomaly(
    spec: ScanSpec,
    labels: dict[str, str],
    *,
    t: np.ndarray[Any, Any],
    x: np.ndarray[Any, Any],
    tn: np.ndarray[Any, Any],
    xn: np.ndarray[Any, Any],
    scores: np.ndarray[Any, Any],
    hits: np.ndarray[Any, Any],
    top: int,
) -> AnomalySignal:
    start = float(tn[int(hits[0])])
    before = x[(t < start) & np.isfinite(x)]
    lo, hi = (
        (float(np.percentile(before, 1)), float(np.percentile(before, 99))) if before.shape[0] else (0.0, 0.0)
    )
    seen = float(xn[top])  # as Prometheus answered it (+Inf and -Inf too)
    value = float(np.clip(seen, -_HUGE, _HUGE)) if not math.isnan(seen) else 0.0
    expected = ExpectedBand(lower=lo, upper=hi)
    score = float(scores[top])
    return AnomalySignal(
        source=SOURCE,
        service=_service(spec, labels),
        series=_signal_labels(spec, labels),
        value=value,
        expected=expected,
        score=score,
        window=TimeWindow(
            start=datetime.fromtimestamp(start, UTC),
            end=datetime.fromtimestamp(float(tn[int(hits[-1])]), UTC),
        ),
        severity=spec.severity,
        summary=_summary(spec, labels, value, expected, _days_before(t, x, float(tn[top]))),
    )


def _until_run_after_next(spec: ScanSpec) -> float:
    """How long a signal a run tells again stays active: until the run after next (a step longer than
    the runs' interval: a run's end is up to a step in the past), so one late run lets nothing go."""
    return 2.0 * max(spec.every_seconds, spec.step_seconds) + spec.step_seconds


def _excursion(  # noqa: PLR0917 (the run's parts, as scan_series has them)
    spec: ScanSpec,
    labels: dict[str, str],
    before: Excursion | None,
    found: AnomalySignal | None,
    banded: bool,
    tn: np.ndarray[Any, Any],
    xn: np.ndarray[Any, Any],
) -> tuple[Excursion | None, AnomalySignal | None]:
    """The series' excursion after a run, and the finding to tell: this run's (``found``, its window
    held on while the series stays out), or the excursion's again, when the run found nothing new but
    the series is still outside the band it left (most of the run's points, and its last one). Not held:
    a finding within its band (its course unusual), one with no band before it (``banded``), a series
    back in its band, or ``shift_hold_seconds`` after the excursion began (the new level is its normal).
    ``tn``, ``xn``: the run's new points (as Prometheus answered them)."""
    if spec.shift_hold_seconds <= 0:
        return None, found
    exc = before
    if found is not None:
        band, value = found.expected, found.value
        above = value > band.upper
        if not banded or not (above or value < band.lower):
            return None, found
        if exc is None or exc.above != above:  # (one that goes on, or steps further, keeps its start)
            start = found.window.start.timestamp()
            exc = Excursion(start=start, lower=band.lower, upper=band.upper, above=above, score=found.score)
    if exc is None:
        return None, found
    since = (tn >= exc.start) & ~np.isnan(xn)
    tv, xv = tn[since], xn[since]
    if not tv.shape[0]:  # no point this run: kept, not told (it lapses while the points stay away)
        return exc, found
    out = xv > exc.upper if exc.above else xv < exc.lower
    last = float(tv[-1])
    if not out[-1] or 2 * int(out.sum()) < out.shape[0] or last - exc.start >= spec.shift_hold_seconds:
        return None, found
    # active until the run after next, as a prediction is: a series back in its band lets it go
    end = datetime.fromtimestamp(last + _until_run_after_next(spec), UTC)
    if found is not None:
        return exc, found.model_copy(update={"window": TimeWindow(start=found.window.start, end=end)})
    began = datetime.fromtimestamp(exc.start, UTC)
    band = ExpectedBand(lower=exc.lower, upper=exc.upper)
    value = float(np.clip(xv[-1], -_HUGE, _HUGE))
    held = format_duration(timedelta(seconds=spec.shift_hold_seconds))
    return exc, AnomalySignal(
        source=SOURCE,
        service=_service(spec, labels),
        series=_signal_labels(spec, labels),
        value=value,
        expected=band,
        score=exc.score,
        window=TimeWindow(start=began, end=end),
        severity=spec.severity,
        summary=f"{_summary(spec, labels, value, band, '')}, since {began:%H:%M} UTC"
        f" (still outside the band it left: held while it stays out, up to {held})",
    )


def _signal_labels(spec: ScanSpec, labels: dict[str, str]) -> dict[str, str]:
    """The series' labels and the scan's name (``SCAN_LABEL``): two scans' series with the same labels
    (both aggregated ``by (service)``) were one anomaly in the incident, the second found dropped as
    nothing newer, whichever came second (a field review, 2026-12-06)."""
    return {**labels, SCAN_LABEL: spec.name}


def _summary(spec: ScanSpec, labels: dict[str, str], value: float, expected: ExpectedBand, days: str) -> str:
    """(The score is the signal's own: the timeline says it after this, where it read twice.)"""
    return f"scan {spec.name}{_which(spec, labels)}: {expected.against(value)}{days}"


@dataclass
class Silences:
    """What a run's points say of its series' silences (``medic.shared_silence``): the newly quiet
    ones (when each run of 0 began), each silent one's last line (None: none in the run), each
    one's service, the series with a line in the run, how many have a usual count of 3 or more (able
    to fall), and those of them under half their usual count (down: whether at 0 now)."""

    quiet: dict[str, float]
    last_lines: dict[str, float | None]
    services: dict[str, str]
    active: int = 0
    able: int = 0
    down: dict[str, bool] = field(default_factory=dict)  # series down -> whether it is at 0 now


def silences(spec: ScanSpec, found: list[RangeSeries]) -> Silences:
    """:class:`Silences` of a run's series (``found``, zeros filled in: ``absent: zero``)."""
    out = Silences(quiet={}, last_lines={}, services={})
    window = shortest_range(spec.query) or spec.step_seconds
    for series in found:
        if not series.values:
            continue
        key = series_key(series.labels)
        t, x = np.asarray(series.times, dtype=np.float64), np.asarray(series.values, dtype=np.float64)
        lines = np.flatnonzero(x > 0)
        out.active += bool(lines.shape[0])
        able, down = falling(t, x, window)
        out.able += able
        if down:
            out.down[key] = bool(x[-1] == 0)
        if x[-1] != 0:
            continue
        out.last_lines[key] = float(t[lines[-1]]) if lines.shape[0] else None
        out.services[key] = _service(spec, series.labels)
        began = quiet_since(t, x)
        if began is not None:
            out.quiet[key] = began
    return out


def falling_now(seen: Silences, ordinary: Mapping[str, bool]) -> int:
    """The series down now but for those at 0 whose detectors find their run of zeros ordinary (jobs
    idle every night from 02:00: a crash at 02:08 is no fall most series share)."""
    return sum(1 for k, at_zero in seen.down.items() if not (at_zero and ordinary.get(k, False)))


def shared_after(
    spec: ScanSpec,
    seen: Silences,
    before: SharedSilence | None,
    unusual: Mapping[str, float | None],
    *,
    end: float,
) -> SharedSilence | None:
    """The scan's shared silence after a run (``seen``); ``unusual``: each series' detector's surprise at
    its run of zeros (``ScanOutcome.silence``): a series whose silence its detector finds ordinary (the
    day before was as quiet, a queue at 0 between batches) or that has no such model is no member."""
    return advance(
        before.model_copy(deep=True) if before is not None else None,
        quiet={k: began for k, began in seen.quiet.items() if (unusual.get(k) or 0.0) > 0.0},
        last_lines=seen.last_lines,
        active=seen.active,
        services=seen.services,
        span=span_for(spec.step_seconds),
        end=end,
    )


SHARED_LABEL = "medic_silence"  # the label of a shared silence's finding (with the scan's)


def shared_signal(spec: ScanSpec, shared: SharedSilence, held: list[AnomalySignal]) -> AnomalySignal:
    """One finding of a silence most of a scan's series share (``medic.shared_silence``), holding the
    members' own findings (``held``: at least one), for the scan's ``pipeline_service``."""
    names = sorted(set(shared.services.values()))
    found = sorted({shared.services.get(k, k) for k in shared.held} | {s.service for s in held})
    listed = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
    first, last = (datetime.fromtimestamp(t, UTC) for t in (shared.began, max(shared.members.values())))
    summary = (
        f"scan {spec.name}: {len(shared.members)} of {max(shared.active, len(shared.members))} series with"
        f" lines fell to 0 together (their runs of 0 began {first:%H:%M}-{last:%H:%M} UTC): {listed}. A"
        " cause they share (the log shipper, Loki's ingestion, the query's tenant, the cluster they run"
        f" on) is likelier than an outage of each; the findings of {', '.join(found[:12])} are held in"
        " this one (a service still silent when most are back is told as its own)."
    )
    return AnomalySignal(
        source=SOURCE,
        service=spec.pipeline_service or spec.name,
        series={SCAN_LABEL: spec.name, SHARED_LABEL: "shared"},
        value=float(len(shared.members)),
        expected=ExpectedBand(lower=0.0, upper=0.0),
        score=max(s.score for s in held),
        window=TimeWindow(start=first, end=max(first, *(s.window.end for s in held))),
        severity=spec.severity,
        summary=summary[:1024],
    )


def released_signal(spec: ScanSpec, shared: SharedSilence, key: str, *, end: float) -> AnomalySignal:
    """A member's finding held in a shared silence, told as its own: the lines came back to most
    members, not to it."""
    signal = shared.held[key]
    if shared.released is None:  # (the silence was dropped before the lines came back to most)
        said = f"still silent (held in the scan's shared silence until it ended); {signal.summary or ''}"
    else:
        back = datetime.fromtimestamp(shared.released, UTC)
        said = (
            f"still silent since the lines of most of the series that fell silent with it came back at"
            f" {back:%H:%M} UTC (held in the scan's shared silence until then); {signal.summary or ''}"
        )
    silent = datetime.fromtimestamp(end, UTC)
    window = TimeWindow(start=signal.window.start, end=max(signal.window.end, silent))  # silent until now
    return signal.model_copy(update={"summary": said[:1024], "window": window})


def days_before_spans(end: float, lookback: float) -> list[tuple[float, float]]:
    """What to fetch for :func:`with_days_before` when a run's points do not reach a day back: its
    lookback, an hour wider either side, on each of the days before."""
    return [(end - lookback - k * _DAY - 3600.0, end - k * _DAY + 3600.0) for k in range(1, _DAYS_BEFORE + 1)]


def with_days_before(
    spec: ScanSpec, signal: AnomalySignal, at: float, times: list[float], values: list[float]
) -> AnomalySignal:
    """``signal`` (its most surprising point at ``at``) saying what its series did at this time on
    the days before, from points fetched apart (``days_before_spans``)."""
    t, x = np.asarray(times, dtype=np.float64), np.asarray(values, dtype=np.float64)
    days = _days_before(t, x, at)
    if not days:
        return signal
    summary = _summary(spec, dict(signal.series), signal.value, signal.expected, days)
    return signal.model_copy(update={"summary": summary})


def _days_before(t: np.ndarray[Any, Any], x: np.ndarray[Any, Any], at: float) -> str:
    """What the series did at this time on the previous days (within an hour either side, up to a
    week), when the points fetched reach back to them: "; at this time on the 3 days before:
    48.2..63.5". A daily rise that did not come is plain from it, where the range of the whole
    series says only that the value is an ordinary one."""
    seen = [x[(np.abs(t - (at - k * _DAY)) <= 3600.0) & np.isfinite(x)] for k in range(1, _DAYS_BEFORE + 1)]
    seen = [then for then in seen if then.shape[0]]
    if not seen:
        return ""
    both = np.concatenate(seen)
    lo, hi = float(np.percentile(both, 5)), float(np.percentile(both, 95))
    days = f"{len(seen)} day" + ("" if len(seen) == 1 else "s")
    return f"; at this time on the {days} before: {lo:g}..{hi:g}"


class IncidentMarks(BaseModel):
    """What learning needs of an incident a series joined, as its latest run holds it."""

    opened_at: float = Field(description="when the run opened (epoch seconds)")
    marks: list[float] = Field(description="when its false-positive marks were made (epoch seconds)")
    resolved_by_person: float | None = Field(
        default=None, description="when a person resolved it (epoch seconds), if one did"
    )


def remember_incidents(state: SeriesState, incident_ids: list[str], now: float) -> SeriesState:
    """The incidents this series' signals just joined, and when (the ones its false-positive marks can
    come from)."""
    kept = ([i for i in state.incidents if i not in incident_ids] + list(dict.fromkeys(incident_ids)))[
        -_KEEP_INCIDENTS:
    ]
    joined = {
        i: (state.joined.get(i, (now, now))[0], now if i in incident_ids else state.joined[i][1])
        for i in kept
        if i in incident_ids or i in state.joined
    }
    return state.model_copy(update={"incidents": kept, "joined": joined})


def learn_false_positives(state: SeriesState, marks: Mapping[str, IncidentMarks], now: float) -> SeriesState:
    """Each incident run this series' signals joined that someone marked a false positive after they
    joined makes the series 30% less sensitive (down to 0.5): its next anomaly needs a larger
    departure. Counted once per run, however often the series rejoins it or however many marks it
    has; a later incident of the same id (the service's next) is not the series' unless it joins it.
    What a mark took comes back, half of it in two weeks."""
    sensitivity = _recovered(state, now)
    new: list[str] = []
    for incident, (first, last) in state.joined.items():
        run = marks.get(incident)
        if run is None or run.opened_at > last + _SKEW:  # none, or a run the series never joined
            continue
        ref = f"{incident}@{run.opened_at:.3f}"
        if ref not in state.counted and any(at >= first for at in run.marks):
            new.append(ref)
    update: dict[str, Any] = {"sensitivity": sensitivity, "learned_at": now}
    if new:
        update |= {
            "sensitivity": max(_MIN_SENSITIVITY, sensitivity * _FP_FACTOR ** len(new)),
            "false_positives": state.false_positives + len(new),
            "counted": (state.counted + new)[-_KEEP_COUNTED:],
        }
    return state.model_copy(update=update)


def released_excursion(state: SeriesState, marks: Mapping[str, IncidentMarks]) -> SeriesState:
    """A series' excursion let go where people said its incident is over: resolved by a person, or
    marked a false positive, after it began (held on, the next run's finding opened the incident
    again minutes after someone closed it)."""
    exc = state.excursion
    if exc is None:
        return state
    for incident, (_, last) in state.joined.items():
        run = marks.get(incident)
        if run is None or run.opened_at > last + _SKEW or last < exc.start:
            continue
        said = [*run.marks, *([run.resolved_by_person] if run.resolved_by_person is not None else [])]
        if any(at >= exc.start for at in said):
            return state.model_copy(update={"excursion": None})
    return state


def _recovered(state: SeriesState, now: float) -> float:
    if state.sensitivity >= 1.0:
        return state.sensitivity
    if state.learned_at is None:  # (a state from before the floor: raised to it at once)
        return max(_MIN_SENSITIVITY, state.sensitivity)
    elapsed = max(now - state.learned_at, 0.0)
    back = 1.0 - (1.0 - state.sensitivity) * math.pow(0.5, elapsed / _RECOVERY_HALF_LIFE)
    return min(1.0, max(_MIN_SENSITIVITY, back))
