"""A level shift that lasts: the finding is held while its series stays outside the band it left, up to
``shift_hold_seconds``, and let go when the series comes back, when people resolve its incident or mark
it a false positive. Found once and then let go, its incident resolved a quiet period after the shift
while the error rate was still five times its level (a field walk-through, 2026-12-06)."""

import asyncio
import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from activities.scan import ScanActivities, ScanInput, ScanStore
from medic.anomaly import AnomalySignal
from medic.incident import AnomalyBatch, IncidentState
from medic.postmortem import render_postmortem
from medic.scan import (
    IncidentMarks,
    RangeSeries,
    ScanSpec,
    SeriesState,
    released_excursion,
    scan_series,
)

T0 = 1_700_000_000.0  # on the minute grid
LABELS = {"service": "checkout"}


def _level(t: np.ndarray, shift: float, back: float, by: float) -> np.ndarray:
    """10 with noise, ``by`` more from ``shift`` until ``back`` (the same value at the same instant,
    whichever run asks)."""
    noise = np.array([np.random.default_rng(int(v)).normal(0.0, 0.5) for v in t])
    return 10.0 + noise + np.where((t >= shift) & (t < back), by, 0.0)


def _runs(
    spec: ScanSpec, *, shift: float, back: float = math.inf, by: float = 30.0, until: float
) -> list[tuple[float, list[AnomalySignal], SeriesState]]:
    """The scan's runs every ``every_seconds`` from T0 to ``until``: what each told and kept."""
    state: SeriesState | None = None
    out = []
    end = T0
    while end <= until:
        # (the first run reaches 4 hours back, as a scan's first run reaches a day: warm at once)
        span = spec.lookback_seconds if state is not None else 4 * 3600.0
        t = np.arange(end - span, end + 1.0, spec.step_seconds)
        x = _level(t, shift, back, by)
        ran = scan_series(spec, LABELS, t.tolist(), x.tolist(), state, end=end)
        state = ran.state
        out.append((end, ran.signals, ran.state))
        end += spec.every_seconds
    return out


SPEC = ScanSpec(
    name="errors", query="sum by (service) (rate(errors[5m]))", every_seconds=300, lookback_seconds=3600
)


def test_a_lasting_shift_is_held_at_every_run_and_keeps_its_incident_open() -> None:
    shift = T0 + 3600.0
    runs = _runs(SPEC, shift=shift, until=T0 + 3 * 3600.0)
    told = [(end, s) for end, signals, _ in runs for s in signals]
    first = told[0][1]
    assert told[0][0] == shift  # found at the run that first sees it
    assert first.window.start.timestamp() >= shift and first.expected.upper < 15.0
    # then told again at every run, the same finding: its start, its score, its band
    assert [end for end, _ in told] == [end for end, _, _ in runs if end >= shift]
    assert {s.key for _, s in told} == {first.key}
    assert {s.window.start for _, s in told} == {first.window.start}
    assert {s.score for _, s in told} == {first.score} and all(s.value > 30.0 for _, s in told)
    assert "since" in (told[1][1].summary or "") and "held while it stays out, up to 6h" in (
        told[1][1].summary or ""
    )
    # each one's window reaches past the next run: the incident holding it never goes quiet
    for (_, s), (later, _) in itertools.pairwise(told):
        assert s.window.end.timestamp() > later
    state = IncidentState(id="incident-checkout", opened_at=datetime.fromtimestamp(told[0][0], UTC))
    for end, s in told:
        at = datetime.fromtimestamp(end, UTC)
        state.apply_anomalies(AnomalyBatch(signals=[s], received_at=at), at=at)
        assert state.active_anomalies(at + timedelta(seconds=299))
    assert len(state.anomalies) == 1
    assert runs[-1][2].anomalies == 1  # one anomaly counted, however long it is held


