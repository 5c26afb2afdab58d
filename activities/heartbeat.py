"""Heartbeats while a blocking activity works, so a worker that dies is noticed in seconds.

A remediation step blocks on the Kubernetes API (a read timeout per call, several calls, a rollback's
retries). Without heartbeats Temporal learns that the worker died only when the step's start-to-close
timeout expires, and only then runs the retry. With a heartbeat timeout (workflows/remediation.py sets
one) and a heartbeat every few seconds from a helper thread, the retry starts within the heartbeat
timeout. The retry is safe because a step acts only on the object the plan found
(remediations/preconditions.py).
"""

import contextlib
import contextvars
import threading
from collections.abc import Iterator

from temporalio import activity

__all__ = ["heartbeating"]


@contextlib.contextmanager
def heartbeating(every: float) -> Iterator[None]:
    """Heartbeat now and then every ``every`` seconds until the block ends (nothing outside an activity).

    The helper thread runs in a copy of this thread's context, where the SDK keeps the activity's
    heartbeat function (thread-safe for activities run in a thread pool).
    """
    if not activity.in_activity():
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            activity.heartbeat()

    activity.heartbeat()
    helper = threading.Thread(
        target=contextvars.copy_context().run, args=(beat,), name="medic-heartbeat", daemon=True
    )
    helper.start()
    try:
        yield
    finally:
        stop.set()
        helper.join()
