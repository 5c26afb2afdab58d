"""A bound on each test's time, so that a hang fails one test with what it was waiting on instead of
holding the whole run until CI's limit (CI once ran out its 90 minutes so, after a failed test and
28 failed set-ups; here a run held on a long poll that the time-skipping server never answered).

When a test's set-up, call or tear-down runs past ``MEDIC_TEST_TIMEOUT`` seconds (300 unless set; 0
turns the bound off), the watchdog prints every thread's stack and every pending asyncio task's chain
of awaits to stderr, then cancels the task the event loop is running for it: its ``async with``
blocks unwind, the test fails, the run goes on. One still running ``MEDIC_TEST_TIMEOUT_GRACE``
seconds later (120 unless set; a synchronous test, or one whose clean-up hangs too) ends the run:
the stacks are printed again and the process exits with status 3. The slowest test of a clean run
took 53 s (2026-12-06, the whole run 783 s): 300 s leaves it more than five times that."""

import asyncio
import faulthandler
import gc
import os
import sys
import threading
from collections.abc import Generator
from types import CoroutineType
from typing import Any

import pytest

EXIT_STATUS = 3


def limit() -> float:
    return float(os.environ.get("MEDIC_TEST_TIMEOUT", "300"))


def grace() -> float:
    return float(os.environ.get("MEDIC_TEST_TIMEOUT_GRACE", "120"))


def _chain(task: "asyncio.Task[Any]") -> list[str]:
    """Where a task waits: each coroutine of its chain of awaits, innermost last."""
    lines = [repr(task)[:300]]
    coro: Any = task.get_coro()
    while isinstance(coro, CoroutineType):
        frame = coro.cr_frame
        if frame is not None:
            lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = coro.cr_await
    if coro is not None:
        lines.append(f"  awaiting {coro!r}"[:300])
    return lines


def _driven(task: "asyncio.Task[Any]") -> bool:
    """Whether ``run_until_complete`` waits on the task: the test's or the fixture's own (asyncio keeps
    its done callbacks in a private list: read defensively)."""
    callbacks = getattr(task, "_callbacks", None) or []
    return any(getattr(cb, "__name__", "") == "_run_until_complete_cb" for cb, _ in callbacks)


def _running_loops() -> list[asyncio.AbstractEventLoop]:
    return [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop) and o.is_running()]


class Watchdog:
    """One test's bound: :meth:`start` before the call, :meth:`stop` after it."""

    def __init__(self, item: pytest.Item, seconds: float) -> None:
        self.item = item
        self.seconds = seconds
        self.fired = False
        self.grace = grace()
        self._timers: list[threading.Timer] = []

    def start(self) -> None:
        for delay, action in [(self.seconds, self._cancel), (self.seconds + self.grace, self._exit)]:
            timer = threading.Timer(delay, action)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()

    def _dump(self, why: str) -> None:
        sys.stderr.write(f"\n=== watchdog: {self.item.nodeid} {why}; every thread's stack:\n")
        sys.stderr.flush()
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)

    def _cancel(self) -> None:
        self.fired = True
        self._dump(f"still running after {self.seconds:.0f} s")
        name = getattr(self.item, "originalname", self.item.name)
        for loop in _running_loops():
            loop.call_soon_threadsafe(self._cancel_in, loop, name)

    def _cancel_in(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        """In the loop's own thread: print what every task waits on, then cancel the test's."""
        lines = [f"=== watchdog: pending asyncio tasks of {loop!r}:"]
        for task in asyncio.all_tasks(loop):
            lines += _chain(task)
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
        if getattr(loop, "_thread_id", None) != threading.main_thread().ident:
            return  # a server's loop in a thread of its own (the API of a shared stack): left running
        for task in asyncio.all_tasks(loop):
            if _driven(task) or getattr(task.get_coro(), "__name__", None) == name:
                task.cancel(f"watchdog: past {self.seconds:.0f} s")

    def _exit(self) -> None:
        self._dump(f"did not end {self.grace:.0f} s after it was cancelled: ending the run")
        os._exit(EXIT_STATUS)


def _bounded(item: pytest.Item) -> Generator[None, object, object]:
    seconds = limit()
    if seconds <= 0:
        return (yield)
    watchdog = Watchdog(item, seconds)
    watchdog.start()
    try:
        return (yield)
    except asyncio.CancelledError:
        if watchdog.fired:
            pytest.fail(f"cancelled by the watchdog after {seconds:.0f} s (stacks on stderr)", pytrace=False)
        raise
    finally:
        watchdog.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _bounded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _bounded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _bounded(item))
