"""Port errors onto Temporal's retry semantics, for every activity that calls the outside world:
:class:`PermanentError` (and the remediation errors that mean the same) becomes a non-retryable
ApplicationError the workflow records; :class:`TransientError` is retried, after Retry-After when
the other side said so. :class:`ChangedMeanwhile` is neither a failure nor retried: a non-retryable
ApplicationError of its own type (:data:`CHANGED_MEANWHILE`), which the remediation records as an outcome.

An activity cancelled under it (the worker shutting down past its grace period, the workflow no longer
waiting) ends cancelled whatever its call raised: the SDK raises the cancellation into the activity's
thread wherever it runs, and an adapter's catch-all made it a PermanentError ("Slack call failed:
CancelledError"), so a page or a post in flight during a rolling update failed for good instead of
running again on another worker."""

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from medic.ports import PermanentError, TransientError
from remediations.actions import ActionError, NothingToDo
from remediations.ports import ClusterError
from remediations.preconditions import ChangedMeanwhile

__all__ = ["CHANGED_MEANWHILE", "NOTHING_TO_DO", "PERMANENT", "translated"]

CHANGED_MEANWHILE = "ChangedMeanwhile"
NOTHING_TO_DO = "NothingToDo"  # a step that would change nothing asked for: ends blocked, not failed

# Failures for good: retrying cannot help (everything else that fails says TransientError, or is a bug).
PERMANENT: tuple[type[Exception], ...] = (PermanentError, ActionError, ClusterError)

P = ParamSpec("P")
R = TypeVar("R")


def _cancelled() -> bool:
    """Whether Temporal cancelled the activity running here (False outside one, as unit tests call them)."""
    return activity.in_activity() and activity.is_cancelled()


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CancelledError:
            raise
        except Exception as err:
            if _cancelled():  # whatever the interrupted call raised, it is no verdict on the call
                raise CancelledError(f"cancelled while running ({type(err).__name__})") from err
            mapped = _application_error(err)
            if mapped is None:
                raise
            raise mapped from err

    return wrapper


def _application_error(err: Exception) -> ApplicationError | None:
    """What ``err`` means to Temporal; None for an error raised as it is (a bug: retried)."""
    if isinstance(err, ChangedMeanwhile):
        return ApplicationError(str(err), type=CHANGED_MEANWHILE, non_retryable=True)
    if isinstance(err, NothingToDo):
        return ApplicationError(str(err), type=NOTHING_TO_DO, non_retryable=True)
    if isinstance(err, PERMANENT):
        return ApplicationError(str(err), type="PermanentError", non_retryable=True)
    if isinstance(err, TransientError):
        delay = timedelta(seconds=err.retry_after) if err.retry_after else None
        return ApplicationError(str(err), type="TransientError", next_retry_delay=delay)
    return None
