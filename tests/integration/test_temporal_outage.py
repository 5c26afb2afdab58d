"""Temporal stopped -> 503 (Alertmanager retries 5xx only); back -> the same payload is accepted,
and nothing accepted before the outage was lost (the dev server persists to SQLite)."""

from typing import Any

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
