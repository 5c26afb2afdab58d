"""Self-healing benchmark: how long from a real Prometheus alert to a verified recovery, and how
much of that is Medic.

The e2e scenario of tests/e2e/test_self_healing.py, timed: Prometheus (scrape and rule evaluation
every 1 s) sees latency climb, Alertmanager (group_wait 1 s) posts to Medic, the runbook scales the
Deployment in the Kubernetes API double, latency recovers, Prometheus must confirm it for 3 s.
From the incident's own timeline (workflow clock): alert received -> action started (Medic's
decision overhead: incident, runbook match, remediation workflow, guardrail facts, snapshot) and
action started -> executed (the cluster call).

    python -m bench.self_healing [--runs 3]
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import machine, print_result
from medic.vocab import TimelineKind
from tests.e2e.test_self_healing import GAUGE, self_healing_rig
from tests.support.stack import wait_until


def _at(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["at"])


async def one_run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with self_healing_rig(Path(tmp)) as rig, rig.stack.http() as http:
            kube, target = rig.kube, rig.target
            await asyncio.sleep(3)  # Prometheus has scraped the healthy value
            flipped = time.monotonic()
            target.set(GAUGE, {"service": "checkout"}, 1.8)

            async def scaled() -> bool:
                return bool(kube.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["replicas"] == 4)

            await wait_until(scaled, timeout=90, interval=0.05, what="the scale-out")
            acted = time.monotonic()
            target.set(GAUGE, {"service": "checkout"}, 0.15)

            async def verified() -> bool:
                detail: dict[str, Any] = (await http.get("/incidents/incident-checkout")).json()
                return any(e["kind"] == TimelineKind.VERIFICATION_PASSED for e in detail["timeline"])

            await wait_until(verified, timeout=90, interval=0.05, what="verification")
            done = time.monotonic()
            timeline = (await http.get("/incidents/incident-checkout")).json()["timeline"]
    first = {e["kind"]: e for e in reversed(timeline)}
    return {
        "metric_flip_to_action_s": acted - flipped,
        "recovery_to_verified_s": done - acted,
        "metric_flip_to_verified_s": done - flipped,
        "medic_alert_to_action_started_ms": (
            _at(first[TimelineKind.ACTION_STARTED]) - _at(first[TimelineKind.ALERT_FIRING])
        ).total_seconds()
        * 1000,
        "medic_action_call_ms": (
            _at(first[TimelineKind.ACTION_EXECUTED]) - _at(first[TimelineKind.ACTION_STARTED])
        ).total_seconds()
        * 1000,
    }


async def run(runs: int) -> dict[str, Any]:
    samples = [await one_run() for _ in range(runs)]
    result: dict[str, Any] = {
        "benchmark": "self_healing",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": runs,
    }
    for key in samples[0]:
        values = [s[key] for s in samples]
        result[key] = {
            "median": round(statistics.median(values), 2),
            "min": round(min(values), 2),
            "max": round(max(values), 2),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.self_healing")
    parser.add_argument("--runs", type=int, default=3)
    result = asyncio.run(run(parser.parse_args().runs))
    print_result(result)


if __name__ == "__main__":
    main()
