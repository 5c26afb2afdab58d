"""An anomaly scan of Loki end to end: a service logs an error line now and then, into the Loki double
(no Grafana Loki is packaged for this machine; tests/doubles/loki.py cites what it holds to), the
worker's Temporal Schedule runs the scan (``source: loki``, MEDIC_LOKI_URL with its tenant) through the
real worker and dev server, and a burst of error lines opens an incident for the service, as an
anomaly webhook would. The steps where no line came are zeros (``absent: zero``, Loki's default):
``GET /anomalies/scans`` shows every one of them scored."""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.doubles.loki import LokiDouble
from tests.support.stack import in_background, medic_stack, wait_until

pytestmark = pytest.mark.e2e

ANOMALY_YAML = """
scans:
  - name: errors
    source: loki
    query: 'sum by (service) (count_over_time({namespace="shop"} |= "error" [5s]))'
    every_seconds: 2
    lookback_seconds: 120
    step_seconds: 1
    warmup: 15
"""


@contextlib.asynccontextmanager
async def logging_errors(double: LokiDouble, every: list[float]) -> AsyncIterator[None]:
    """checkout logs an error line every ``every[0]`` seconds (and info lines the query drops)."""

    async def log() -> None:
        while True:
            now = time.time()
            double.push(
                {"namespace": "shop", "service": "checkout"},
                now,
                "level=error msg=upstream failed",
                tenant="shop",
            )
            double.push({"namespace": "shop", "service": "checkout"}, now, "level=info msg=ok", tenant="shop")
            await asyncio.sleep(every[0])

    async with in_background(log()):
        yield


async def test_a_burst_of_error_lines_in_loki_opens_an_incident(tmp_path: Path) -> None:
    anomaly = tmp_path / "anomaly.yaml"
    anomaly.write_text(ANOMALY_YAML)
    double = LokiDouble(tenants=("shop",))
    every = [4.0]
    with double.serve() as url:
        async with (
            logging_errors(double, every),
            medic_stack(loki_url=url, loki_tenant="shop", anomaly=anomaly) as stack,
            stack.http() as http,
        ):

            async def scored() -> bool:
                scans = (await http.get("/anomalies/scans")).json()
                return bool(scans and scans[0]["series"] and scans[0]["series"][0]["points"] >= 100)

            # past the detector's first 66 points, which score 0 (its windows hold no real points yet):
            # a burst that began among them was the series' level by the time it could be scored, and
            # opened nothing (a clean run, 1 in 5: the first run scored 60 points, the burst came next)
            await wait_until(scored, timeout=120, what="two minutes of error counts scored")
            [scan] = (await http.get("/anomalies/scans")).json()
            assert scan["source"] == "loki" and scan["last_error"] is None
            [series] = scan["series"]
            assert series["labels"] == {"service": "checkout"}
            assert (await http.get("/incidents")).json() == []  # a line now and then opens nothing
            every[0] = 0.02  # fifty error lines a second

            async def opened() -> bool:
                items = (await http.get("/incidents")).json()
                return any("checkout" in i["services"] for i in items)

            await wait_until(opened, timeout=60, what="the burst of errors to open an incident")
            [incident] = (await http.get("/incidents")).json()
            detail = (await http.get(f"/incidents/{incident['id']}")).json()
            [found] = detail["anomalies"]
            assert found["signal"]["source"] == "medic-scan"
            assert found["signal"]["series"]["service"] == "checkout"
            assert found["signal"]["value"] >= 3  # lines in 5 s, where one or two were usual
    asked = double.requests("GET /loki/api/v1/query_range")
    assert asked and all(r.headers.get("x-scope-orgid") == "shop" for r in asked)
