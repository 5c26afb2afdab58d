"""What the activities tell the worker's metrics: notifications by channel and outcome, remediation
actions by kind and outcome, incidents opened and resolved by priority with MTTA and MTTR, anomaly
scan runs by scan and outcome.

Recorded where the event really happens (an activity runs in the worker, outside the workflow's
replays), through a small port the service implements with Prometheus. An activity retried after a
lost answer can count twice; the counters say what was attempted, the timeline what happened."""

import contextlib
from collections.abc import Callable, Iterator
from typing import Protocol

from activities.errors import PERMANENT
from medic.ports import TransientError
from remediations.preconditions import ChangedMeanwhile

__all__ = ["NO_RECORDER", "Recorder", "recorded"]


class Recorder(Protocol):
    def notification(self, channel: str, outcome: str) -> None: ...

    def action(self, kind: str, outcome: str) -> None: ...

    def incident_opened(self, priority: str) -> None: ...

    def incident_resolved(self, priority: str, *, mtta: float | None, mttr: float | None) -> None: ...

    def scan_run(self, scan: str, outcome: str) -> None: ...


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


NO_RECORDER: Recorder = _NoRecorder()


@contextlib.contextmanager
def recorded(record: Callable[[str], None], *, ok: str = "ok") -> Iterator[None]:
    """Record ``ok``, ``failed`` (for good), ``retried`` (a transient failure Temporal retries) or
    ``changed_meanwhile`` (the target changed since the plan read it: not acted on)."""
    try:
        yield
    except ChangedMeanwhile:
        record("changed_meanwhile")
        raise
    except PERMANENT:
        record("failed")
        raise
    except TransientError:
        record("retried")
        raise
    record(ok)
