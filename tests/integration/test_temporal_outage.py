"""Temporal stopped -> 503 (Alertmanager retries 5xx only); back -> the same payload is accepted,
and nothing accepted before the outage was lost (the dev server persists to SQLite)."""

import asyncio
import copy
from typing import Any

import httpx
import pytest

from tests.integration.test_webhook_to_incident import fresh_payload
from tests.support.stack import medic_stack, wait_until

pytestmark = pytest.mark.integration


async def test_outage_answers_503_then_recovers() -> None:
    async with medic_stack(quiet_seconds=60) as stack, stack.http(timeout=60) as http:
        before = fresh_payload()
        (kept,) = (await http.post("/webhooks/alertmanager", json=before)).json()["incidents"]

        stack.server.stop()
        payload = fresh_payload()
        during = await http.post("/webhooks/alertmanager", json=payload)
        assert during.status_code == 503, during.text
        assert during.headers["retry-after"]
        assert (await http.get("/readyz")).status_code == 503

        stack.server.start()
        await stack.server.wait_ready()

        async def accepted() -> bool:
            return (await http.post("/webhooks/alertmanager", json=payload)).status_code == 200

        await wait_until(accepted, timeout=60, interval=0.5, what="the same payload to be accepted")
        assert (await http.get("/readyz")).status_code == 200
        (new,) = (await http.post("/webhooks/alertmanager", json=payload)).json()["incidents"]

        async def both_listed() -> bool:
            ids = {i["id"] for i in (await http.get("/incidents")).json()}
            return {kept, new} <= ids

        await wait_until(both_listed, timeout=30, what="both incidents in the listing after the restart")
        detail: dict[str, Any] = {}

        async def readable() -> bool:
            # Right after a Temporal restart the worker re-establishes its polls: a query may be slow.
            response = await http.get(f"/incidents/{kept}")
            detail.update(response.json())
            return response.status_code == 200

        await wait_until(
            readable, timeout=60, interval=0.5, what="the incident to be readable after the restart"
        )
        assert detail["alert_count"] == 3 and detail["status"] == "open"


async def test_every_request_during_an_outage_is_answered_within_its_bound() -> None:
    """The deadline (MEDIC_TEMPORAL_RPC_TIMEOUT_SECONDS) holds whatever a request waits on: the client's
    reconnects, or the queue of an incident that other requests are already waiting on. A sender whose
    timeout is the bound plus 5 s gets its 503 (not a timeout); once Temporal is back, the retries are
    accepted and every alert is on its incident once."""
    bound = 2.0
    async with (
        medic_stack(quiet_seconds=60, temporal_rpc_timeout_seconds=bound) as stack,
        stack.http(timeout=bound + 5) as http,
    ):
        existing = fresh_payload()
        (incident,) = (await http.post("/webhooks/alertmanager", json=existing)).json()["incidents"]

        stack.server.stop()
        # Same incident (one queue), new incidents, and again after the first wave had its answers.
        waves = [[existing] * 6 + [fresh_payload() for _ in range(6)], [existing] * 3]
        answers: list[httpx.Response] = []
        for wave in waves:
            answers += await asyncio.gather(*(http.post("/webhooks/alertmanager", json=p) for p in wave))
        assert [a.status_code for a in answers] == [503] * len(answers), [a.text for a in answers]
        assert all(a.headers["retry-after"] for a in answers)

        stack.server.start()
        await stack.server.wait_ready()

        async def accepted() -> bool:
            return (await http.post("/webhooks/alertmanager", json=existing)).status_code == 200

        await wait_until(accepted, timeout=60, interval=0.5, what="the retry to be accepted")
        # One new alert after the retries: signals apply in order, so once it shows, so have they.
        later = copy.deepcopy(existing)
        later["alerts"] = [later["alerts"][0]]
        later["alerts"][0]["labels"]["alertname"] = "LaterAlert"
        assert (await http.post("/webhooks/alertmanager", json=later)).status_code == 200
        detail: dict[str, Any] = {}

        async def settled() -> bool:
            response = await http.get(f"/incidents/{incident}")
            detail.update(response.json())
            return response.status_code == 200 and detail["alert_count"] > len(existing["alerts"])

        await wait_until(settled, timeout=60, interval=0.5, what="the later alert after the restart")
        assert detail["alert_count"] == len(existing["alerts"]) + 1  # the retries changed nothing