def test_a_spike_is_not_held_and_a_shift_is_let_go_when_it_ends_or_after_the_hold() -> None:
    # a spike: back in its band at once, told once, its window ends at its point (one at a run's
    # last point is held to the next run, which sees it back)
    spike = _runs(SPEC, shift=T0 + 3720.0, back=T0 + 3780.0, until=T0 + 2 * 3600.0)
    told = [(end, s) for end, signals, _ in spike for s in signals]
    assert len(told) == 1 and told[0][1].window.end == told[0][1].window.start
    assert all(st.excursion is None for _, _, st in spike)
    last = _runs(SPEC, shift=T0 + 3600.0, back=T0 + 3660.0, until=T0 + 2 * 3600.0)
    told = [(end, s) for end, signals, _ in last for s in signals]
    assert len(told) == 1 and told[0][1].window.end.timestamp() == T0 + 3600.0 + 660.0
    near = [st.excursion is not None for end, _, st in last if T0 + 3300.0 <= end <= T0 + 3900.0]
    assert near == [False, True, False]
    # a shift that ends after 40 minutes: held until then, and not after
    back = T0 + 3600.0 + 2400.0
    ended = _runs(SPEC, shift=T0 + 3600.0, back=back, until=T0 + 3 * 3600.0)
    told = [(end, s) for end, signals, _ in ended for s in signals]
    assert told and max(end for end, _ in told) < back + 300.0
    assert max(s.window.end.timestamp() for _, s in told) < back + 2 * 300.0 + 60.0 + 1.0
    assert ended[-1][2].excursion is None
    # one that lasts is held up to shift_hold_seconds from its start, then is the series' normal
    short = SPEC.model_copy(update={"shift_hold_seconds": 3600})
    lasting = _runs(short, shift=T0 + 3600.0, until=T0 + 4 * 3600.0)
    told = [(end, s) for end, signals, _ in lasting for s in signals]
    start = told[0][1].window.start.timestamp()
    assert max(end for end, _ in told) < start + 3600.0 + 300.0
    assert max(end for end, _ in told) >= start + 3600.0 - 300.0
    assert lasting[-1][2].excursion is None
    # 0: as before, the finding's window ends at its last anomalous point and nothing holds it
    off = _runs(SPEC.model_copy(update={"shift_hold_seconds": 0}), shift=T0 + 3600.0, until=T0 + 2 * 3600.0)
    once = [s for _, signals, _ in off for s in signals]
    assert len(once) == 1 and once[0].window.end.timestamp() <= T0 + 3600.0 + 300.0


def test_a_drop_is_held_too_and_a_changed_query_lets_it_go() -> None:
    runs = _runs(SPEC, shift=T0 + 3600.0, by=-8.0, until=T0 + 2 * 3600.0)
    told = [s for _, signals, _ in runs for s in signals]
    assert len(told) > 5 and all(s.value < s.expected.lower for s in told)
    state = runs[-1][2]
    assert state.excursion is not None and not state.excursion.above
    # another query: the band it left means nothing to the new one's values
    other = SPEC.model_copy(update={"query": "sum by (service) (rate(errors_total[5m]))"})
    end = runs[-1][0] + 300.0
    t = np.arange(end - 3600.0, end + 1.0, 60.0)
    ran = scan_series(
        other, LABELS, t.tolist(), _level(t, T0 + 3600.0, math.inf, -8.0).tolist(), state, end=end
    )
    assert ran.state.excursion is None and ran.signals == []


def _held_state(joined_last: float) -> SeriesState:
    runs = _runs(SPEC, shift=T0 + 3600.0, until=T0 + 3600.0 + 900.0)
    state = runs[-1][2]
    assert state.excursion is not None
    return state.model_copy(update={"joined": {"incident-checkout": (T0 + 3900.0, joined_last)}})


