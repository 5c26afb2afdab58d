"""The time-skipping server's clock move as the tests make it (tests/support/timeskip.py): a sleep
call that fails mid-way is made again for what is left, not failed."""

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tests.support.timeskip import ATTEMPTS, steady_sleep

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class Clock:
    """A server whose sleep fails ``failures`` times, each after moving half of what was asked."""

    def __init__(self, failures: int) -> None:
        self.now, self.failures, self.asked = T0, failures, list[timedelta]()

    async def sleep(self, duration: timedelta | float) -> None:
        assert isinstance(duration, timedelta)
        self.asked.append(duration)
        if self.failures:
            self.failures -= 1
            self.now += duration / 2
            raise RPCError("h2 protocol error: http2 error", RPCStatusCode.CANCELLED, b"")
        self.now += duration

    async def get_current_time(self) -> datetime:
        return self.now


def _env(clock: Clock) -> WorkflowEnvironment:
    return cast(WorkflowEnvironment, clock)


async def test_a_sleep_that_fails_mid_way_moves_on_to_where_it_was_asked() -> None:
    clock = Clock(failures=2)
    await steady_sleep(_env(clock))(timedelta(minutes=6))
    assert clock.now == T0 + timedelta(minutes=6)
    assert clock.asked == [timedelta(minutes=6), timedelta(minutes=3), timedelta(seconds=90)]


async def test_seconds_are_taken_as_a_duration_and_a_sound_sleep_is_one_call() -> None:
    clock = Clock(failures=0)
    await steady_sleep(_env(clock))(30)
    assert clock.now == T0 + timedelta(seconds=30) and clock.asked == [timedelta(seconds=30)]


async def test_a_server_that_keeps_failing_fails_the_test() -> None:
    clock = Clock(failures=ATTEMPTS)
    with pytest.raises(RPCError):
        await steady_sleep(_env(clock))(timedelta(minutes=1))
    assert len(clock.asked) == ATTEMPTS
