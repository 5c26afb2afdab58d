"""Medic's vocabularies, each defined once: the words an incident's remediations end in (with one table
per question asked of them: is it still running? did it change something? how does a postmortem say
it? which one tells most about an incident?), the kinds of timeline entry, priorities and risks.

Each is a StrEnum: its members are the very strings stored in workflow histories, YAML and JSON, so
a member passed to a ``str`` field is stored (and serialised) as its plain string. ``tests/unit/
test_vocab.py`` checks every table answers for every word, and that no kind is spelled out elsewhere."""

from enum import StrEnum

__all__ = [
    "ACTED",
    "OUTCOME_ORDER",
    "OUTCOME_TEXT",
    "RUNNING",
    "Priority",
    "RemediationOutcome",
    "Risk",
    "TimelineKind",
    "parse_outcome",
]


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


class TimelineKind(StrEnum):
    """Every kind of timeline entry Medic writes (``TimelineEntry.kind``): ``family.event``. Entries keep
    the plain string, so ones written by other versions, with kinds not listed here, still load.
    docs/postmortems.md lists them with what each means."""

    # Alerts and anomalies, as their sources report them.
    ALERT_FIRING = "alert.firing"
    ALERT_RESOLVED = "alert.resolved"
    ALERT_FLAPPING = "alert.flapping"
    ALERT_SETTLED = "alert.settled"
    ALERT_TRUNCATED = "alert.truncated"
    ANOMALY_DETECTED = "anomaly.detected"
    ANOMALY_EXTENDED = "anomaly.extended"
    # The incident itself.
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_CONTINUED = "incident.continued"
    INCIDENT_SCORED = "incident.scored"
    INCIDENT_ROOT_CAUSE = "incident.root_cause"
    INCIDENT_MERGED = "incident.merged"
    INCIDENT_MERGED_INTO = "incident.merged_into"
    INCIDENT_UNMERGED = "incident.unmerged"
    INCIDENT_SETTLING = "incident.settling"
    INCIDENT_SETTLED = "incident.settled"
    INCIDENT_CAUSE_TAKEN = "incident.cause_taken"
    INCIDENT_MERGE_FAILED = "incident.merge_failed"
    INCIDENT_ACKNOWLEDGED = "incident.acknowledged"
    INCIDENT_QUIET = "incident.quiet"
    INCIDENT_REOPENED = "incident.reopened"
    INCIDENT_RESOLVED = "incident.resolved"
    TIMELINE_COMPACTED = "timeline.compacted"
    # Telling people.
    NOTIFICATION_SENT = "notification.sent"
    NOTIFICATION_FAILED = "notification.failed"
    ESCALATION_LEVEL = "escalation.level"
    POSTMORTEM_WRITTEN = "postmortem.written"
    # Medic's learning (medic.insights): a rule nobody acts on, demoted to chat only where the team opted
    # in, and the demotion lifted again (a rule that still earns its page joined, or the opt-in went).
    LEARNING_DEMOTED = "learning.demoted"
    LEARNING_LIFTED = "learning.lifted"
    # Remediations, from the incident's side and as they report.
    REMEDIATION_STARTED = "remediation.started"
    REMEDIATION_WAITING = "remediation.waiting"
    REMEDIATION_SKIPPED = "remediation.skipped"
    REMEDIATION_ERROR = "remediation.error"
    REMEDIATION_DRY_RUN = "remediation.dry_run"
    REMEDIATION_DRY_RUN_DONE = "remediation.dry_run_done"
    REMEDIATION_FAILED = "remediation.failed"
    REMEDIATION_CHANGED_MEANWHILE = "remediation.changed_meanwhile"
    REMEDIATION_CANCELLED = "remediation.cancelled"
    REMEDIATION_ESCALATED = "remediation.escalated"
    REMEDIATION_REFUSED = "remediation.refused"  # another controller would undo it: not done, and why
    REMEDIATION_LOST = "remediation.lost"
    GUARDRAIL_BLOCKED = "guardrail.blocked"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_DENIED = "approval.denied"
    APPROVAL_TIMED_OUT = "approval.timed_out"
    ACTION_STARTED = "action.started"
    ACTION_EXECUTED = "action.executed"
    ACTION_FAILED = "action.failed"  # a step could not act (nothing written): the next step is tried
    VERIFICATION_PASSED = "verification.passed"
    VERIFICATION_FAILED = "verification.failed"
    ROLLBACK_DONE = "rollback.done"
    ROLLBACK_IMPOSSIBLE = "rollback.impossible"
    ROLLBACK_FAILED = "rollback.failed"
    ROLLBACK_CHANGED_MEANWHILE = "rollback.changed_meanwhile"
    # People, from Slack, the API or PagerDuty (notes).
    COMMAND_REFUSED = "command.refused"
    COMMAND_POSTMORTEM = "command.postmortem"
    COMMAND_KILL_SWITCH = "command.kill_switch"
    COMMAND_PAGERDUTY = "command.pagerduty"
    SILENCE_CREATED = "silence.created"
    FEEDBACK_FALSE_POSITIVE = "feedback.false_positive"


class Priority(StrEnum):
    """An incident's priority, from its impact score: P1 (the worst) to P5."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class Risk(StrEnum):
    """A remediation step's risk, as its runbook declares it: low < medium < high."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
