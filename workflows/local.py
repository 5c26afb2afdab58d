"""The incident's two quick decisions (runbook matching, notification planning), taken so that the
history replays whatever order their results and the incident's other events arrive in.

They were local activities, which the SDK may hand to the workflow in one grouping on the first run and
in another on replay (sdk-python issues 1578 and 1881; both recorded in tests/fixtures/evidence):

1. Two in flight at once (``remediate.match`` in the main loop, ``notify.plan`` in the notifier)
   finishing within one workflow task came in one activation on the first run and apart on replay,
   the coroutines resumed in another order and issued their commands in another order ("[TMPRL1100]
   Nondeterminism error: Signal external WF machine does not handle this event"). Runs from the
   ``serial-local-activities`` patch on took one at a time, which removed that pair only.
2. A local activity's result against any other resolution: the plan's result and the remediation
   child's start, resolved in two workflow tasks on the first run, came in one activation on replay, and
   the notifier posted before the main loop published ("Activity machine does not handle this event:
   UpsertWorkflowSearchAttributes"; about one run in 12 of an integration test under load).

Runs from the ``decisions-as-activities`` patch on take them as (ordinary) activities: a result is then
a history event of its own, delivered with the same neighbours on the first run and on replay. The cost
is a round trip through the server per decision and the request in history: runbook matching sends its
alerts in requests of at most :data:`DECISION_BYTES` (an activity's input, unlike a local activity's, goes
through the server, whose limit for one payload is 2 MB, and a storm's alerts with their annotations are
more), and merges the answers as one request would have had them (``MatchResult.add``).

Histories recorded before carry no marker and replay the old way (``workflow.patched``): local
activities, one at a time when they carry the ``serial-local-activities`` marker.
"""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

__all__ = ["DECISIONS_AS_ACTIVITIES", "DECISION_BYTES", "SERIAL_LOCAL_ACTIVITIES", "Decisions"]

SERIAL_LOCAL_ACTIVITIES = "serial-local-activities"
DECISIONS_AS_ACTIVITIES = "decisions-as-activities"
DECISION_BYTES = 256 * 1024  # a decision's request: well under the server's 2 MB for one payload
T = TypeVar("T")


class Decisions:
    """Shared by an incident's main loop and its notifier: ``await decisions.run(method, arg, ...)``."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._remote: bool | None = None
        self._serial = False

    @property
    def remote(self) -> bool:
        """Whether this run takes its decisions as activities (asked once per run, at its first
        decision, on every replay; runs from before ask whether they took them one at a time)."""
        if self._remote is None:
            self._remote = workflow.patched(DECISIONS_AS_ACTIVITIES)
            if not self._remote:
                self._serial = workflow.patched(SERIAL_LOCAL_ACTIVITIES)
        return self._remote

    async def run(self, method: Callable[..., T], arg: Any, *, timeout: timedelta, retry: RetryPolicy) -> T:
        if self.remote:
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
