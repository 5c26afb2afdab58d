"""What an incident has told the outside world so far, kept in its state so that a retry, a
worker crash or a continue-as-new never sends anything twice.

Every chat channel the card went to (Slack's as much as Teams') is one :class:`ChatPosted` in
``NotificationState.chat``. States carried from runs before Slack was a chat like the others kept Slack's
messages apart (``slack``, ``rendered_revision``, ``thread_cursor``, ``escalated_channels``, bare Slack
names in ``dead_channels``): the validator reads them into today's fields, so such an incident keeps
editing the message it posted and replying in its thread.
"""

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, model_validator

from medic.notify_plan import ChatTarget, NotificationPlan
from medic.ports import MessageRef
from medic.timeline import TimelineEntry
from medic.vocab import Priority, TimelineKind

__all__ = [
    "APPROVAL_KINDS",
    "FOLLOW_UP_KINDS",
    "NOTE_KINDS",
    "PAGE_RETRY_DELAYS",
    "THREADED_KINDS",
    "ChatPosted",
    "NotificationState",
    "approval_text",
    "approval_told",
    "followed_up",
    "noted",
    "threaded",
    "undecided_approvals",
]

# Timeline events worth a reply under the incident's card, in chats with threads (Slack).
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
        TimelineKind.REMEDIATION_REFUSED,  # a fix Medic knows but may not make: what to do instead
        # Why nobody was paged (and why a page comes after all): the team sees it where it looks.
        TimelineKind.LEARNING_DEMOTED,
        TimelineKind.LEARNING_LIFTED,
    }
)

# Follow-ups in a chat without threads (Teams): the status changes, not the chatter.
FOLLOW_UP_KINDS = frozenset(
    {
        TimelineKind.INCIDENT_ACKNOWLEDGED,
        TimelineKind.ESCALATION_LEVEL,
        TimelineKind.INCIDENT_MERGED,
        TimelineKind.INCIDENT_MERGED_INTO,
        TimelineKind.INCIDENT_UNMERGED,
        TimelineKind.INCIDENT_REOPENED,
        TimelineKind.INCIDENT_RESOLVED,
        TimelineKind.POSTMORTEM_WRITTEN,  # with its link
        TimelineKind.REMEDIATION_REFUSED,
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
        TimelineKind.REMEDIATION_REFUSED,
    }
)


# A remediation's approval, asked and decided: Slack gets the request with its buttons (and its outcome,
# edited in); a chat without threads (Teams) and the pager's alert (Opsgenie) heard nothing of it, so a
# Teams-only team never knew a fix waited for it, and every one timed out and escalated. Told there when
# the entry says ``told`` (recorded from the ``approvals-told`` patch on).
APPROVAL_KINDS = frozenset(
    {
        TimelineKind.APPROVAL_REQUESTED,
        TimelineKind.APPROVAL_GRANTED,
        TimelineKind.APPROVAL_DENIED,
        TimelineKind.APPROVAL_TIMED_OUT,
    }
)


# How long a page that failed for good waits before it is sent again (besides at the incident's next
# change), one delay per retry: after the last, only a change of the incident tries it again.
PAGE_RETRY_DELAYS = (60.0, 120.0, 300.0, 600.0, 900.0, 1800.0)


def _page_news(entry: TimelineEntry) -> bool:
    """A page that failed for good, or went through after it had (``page`` in its data: recorded from
    the ``page-sent-again`` patch on)."""
    return entry.kind in (TimelineKind.NOTIFICATION_FAILED, TimelineKind.NOTIFICATION_SENT) and bool(
        entry.data.get("page")
    )


def approval_told(entry: TimelineEntry) -> bool:
    """An approval asked or decided, to be told where no button can answer it (``approvals-told``)."""
    return entry.kind in APPROVAL_KINDS and entry.data.get("told") is True


def approval_text(entry: TimelineEntry, text: str, *, slack: bool = True) -> str:
    """``text`` (the entry's message, with people's names) and, for a request, how to decide it where
    there is no button: Slack's (where the incident is in Slack), or the HTTP API with the operator token."""
    remediation = entry.data.get("remediation")
    if entry.kind != TimelineKind.APPROVAL_REQUESTED or not isinstance(remediation, str):
        return text
    where = "decide in Slack, or " if slack else "decide with "
    return (
        f"{text} No button here: {where}POST /remediations/{remediation}/decision "
        '{"approve": true|false, "reason": "..."} with MEDIC_OPERATOR_TOKEN. Nobody deciding in time '
        "escalates."
    )


