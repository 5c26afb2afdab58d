"""Issue 12's evidence: once an incident's history no longer replays (tests/fixtures/evidence holds one,
made by an SDK race the gate in workflows/local.py now prevents), every query to it fails, for good. The
API answered 503 "retry" to every read of it, forever. It now answers what Temporal visibility keeps,
marked ``partial`` with the reason, and `/medic show` says so; the postmortem still cannot be made (409).

The unreplayable history is made here the way a bad deploy makes one: an incident runs to its end on
Medic's workflow code, then a worker whose ``IncidentWorkflow`` issues other commands answers its queries
(Temporal's dev server; a history cannot be imported into a server, so the evidence file itself cannot be
served).

An open incident signalled after such an upgrade is worse off: its workflow task fails and is retried,
and Temporal refuses every query to it itself (FAILED_PRECONDITION "Workflow Task in failed state", an
RPCError asking no worker), which the API took for Temporal being down: 503 "Temporal is not reachable"
on every read while Temporal was fine. It now answers as for a history that does not replay."""

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from medic.alerts import Alert, AlertStatus
from medic.incident import AlertBatch
from service.chat.replies import render_show
from service.incidents import IncidentDetail, IncidentUnreadable, TemporalIncidentReader
from service.insights import insights as insights_of
from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.support.shop import ctx
from tests.support.stack import Unpublished, medic_stack, wait_until
from workflows.incident import ALERTS_SIGNAL, IncidentInput, IncidentView, IncidentWorkflow, ViewRequest

pytestmark = pytest.mark.integration


@workflow.defn(name="IncidentWorkflow", sandboxed=False)
class _ChangedIncidentWorkflow:
    """Another release's incident workflow: its first command is a timer, where Medic's is not."""

    @workflow.run
    async def run(self, inp: IncidentInput) -> None:
        await asyncio.sleep(3600)

    @workflow.query
    def view(self, request: ViewRequest) -> IncidentView:
        raise AssertionError("never reached: the replay fails first")


def _batch(status: AlertStatus) -> AlertBatch:
    now = datetime.now(UTC)
    alert = Alert(
        fingerprint="db-down",
        status=status,
        starts_at=now,
        ends_at=now if status is AlertStatus.RESOLVED else None,
        service="orders-db",
        labels={"alertname": "PostgresDown", "service": "orders-db", "severity": "critical"},
    )
    return AlertBatch(alerts=[alert], received_at=now, contexts=[ctx("orders-db")])


async def _opened(client: Client, incident_id: str, queue: str) -> WorkflowHandle[Any, Any]:
    """An orders-db incident, opened by its database going down."""
    return await client.start_workflow(
        IncidentWorkflow.run,
        IncidentInput(
            incident_id=incident_id,
            service=ctx("orders-db"),
            quiet_period_seconds=0.5,
            notify=False,
            remediate=False,
        ),
        id=incident_id,
        task_queue=queue,
        start_signal=ALERTS_SIGNAL,
        start_signal_args=[_batch(AlertStatus.FIRING)],
    )


