"""The incident's two quick decisions (runbook matching, notification planning) as activities whose
results the history delivers in order.

They were local activities. An incident ran two side by side (``remediate.match`` in the main loop,
``notify.plan`` in the notifier), and when both finished within one workflow task the SDK could hand
their results to the workflow together in one activation on the first run, yet on replay deliver each
in the activation its marker names: the coroutines then resumed in another order and issued their
commands in another order, and the history no longer replayed ("[TMPRL1100] Nondeterminism error:
Signal external WF machine does not handle this event"; tests/fixtures/evidence, sdk-python issue
1578). One local activity in flight at a time (``serial-local-activities``) removed that pair, but
not the same race between a local activity's result and any other resolution: the plan's result and
the remediation child's start, resolved in two workflow tasks on the first run, came in one
activation on replay, and the notifier posted before the main loop published ("Activity machine does
not handle this event: HistoryEvent(id: 47, UpsertWorkflowSearchAttributes)"; about one run in 15 of
an integration test under load; tests/fixtures/evidence). An activity's result is a history event,
delivered in the same activation on the first run and on replay, so runs that start now
(``decisions-as-activities``) take them as activities: a round trip through the server more (a few
milliseconds on a quiet server) and three history events instead of one marker.

Histories recorded before carry no marker and run the old way (``workflow.patched``): local
activities, one at a time when they carry the serial marker, so incidents open across the upgrade
keep replaying (as far as their own first run allows).
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

__all__ = ["DECISIONS_AS_ACTIVITIES", "SERIAL_LOCAL_ACTIVITIES", "LocalActivityGate"]

SERIAL_LOCAL_ACTIVITIES = "serial-local-activities"
DECISIONS_AS_ACTIVITIES = "decisions-as-activities"
T = TypeVar("T")


class LocalActivityGate:
    """Shared by an incident's main loop and its notifier: ``await gate.run(method, arg, ...)``."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._remote: bool | None = None
        self._serial: bool | None = None

    async def run(self, method: Callable[..., T], arg: Any, *, timeout: timedelta, retry: RetryPolicy) -> T:
        if self._remote is None:  # asked once per run, at the first decision, on every replay
            self._remote = workflow.patched(DECISIONS_AS_ACTIVITIES)
            if not self._remote:
                self._serial = workflow.patched(SERIAL_LOCAL_ACTIVITIES)
        if self._remote:
            result: T = await workflow.execute_activity_method(
                method, arg, start_to_close_timeout=timeout, retry_policy=retry
            )
            return result
        if not self._serial:
            return await workflow.execute_local_activity_method(
                method, arg, start_to_close_timeout=timeout, retry_policy=retry
            )
        async with self._lock:
            return await workflow.execute_local_activity_method(
                method, arg, start_to_close_timeout=timeout, retry_policy=retry
            )
