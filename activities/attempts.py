"""What an adapter needs to make a call that must not happen twice safe to try again: a key that is the
same for every attempt of one activity (a post Slack took but whose answer never came is found by it, not
sent again), whether this is such an attempt again, and since when to look.

Temporal runs an activity again after a timeout, an error it was told to retry, or a worker that stopped
under it (SIGTERM in a rolling update, the activity cancelled and run on another worker): the call it made
may have gone through. The key is the activity's identity in its workflow run (workflow id, run id,
activity id), which no attempt changes and no two activities of a run share. Outside an activity (a unit
test calling an adapter, ``medic doctor``) there is none, and the call is made as it always was.
"""

import hashlib
from dataclasses import dataclass

from temporalio import activity

__all__ = ["CallKey", "call_key", "cancelled"]


@dataclass(frozen=True)
class CallKey:
    key: str
    """32 hex characters, a digest of the workflow id, run id and activity id (bounded, and it names
    nothing: it travels with the message)."""
    retried: bool
    """An attempt after the first: the call may have been made already."""
    since: float
    """When the activity's first attempt was scheduled (Unix seconds): nothing it made is older."""
    attempt: int = 1
    """Which attempt this is (Temporal's ``activity.info().attempt``, from 1)."""


def call_key() -> CallKey | None:
    """The key of the activity running here; None outside one, or for one no workflow started.

    One key per activity: an activity that made two such calls to the same place would find the first
    on its second (none does: each Slack post is an activity of its own)."""
    if not activity.in_activity():
        return None
    info = activity.info()
    if not info.workflow_id or not info.workflow_run_id:
        return None
    identity = "\x1f".join((info.workflow_id, info.workflow_run_id, info.activity_id))
    return CallKey(
        key=hashlib.sha256(identity.encode()).hexdigest()[:32],
        retried=info.attempt > 1,
        since=info.scheduled_time.timestamp(),
        attempt=info.attempt,
    )


def cancelled() -> bool:
    """Whether Temporal cancelled the activity running here (False outside one)."""
    return activity.in_activity() and activity.is_cancelled()
