"""An anomaly scan end to end with real processes: a test target's disk usage climbs, the real
Prometheus (Debian's) scrapes it every second, the scan's Temporal Schedule runs the scan workflow,
whose activity fetches ``query_range``, predicts the disk full within the horizon, and hands the
predictive signal to the same path as ``POST /webhooks/anomaly``: an incident opens for the
service. ``GET /anomalies/scans`` then shows the series, its state and the next run."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support.promstack import MetricsTarget, metrics_target, running_prometheus
from tests.support.stack import in_background, medic_stack, wait_until

pytestmark = pytest.mark.e2e

GAUGE = "medic_e2e_disk_used_ratio"
ANOMALY_YAML = f"""
scans:
  - name: disk
    query: '{GAUGE}'
    every_seconds: 2
    lookback_seconds: 60
    step_seconds: 1
    warmup: 10
    capacity: 0.95
    horizon_seconds: 3600
"""


@contextlib.asynccontextmanager
async def filling(target: MetricsTarget) -> AsyncIterator[None]:
    """The gauge climbs 0.005 a second from 0.5 (full at 0.95 in about 90 s)."""
    start = time.monotonic()

    async def climb() -> None:
        while True:
            target.set(GAUGE, {"service": "checkout"}, 0.5 + 0.005 * (time.monotonic() - start))
            await asyncio.sleep(0.2)

    async with in_background(climb()):
        yield


async def test_a_scan_predicts_a_full_disk_and_opens_an_incident(tmp_path: Path) -> None:
    anomaly = tmp_path / "anomaly.yaml"
    anomaly.write_text(ANOMALY_YAML)
    with metrics_target() as target:
        target.set(GAUGE, {"service": "checkout"}, 0.5)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "medic-e2e", "static_configs": [{"targets": [target.address]}]}],
        }
        async with (
            filling(target),
            running_prometheus(config) as prom,
            medic_stack(prometheus_url=prom.url, anomaly=anomaly) as stack,
            stack.http() as http,
        ):
            incidents: list[dict[str, Any]] = []

            async def opened() -> bool:
                incidents[:] = (await http.get("/incidents")).json()
                return any("checkout" in i["services"] for i in incidents)

            await wait_until(opened, timeout=90, what="the scan's prediction to open an incident")
            [incident] = [i for i in incidents if "checkout" in i["services"]]
            detail = (await http.get(f"/incidents/{incident['id']}")).json()
            [anomaly] = detail["anomalies"]
            assert anomaly["signal"]["source"] == "medic-forecast"
            summary = anomaly["signal"]["summary"]
            assert "exhausts in about" in summary and "rising to 0.95, now 0.5" in summary
            assert anomaly["signal"]["forecast"][-1]["value"] == pytest.approx(0.95)
            [detected] = [e for e in detail["timeline"] if e["kind"] == "anomaly.detected"]
            assert "exhausts in about" in detected["message"]  # what people read: when it runs out

            scans = (await http.get("/anomalies/scans")).json()
            [scan] = scans
            assert scan["name"] == "disk" and scan["last_run"] is not None and scan["next_run"] is not None
            [series] = scan["series"]
            assert series["labels"]["service"] == "checkout"
            assert series["points"] > 0 and 0 < series["state_bytes"] < 64_000
            assert scan["last_result"]["predictions"] >= 1
            assert (await stack.http(auth=False).get("/anomalies/scans")).status_code == 401


SPIKE_YAML = f"""
scans:
  - name: latency
    query: '{GAUGE.replace("disk_used_ratio", "latency_seconds")}'
    every_seconds: 2
    lookback_seconds: 60
    step_seconds: 0.2
    warmup: 15
    threshold: 0.5
"""


@contextlib.asynccontextmanager
async def noisy(target: MetricsTarget, name: str, level: list[float]) -> AsyncIterator[None]:
    """The gauge at ``level[0]`` plus a little noise, from before the first scrape on."""
    rng = np.random.default_rng(3)

    async def jitter() -> None:
        while True:
            target.set(name, {"service": "checkout"}, float(level[0] + rng.normal(0, 0.01)))
            await asyncio.sleep(0.05)

    target.set(name, {"service": "checkout"}, level[0])
    async with in_background(jitter()):
        yield


async def test_a_scan_finds_a_spike_and_opens_an_incident(tmp_path: Path) -> None:
    """The detector path: steady noisy latency, then a jump; one anomaly signal, one incident."""
    anomaly = tmp_path / "anomaly.yaml"
    anomaly.write_text(SPIKE_YAML)
    name = GAUGE.replace("disk_used_ratio", "latency_seconds")
    level = [0.2]
    with metrics_target() as target:
        config = {  # five scrapes a second: the detector's windows fill in half a minute
            "global": {"scrape_interval": "200ms", "scrape_timeout": "200ms", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "medic-e2e", "static_configs": [{"targets": [target.address]}]}],
        }
        async with (
            noisy(target, name, level),
            running_prometheus(config) as prom,
            medic_stack(prometheus_url=prom.url, anomaly=anomaly) as stack,
            stack.http() as http,
        ):

            async def scored() -> bool:
                scans = (await http.get("/anomalies/scans")).json()
                return bool(scans and scans[0]["series"] and scans[0]["series"][0]["points"] >= 120)

            await wait_until(scored, timeout=120, what="120 scored points of steady latency")
            assert (await http.get("/incidents")).json() == []  # noise alone opens nothing
            level[0] = 2.0

            async def opened() -> bool:
                items = (await http.get("/incidents")).json()
                return any("checkout" in i["services"] for i in items)

            await wait_until(opened, timeout=60, what="the jump to open an incident")
            [incident] = (await http.get("/incidents")).json()
            detail = (await http.get(f"/incidents/{incident['id']}")).json()
            [found] = detail["anomalies"]
            assert found["signal"]["source"] == "medic-scan"
            assert found["signal"]["value"] == pytest.approx(2.0, abs=0.1)
            assert found["signal"]["expected"]["upper"] < 0.5
