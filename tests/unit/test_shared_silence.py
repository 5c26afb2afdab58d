"""A silence most of a scan's series share (a log shipper that stops) is one finding of the pipeline
the series come through, not a page for each service (medic.shared_silence); a single service that
stops is its own finding, as before."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from activities.scan import ScanActivities, ScanInput, ScanStore, StoredScan, merge_stored
from medic.anomaly import AnomalySignal, ExpectedBand, TimeWindow
from medic.scan import RangeSeries, ScanSpec, Silences, falling_now, shared_after, silences
from medic.shared_silence import (
    SharedSilence,
    Waiting,
    advance,
    cluster,
    falling,
    merge_shared,
    quiet_since,
)

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
RATES = {"checkout": 5.0, "orders": 2.0, "search": 1.0, "payments": 0.5, "ledger": 0.3, "mail": 0.2}
MINUTES = 1440 + 960  # a day and 16 hours, one point a minute
STOP = 1440 + 600  # the second day, 10:00


class Loki:
    """Counts of log lines over [5m] a minute, as Loki answers them: no point where the count is 0.
    ``quiet``: the minutes each service logs nothing; ``pods``: series a service (``pod`` label)."""

    def __init__(self, quiet: dict[str, range], seed: int, *, pods: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.counts: dict[tuple[str, str], np.ndarray] = {}
        for service, rate in RATES.items():
            for pod in range(pods):
                lines = rng.poisson(rate, MINUTES).astype(np.float64)
                lines[[k for k in quiet.get(service, range(0)) if k < MINUTES]] = 0.0
                self.counts[service, f"{service}-{pod}"] = np.convolve(lines, np.ones(5))[:MINUTES]
        self.pods = pods

    def query_range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        out = []
        for (service, pod), counts in self.counts.items():
            points = [
                (T0 + 60.0 * k, float(counts[k]))
                for k in range(max(0, int((start - T0) // 60)), min(MINUTES, int((end - T0) // 60) + 1))
                if start <= T0 + 60.0 * k <= end and counts[k] > 0
            ]
            labels = {"service": service, "pod": pod} if self.pods > 1 else {"service": service}
            if points:
                out.append(RangeSeries(labels, [t for t, _ in points], [v for _, v in points]))
        return out


EVERYONE = dict.fromkeys(RATES, range(STOP, STOP + 40))  # the log shipper stops for 40 minutes


def _scan(
    quiet: dict[str, range],
    seed: int,
    folder: Path,
    *,
    until: int = MINUTES - 1,
    pods: int = 1,
    source: str = "loki",
    off_at: int | None = None,
    **kw: object,
) -> tuple[list[tuple[float, AnomalySignal]], int]:
    """Runs every 5 minutes from the first day's 23:00 to ``until`` (minutes): what was delivered
    (minutes after the stop, signal), and the series' findings held in a shared one. ``off_at``: the
    minute after the stop from which the scan no longer names a pipeline_service (a change of its
    configuration)."""
    spec = ScanSpec.model_validate(
        {
            "name": "app-logs",
            "query": 'sum by (service) (count_over_time({namespace="shop"} [5m]))',
            "source": source,
            "absent": "zero",
            "step_seconds": 60,
            "lookback_seconds": 3600,
            "every_seconds": 300,
            **kw,
        }
    )
    plain = spec.model_copy(update={"pipeline_service": None})
    loki = Loki(quiet, seed, pods=pods)
    delivered: list[tuple[float, AnomalySignal]] = []
    now = [T0 + 1380 * 60.0]

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        delivered.extend(((now[0] - T0) / 60 - STOP, s) for s in signals)
        return [f"incident-{s.service}" for s in signals]

    held = 0
    acts = ScanActivities(
        source=loki if source == "prometheus" else None,
        loki=loki if source == "loki" else None,
        specs=lambda: {spec.name: spec if off_at is None or now[0] < T0 + (STOP + off_at) * 60 else plain},
        store=ScanStore(folder / "scans"),
        deliver=deliver,
        clock=lambda: now[0],
    )
    while now[0] < T0 + until * 60.0:
        held += asyncio.run(acts.scan(ScanInput(name=spec.name))).held
        now[0] += spec.every_seconds
    return delivered, held


@pytest.mark.parametrize(("seed", "source"), [(1, "loki"), (2, "loki"), (3, "prometheus")])
def test_a_log_shipper_that_stops_is_one_finding_of_the_pipeline_not_a_page_a_service(
    seed: int, source: str, tmp_path: Path
) -> None:
    delivered, held = _scan(EVERYONE, seed, tmp_path / "a", source=source, pipeline_service="log-shipper")
    during = [(m, s) for m, s in delivered if -5 <= m <= 100]
    assert during, "the stop was found"
    assert {s.service for _, s in during} == {"log-shipper"}  # no service's team paged for it
    assert held >= 2  # two services' own findings at least were held in it (each a page before)
    assert during[0][0] <= 15  # as soon as a service's own finding came before (minutes after the stop)
    shared = during[-1][1]  # (the members named as they fall silent: the sparse ones last)
    assert shared.series == {"medic_scan": "app-logs", "medic_silence": "shared"}
    assert sum(service in (shared.summary or "") for service in RATES) >= 4
    assert not [s for m, s in delivered if (m < -5 or m > 100) and s.service == "log-shipper"]
    # without a pipeline service (the default): each service's silence its own finding, as before
    delivered, held = _scan(EVERYONE, seed, tmp_path / "b", source=source)
    assert held == 0 and len({s.service for m, s in delivered if -5 <= m <= 100}) >= 2


@pytest.mark.parametrize("seed", [1, 2])
def test_one_service_that_stops_is_its_own_finding(seed: int, tmp_path: Path) -> None:
    quiet = {"checkout": range(STOP, STOP + 40)}
    delivered, held = _scan(quiet, seed, tmp_path, pipeline_service="log-shipper")
    assert held == 0
    found = [(m, s.service) for m, s in delivered if -5 <= m <= 60]
    assert {service for _, service in found} == {"checkout"} and found[0][0] <= 15


@pytest.mark.parametrize("seed", [1, 2])
def test_a_service_still_silent_when_the_others_are_back_is_told_as_its_own(
    seed: int, tmp_path: Path
) -> None:
    """The shipper is back after 40 minutes, checkout is not (it crashed meanwhile): its finding,
    held in the shared one, is told as checkout's once the others have been back 15 minutes."""
    quiet = {**EVERYONE, "checkout": range(STOP, STOP + 180)}
    delivered, held = _scan(quiet, seed, tmp_path, until=STOP + 200, pipeline_service="log-shipper")
    assert held >= 2
    own = [(m, s) for m, s in delivered if s.service != "log-shipper" and m >= 0]
    assert [s.service for _, s in own] == ["checkout"], own
    minutes, told = own[0]
    assert 40 + 15 <= minutes <= 40 + 15 + 10
    assert "still silent since the lines of most of the series that fell silent with it came back" in (
        told.summary or ""
    )
    assert told.window.end.timestamp() >= T0 + (STOP + 55) * 60.0  # silent until it was told
    assert {s.service for m, s in delivered if 0 <= m < 40 + 15} == {"log-shipper"}


