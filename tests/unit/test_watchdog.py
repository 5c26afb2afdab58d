"""The bound on each test's time (tests/support/watchdog.py), run on small test files in a pytest of
their own, with the suite's session-scoped event loop and pytest's output capture (as `make test`
and CI run): a hung asynchronous test is cancelled, unwinds and fails while the run goes on; a
fixture whose set-up hung fails for that test only and tears down the others; a hung synchronous one
ends the run; each prints where it waited."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.watchdog import Watchdog, _Run

ROOT = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-p", "tests.support.watchdog", "-p", "no:cacheprovider"]


def run(tmp_path: Path, body: str, *, limit: str = "2", grace: str = "3") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_hang.py").write_text(body)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MEDIC_TEST_TIMEOUT": limit,
        "MEDIC_TEST_TIMEOUT_GRACE": grace,
    }
    session = [
        "-o",
        "asyncio_default_test_loop_scope=session",
        "-o",
        "asyncio_default_fixture_loop_scope=session",
    ]
    return subprocess.run(
        [*PYTEST, "-o", "asyncio_mode=auto", *session, "-q", "-rA", "test_hang.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


ASYNC = """
import asyncio
import threading

async def serve():  # a server's loop in a thread of its own, as the shared stack's API runs
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        print("server cancelled")
        raise

threading.Thread(target=asyncio.run, args=(serve(),), daemon=True).start()

async def wait_forever():
    await asyncio.Event().wait()

async def test_hangs():
    try:
        await wait_forever()
    finally:
        print("unwound")

async def test_after():
    pass
"""


def test_a_hung_async_test_is_cancelled_and_fails_and_the_run_goes_on(tmp_path: Path) -> None:
    done = run(tmp_path, ASYNC)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "1 failed, 1 passed" in done.stdout
    assert "cancelled by the watchdog after 2 s" in done.stdout
    assert "unwound" in done.stdout  # its finally blocks ran (in its captured output)
    assert "server cancelled" not in out  # the other thread's loop is left running
    # Where it waited, in the report and on the run's own stderr: the thread stacks, the chain of
    # awaits down to the innermost coroutine.
    for where in (done.stdout, done.stderr):
        assert "test_hang.py::test_hangs still running after 2 s" in where
        assert "pending asyncio tasks" in where
        assert "in test_hangs" in where and "in wait_forever" in where


FIXTURES = """
import asyncio
import pytest

calls = []

@pytest.fixture(scope="session")
async def server():
    yield "server"
    print("server torn down", flush=True)

@pytest.fixture
async def flaky(server):
    calls.append(1)
    if len(calls) == 1:
        await asyncio.Event().wait()  # its first set-up hangs (a server that never answers)
    yield "ok"

async def test_first(flaky):
    pass

async def test_second_gets_a_fresh_fixture(flaky):
    assert flaky == "ok"

@pytest.fixture(scope="session")
async def stuck(server):
    yield "stuck"
    await asyncio.Event().wait()  # its tear-down hangs, at the end of the session

async def test_last(stuck):
    pass
"""


def test_a_cancelled_fixture_fails_its_test_only_and_the_other_fixtures_are_torn_down(
    tmp_path: Path,
) -> None:
    """A cancellation is a BaseException: pytest kept the fixture's finalizers, and every later test
    asking for it failed on pytest's own assertion; and a tear-down cancelled stopped the others'."""
    done = run(tmp_path, FIXTURES, grace="20")
    assert "ERROR test_hang.py::test_first - Failed: cancelled by the watchdog after 2 s" in done.stdout
    assert "PASSED test_hang.py::test_second_gets_a_fresh_fixture" in done.stdout, done.stdout
    assert "ERROR test_hang.py::test_last - Failed: cancelled by the watchdog" in done.stdout
    assert "server torn down" in done.stdout + done.stderr, done.stdout
    assert "AssertionError" not in done.stdout


def test_a_hung_sync_test_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    """Its report is never written (os._exit): what it waited on goes to the run's own stderr."""
    done = run(tmp_path, "import time\n\ndef test_sleeps():\n    time.sleep(60)\n")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "test_hang.py::test_sleeps did not end 3 s after it was cancelled" in done.stderr
    assert 'File "' in done.stderr and "test_sleeps" in done.stderr


def test_a_test_within_its_bound_is_left_alone(tmp_path: Path) -> None:
    done = run(tmp_path, "import asyncio\n\nasync def test_quick():\n    await asyncio.sleep(0.1)\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "watchdog" not in done.stdout + done.stderr


def test_zero_turns_the_bound_off(tmp_path: Path) -> None:
    done = run(tmp_path, "import time\n\ndef test_slow():\n    time.sleep(1.5)\n", limit="0", grace="0.1")
    assert done.returncode == 0, done.stdout + done.stderr


async def test_a_phase_that_ended_as_its_timer_fired_leaves_the_next_one_alone(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timer thread finds the loop, then the phase ends before the cancel runs in the loop: the
    task then running (the next test's) is not cancelled."""
    import asyncio  # noqa: PLC0415

    monkeypatch.setattr(_Run, "stderr", None)  # (what it prints stays in this test's report)
    watchdog = Watchdog(request.node, 60.0)
    watchdog.fired = True
    watchdog.stop()  # the phase ended
    innocent = asyncio.get_running_loop().create_task(asyncio.sleep(0.2))
    assert threading.current_thread() is threading.main_thread()
    watchdog._cancel_in(asyncio.get_running_loop(), innocent.get_coro().__name__)  # type: ignore[union-attr]
    await innocent
    assert not innocent.cancelled()


def test_a_hung_test_that_captures_its_output_itself_is_cancelled_too(tmp_path: Path) -> None:
    """Under ``capsys`` stderr has no file behind it: the stack dump raised, and neither the cancel
    nor the exit that came after it happened (the run held until killed: an owner review)."""
    body = "import asyncio\n\nasync def test_hangs(capsys):\n    await asyncio.Event().wait()\n"
    done = run(tmp_path, body)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "cancelled by the watchdog after 2 s" in done.stdout
    assert "test_hang.py::test_hangs still running after 2 s" in done.stderr
