"""Log lines counted from Loki: does a scan find a burst of errors (or a service gone silent), and keep
quiet otherwise, when the counts are sparse (Loki answers no point for a range without a line)?

    python -m bench.loki_sparse [--days 4] [--seed 1] [--absent zero|missing|both]
        [--scenario errors|silence|shipper]

Log lines of six services over ``--days`` days, each at its own rate of error lines (0.02 to 3 a
minute, following a day's traffic, more by day) and an info line every 7 minutes, pushed into the
Loki double of the tests (tests/doubles/loki.py). On the third day four of them have an incident:
``errors``, error lines at ten to thirty times their rate for 15 minutes (scan: ``sum by (service)
(count_over_time({namespace="shop"} |= "error" [5m]))``); ``silence``, no line at all for 40 minutes
(scan: the same without the filter); ``shipper``, all six log nothing for 40 minutes at once (a log
shipper that stops: prints the services named by findings of their own, each a page for its team,
and the findings of the scan's ``pipeline_service``). One point a minute, every 5 minutes, a lookback
of an hour, through the real path (the Loki adapter and the scan activity) from the second day on, with a step
without a point taken as 0 (``absent: zero``, Loki's default) or as missing. Prints, per mode, the
incidents found (an anomaly signal of the service within 20 minutes and a run of the start, and
within an hour, with the minutes each took) and the anomaly signals raised outside them."""

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Literal

import numpy as np

from activities.adapters.loki import LokiMetrics
from activities.scan import ScanActivities, ScanInput, ScanStore
from medic.anomaly import AnomalySignal
from medic.scan import ScanSpec
from tests.doubles.loki import LokiDouble

__all__ = ["main", "run"]

_DAY = 86400.0
START = 1_767_225_600.0  # 2026-01-01 00:00 UTC
RATES = {"checkout": 3.0, "orders": 0.8, "search": 0.3, "payments": 0.1, "ledger": 0.05, "mail": 0.02}
BURSTS = {"checkout": 10.0, "search": 20.0, "payments": 30.0, "mail": 30.0}  # times the rate, day 3
QUERIES = {
    "errors": 'sum by (service) (count_over_time({namespace="shop"} |= "error" [5m]))',
    "silence": 'sum by (service) (count_over_time({namespace="shop"} [5m]))',
    "shipper": 'sum by (service) (count_over_time({namespace="shop"} [5m]))',
}
PIPELINE = "log-shipper"  # the scan's pipeline_service: where a silence the services share is reported
SILENT = ("checkout", "search", "orders", "payments")  # no line at all for 40 minutes, day 3


def _logs(double: LokiDouble, days: int, seed: int, scenario: str) -> dict[str, float]:
    """Push every line; the incidents' starts by service (bursts of errors, or silences)."""
    rng = np.random.default_rng(seed)
    minutes = np.arange(int(days * 1440))
    daily = 0.4 + 0.6 * np.clip(np.sin((minutes % 1440 - 360) / 1440 * 2 * np.pi), 0, None) * 1.6
    bursts = {}
    for i, (service, rate) in enumerate(RATES.items()):
        lam = rate * daily
        at = 2 * 1440 + 600 + 97 * i  # day 3, from 10:00
        quiet = range(0)
        if scenario == "errors" and service in BURSTS:
            lam[at : at + 15] = rate * BURSTS[service]
            bursts[service] = START + at * 60.0
        elif scenario == "silence" and service in SILENT:
            quiet = range(at, at + 40)
            bursts[service] = START + at * 60.0
        elif scenario == "shipper":  # the log shipper stops: no service's line arrives for 40 minutes
            at = 2 * 1440 + 600
            quiet = range(at, at + 40)
            bursts[service] = START + at * 60.0
        for minute, n in enumerate(rng.poisson(lam)):
            if minute in quiet:
                continue
            for t in np.sort(rng.uniform(0, 60, n)):
                double.push(
                    {"namespace": "shop", "service": service, "pod": f"{service}-{int(t) % 3}"},
                    START + minute * 60.0 + float(t),
                    f"level=error service={service} msg=upstream failed",
                )
        for minute in range(0, len(minutes), 7):  # info lines the errors' filter drops
            if minute in quiet:
                continue
            double.push(
                {"namespace": "shop", "service": service, "pod": f"{service}-0"}, START + minute * 60.0, "ok"
            )
    return bursts