@pytest.mark.parametrize(
    ("marks", "released"),
    [
        (IncidentMarks(opened_at=T0 + 3900.0, marks=[], resolved_by_person=T0 + 4200.0), True),
        (IncidentMarks(opened_at=T0 + 3900.0, marks=[T0 + 4100.0]), True),
        # resolved before the shift began (an earlier outage), or another run the series never joined
        (IncidentMarks(opened_at=T0 + 100.0, marks=[], resolved_by_person=T0 + 200.0), False),
        (IncidentMarks(opened_at=T0 + 9000.0, marks=[T0 + 9100.0], resolved_by_person=T0 + 9200.0), False),
    ],
)
def test_people_saying_it_is_over_let_the_held_finding_go(marks: IncidentMarks, released: bool) -> None:
    state = _held_state(T0 + 4500.0)
    after = released_excursion(state, {"incident-checkout": marks})
    assert (after.excursion is None) is released
    assert released_excursion(state, {}).excursion is not None


class ShiftedPrometheus:
    """A series at 10 that steps to 40 at ``shift``; each query answers the grid's points in its range."""

    def __init__(self, shift: float) -> None:
        self.shift = shift

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        t = np.arange(math.ceil(start / step) * step, end + 1.0, step)
        return [RangeSeries(dict(LABELS), t.tolist(), _level(t, self.shift, math.inf, 30.0).tolist())]


def test_the_scan_stops_telling_a_shift_its_incident_was_resolved_by_a_person(tmp_path: Path) -> None:
    """Through the activity: held at every run, until a person resolves the incident (the next run reads
    it and tells nothing more: held on, it opened the incident again minutes after it was closed)."""
    now = [T0]
    delivered: list[tuple[float, list[AnomalySignal]]] = []
    marks: dict[str, IncidentMarks] = {}

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        delivered.append((now[0], signals))
        return ["incident-checkout"]

    async def read(ids: list[str]) -> dict[str, IncidentMarks]:
        return {i: m for i, m in marks.items() if i in ids}

    store = ScanStore(tmp_path / "scans")
    acts = ScanActivities(
        source=ShiftedPrometheus(T0 + 3600.0),
        specs=lambda: {"errors": SPEC},
        store=store,
        deliver=deliver,
        false_positives=read,
        clock=lambda: now[0],
    )
    while now[0] <= T0 + 3600.0 + 1500.0:
        asyncio.run(acts.scan(ScanInput(name="errors")))
        now[0] += 300.0
    assert [at for at, _ in delivered] == [T0 + 3600.0 + k * 300.0 for k in range(1, 6)]
    marks["incident-checkout"] = IncidentMarks(
        opened_at=T0 + 3900.0, marks=[], resolved_by_person=T0 + 3600.0 + 1600.0
    )
    for _ in range(3):
        asyncio.run(acts.scan(ScanInput(name="errors")))
        now[0] += 300.0
    assert len(delivered) == 5
    [state] = store.load("errors").series.values()
    assert state.excursion is None


def test_the_postmortem_folds_a_held_findings_entries_into_one_row() -> None:
    runs = _runs(SPEC, shift=T0 + 3600.0, until=T0 + 3600.0 + 6 * 3600.0)
    told = [(end, s) for end, signals, _ in runs for s in signals]
    state = IncidentState(id="incident-checkout", opened_at=datetime.fromtimestamp(told[0][0], UTC))
    for end, s in told:
        at = datetime.fromtimestamp(end, UTC)
        state.apply_anomalies(AnomalyBatch(signals=[s], received_at=at), at=at)
    extended = [e for e in state.timeline if e.kind == "anomaly.extended"]
    assert len(extended) == len(told) - 1 > 60
    text = render_postmortem(state, now=datetime.fromtimestamp(told[-1][0], UTC))
    assert text.count("| anomaly.extended |") == 1
    assert f"(the last of {len(extended)} such entries since" in text
    assert "entries omitted" not in text