def undecided_approvals(timeline: list[TimelineEntry]) -> list[int]:
    """The places of the approvals asked (and told, ``approval_told``) in ``timeline`` that no later entry
    of their remediation follows: decided (granted, denied or timed out), or no longer waiting without a
    decision (its alerts resolved meanwhile: blocked; cancelled; lost), which was told later as still to
    decide. A remediation says nothing else while it waits."""
    asked: dict[str, int] = {}
    for i, entry in enumerate(timeline):
        remediation = entry.data.get("remediation")
        if not isinstance(remediation, str):
            continue
        if entry.kind == TimelineKind.APPROVAL_REQUESTED and approval_told(entry):
            asked[remediation] = i
        else:
            asked.pop(remediation, None)
    return sorted(asked.values())


def followed_up(entry: TimelineEntry) -> bool:
    """Whether a chat without threads (Teams) gets a follow-up for this entry: the status changes, and a
    page that failed (or went through later): its card said "paging" when the page was still to go; an
    approval asked or decided (it has no button there)."""
    return entry.kind in FOLLOW_UP_KINDS or _page_news(entry) or approval_told(entry)


def noted(entry: TimelineEntry) -> bool:
    """Whether the pager's alert (Opsgenie) gets a note for this entry."""
    return entry.kind in NOTE_KINDS or approval_told(entry)


def threaded(entry: TimelineEntry) -> bool:
    """Whether a chat with threads (Slack) gets a reply for this entry (a page that went through after it
    had failed, too: the failure was a reply)."""
    return entry.kind in THREADED_KINDS or _page_news(entry)


class ChatPosted(BaseModel):
    """The incident's card in one chat channel, and what followed it there."""

    target: ChatTarget
    cursor: int = Field(
        default=0, description="timeline entries already considered for follow-ups (or thread replies)"
    )
    # Added with the ``slack-as-card-chat`` patch (a Teams card posted before has neither).
    ref: MessageRef | None = Field(default=None, description="the card, where the chat can find it again")
    shown: int | None = Field(default=None, description="the incident revision the card shows")
    card: str | None = Field(
        default=None,
        description="a digest of the card as last sent (an edit that changes nothing is not sent)",
    )
    # Filled with the ``approvals-asked-before`` patch.
    backlog: list[int] = Field(
        default_factory=list,
        description="timeline entries before the card to follow it with all the same: approvals asked and "
        "not decided when it was posted (a card does not show them, and its follow-ups begin after it)",
    )


def _from_before_cards(data: dict[str, Any]) -> dict[str, Any]:
    """A state written before ``slack-as-card-chat``: Slack's messages into ``chat`` (each with the
    thread's cursor: the first one's thread took the timeline), its dead and escalated channels as
    targets."""
    old = ("slack", "rendered_revision", "thread_cursor", "escalated_channels")
    out = {k: v for k, v in data.items() if k not in old}
    shown = data.get("rendered_revision") or {}
    chat: dict[str, Any] = {}
    for channel, ref in (data.get("slack") or {}).items():
        chat[f"slack:{channel}"] = {
            "target": {"kind": "slack", "channel": channel},
            "ref": ref,
            "shown": shown.get(channel),
            "cursor": data.get("thread_cursor", 0),
        }
    out["chat"] = {**chat, **(data.get("chat") or {})}
    out["dead_channels"] = [c if ":" in c else f"slack:{c}" for c in data.get("dead_channels") or []]
    escalated = [{"kind": "slack", "channel": c} for c in data.get("escalated_channels") or []]
    out["escalated"] = escalated + list(data.get("escalated") or [])
    return out


