"""What an incident has told the outside world so far, kept in its state so that a retry, a
worker crash or a continue-as-new never sends anything twice."""

from pydantic import BaseModel, Field

from medic.ports import MessageRef
from medic.routing import ChatTarget, NotificationPlan
from medic.vocab import Priority, TimelineKind

__all__ = ["CHAT_KINDS", "NOTE_KINDS", "THREADED_KINDS", "ChatPosted", "NotificationState"]

# Timeline events worth a thread reply under the incident's Slack message.
THREADED_KINDS = frozenset(
    {
        TimelineKind.INCIDENT_MERGED,
        TimelineKind.INCIDENT_ROOT_CAUSE,
        TimelineKind.INCIDENT_SCORED,
        TimelineKind.INCIDENT_REOPENED,
        TimelineKind.INCIDENT_ACKNOWLEDGED,
        TimelineKind.INCIDENT_RESOLVED,
        TimelineKind.INCIDENT_QUIET,
        TimelineKind.ALERT_FLAPPING,
        TimelineKind.ESCALATION_LEVEL,
        TimelineKind.NOTIFICATION_FAILED,
        TimelineKind.ANOMALY_DETECTED,
        TimelineKind.SILENCE_CREATED,
        TimelineKind.FEEDBACK_FALSE_POSITIVE,
        TimelineKind.COMMAND_REFUSED,
    }
)

# Follow-ups in a chat whose posts cannot be edited (Teams): the status changes, not the chatter.
CHAT_KINDS = frozenset(
    {
        TimelineKind.INCIDENT_ACKNOWLEDGED,
        TimelineKind.ESCALATION_LEVEL,
        TimelineKind.INCIDENT_MERGED,
        TimelineKind.INCIDENT_MERGED_INTO,
        TimelineKind.INCIDENT_UNMERGED,
        TimelineKind.INCIDENT_REOPENED,
        TimelineKind.INCIDENT_RESOLVED,
        TimelineKind.POSTMORTEM_WRITTEN,  # with its link
    }
)

# What the pager's alert gets as a note (Opsgenie), the same entries the tracker is told plus Medic's
# changes (PagerDuty gets those as change events).
NOTE_KINDS = frozenset(
    {
        TimelineKind.INCIDENT_MERGED,
        TimelineKind.INCIDENT_ACKNOWLEDGED,
        TimelineKind.ESCALATION_LEVEL,
        TimelineKind.INCIDENT_ROOT_CAUSE,
        TimelineKind.ACTION_EXECUTED,
        TimelineKind.ROLLBACK_DONE,
    }
)


class ChatPosted(BaseModel):
    """The incident's card in one chat channel besides Slack, and the follow-ups posted after it."""

    target: ChatTarget
    cursor: int = Field(default=0, description="timeline entries already considered for follow-ups")


class NotificationState(BaseModel):
    plan: NotificationPlan | None = None
    planned_priority: Priority | None = None
    slack: dict[str, MessageRef] = Field(
        default_factory=dict, description="channel -> the incident's message"
    )
    rendered_revision: dict[str, int] = Field(default_factory=dict, description="channel -> revision shown")
    thread_cursor: int = Field(default=0, description="timeline entries already threaded")
    jira_cursor: int = Field(default=0, description="timeline entries already considered for JIRA comments")
    pages: dict[str, str] = Field(default_factory=dict, description="routing-key name -> last action sent")
    change_cursor: int = Field(default=0, description="timeline entries already considered for change events")
    jira_key: str | None = None
    jira_closed: bool = False
    postmortem: str | None = Field(default=None, description="where the postmortem was written, once it was")
    escalation_done: int = 0
    dead_channels: list[str] = Field(default_factory=list, description="channels that failed for good")
    escalated_channels: list[str] = Field(default_factory=list, description="channels added by escalation")
    finished: bool = False
    escalate_now: bool = Field(default=False, description="a remediation failed: page now, do not wait")
    # Added with the ``chat-channels`` and ``pager-notes`` patches; defaults keep old payloads readable.
    chat: dict[str, ChatPosted] = Field(
        default_factory=dict, description="'kind:channel' -> the card posted there (Teams)"
    )
    note_cursor: int | None = Field(
        default=None, description="timeline entries already considered for pager notes (None: from now on)"
    )
    # Added with the ``jira-merge-link`` patch.
    jira_link_cursor: int = Field(
        default=0, description="timeline entries already considered for links to absorbed incidents' issues"
    )
    jira_linked: list[str] = Field(
        default_factory=list, description="absorbed incidents' JIRA issues linked to this one's"
    )
