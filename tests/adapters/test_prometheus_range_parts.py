"""A long range query is asked in parts and kept as one answer, against the real Prometheus (Debian).

A scan's first run asks a day back: for 2,000 series, 2.9 million points whose JSON answer, parsed at
once, took the worker to 1,070 MiB, over the chart's 1 GiB limit (docs/BENCHMARKS.md, "Scan memory").
Asked 360 points a series at a time, the answer must be the one a single query gives: no point twice
at the parts' edges, none missing, a series present in some parts only kept whole, in time order."""

import asyncio
from typing import Any

from activities.adapters.prometheus import CHUNK_POINTS, PrometheusMetrics, range_parts
from tests.support.promstack import running_prometheus

T0 = 1_800_000_000.0
STEP = 60.0
# Expressions Prometheus evaluates at any time without data: a series over the whole range, one that
# exists only in its second half (a pod started mid-range), one only at its start (a pod replaced).
QUERY = (
    'label_replace(vector(time()), "pod", "always", "", "")'
    f' or label_replace(vector(time()) > {T0 + 700 * STEP}, "pod", "started", "", "")'
    f' or label_replace(vector(time()) < {T0 + 100 * STEP}, "pod", "replaced", "", "")'
)


def test_a_range_is_cut_on_its_grid_with_no_point_twice() -> None:
    parts = range_parts(T0, T0 + 1440 * STEP, STEP)
    assert len(parts) == 5 and parts[0] == (T0, T0 + (CHUNK_POINTS - 1) * STEP)
    points = [p for a, b in parts for p in range(int(a), int(b) + 1, int(STEP))]
    assert points == list(range(int(T0), int(T0 + 1440 * STEP) + 1, int(STEP)))
    assert range_parts(T0, T0 + 60 * STEP, STEP) == [(T0, T0 + 60 * STEP)]  # a usual run: one query


async def test_the_parts_answer_what_one_query_answers() -> None:
    config: dict[str, Any] = {"global": {"scrape_interval": "15s"}}
    async with running_prometheus(config) as prom:
        prometheus = PrometheusMetrics(prom.url, timeout=30.0)
        start, end = T0, T0 + 1440 * STEP
        whole = await asyncio.to_thread(prometheus._range, QUERY, start=start, end=end, step=STEP)
        parts = await asyncio.to_thread(prometheus.query_range, QUERY, start=start, end=end, step=STEP)
    by_pod = {s.labels["pod"]: s for s in parts}
    assert sorted(by_pod) == ["always", "replaced", "started"]
    for series in whole:
        mine = by_pod[series.labels["pod"]]
        assert mine.labels == series.labels
        assert mine.times == series.times and mine.values == series.values, series.labels
    assert len(by_pod["always"].times) == 1441 and len(by_pod["replaced"].times) == 100
    assert by_pod["started"].times[0] == T0 + 701 * STEP and by_pod["started"].times[-1] == end
