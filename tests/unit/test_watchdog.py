"""The bound on each test's time (tests/support/watchdog.py), run on small test files in a pytest of
their own: a hung asynchronous test is cancelled, unwinds and fails while the run goes on; a hung
synchronous one ends the run; both print where they waited."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, body: str, *, limit: str = "2", grace: str = "3") -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_hang.py").write_text(body)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MEDIC_TEST_TIMEOUT": limit,
        "MEDIC_TEST_TIMEOUT_GRACE": grace,
    }
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.support.watchdog",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "-q",
            "-s",
            "test_hang.py",
        ],
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
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout
    assert "cancelled by the watchdog after 2 s" in done.stdout
    assert "unwound" in done.stdout  # its finally blocks ran
    assert "server cancelled" not in done.stdout  # the other thread's loop is left running
    # Where it waited: the thread stacks and the chain of awaits down to the innermost coroutine.
    assert "test_hang.py::test_hangs still running after 2 s" in done.stderr
    assert "pending asyncio tasks" in done.stderr
    assert "in test_hangs" in done.stderr and "in wait_forever" in done.stderr


def test_a_hung_sync_test_ends_the_run_with_its_stack(tmp_path: Path) -> None:
    done = run(tmp_path, "import time\n\ndef test_sleeps():\n    time.sleep(60)\n")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "did not end 3 s after it was cancelled" in done.stderr
    assert 'File "' in done.stderr and "test_sleeps" in done.stderr


def test_a_test_within_its_bound_is_left_alone(tmp_path: Path) -> None:
    done = run(tmp_path, "import asyncio\n\nasync def test_quick():\n    await asyncio.sleep(0.1)\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "watchdog" not in done.stderr


def test_zero_turns_the_bound_off(tmp_path: Path) -> None:
    done = run(tmp_path, "import time\n\ndef test_slow():\n    time.sleep(1.5)\n", limit="0", grace="0.1")
    assert done.returncode == 0, done.stdout + done.stderr
