"""The time-skipping server's clock move as the tests make it (tests/support/timeskip.py): a sleep
call that fails mid-way is not made again (the server goes on with the move once its clock is free,
and a second call overshot it); the server's clock is watched until it gets there."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.support import timeskip
from tests.support.timeskip import steady_sleep

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Server:
    """A server whose sleep call fails ``failures`` times after moving half of what was asked, and
    then (as the real one does: its unlock stays in force) finishes that move ``lag`` reads later."""

    def __init__(self, failures: int, *, lag: int = 3, stuck: bool = False) -> None:
        self.now, self.failures, self.lag, self.stuck = T0, failures, lag, stuck
        self.calls: list[timedelta] = []
        self._rest: timedelta | None = None
        self._reads = 0

    async def sleep(self, duration: timedelta | float) -> None:
        assert isinstance(duration, timedelta)
        self.calls.append(duration)
        if self.failures:
            self.failures -= 1
            self.now += duration / 2
            self._rest, self._reads = duration / 2, 0
            raise RPCError("h2 protocol error: http2 error", RPCStatusCode.CANCELLED, b"")
        self.now += duration

    async def get_current_time(self) -> datetime:
        self._reads += 1
        if self._rest is not None and self._reads > self.lag and not self.stuck:
            self.now, self._rest = self.now + self._rest, None
        return self.now


def _env(server: Server) -> WorkflowEnvironment:
    return cast(WorkflowEnvironment, server)


async def test_a_sleep_that_fails_mid_way_waits_for_the_server_to_finish_it() -> None:
    server = Server(failures=1)
    await steady_sleep(_env(server))(timedelta(minutes=6))
    assert server.now == T0 + timedelta(minutes=6)  # where it was asked: no second move on top
    assert server.calls == [timedelta(minutes=6)]


async def test_seconds_are_taken_as_a_duration_and_a_sound_sleep_is_one_call() -> None:
    server = Server(failures=0)
    await steady_sleep(_env(server))(30)
    assert server.now == T0 + timedelta(seconds=30) and server.calls == [timedelta(seconds=30)]


async def test_a_clock_that_never_gets_there_fails_the_test_saying_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(timeskip, "WAIT_SECONDS", 1.0)
    server = Server(failures=1, stuck=True)
    with pytest.raises(AssertionError, match="clock did not reach"):
        await asyncio.wait_for(steady_sleep(_env(server))(timedelta(minutes=1)), 10)
    assert server.calls == [timedelta(minutes=1)]
