"""Port errors onto Temporal's retry semantics, for every activity that calls the outside world:
:class:`PermanentError` (and the remediation errors that mean the same) becomes a non-retryable
ApplicationError the workflow records; :class:`TransientError` is retried, after Retry-After when
the other side said so. :class:`ChangedMeanwhile` is neither a failure nor retried: a non-retryable
ApplicationError of its own type (:data:`CHANGED_MEANWHILE`), which the remediation records as an outcome."""

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio.exceptions import ApplicationError

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


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ChangedMeanwhile as err:
            raise ApplicationError(str(err), type=CHANGED_MEANWHILE, non_retryable=True) from err
        except NothingToDo as err:
            raise ApplicationError(str(err), type=NOTHING_TO_DO, non_retryable=True) from err
        except PERMANENT as err:
            raise ApplicationError(str(err), type="PermanentError", non_retryable=True) from err
        except TransientError as err:
            delay = timedelta(seconds=err.retry_after) if err.retry_after else None
            raise ApplicationError(str(err), type="TransientError", next_retry_delay=delay) from err

    return wrapper
