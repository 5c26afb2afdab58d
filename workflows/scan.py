"""One run of an anomaly scan, started by its Temporal Schedule (``medic-scan-<name>``).

The workflow only runs the scan activity: the detector state stays outside history (the
activity's store), so a scan's history is a few events per run however many series it watches.
It names the activity rather than importing it, so its sandbox never loads the detectors.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.scan_io import SCAN_ACTIVITY, SCAN_ATTEMPTS, ScanInput, ScanResult

__all__ = ["SCAN_SCHEDULE_PREFIX", "SCAN_WORKFLOW_PREFIX", "AnomalyScanWorkflow"]

SCAN_SCHEDULE_PREFIX = "medic-scan-"
SCAN_WORKFLOW_PREFIX = "anomaly-scan-"


@workflow.defn(name="AnomalyScanWorkflow")
class AnomalyScanWorkflow:
    @workflow.run
    async def run(self, request: ScanInput) -> ScanResult:
        result: ScanResult = await workflow.execute_activity(
            SCAN_ACTIVITY,
            request,
            result_type=ScanResult,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=2),
                maximum_interval=timedelta(seconds=30),
                maximum_attempts=SCAN_ATTEMPTS,
                non_retryable_error_types=["PermanentError"],
            ),
        )
        return result
