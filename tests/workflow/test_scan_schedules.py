"""The scan schedules each worker keeps in step with ``anomaly.yaml`` at its start (``start_scans``),
on the real dev server: created and updated on this installation's task queue; another installation's
(another queue in the same Temporal namespace) never deleted or taken over; and a worker started
without ``MEDIC_PROMETHEUS_URL`` deletes nothing (it deleted every scan's schedule: a review,
2026-12-06)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError
from temporalio.worker import Worker

from service.scans import start_scans
from service.settings import Settings
from tests.conftest import dev_server
from workflows.scan import AnomalyScanWorkflow


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    async with dev_server() as environment:
        yield environment.client


def _settings(
    folder: Path, scans: str | None, *, queue: str, prometheus: str | None = "http://prom:9090"
) -> Settings:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.yaml").write_text("services: {}\n")
    if scans is not None:
        (folder / "anomaly.yaml").write_text(scans)
    return Settings(
        _env_file=None,
        catalog=folder / "catalog.yaml",
        webhook_token=SecretStr("t" * 32),
        prometheus_url=prometheus,
        task_queue=queue,
    )


async def _schedules(client: Client, expected: dict[str, str]) -> dict[str, str]:
    """Each scan schedule's task queue, once the list shows ``expected`` (the server lists schedules
    from its visibility store, which follows a change a moment later), or as it stands after 10 s."""
    out: dict[str, str] = {}
    for _ in range(50):
        out = {}
        async for entry in await client.list_schedules():
            try:
                action = (await client.get_schedule_handle(entry.id).describe()).schedule.action
            except RPCError:  # deleted, still listed
                continue
            assert isinstance(action, ScheduleActionStartWorkflow)
            out[entry.id] = str(action.task_queue)
        if out == expected:
            break
        await asyncio.sleep(0.2)
    return out


TWO = "scans:\n  - name: latency\n    query: up\n  - name: disk\n    query: up\n"


async def _polled(client: Client, queue: str) -> None:
    """Wait until Temporal has seen a worker poll ``queue``."""
    for _ in range(100):
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            )
        )
        if answer.pollers:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no poller seen on {queue}")


async def test_each_installation_keeps_its_own_scan_schedules(client: Client, tmp_path: Path) -> None:
    prod = _settings(tmp_path / "prod", TWO, queue="medic-prod")
    await start_scans(client, prod)
    both = {"medic-scan-latency": "medic-prod", "medic-scan-disk": "medic-prod"}
    assert await _schedules(client, both) == both
    # the same file on a worker without Prometheus: it runs none, and deletes none
    await start_scans(client, _settings(tmp_path / "noprom", TWO, queue="medic-prod", prometheus=None))
    assert await _schedules(client, both) == both
    # another installation, another queue its workers poll, one scan of the same name and one of its own
    theirs = "scans:\n  - name: disk\n    query: x\n  - name: eu\n    query: up\n"
    eu = _settings(tmp_path / "eu", theirs, queue="medic-eu")
    async with (
        Worker(client, task_queue="medic-eu", workflows=[AnomalyScanWorkflow]),
        Worker(client, task_queue="medic-prod", workflows=[AnomalyScanWorkflow]),
    ):
        await _polled(client, "medic-eu")
        await _polled(client, "medic-prod")
        await start_scans(client, eu)
        three = {**both, "medic-scan-eu": "medic-eu"}  # their disk is left to them
        assert await _schedules(client, three) == three
        # production drops a scan: its own goes, the other installation's stays
        one = "scans:\n  - name: latency\n    query: up\n  - name: eu\n    query: up\n"
        await start_scans(client, _settings(tmp_path / "prod", one, queue="medic-prod"))
        kept = {"medic-scan-latency": "medic-prod", "medic-scan-eu": "medic-eu"}  # eu's is polled: theirs
        assert await _schedules(client, kept) == kept
    # a move to a new queue: the old queue's workers long gone (nobody polls it), its scan is taken over
    # by the new queue's workers at their next start, where it stood on the old queue for good
    legacy = "scans:\n  - name: latency\n    query: up\n  - name: legacy\n    query: up\n"
    await start_scans(
        client, _settings(tmp_path / "old", "scans:\n  - name: legacy\n    query: up\n", queue="medic-old")
    )
    await start_scans(client, _settings(tmp_path / "prod", legacy, queue="medic-prod"))
    moved = {
        "medic-scan-latency": "medic-prod",
        "medic-scan-eu": "medic-eu",
        "medic-scan-legacy": "medic-prod",
    }
    assert await _schedules(client, moved) == moved
    # and a worker of this installation with no anomaly.yaml removes its scans only
    (tmp_path / "prod" / "anomaly.yaml").unlink()
    await start_scans(client, _settings(tmp_path / "prod", None, queue="medic-prod"))
    assert await _schedules(client, {"medic-scan-eu": "medic-eu"}) == {"medic-scan-eu": "medic-eu"}
