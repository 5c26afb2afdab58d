"""The Temporal worker: Medic's workflows and activities on MEDIC_TASK_QUEUE."""

from temporalio.client import Client
from temporalio.worker import Worker

from service.settings import Settings
from workflows.incident import IncidentWorkflow

__all__ = ["WORKFLOWS", "build_worker"]

WORKFLOWS = [IncidentWorkflow]


def build_worker(client: Client, settings: Settings) -> Worker:
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=[],
    )
