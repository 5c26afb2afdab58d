"""A 2,000-alert cascading storm through the real API and dev server, checked against ground truth:
a few explained, ranked incidents instead of thousands of alerts."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from medic.catalog import load_catalog
from service.ingest import MergeRedirects
from tests.support.stack import medic_stack, wait_until
from tests.support.storm import Storm, StormAlert, grouping, make_storm, notification, pairwise_scores

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
            # Every alert can sit in its cascade's incident before that incident has taken in the merge
            # itself: the API sends deliveries for a merged incident straight to the one it merged into
            # as soon as visibility shows the merge, which may be before the merge signal lands. Settled
            # means the merges are on the timelines too (the flake seen once in CI was this look).
            merged = sum(
                1 for d in details.values() if any(e["kind"] == "incident.merged" for e in d["timeline"])
            )
            return len(found) == storm.alert_count and standing == expected and merged >= len(storm.roots)

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


def _delivery(service: str, *fingerprints: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    alerts = [
        StormAlert(
            fingerprint=fp,
            labels={"alertname": "HighErrorRate", "service": service, "severity": "critical", "pod": fp},
            group=service,
            starts_at=now,
        )
        for fp in fingerprints
    ]
    return notification("HighErrorRate", service, alerts, "firing")


async def test_a_merged_incidents_deliveries_go_straight_to_the_incident_it_merged_into() -> None:
    """Once the API knows of a merge, a delivery for the merged incident is one signal to the incident
    it merged into, not a signal to the merged one that it forwards (twice the work for Temporal)."""
    async with medic_stack(quiet_seconds=600) as stack, stack.http(timeout=30) as http:
        assert (
            await http.post("/webhooks/alertmanager", json=_delivery("orders-db", "db-1"))
        ).status_code == 200
        assert (
            await http.post("/webhooks/alertmanager", json=_delivery("checkout", "co-1"))
        ).status_code == 200

        async def merged() -> bool:
            answer = await http.get("/incidents/incident-checkout")
            return answer.status_code == 200 and answer.json()["merged_into"] == "incident-orders-db"

        await wait_until(merged, timeout=60, what="checkout to merge into its cause, orders-db")
        redirects = MergeRedirects(stack.client)

        async def visible() -> bool:
            # Visibility is eventually consistent: the merge shows there a moment after the workflow has it.
            await redirects.refresh()
            return redirects.known("incident-checkout") == "incident-orders-db"

        await wait_until(visible, timeout=30, what="the merge in Temporal visibility")

        child = stack.client.get_workflow_handle("incident-checkout")

        async def alert_signals_to_child() -> int:
            history = await child.fetch_history()
            return sum(
                1
                for e in history.events
                if e.HasField("workflow_execution_signaled_event_attributes")
                and e.workflow_execution_signaled_event_attributes.signal_name == "alerts"
            )

        async def in_parent(fingerprint: str) -> bool:
            answer = await http.get("/incidents/incident-orders-db")
            return fingerprint in {a["fingerprint"] for a in answer.json()["alerts"]}

        sent = 0

        async def a_delivery_skipped_the_merged_incident() -> bool:
            nonlocal sent
            sent += 1
            # A burst of alerts, as in a storm: the API looks at visibility again.
            burst = _delivery("checkout", *(f"burst-{sent}-{i}" for i in range(250)))
            assert (await http.post("/webhooks/alertmanager", json=burst)).status_code == 200
            before = await alert_signals_to_child()
            fingerprint = f"co-{sent + 1}"
            delivery = _delivery("checkout", fingerprint)
            assert (await http.post("/webhooks/alertmanager", json=delivery)).status_code == 200
            await wait_until(lambda: in_parent(fingerprint), timeout=30, what=f"{fingerprint} in orders-db")
            return await alert_signals_to_child() == before

        # The API learns of merges while deliveries pour in (every half second); until then the merged
        # incident forwards, which is correct too, only dearer.
        await wait_until(
            a_delivery_skipped_the_merged_incident, timeout=60, interval=0.3, what="a direct delivery"
        )


async def test_the_answer_names_the_incident_that_holds_the_alerts_after_a_merge() -> None:
    """After checkout merged into its cause, the webhook's answer (and so ``medic fire``) named
    incident-checkout, whose timeline says new alerts go to the incident it merged into: the first
    delivery after a quiet spell went to checkout and was forwarded from there (a review, 2026-12-06).
    Now the delivery is signalled to the incident that holds it, and the answer names that one."""
    async with medic_stack(quiet_seconds=600) as stack, stack.http(timeout=30) as http:
        for service, fingerprint in (("orders-db", "db-1"), ("checkout", "co-1")):
            answer = await http.post("/webhooks/alertmanager", json=_delivery(service, fingerprint))
            assert answer.json()["incidents"] == [f"incident-{service}"], answer.text
        redirects = MergeRedirects(stack.client)

        async def visible() -> bool:
            await redirects.refresh()
            return redirects.known("incident-checkout") == "incident-orders-db"

        await wait_until(visible, timeout=60, what="checkout's merge into orders-db in Temporal visibility")
        # the API read its table of merges at the first deliveries, before the merge; a delivery reads it
        # again once it is older than a second (MergeRedirects' fresh), as any delivery after a pause
        await asyncio.sleep(1.1)
        # as `medic fire --resolve` after the merge: the resolution, then a new alert of checkout's
        fired = _delivery("checkout", "co-1")
        resolved = notification("HighErrorRate", "checkout", [], "resolved")
        resolved["alerts"] = [{**a, "status": "resolved"} for a in fired["alerts"]]
        for body in (resolved, _delivery("checkout", "co-2")):
            answer = await http.post("/webhooks/alertmanager", json=body)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"accepted": 1, "incidents": ["incident-orders-db"]}, answer.text
        detail = (await http.get("/incidents/incident-orders-db")).json()
        assert {"co-1", "co-2"} <= {a["fingerprint"] for a in detail["alerts"]}
