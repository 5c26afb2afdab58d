"""The words an incident's remediations end in, defined once, with one table per question asked of
them (is it still running? did it change something? how does a postmortem say it? which one tells most
about an incident?). ``tests/unit/test_vocab.py`` checks every table answers for every word."""

from enum import StrEnum

__all__ = ["ACTED", "OUTCOME_ORDER", "OUTCOME_TEXT", "RUNNING", "RemediationOutcome", "parse_outcome"]


class RemediationOutcome(StrEnum):
    """What became of a remediation (``RemediationWorkflow`` reports it; the incident records it)."""

    PLANNED = "planned"  # the remediation workflow's own first state, before any report
    STARTED = "started"  # the incident started it
    EXECUTED = "executed"  # acted, verifying
    VERIFIED = "verified"
    ROLLED_BACK = "rolled-back"
    FAILED = "failed"
    BLOCKED = "blocked"
    DRY_RUN = "dry-run"
    DENIED = "denied"
    TIMED_OUT = "timed-out"
    CANCELLED = "cancelled"
    LOST = "lost"  # never reported; the incident closed without it
    CHANGED_MEANWHILE = "changed-meanwhile"  # the target changed since the plan read it: left as it was


# Still deciding, acting or verifying: the incident waits for it before it closes.
RUNNING = frozenset({RemediationOutcome.STARTED, RemediationOutcome.EXECUTED})

# Changed something in the cluster (counts for cooldowns and rate limits).
ACTED = frozenset(
    {
        RemediationOutcome.EXECUTED,
        RemediationOutcome.VERIFIED,
        RemediationOutcome.ROLLED_BACK,
        RemediationOutcome.FAILED,
        # It may have acted before someone changed the target (a retried step): counted, so a cooldown
        # keeps Medic from planning again over a person's change at once.
        RemediationOutcome.CHANGED_MEANWHILE,
    }
)

# How a postmortem says it.
OUTCOME_TEXT: dict[RemediationOutcome, str] = {
    RemediationOutcome.PLANNED: "planned, not started",
    RemediationOutcome.STARTED: "still in progress",
    RemediationOutcome.EXECUTED: "acted, not verified yet",
    RemediationOutcome.VERIFIED: "worked: verification passed",
    RemediationOutcome.ROLLED_BACK: "did not work: rolled back",
    RemediationOutcome.FAILED: "did not work",
    RemediationOutcome.BLOCKED: "blocked by a guardrail",
    RemediationOutcome.DRY_RUN: "dry run only: nothing was changed",
    RemediationOutcome.DENIED: "denied by a person",
    RemediationOutcome.TIMED_OUT: "not run: approval timed out",
    RemediationOutcome.CANCELLED: "cancelled (what it changed was undone)",
    RemediationOutcome.LOST: "never reported its outcome",
    RemediationOutcome.CHANGED_MEANWHILE: "stopped: someone else changed the target since Medic read it",
}

# An incident's MedicAction search attribute: the most telling outcome of its remediations first.
OUTCOME_ORDER: tuple[RemediationOutcome, ...] = (
    RemediationOutcome.VERIFIED,
    RemediationOutcome.ROLLED_BACK,
    RemediationOutcome.FAILED,
    RemediationOutcome.CHANGED_MEANWHILE,
    RemediationOutcome.EXECUTED,
    RemediationOutcome.STARTED,
    RemediationOutcome.DENIED,
    RemediationOutcome.TIMED_OUT,
    RemediationOutcome.BLOCKED,
    RemediationOutcome.LOST,
    RemediationOutcome.CANCELLED,
    RemediationOutcome.DRY_RUN,
    RemediationOutcome.PLANNED,
)


def parse_outcome(value: object) -> RemediationOutcome | None:
    """An outcome reported by a remediation, or None for a word this version does not know."""
    try:
        return RemediationOutcome(str(value))
    except ValueError:
        return None