async def test_an_incident_whose_history_no_longer_replays_is_still_read_from_visibility() -> None:
    require_binary("temporal")
    async with medic_stack(worker=False) as stack, stack.http() as http:
        incident_id = f"incident-orders-db-{uuid.uuid4().hex[:6]}"
        queue = stack.settings.task_queue
        async with Worker(
            stack.client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activity_executor=ThreadPoolExecutor(2),
            max_cached_workflows=0,
        ):
            handle = await _opened(stack.client, incident_id, queue)
            await handle.signal(ALERTS_SIGNAL, _batch(AlertStatus.RESOLVED))
            result = await handle.result()
            whole = await http.get(f"/incidents/{incident_id}")
            assert whole.status_code == 200, whole.text
            assert whole.json()["partial"] is None and whole.json()["timeline"]

        async with Worker(
            stack.client, task_queue=queue, workflows=[_ChangedIncidentWorkflow], max_cached_workflows=0
        ):
            read = await http.get(f"/incidents/{incident_id}")
            assert read.status_code == 200, read.text  # was 503 "retry" on every read, for good
            detail = IncidentDetail.model_validate(read.json())
            assert detail.partial is not None and "Nondeterminism" in detail.partial
            assert detail.status == "resolved" == result.status.value
            assert detail.title == whole.json()["title"] and detail.alert_count == 1
            assert detail.services == ["orders-db"] and detail.priority == whole.json()["priority"]
            assert detail.timeline == [] and detail.alerts == []
            shown = render_show(detail, ui_url=None).text
            assert "Only its summary" in shown and "Nondeterminism" in shown

            # A postmortem needs the whole state: that read still refuses, with the reason, and says that
            # retrying cannot help (409, not 503 "retry").
            reader = TemporalIncidentReader(stack.client, stack.settings)
            with pytest.raises(IncidentUnreadable, match="Nondeterminism"):
                await reader.state(incident_id)
            postmortem = await http.get(f"/incidents/{incident_id}/postmortem")
            assert postmortem.status_code == 409, postmortem.text
            assert (
                "does not replay" in postmortem.json()["detail"] and "retry-after" not in postmortem.headers
            )
            assert incident_id in postmortem.json()["detail"]
            # Learning reads the outcome the run published as it resolved: no replay, so it counts.
            insights = await http.get("/insights")
            assert insights.status_code == 200, insights.text
            assert (insights.json()["incidents"], insights.json()["unread"]) == (1, 0)
            # A run resolved before outcomes were published is queried: it fails to replay, and the
            # learning loop's reads leave it out instead of failing for every incident.
            unpublished = await insights_of(Unpublished(stack.client, stack.settings))
            assert (unpublished.incidents, unpublished.unread) == (0, 0)


async def test_an_open_incident_whose_workflow_task_fails_is_read_from_visibility_not_503() -> None:
    require_binary("temporal")
    async with medic_stack(worker=False) as stack, stack.http() as http:
        incident_id = f"incident-orders-db-{uuid.uuid4().hex[:6]}"
        queue = stack.settings.task_queue
        async with Worker(
            stack.client,
            task_queue=queue,
            workflows=WORKFLOWS,
            activity_executor=ThreadPoolExecutor(2),
            max_cached_workflows=0,
        ):
            handle = await _opened(stack.client, incident_id, queue)
            whole = await http.get(f"/incidents/{incident_id}")
            assert whole.status_code == 200, whole.text
            assert whole.json()["status"] == "open" and whole.json()["partial"] is None

        async with Worker(
            stack.client, task_queue=queue, workflows=[_ChangedIncidentWorkflow], max_cached_workflows=0
        ):
            await handle.signal(ALERTS_SIGNAL, _batch(AlertStatus.FIRING))  # its task fails on this release

            async def failing() -> bool:
                pending = (await handle.describe()).raw_description.pending_workflow_task
                return pending.attempt > 1

            await wait_until(failing, timeout=30, what="the incident's workflow task to fail")
            # While an attempt of the task runs, a query waits for it (and may time out: 503, retry);
            # between attempts, Temporal refuses it. That answer was 503 "Temporal is not reachable"
            # for as long as the task failed; the attempts soon come minutes apart.
            answers: list[int] = []

            async def read_from_visibility() -> bool:
                answers.append((await http.get(f"/incidents/{incident_id}")).status_code)
                return answers[-1] != 503

            await wait_until(read_from_visibility, timeout=60, interval=1, what="a read that is not 503")
            read = await http.get(f"/incidents/{incident_id}")
            assert read.status_code == 200, (answers, read.text)
            detail = IncidentDetail.model_validate(read.json())
            assert detail.partial is not None and "Workflow Task in failed state" in detail.partial
            assert detail.status == "open" and detail.title == whole.json()["title"]
            assert detail.timeline == [] and detail.alerts == []
            for document in ("postmortem", "timeline.svg"):
                answer = await http.get(f"/incidents/{incident_id}/{document}")
                assert answer.status_code == 409, (document, answer.text)
                assert "does not replay" in answer.json()["detail"] and "retry-after" not in answer.headers
            assert (await http.get("/readyz")).status_code == 200  # Temporal is fine, and says so
