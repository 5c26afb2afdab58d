"""A recorded history of one anomaly scan run, which every later scan workflow must replay (with
the incidents' histories, in ``test_replay``). A scan's schedule starts a run every few minutes, so
a deploy always meets one in flight.

    python -m tests.workflow.scan_history

``anomaly-scan@r9.json`` was recorded by this module with the workflow as it was before it named
its activity instead of importing it (``git show 6eb3b0d:workflows/scan.py`` in place of today's):
the commands must be the same.
"""

import asyncio
from pathlib import Path

from temporalio import activity
from temporalio.worker import Worker

from activities.scan_io import SCAN_ACTIVITY, ScanInput, ScanResult
from service.devserver import find_binary
from tests.support.timeskip import time_skipping
from tests.workflow.histories import HISTORIES, RELEASE
from workflows.scan import AnomalyScanWorkflow

__all__ = ["record_scan"]


@activity.defn(name=SCAN_ACTIVITY)
async def _scan(request: ScanInput) -> ScanResult:
    return ScanResult(series=3, points=180, anomalies=1, incidents=["anomaly-checkout-1"])


async def record_scan() -> Path:
    server = find_binary("temporal-test-server")
    async with (
        time_skipping(server) as env,
        Worker(env.client, task_queue="scan", workflows=[AnomalyScanWorkflow], activities=[_scan]),
    ):
        workflow_id = "anomaly-scan-checkout-latency-2026-12-05T11:00:00Z"
        await env.client.execute_workflow(
            AnomalyScanWorkflow.run, ScanInput(name="checkout-latency"), id=workflow_id, task_queue="scan"
        )
        history = await env.client.get_workflow_handle(workflow_id).fetch_history()
    path = HISTORIES / f"anomaly-scan@{RELEASE}.json"
    path.write_text(history.to_json())
    return path


if __name__ == "__main__":
    print(asyncio.run(record_scan()))