async def run(
    days: int, seed: int, absent: Literal["zero", "missing"], scenario: str = "errors"
) -> tuple[dict[str, float], int, int, float, list[tuple[float, AnomalySignal]]]:
    """Seconds from each incident's start to the first signal of its service within an hour, by service;
    how many incidents; anomaly signals outside them (and the hour after each); seconds taken; and
    every signal raised with when."""
    double = LokiDouble()
    bursts = _logs(double, days, seed, scenario)
    spec = ScanSpec(
        name="errors",
        query=QUERIES[scenario],
        source="loki",
        absent=absent,
        step_seconds=60,
        lookback_seconds=3600,
        pipeline_service=PIPELINE,
    )
    now = [START + _DAY]
    raised: list[tuple[float, AnomalySignal]] = []

    async def deliver(signals: list[AnomalySignal]) -> list[str]:
        raised.extend((now[0], s) for s in signals)
        return [f"incident-{s.service}" for s in signals]

    began = time.perf_counter()
    with double.serve() as url, tempfile.TemporaryDirectory() as tmp:
        acts = ScanActivities(
            source=None,
            loki=LokiMetrics(url),
            specs=lambda: {spec.name: spec},
            store=ScanStore(Path(tmp)),
            deliver=deliver,
            clock=lambda: now[0],
        )
        while now[0] < START + days * _DAY:
            await acts.scan(ScanInput(name=spec.name))
            now[0] += spec.every_seconds
    delays: dict[str, float] = {}
    other = 0
    for at, signal in raised:
        start = bursts.get(signal.service)
        if start is not None and start <= at <= start + 3600:
            delays.setdefault(signal.service, at - start)
        else:
            other += 1
    return delays, len(bursts), other, time.perf_counter() - began, raised


def _received(raised: list[tuple[float, AnomalySignal]], stop: float) -> str:
    """What people received in the hour after the shipper stopped: each service named by a finding
    (its own team paged for it), with the minutes of each finding."""
    named: dict[str, list[str]] = {}
    for at, signal in raised:
        if stop <= at <= stop + 3600:
            named.setdefault(signal.service, []).append(f"{(at - stop) / 60:.0f}")
    services = [s for s in named if s != PIPELINE]
    shared = ", ".join(named.get(PIPELINE, [])) or "none"
    own = "; ".join(f"{s} at {', '.join(named[s])}" for s in services) or "none"
    return (
        f"findings naming {PIPELINE}: {len(named.get(PIPELINE, []))} (minutes: {shared}); services named by"
        f" findings of their own: {len(services)} ({own})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--absent", choices=["zero", "missing", "both"], default="both")
    parser.add_argument("--scenario", choices=sorted(QUERIES), default="errors")
    args = parser.parse_args()
    modes: list[Literal["zero", "missing"]] = ["zero", "missing"] if args.absent == "both" else [args.absent]
    service_days = len(RATES) * (args.days - 1)
    for mode in modes:
        delays, bursts, other, took, raised = asyncio.run(run(args.days, args.seed, mode, args.scenario))
        if args.scenario == "shipper":
            stop = START + (2 * 1440 + 600) * 60.0
            said = _received(raised, stop)
            print(f"absent: {mode:7s}  the log shipper stopped for 40 minutes: {said}; {took:.1f} s")
            continue
        soon = sum(1 for d in delays.values() if d <= 1200 + 300)
        minutes = ", ".join(f"{s} {d / 60:.0f}" for s, d in sorted(delays.items(), key=lambda kv: kv[1]))
        print(
            f"absent: {mode:7s}  incidents found within 20 minutes (and a run) {soon} of {bursts}, within"
            f" an hour {len(delays)} (minutes: {minutes or 'none'}); anomaly signals outside them {other}"
            f" ({other / service_days:.2f} a service a day, {service_days} service-days); {took:.1f} s"
        )


if __name__ == "__main__":
    main()
