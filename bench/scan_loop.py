"""What an anomaly scan costs the worker it runs on: the scan activity over many series (an in-memory
Prometheus and a file store, two runs so the second restores every series' state), the longest the
worker's event loop waited meanwhile (a ticker that asks for a 1 ms sleep), and in the same run the
same series scored directly (``scan_series`` in a plain loop), as a ratio.

    python -m bench.scan_loop [--series 500] [--points 400]

The loop's longest gap is what the worker's other activities and workflow tasks wait for while a
scan runs: the activity scores each series in a thread, so the loop gets the interpreter back
between the detectors' numpy calls.
"""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np

from activities.scan import ScanActivities, ScanInput, ScanStore
from bench.harness import machine, print_result
from medic.anomaly import AnomalySignal
from medic.scan import RangeSeries, ScanSpec, scan_series

_STEP = 60.0


class _Prometheus:
    """``points`` one-minute points of each of ``series`` noisy series, ending at the query's end."""

    def __init__(self, series: int, points: int) -> None:
        self.series, self.points = series, points
        self.rng = np.random.default_rng(0)

    def query_range(self, promql: str, *, start: float, end: float, step: float) -> list[RangeSeries]:
        t = (end - step * np.arange(self.points)[::-1]).tolist()
        return [
            RangeSeries({"pod": f"pod-{i}"}, t, (100.0 + self.rng.normal(0.0, 1.0, self.points)).tolist())
            for i in range(self.series)
        ]


async def _deliver(signals: list[AnomalySignal]) -> list[str]:
    return []


async def _timed_scan(acts: ScanActivities) -> tuple[float, float]:
    """Seconds the scan took, and the event loop's longest gap meanwhile."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await acts.scan(ScanInput(name="bench"))
    took = time.perf_counter() - started
    done.set()
    await ticker
    return took, max(gaps, default=0.0)


async def run(series: int, points: int) -> dict[str, object]:
    spec = ScanSpec(name="bench", query="q", warmup=50, lookback_seconds=points * _STEP, step_seconds=_STEP)
    prometheus = _Prometheus(series, points)
    now = [1_000_000.0]
    result: dict[str, object] = {"machine": machine(), "series": series, "points_per_run": points}
    with tempfile.TemporaryDirectory() as tmp:
        acts = ScanActivities(
            source=prometheus,
            specs=lambda: {"bench": spec},
            store=ScanStore(Path(tmp)),
            deliver=_deliver,
            clock=lambda: now[0],
        )
        first = 0.0
        for n in (1, 2):  # the first run makes every series' detector, the second restores them
            took, gap = await _timed_scan(acts)
            first = first or took
            result[f"run{n}_s"] = round(took, 2)
            result[f"run{n}_points_per_s"] = round(series * points / took)
            result[f"run{n}_loop_longest_gap_ms"] = round(gap * 1e3, 1)
            now[0] += points * _STEP
    # the raw engine: the same work, scored in a plain loop (no activity, no thread, no store)
    end = now[0]
    found = prometheus.query_range("q", start=end - points * _STEP, end=end, step=_STEP)
    started = time.perf_counter()
    for s in found:
        scan_series(spec, s.labels, s.times, s.values, None)
    raw = time.perf_counter() - started
    result["raw_scan_series_s"] = round(raw, 2)
    result["run1_over_raw"] = round(first / raw, 2)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scan_loop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--points", type=int, default=400)
    args = ap.parse_args(argv)
    print_result(asyncio.run(run(args.series, args.points)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
