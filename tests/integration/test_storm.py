"""A 2,000-alert cascading storm through the real API and dev server, checked against ground truth:
a few explained, ranked incidents instead of thousands of alerts."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from medic.catalog import load_catalog
from tests.support.stack import medic_stack, wait_until
from tests.support.storm import Storm, grouping, make_storm, pairwise_scores

pytestmark = pytest.mark.integration

CATALOG = (Path(__file__).resolve().parents[2] / "catalog.yaml").read_text()


async def post_all(http: httpx.AsyncClient, storm: Storm, concurrency: int = 16) -> list[int]:
    gate = asyncio.Semaphore(concurrency)

    async def post(body: dict[str, Any]) -> int:
        async with gate:
            return (await http.post("/webhooks/alertmanager", json=body)).status_code

    return await asyncio.gather(*(post(b) for b in storm.payloads))


async def test_cascading_storm_becomes_a_few_ranked_incidents() -> None:
    storm = make_storm(load_catalog(CATALOG), alerts=2000, cascades=4, noise=20, flapping=3)
    async with medic_stack(quiet_seconds=600, catalog_yaml=CATALOG) as stack, stack.http(timeout=60) as http:
        codes = await post_all(http, storm)
        assert set(codes) == {200}, sorted(set(codes))
        latest: dict[str, Any] = {}

        async def settled() -> bool:
            found, details = await grouping(http, stack.client)
            latest.update(found=found, details=details)
            standing = len(details)
            expected = storm.expected_incidents
            return len(found) == storm.alert_count and standing == expected

        await wait_until(
            settled, timeout=120, interval=1.0, what="every alert in its incident and merges done"
        )

    found, details = latest["found"], latest["details"]
    truth = {fp: a.group for fp, a in storm.alerts.items()}
    precision, recall, f1 = pairwise_scores(truth, found)
    assert f1 >= 0.95, (precision, recall, f1)
    # Every cascade ends in one incident whose first root-cause candidate is the cascade's root.
    for group, root in storm.roots.items():
        incidents = {found[fp] for fp, g in truth.items() if g == group}
        assert len(incidents) == 1, (group, incidents)
        detail = details[incidents.pop()]
        assert detail["root_causes"][0]["service"] == root
        assert detail["impact_explanation"]["factors"], "the score must come with its factors"
        assert any(e["kind"] == "incident.merged" for e in detail["timeline"])
    # Flapping alerts were noticed and said so.
    for fp in storm.flapping:
        kinds = [e["kind"] for e in details[found[fp]]["timeline"]]
        assert "alert.flapping" in kinds