class ManySeries:
    """A query that fans out past the scan's limit: 2,010 series of a few points each."""

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        t = [end - 120.0, end - 60.0, end]
        return [
            RangeSeries({"service": "checkout", "pod": f"p{i:04d}"}, t, [1.0, 1.0, 1.0]) for i in range(2010)
        ]


def test_a_query_past_the_series_limit_is_said_at_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Only in the run's result before: the other series went unwatched with nothing in the log."""

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    acts = ScanActivities(
        source=ManySeries(),
        specs=lambda: {"errors": SPEC},
        store=ScanStore(tmp_path / "scans"),
        deliver=deliver,
        clock=lambda: T0,
    )
    with caplog.at_level("WARNING"):
        result = asyncio.run(acts.scan(ScanInput(name="errors")))
    assert result.truncated and result.series == 2000
    (said,) = [
        r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "series" in r.getMessage()
    ]
    assert "the query returned 2010 series; only the 2000 with the latest points are scored" in said
    assert "the other 10 are not watched" in said


class AfterDeploy:
    """1,200 pods of two services, each replaced by a rolling deploy 20 minutes before the run: the hour's
    range holds the replaced pods (their points end 20 minutes ago) beside the new ones, 2,400 series,
    sorted by their labels as Prometheus sorts a matrix (the replaced ReplicaSet's hash sorts first)."""

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        out = []
        for service in ("cart", "checkout"):
            for rs, lo, hi in (("5c8d7", start, end - 1200.0), ("9f1a2", end - 1200.0, end)):
                t = np.arange(lo, hi + 1.0, step).tolist()
                out += [
                    RangeSeries({"service": service, "pod": f"{service}-{rs}-{i:05d}"}, t, [1.0] * len(t))
                    for i in range(600)
                ]
        return sorted(out, key=lambda s: sorted(s.labels.items()))


def test_past_the_series_limit_the_series_with_points_now_are_the_ones_watched(tmp_path: Path) -> None:
    """The first 2,000 in the answer's order before: after a deploy, the replaced pods took 1,200 of the
    places and 400 live pods of checkout (of 1,200 pods, under the limit) went unwatched for an hour (a
    walk-through against a Mimir with churning pods, 2026-12-07)."""

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        return []

    store = ScanStore(tmp_path / "scans")
    spec = SPEC.model_copy(update={"query": "sum by (service, pod) (rate(errors[5m]))"})
    acts = ScanActivities(
        source=AfterDeploy(), specs=lambda: {"errors": spec}, store=store, deliver=deliver, clock=lambda: T0
    )
    result = asyncio.run(acts.scan(ScanInput(name="errors")))
    assert result.truncated and result.series == 2000
    watched = store.load("errors").series.values()
    live = [s for s in watched if s.last_time is not None and s.last_time >= T0 - 60.0]
    assert len(live) == 1200  # every pod running now; 800 of the replaced ones with the places left
    assert {s.labels["service"] for s in live} == {"cart", "checkout"}


def test_large_values_read_as_sizes_with_enough_figures_to_tell_them_apart() -> None:
    """`value 5.32711e+10 outside [4.1e+10, 5.3255e+10]` read as a formula (a walk-through's leftover);
    three figures alone would print a value and its bound alike."""
    from medic.anomaly import ExpectedBand, readable  # noqa: PLC0415

    assert (
        ExpectedBand(lower=4.1e10, upper=5.3255e10).against(5.32711e10)
        == "value 53.27G outside [41G, 53.26G]"
    )
    assert readable([2.0e11, 1.5e6, 999.5]) == ["200G", "1.5M", "999.5"]  # under a million: as before
    assert (
        ExpectedBand(lower=0.880734, upper=1.11608).against(3.98325)
        == "value 3.98325 outside [0.880734, 1.11608]"
    )
    assert (
        ExpectedBand(lower=1e6, upper=2e6).against(float(np.finfo(np.float64).max)).startswith("value +Inf")
    )
