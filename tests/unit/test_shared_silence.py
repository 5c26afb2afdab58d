"""A silence most of a scan's series share (a log shipper that stops) is one finding of the pipeline
the series come through, not a page for each service (medic.shared_silence); a single service that
stops is its own finding, as before."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from activities.scan import ScanActivities, ScanInput, ScanStore, StoredScan, merge_stored
from medic.anomaly import AnomalySignal, ExpectedBand, TimeWindow
from medic.scan import RangeSeries, ScanSpec
from medic.shared_silence import SharedSilence, Waiting, advance, cluster, quiet_since

T0 = 1_767_225_600.0  # 2026-01-01 00:00 UTC
RATES = {"checkout": 5.0, "orders": 2.0, "search": 1.0, "payments": 0.5, "ledger": 0.3, "mail": 0.2}
MINUTES = 1440 + 720  # a day and a half, one point a minute
STOP = 1440 + 600  # the second day, 10:00


class Loki:
    """Counts of log lines over [5m] a minute, as Loki answers them: no point where the count is 0."""

    def __init__(self, stopped: tuple[str, ...], seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.counts = {}
        for service, rate in RATES.items():
            lines = rng.poisson(rate, MINUTES).astype(np.float64)
            if service in stopped:
                lines[STOP : STOP + 40] = 0.0
            self.counts[service] = np.convolve(lines, np.ones(5))[:MINUTES]

    def query_range(self, query: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        out = []
        for service, counts in self.counts.items():
            points = [
                (T0 + 60.0 * k, float(counts[k]))
                for k in range(max(0, int((start - T0) // 60)), min(MINUTES, int((end - T0) // 60) + 1))
                if start <= T0 + 60.0 * k <= end and counts[k] > 0
            ]
            if points:
                out.append(RangeSeries({"service": service}, [t for t, _ in points], [v for _, v in points]))
        return out


def _scan(
    stopped: tuple[str, ...], seed: int, folder: Path, *, until: int = MINUTES - 1, **kw: object
) -> tuple[list[tuple[float, AnomalySignal]], int]:
    """Runs every 5 minutes from the first day's 23:00 to ``until`` (minutes): what was delivered
    (minutes after the stop, signal), and the series' findings held in a shared one."""
    spec = ScanSpec.model_validate(
        {
            "name": "app-logs",
            "query": 'sum by (service) (count_over_time({namespace="shop"} [5m]))',
            "source": "loki",
            "step_seconds": 60,
            "lookback_seconds": 3600,
            "every_seconds": 300,
            **kw,
        }
    )
    source = Loki(stopped, seed)
    delivered: list[tuple[float, AnomalySignal]] = []
    now = [T0 + 1380 * 60.0]

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        delivered.extend(((now[0] - T0) / 60 - STOP, s) for s in signals)
        return [f"incident-{s.service}" for s in signals]

    held = 0
    acts = ScanActivities(
        source=None,
        loki=source,
        specs=lambda: {spec.name: spec},
        store=ScanStore(folder / "scans"),
        deliver=deliver,
        clock=lambda: now[0],
    )
    while now[0] < T0 + until * 60.0:
        held += asyncio.run(acts.scan(ScanInput(name=spec.name))).held
        now[0] += spec.every_seconds
    return delivered, held


@pytest.mark.parametrize("seed", [1, 2])
def test_a_log_shipper_that_stops_is_one_finding_of_the_pipeline_not_a_page_a_service(
    seed: int, tmp_path: Path
) -> None:
    delivered, held = _scan(tuple(RATES), seed, tmp_path / "a", pipeline_service="log-shipper")
    during = [(m, s) for m, s in delivered if -5 <= m <= 100]
    assert during, "the stop was found"
    assert {s.service for _, s in during} == {"log-shipper"}  # no service's team paged for it
    assert held >= 2  # two services' own findings at least were held in it (each a page before)
    assert during[0][0] <= 15  # as soon as a service's own finding came before (minutes after the stop)
    shared = during[-1][1]  # (the members named as they fall silent: the sparse ones last)
    assert shared.series == {"medic_scan": "app-logs", "medic_silence": "shared"}
    for service in RATES:
        assert service in (shared.summary or "")
    assert delivered == during  # nothing else all day and a half
    # without a pipeline service the finding names the scan (routed as a service the catalog does not know)
    delivered, _ = _scan(tuple(RATES), seed, tmp_path / "b")
    assert {s.service for m, s in delivered if -5 <= m <= 100} == {"app-logs"}


