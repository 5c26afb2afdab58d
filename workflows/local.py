"""One local activity in flight per incident at a time.

Why: an incident ran two local activities side by side (``remediate.match`` in the main loop,
``notify.plan`` in the notifier). When both finish within one workflow task, the SDK may hand their
results to the workflow together in one activation on the first run, yet on replay deliver each in
the activation its marker names: the coroutines then resume in another order and issue their
commands (an external signal, an activity) in another order, and the history no longer replays
("[TMPRL1100] Nondeterminism error: Signal external WF machine does not handle this event";
recorded in tests/fixtures/evidence, see sdk-python issue 1578). With one local activity in flight,
each result is alone in its activation on the first run and on replay, so the order of commands is a
function of history alone.

Histories recorded before this gate existed carry no ``serial-local-activities`` marker and run the
old, concurrent way (``workflow.patched``), so incidents open across the upgrade keep replaying.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow

__all__ = ["SERIAL_LOCAL_ACTIVITIES", "LocalActivityGate"]

SERIAL_LOCAL_ACTIVITIES = "serial-local-activities"
T = TypeVar("T")


class LocalActivityGate:
    """Shared by an incident's main loop and its notifier: ``await gate.run(lambda: ...)``."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._serial: bool | None = None

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        if self._serial is None:  # asked once per run, at the first local activity, on every replay
            self._serial = workflow.patched(SERIAL_LOCAL_ACTIVITIES)
        if not self._serial:
            return await call()
        async with self._lock:
            return await call()