@pytest.mark.parametrize("off_at", [30, 50])
def test_a_scan_that_stops_sharing_tells_what_it_held(off_at: int, tmp_path: Path) -> None:
    """pipeline_service taken out of the scan during the shipper's outage (at 30 minutes) or after
    it (at 50, before checkout, still down, was told): checkout's held finding is told as its own at
    once, where it was lost with the silence (a review)."""
    quiet = {**EVERYONE, "checkout": range(STOP, STOP + 180)}
    delivered, held = _scan(
        quiet, 1, tmp_path, until=STOP + 120, off_at=off_at, pipeline_service="log-shipper"
    )
    assert held >= 1
    told = [m for m, s in delivered if s.service == "checkout" and m >= 0]
    assert told and told[0] <= off_at + 5, delivered
    assert "held in the scan's shared silence" in (
        next(s for m, s in delivered if s.service == "checkout" and m >= 0).summary or ""
    )


def test_the_series_of_one_service_that_all_stop_are_its_own_outage(tmp_path: Path) -> None:
    """Six series of checkout (one a pod), all silent: checkout's outage, not the pipeline's."""
    quiet = {"checkout": range(STOP, STOP + 120)}
    delivered, held = _scan(quiet, 1, tmp_path, pods=6, service="checkout", pipeline_service="log-shipper")
    assert held == 0
    assert {s.service for m, s in delivered if -5 <= m <= 120} == {"checkout"}