class NotificationState(BaseModel):
    plan: NotificationPlan | None = None
    planned_priority: Priority | None = None
    jira_cursor: int = Field(default=0, description="timeline entries already considered for JIRA comments")
    pages: dict[str, str] = Field(default_factory=dict, description="routing-key name -> last action sent")
    change_cursor: int = Field(default=0, description="timeline entries already considered for change events")
    jira_key: str | None = None
    jira_closed: bool = False
    jira_priority: Priority | None = Field(
        default=None,
        description="the incident's priority its JIRA issue says (filed or last updated with; None in a "
        "run continued as new before it was recorded: that issue is left as it is)",
    )
    postmortem: str | None = Field(default=None, description="where the postmortem was written, once it was")
    escalation_done: int = 0
    dead_channels: list[str] = Field(
        default_factory=list, description="'kind:channel' of the chat channels that failed for good"
    )
    escalated: list[ChatTarget] = Field(default_factory=list, description="chat channels added by escalation")
    finished: bool = False
    escalate_now: bool = Field(default=False, description="a remediation failed: page now, do not wait")
    outlasted_at: datetime | None = Field(
        default=None,
        description="demoted by learning, an alert of it fired longer than its rule's noise ever did: "
        "it pages from then on, its escalation counted from this time",
    )
    chain_from: datetime | None = Field(
        default=None,
        description="reopened after it closed (its pages resolved): the escalation chain starts again at its "
        "first level, counted from this time",
    )
    # Added with the ``chat-channels`` and ``pager-notes`` patches; defaults keep old payloads readable.
    chat: dict[str, ChatPosted] = Field(
        default_factory=dict, description="'kind:channel' -> the card posted there, in the order posted"
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
    # Added with the ``pager-alias-per-key`` patch: incidents paged before use the incident id for all.
    aliases: dict[str, str] = Field(
        default_factory=dict,
        description="routing-key name -> the alias its alert was opened with at a pager that de-duplicates "
        "by alias (Opsgenie), where it is not the incident id",
    )
    # Added with the ``page-sent-again`` patch: incidents from before never send a failed page again.
    failed_pages: list[str] = Field(
        default_factory=list,
        description="routing-key names whose trigger failed for good: sent again at the next change and on "
        "a timer while open",
    )
    page_retries: int = Field(default=0, description="times the failed pages were sent again and failed")
    page_retry_at: datetime | None = Field(default=None, description="when the failed pages are sent again")
    jira_moved_at: datetime | None = Field(
        default=None,
        description="when Medic last closed or reopened its JIRA issue (as the workflow saw it done): "
        "Jira's webhooks of moves before then are Medic's own, or superseded",
    )
    # Filled with the ``approvals-asked-before`` patch.
    note_backlog: list[int] = Field(
        default_factory=list,
        description="timeline entries before the first page to note on it all the same: approvals asked and "
        "not decided by then (the page's notes begin with it, and one asked a moment before was never told)",
    )
    # Read with the ``postmortem-to-merged`` patch.
    merged_chats: dict[str, ChatPosted] = Field(
        default_factory=dict,
        description="'kind:channel' -> the card of an incident merged into this one (its own, or one merged "
        "into it before): its channel hears of the postmortem too, where it ended on 'Merged into'",
    )
    # Read with the ``jira-reopen`` patch.
    jira_reopen: bool = Field(
        default=False,
        description="its JIRA issue was closed and the incident is open again: the issue is reopened",
    )

    @model_validator(mode="before")
    @classmethod
    def _recorded(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("slack" in data or "escalated_channels" in data):
            return _from_before_cards(data)
        return data

    def restart_chain(self, at: datetime) -> None:
        """Open again after its pages were resolved (it closed, or its merge failed): its
        escalation starts again at the first level, counted from ``at``, its issue is reopened (where
        Medic had closed it) and closed again at the next resolution."""
        self.escalation_done, self.escalate_now, self.chain_from = 0, False, at
        self.jira_reopen = self.jira_reopen or self.jira_closed
        self.jira_closed = False
        self.note_cursor = None  # the pager's notes start again at the new page, not at the close-out
        self.note_backlog = []  # (what was owed to the closed page is asked again of the new one)

    def chain_start(self, opened_at: datetime) -> datetime:
        """When the escalation chain counts from: the incident's opening, or later, when it paged after
        learning had demoted it, or when it opened again after closing."""
        return max(t for t in (opened_at, self.outlasted_at, self.chain_from) if t is not None)

    def page_failed(self, key: str, at: datetime) -> None:
        """``key``'s trigger failed for good: it is sent again at the next change, and at the next
        delay of :data:`PAGE_RETRY_DELAYS` while it stays failed."""
        if key in self.failed_pages:
            self.page_retries += 1
        else:
            self.failed_pages.append(key)
        retry = self.page_retries
        self.page_retry_at = (
            at + timedelta(seconds=PAGE_RETRY_DELAYS[retry]) if retry < len(PAGE_RETRY_DELAYS) else None
        )

    def page_through(self, key: str) -> bool:
        """``key``'s trigger went through (or is no longer wanted); True when it had failed before."""
        if key not in self.failed_pages:
            return False
        self.failed_pages.remove(key)
        if not self.failed_pages:
            self.page_retries, self.page_retry_at = 0, None
        return True

    def alias(self, key: str, incident_id: str) -> str:
        """The alias of the alert paged to routing key ``key`` (Opsgenie's, where acks, closes and notes
        go): the one it was opened with."""
        return self.aliases.get(key, incident_id)

    def holds_incident_alias(self, key: str) -> bool:
        """Whether a routing key other than ``key`` paged an alert under the incident id itself."""
        return any(k != key and k not in self.aliases for k in self.pages)

    def posted_in(self, kind: str) -> list[ChatPosted]:
        """The cards posted in one chat kind, in the order posted."""
        return [p for p in self.chat.values() if p.target.kind == kind]

    def home(self, kind: str) -> ChatPosted | None:
        """The first card posted in a chat kind: replies in its thread tell the timeline there."""
        return next((p for p in self.chat.values() if p.target.kind == kind), None)

    def messages(self, kind: str) -> dict[str, MessageRef]:
        """Channel -> the card's message, for one chat kind (where the chat gave one)."""
        return {p.target.channel: p.ref for p in self.posted_in(kind) if p.ref is not None}
