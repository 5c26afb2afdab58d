"""What the activities tell the worker's metrics: notifications by channel and outcome, remediation
actions by kind and outcome, incidents opened and resolved by priority with MTTA and MTTR, anomaly
scan runs by scan and outcome.

Recorded where the event really happens (an activity runs in the worker, outside the workflow's
replays), through a small port the service implements with Prometheus. An activity retried after a
lost answer can count twice; the counters say what was attempted, the timeline what happened.

A transient failure is ``retried`` while Temporal will try again and ``failed`` on the last attempt its
retry policy allows (after it Temporal gives up: the notification or action failed for good, which is
what MedicNotificationFailures and MedicRemediationFailures count). An attempt cancelled under it (its
start-to-close timeout, the worker shutting down, the workflow no longer waiting) says nothing about the
channel: ``timeout`` or ``cancelled``, and ``failed`` only on the last attempt of a timeout."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from temporalio import activity

from activities.errors import PERMANENT
from remediations.preconditions import ChangedMeanwhile

__all__ = ["NO_RECORDER", "Recorder", "last_attempt", "recorded"]


class Recorder(Protocol):
    def notification(self, channel: str, outcome: str) -> None: ...

    def action(self, kind: str, outcome: str) -> None: ...

    def incident_opened(self, priority: str) -> None: ...

    def incident_resolved(self, priority: str, *, mtta: float | None, mttr: float | None) -> None: ...

    def scan_run(self, scan: str, outcome: str) -> None: ...

    def scans_known(self, scans: list[str]) -> None:
        """Each scan's run counts exported at 0 before any run: increase() counts nothing of a series
        that first appears at 1, so an alert on it missed a scan's first failed run."""
        ...


class _NoRecorder:
    def notification(self, channel: str, outcome: str) -> None:
        pass

    def action(self, kind: str, outcome: str) -> None:
        pass

    def incident_opened(self, priority: str) -> None:
        pass

    def incident_resolved(self, priority: str, *, mtta: float | None, mttr: float | None) -> None:
        pass

    def scan_run(self, scan: str, outcome: str) -> None:
        pass

    def scans_known(self, scans: list[str]) -> None:
        pass


NO_RECORDER: Recorder = _NoRecorder()


def last_attempt() -> bool:
    """Whether this activity runs the last attempt its retry policy allows (False outside an activity,
    as the unit tests call them, and under a policy without a maximum: Temporal retries for ever)."""
    try:
        info = activity.info()
    except RuntimeError:
        return False
    limit = info.retry_policy.maximum_attempts if info.retry_policy is not None else 0
    return 0 < limit <= info.attempt


def _cancelled() -> str | None:
    """``timeout`` when Temporal cancelled this attempt for its start-to-close timeout, ``cancelled`` for
    any other cancellation (worker shutdown, the workflow's request), None when it was not cancelled.
    The cancellation is raised into the activity's thread wherever it runs, so an adapter may have
    wrapped it in a PermanentError: the activity's own cancellation state decides, not the error."""
    try:
        details = activity.cancellation_details()
    except RuntimeError:
        return None
    if details is None:
        return None
    return "timeout" if details.timed_out else "cancelled"


@contextlib.contextmanager
def recorded(record: Callable[[str], None], *, ok: str = "ok") -> Iterator[None]:
    """Record ``ok``, ``failed`` (for good: a permanent error, or a transient one or a timeout on the last
    attempt), ``retried`` (a transient failure Temporal retries), ``timeout`` / ``cancelled`` (the
    attempt was cancelled under it) or ``changed_meanwhile`` (the target changed since the plan read it:
    not acted on)."""
    try:
        yield
    except BaseException as err:
        record(_outcome(err))
        raise
    record(ok)


def _outcome(err: BaseException) -> str:
    cancelled = _cancelled()
    if cancelled is not None:
        return "failed" if cancelled == "timeout" and last_attempt() else cancelled
    if isinstance(err, ChangedMeanwhile):
        return "changed_meanwhile"
    if isinstance(err, PERMANENT):
        return "failed"
    # TransientError, and anything unforeseen: Temporal retries both until the policy's last attempt.
    return "failed" if last_attempt() else "retried"