def test_a_run_of_zeros_is_newly_quiet_only_when_it_is_longer_than_the_earlier_ones() -> None:
    t = np.arange(40) * 60.0
    busy = np.r_[np.full(30, 4.0), np.zeros(10)]
    assert quiet_since(t, busy) == 30 * 60.0
    sparse = np.tile([1.0, 0.0, 0.0, 0.0], 10)
    sparse[-3:] = 0.0
    assert quiet_since(t, sparse) is None  # as long as its usual runs of 0
    assert quiet_since(t, np.r_[np.full(38, 4.0), np.zeros(2)]) is None  # 2 zeros are any count's
    assert quiet_since(t, np.r_[np.full(8, 4.0), np.zeros(32)]) is None  # too few lines to go by
    assert quiet_since(t, np.r_[np.full(39, 4.0), [0.0]]) is None
    assert quiet_since(t, np.r_[np.zeros(36), [4.0], np.zeros(3)]) is None
    gap = np.r_[np.full(30, 4.0), [0.0, np.nan, 0.0, 0.0, 0.0], np.full(5, 0.0)]
    assert quiet_since(t, gap) is None  # a NaN (no count: not Loki's) is no run of 0


def _finding(service: str, minute: int = 0) -> AnomalySignal:
    at = datetime.fromtimestamp(T0 + minute * 60.0, UTC)
    return AnomalySignal(
        source="medic-scan",
        service=service,
        series={"service": service},
        value=1.0,
        expected=ExpectedBand(lower=10.0, upper=30.0),
        score=0.9,
        window=TimeWindow(start=at, end=at),
    )


def test_shared_when_three_or_more_begin_together_and_are_half_of_those_with_lines() -> None:
    began = {"a": 1000.0, "b": 1300.0, "c": 1500.0, "d": 9000.0}
    assert cluster(began, 900.0) == {"a": 1000.0, "b": 1300.0, "c": 1500.0}

    def opened(quiet: dict[str, float], active: int) -> SharedSilence | None:
        return advance(None, quiet=quiet, last_lines={}, active=active, services={}, span=900.0, end=2000.0)

    assert opened(began, 6) is not None
    assert opened(began, 7) is None  # 3 of 7
    assert opened({"a": 1000.0, "b": 1300.0}, 2) is None  # two services stopping together are two
    two = {"a": "checkout", "b": "checkout", "c": "orders"}  # three series of two services
    assert advance(None, quiet=began, last_lines={}, active=4, services=two, span=900.0, end=2000.0) is None