@pytest.mark.parametrize("seed", [1, 2])
def test_one_service_that_stops_is_its_own_finding(seed: int, tmp_path: Path) -> None:
    delivered, held = _scan(("checkout",), seed, tmp_path, pipeline_service="log-shipper")
    assert held == 0
    assert {s.service for m, s in delivered if -5 <= m <= 60} == {"checkout"}


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


def test_shared_when_three_or_more_begin_together_and_are_half_of_those_with_lines() -> None:
    began = {"a": 1000.0, "b": 1300.0, "c": 1500.0, "d": 9000.0}
    assert cluster(began, 900.0) == {"a": 1000.0, "b": 1300.0, "c": 1500.0}

    def opened(quiet: dict[str, float], active: int) -> SharedSilence | None:
        return advance(None, quiet=quiet, last_lines={}, active=active, services={}, span=900.0, end=2000.0)

    assert opened(began, 6) is not None
    assert opened(began, 7) is None  # 3 of 7
    assert opened({"a": 1000.0, "b": 1300.0}, 2) is None  # two services stopping together are two


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
    back = after(kept, {"c": None}, 2600.0)  # a and b have lines again
    assert back is not None and back.ended == {"a": 2600.0, "b": 2600.0}
    assert back.holds("a", 1200.0, span=900.0)  # its detector's finding of the silence, reported late
    assert not back.holds("a", 2700.0, span=900.0)  # a stop of its own after the lines came back
    assert back.holds("c", 5000.0, span=900.0)
    assert not back.holds("z", 1200.0, span=900.0)
    done = after(back, {}, 3000.0)
    assert done is not None and len(done.ended) == 3
    assert after(done, {}, 3000.0 + 3599.0) is not None
    assert after(done, {}, 3000.0 + 3600.0) is None


async def test_the_scans_view_shows_a_shared_silence_while_it_lasts(tmp_path: Path) -> None:
    from tests.unit.test_api import get_scans  # noqa: PLC0415

    await asyncio.to_thread(_scan, tuple(RATES), 1, tmp_path, until=STOP + 30, pipeline_service="log-shipper")
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    query = 'sum by (service) (count_over_time({namespace="shop"} [5m]))'
    (tmp_path / "anomaly.yaml").write_text(
        f"scans:\n  - name: app-logs\n    source: loki\n    query: '{query}'\n"
    )
    [scan] = (await get_scans(tmp_path)).json()
    shared = scan["shared_silence"]
    assert shared["services"] == sorted(RATES) and shared["back"] == []
    assert "checkout" in shared["raised"] and shared["sent"] is not None
    assert shared["began"].startswith("2026-01-02T10:0")


def test_findings_waiting_to_be_sent_are_kept_from_both_sides_of_a_merge() -> None:
    def waiting(key: str, minute: int) -> Waiting:
        at = datetime.fromtimestamp(T0 + minute * 60.0, UTC)
        signal = AnomalySignal(
            source="medic-scan",
            service=key,
            series={"service": key},
            value=1.0,
            expected=ExpectedBand(lower=10.0, upper=30.0),
            score=0.9,
            window=TimeWindow(start=at, end=at),
        )
        return Waiting(key=key, signal=signal, due=T0 + minute * 60.0 + 420.0)

    ours = StoredScan(name="s", last_run=T0 + 600.0, waiting=[waiting("a", 3), waiting("b", 4)])
    theirs = StoredScan(name="s", last_run=T0 + 300.0, waiting=[waiting("b", 4), waiting("c", 1)])
    for merged in (merge_stored(ours, theirs), merge_stored(theirs, ours)):
        assert sorted(w.key for w in merged.waiting) == ["a", "b", "c"]
