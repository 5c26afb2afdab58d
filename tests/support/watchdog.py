"""A bound on each test's time, so that a hang fails one test with what it was waiting on instead of
holding the whole run until CI's limit (CI once ran out its 90 minutes so, after a failed test and
28 failed set-ups; here a run held on a long poll that the time-skipping server never answered).

When a test's set-up, call or tear-down runs past ``MEDIC_TEST_TIMEOUT`` seconds (300 unless set; 0
turns the bound off), the watchdog prints every thread's stack and every pending asyncio task's chain
of awaits, then cancels the task the main thread's event loop is running for it: its ``async with``
blocks unwind, and the cancellation becomes the phase's failure (``pytest.fail``), which pytest
records as it records any other: a fixture whose set-up was cancelled fails for the tests that ask
for it after, and the other fixtures' tear-downs still run. One still running
``MEDIC_TEST_TIMEOUT_GRACE`` seconds later (120 unless set; a synchronous test, or one whose clean-up
hangs too) ends the run: the stacks are printed again and the process exits with status 3. What is
printed goes to the test's report and to the stderr the run started with (a run ended with
``os._exit`` shows no report). The slowest test of a clean run took 53 s (2026-12-06, the whole run
783 s): 300 s leaves it more than five times that."""

import asyncio
import contextlib
import gc
import os
import sys
import threading
import traceback
from collections.abc import Generator
from types import CoroutineType
from typing import Any

import pytest

EXIT_STATUS = 3

_RUNNER_RUN = asyncio.Runner.run


class _Run:
    """This run's: fd 2 as it started (before pytest captured it), and the phase being bounded."""

    stderr: int | None = None
    active: "Watchdog | None" = None


def limit() -> float:
    return float(os.environ.get("MEDIC_TEST_TIMEOUT", "300"))


def grace() -> float:
    return float(os.environ.get("MEDIC_TEST_TIMEOUT_GRACE", "120"))


def _write(text: str) -> None:
    """Into the test's report (stderr, captured: under ``capsys`` a stream with no file behind it) and
    where the run's own stderr goes; never raising (the cancel and the exit come after it)."""
    with contextlib.suppress(Exception):
        sys.stderr.write(text)
        sys.stderr.flush()
    if _Run.stderr is not None:
        with contextlib.suppress(OSError):
            os.write(_Run.stderr, text.encode(errors="replace"))


def _stacks() -> str:
    """Every thread's stack, innermost call last (as faulthandler's, which needs a real file)."""
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        out.append(f"Thread {ident} ({names.get(ident, '?')}), most recent call last:\n")
        out += traceback.format_stack(frame)
    return "".join(out)


def _run(self: asyncio.Runner, coro: Any, *, context: Any = None) -> Any:
    """pytest-asyncio runs every async test, fixture set-up and finalizer through ``Runner.run``. A
    cancellation is a BaseException, which pytest does not record as a fixture's failure (its
    finalizers stay registered: every later request of it failed on pytest's own assertion) and which
    stops a tear-down before the other fixtures' (a server left running): the watchdog's is made a
    ``pytest.fail``."""
    try:
        return _RUNNER_RUN(self, coro, context=context)
    except asyncio.CancelledError as err:
        active = _Run.active
        if active is not None and active.fired:
            raise pytest.fail.Exception(
                f"cancelled by the watchdog after {active.seconds:.0f} s (its stacks are printed above"
                " and in the captured stderr)",
                pytrace=False,
            ) from err
        raise


def pytest_configure(config: pytest.Config) -> None:
    _Run.stderr = os.dup(2)  # (capture is not on yet while plugins are configured)
    asyncio.Runner.run = _run  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    asyncio.Runner.run = _RUNNER_RUN  # type: ignore[method-assign]
    if _Run.stderr is not None:
        os.close(_Run.stderr)
        _Run.stderr = None


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
    """One phase's bound: :meth:`start` before it, :meth:`stop` after it."""

    def __init__(self, item: pytest.Item, seconds: float) -> None:
        self.item = item
        self.seconds = seconds
        self.grace = grace()
        self.fired = False
        self._stopped = False  # set in the main thread as the phase ends; read there by _cancel_in
        self._timers: list[threading.Timer] = []

    def start(self) -> None:
        for delay, action in [(self.seconds, self._cancel), (self.seconds + self.grace, self._exit)]:
            timer = threading.Timer(delay, action)
            timer.daemon = True
            timer.start()
            self._timers.append(timer)

    def stop(self) -> None:
        self._stopped = True
        for timer in self._timers:
            timer.cancel()

    def _dump(self, why: str) -> None:
        with contextlib.suppress(Exception):
            _write(f"\n=== watchdog: {self.item.nodeid} {why}; every thread's stack:\n{_stacks()}")

    def _cancel(self) -> None:
        self.fired = True
        try:
            self._dump(f"still running after {self.seconds:.0f} s")
        finally:
            name = getattr(self.item, "originalname", self.item.name)
            for loop in _running_loops():
                try:
                    loop.call_soon_threadsafe(self._cancel_in, loop, name)
                except RuntimeError:  # closed since it was found running
                    continue

    def _cancel_in(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        """In the loop's own thread: print what every task waits on, then cancel the test's (in the
        main thread's loop only, and only while this phase is still running: a phase that ended as
        the timer fired leaves the next one alone)."""
        lines = [f"=== watchdog: pending asyncio tasks of {loop!r}:"]
        with contextlib.suppress(Exception):
            for task in asyncio.all_tasks(loop):
                lines += _chain(task)
        _write("\n".join(lines) + "\n")
        if self._stopped or threading.current_thread() is not threading.main_thread():
            return  # (a server's loop in a thread of its own, the shared stack's API: left running)
        for task in asyncio.all_tasks(loop):
            if _driven(task) or getattr(task.get_coro(), "__name__", None) == name:
                task.cancel(f"watchdog: past {self.seconds:.0f} s")

    def _exit(self) -> None:
        try:
            self._dump(f"did not end {self.grace:.0f} s after it was cancelled: ending the run")
        finally:
            os._exit(EXIT_STATUS)


def _bounded(item: pytest.Item) -> Generator[None, object, object]:
    seconds = limit()
    if seconds <= 0:
        return (yield)
    watchdog = Watchdog(item, seconds)
    _Run.active = watchdog
    watchdog.start()
    try:
        return (yield)
    except asyncio.CancelledError:  # a synchronous phase's own (the Runner's are made failures)
        if watchdog.fired:
            pytest.fail(f"cancelled by the watchdog after {seconds:.0f} s", pytrace=False)
        raise
    finally:
        watchdog.stop()
        _Run.active = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _bounded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _bounded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, object, object]:
    return (yield from _bounded(item))