def test_a_shared_silence_holds_its_members_late_findings_an_hour_after_the_lines_came_back() -> None:
    shared = SharedSilence(began=1000.0, members={"a": 1000.0, "b": 1060.0, "c": 1120.0})
    silent = {"a": 900.0, "b": 950.0, "c": None}

    def after(s: SharedSilence | None, lines: dict[str, float | None], end: float) -> SharedSilence | None:
        return advance(s, quiet={}, last_lines=lines, active=3, services={}, span=900.0, end=end)

    kept = after(shared, silent, 2000.0)
    assert kept is not None and not kept.ended
    # a late member joins while it lasts (its run begun within the span of the first)
    joined = advance(
        kept, quiet={"d": 1500.0}, last_lines=silent, active=4, services={"d": "mail"}, span=900.0, end=2300.0
    )
    assert joined is not None and joined.members["d"] == 1500.0 and joined.services == {"d": "mail"}
    back = after(kept, {"c": None}, 2600.0)  # a and b have lines again: released
    assert back is not None and back.ended == {"a": 2600.0, "b": 2600.0} and back.released == 2600.0
    assert back.holds("a", 1200.0, span=900.0, now=2600.0)  # its detector's finding, reported late
    assert not back.holds("a", 2700.0, span=900.0, now=2700.0)  # a stop of its own after its lines came back
    assert back.holds("c", 3000.0, span=900.0, now=3000.0)  # still silent: a sparse one's lines come later
    assert not back.holds("c", 3000.0, span=900.0, now=3500.0)  # 15 minutes on: its own outage
    assert not back.holds("z", 1200.0, span=900.0, now=2600.0)
    back.held["c"] = back.held["a"] = _finding("c")
    assert back.still_silent(span=900.0, now=3400.0) == []
    assert back.still_silent(span=900.0, now=3500.0) == ["c"]  # its held finding told as its own
    back.told.append("c")
    assert back.still_silent(span=900.0, now=3600.0) == []
    assert after(back, {"c": None}, 3000.0) is not None  # kept while a member is silent
    done = after(back, {}, 3000.0)
    assert done is not None and len(done.ended) == 3
    assert after(done, {}, 3000.0 + 3599.0) is not None
    assert after(done, {}, 3000.0 + 3600.0) is None


async def test_the_scans_view_shows_a_shared_silence_while_it_lasts(tmp_path: Path) -> None:
    from tests.unit.test_api import get_scans  # noqa: PLC0415

    await asyncio.to_thread(_scan, EVERYONE, 1, tmp_path, until=STOP + 30, pipeline_service="log-shipper")
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    query = 'sum by (service) (count_over_time({namespace="shop"} [5m]))'
    (tmp_path / "anomaly.yaml").write_text(
        f"scans:\n  - name: app-logs\n    source: loki\n    query: '{query}'\n"
    )
    [scan] = (await get_scans(tmp_path)).json()
    shared = scan["shared_silence"]
    assert set(shared["services"]) >= {"checkout", "orders", "search"} and shared["back"] == 0
    assert shared["series"] == len(shared["services"]) and shared["released"] is None
    assert "checkout" in shared["raised"] and shared["sent"] is not None
    began = datetime.fromisoformat(shared["began"]).timestamp()
    assert T0 + (STOP - 10) * 60 <= began <= T0 + (STOP + 5) * 60  # (a sparse one's last line came earlier)


def test_findings_waiting_to_be_sent_are_kept_from_both_sides_of_a_merge() -> None:
    """Two saves of a scan merged (a ConfigMap written by two workers): what either side waits to send
    is kept, but for what the other side sent or held already; a shared silence keeps both sides'
    members, held findings and lines back, and the earlier time its finding was sent."""

    def waiting(key: str, minute: int) -> Waiting:
        return Waiting(key=key, signal=_finding(key, minute), due=T0 + minute * 60.0 + 420.0)

    sent_c = f"c@{T0 + 60.0:.3f}"
    ours = StoredScan(
        name="s", last_run=T0 + 600.0, waiting=[waiting("a", 3), waiting("b", 4)], settled=[sent_c]
    )
    theirs = StoredScan(
        name="s", last_run=T0 + 300.0, waiting=[waiting("b", 4), waiting("c", 1), waiting("d", 2)]
    )
    for merged in (merge_stored(ours, theirs), merge_stored(theirs, ours)):
        assert sorted(w.key for w in merged.waiting) == ["a", "b", "d"]  # c was sent by ours
        assert sent_c in merged.settled
    mine = SharedSilence(began=100.0, members={"a": 100.0, "b": 160.0, "c": 200.0}, sent=400.0)
    mine.held["a"] = _finding("a")
    other = SharedSilence(began=90.0, members={"b": 160.0, "d": 90.0}, ended={"d": 500.0})
    both = merge_shared(mine, other)
    assert both is not None and set(both.members) == {"a", "b", "c", "d"} and both.began == 90.0
    assert both.ended == {"d": 500.0} and set(both.held) == {"a"} and both.sent == 400.0
    unrelated = SharedSilence(began=9000.0, members={"x": 9000.0, "y": 9000.0, "z": 9000.0})
    assert merge_shared(unrelated, mine) is mine  # another silence: the one whose finding was sent
    assert merge_shared(None, mine) is mine and merge_shared(mine, None) is mine
    told = mine.model_copy(update={"told": ["c"], "released": 700.0})
    again = merge_shared(mine, told)  # the older save told c: the newer must not tell it twice
    assert again is not None and again.told == ["c"] and again.released == 700.0


def test_a_series_whose_detector_finds_its_silence_ordinary_is_no_member() -> None:
    """Jobs idle every night from 02:00 (their detectors' days before say so) and checkout crashing at
    02:08 are checkout's outage, not a shared silence (a review: the jobs looked newly quiet)."""
    spec = ScanSpec.model_validate(
        {"name": "logs", "query": "sum by (service) (x)", "absent": "zero", "pipeline_service": "alloy"}
    )
    t = (np.arange(60) * 60.0).tolist()
    quiet = [4.0] * 50 + [0.0] * 10
    found = [RangeSeries({"service": s}, t, quiet) for s in ("checkout", "batch-a", "batch-b", "batch-c")]
    seen = silences(spec, found)
    assert len(seen.quiet) == 4 and seen.active == 4
    usual = {"service=checkout": 7.5, "service=batch-a": 0.0, "service=batch-b": 0.0, "service=batch-c": 0.0}
    assert shared_after(spec, seen, None, usual, end=3600.0) is None
    unusual = dict.fromkeys(usual, 3.0)
    opened = shared_after(spec, seen, None, unusual, end=3600.0)
    assert opened is not None and len(opened.members) == 4
    assert (
        shared_after(spec, seen, None, {**unusual, "service=batch-a": None}, end=3600.0) is not None
    )  # 3 of 4


def test_a_scans_state_keeps_what_a_later_release_saved(tmp_path: Path) -> None:
    """A rollback: the earlier release reads a state with fields it does not know and saves it again."""
    store = ScanStore(tmp_path)
    saved = {"name": "s", "series": {}, "a_later_field": [{"kept": True}]}
    (tmp_path / "s.json").write_text(json.dumps(saved))
    store.save(store.load("s"))
    assert json.loads((tmp_path / "s.json").read_text())["a_later_field"] == [{"kept": True}]


def test_a_sparse_count_at_0_is_not_falling_and_a_busy_one_under_half_is() -> None:
    t = np.arange(40) * 60.0
    assert falling(t, np.r_[np.full(35, 20.0), [8.0] * 5], 300.0) == (True, True)
    assert falling(t, np.r_[np.full(35, 20.0), [15.0] * 5], 300.0) == (True, False)
    sparse = np.tile([1.0, 0.0, 2.0, 1.0], 10)
    sparse[-1] = 0.0
    assert falling(t, sparse, 300.0) == (False, False)  # at 0 as it often is: it decides no wait


def test_a_fall_counts_towards_a_wait_unless_its_detector_finds_its_zeros_ordinary() -> None:
    """Jobs idle every night from 02:00 at 0 (their detectors say it is ordinary) do not make a crash
    at 02:08 wait for a shared silence; counts still falling, or at 0 unexpectedly, do."""
    seen = Silences(quiet={}, last_lines={}, services={}, active=6, able=5)
    seen.down = {"job-a": True, "job-b": True, "job-c": True, "checkout": True, "orders": False}
    ordinary = {"job-a": True, "job-b": True, "job-c": True}
    assert falling_now(seen, ordinary) == 2
    assert falling_now(seen, {}) == 5
