"""Ports: what Medic needs from the outside world, as small Protocols.

Adapters in ``activities.adapters`` implement them over the real SDKs; the console notifier
implements them for ``medic dev``; tests use in-memory fakes for workflow logic and local HTTP
doubles for the adapters. Errors cross a port as :class:`TransientError` (retry) or
:class:`PermanentError` (do not retry; record and move on).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field, model_validator

from medic.vocab import Priority

if TYPE_CHECKING:
    from medic.cards import IncidentCard

__all__ = [
    "CardChat",
    "Change",
    "ChatMessage",
    "ChatOps",
    "EditableChat",
    "IssueLink",
    "IssueRequest",
    "IssueUpdate",
    "MessageRef",
    "NotePager",
    "Page",
    "Pager",
    "PermanentError",
    "ThreadedChat",
    "Tracker",
    "TransientError",
]


class TransientError(Exception):
    """The call may succeed if repeated (429, 5xx, timeouts, connection errors)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Repeating the call cannot help (bad request, unknown channel, invalid credentials). ``said``: the
    other side's own words alone, where the message quotes more (the query it refused)."""

    def __init__(self, message: str, *, said: str | None = None) -> None:
        super().__init__(message)
        self.said = said


class MessageRef(BaseModel):
    """A message a chat can be asked about again: its kind, the channel as the chat names it (Slack's
    channel id) and the chat's own id of the message (Slack's ``ts``; empty where the chat gives none)."""

    kind: str = Field(default="slack", description="the chat: refs kept before the kind existed were Slack's")
    channel: str
    id: str

    @model_validator(mode="before")
    @classmethod
    def _slack_ts(cls, data: Any) -> Any:
        """Refs recorded before the kind existed (histories, carried states) name Slack's id ``ts``."""
        if isinstance(data, dict) and "ts" in data and "id" not in data:
            return {**{k: v for k, v in data.items() if k != "ts"}, "id": data["ts"]}
        return data


class ChatMessage(BaseModel):
    """A chat message: Block Kit blocks plus the plain-text fallback Slack requires."""

    text: str
    blocks: list[dict[str, object]] = Field(default_factory=list)


class ChatOps(Protocol):
    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef: ...

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef: ...


@runtime_checkable
class CardChat(Protocol):
    """A chat in the domain's words (Slack, Teams): the adapter renders the card for its channel and
    escapes outside text there. What a chat can do beyond posting it declares by implementing
    :class:`EditableChat` (the card is edited in place) and :class:`ThreadedChat` (replies under the
    card); without them, a change is a follow-up note in the channel."""

    def post_card(self, channel: str, card: "IncidentCard") -> MessageRef: ...

    def post_note(
        self, channel: str, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef: ...


@runtime_checkable
class EditableChat(CardChat, Protocol):
    """A chat that edits a posted card in place (Slack; Mattermost and Discord can too)."""

    def update_card(self, ref: MessageRef, card: "IncidentCard") -> MessageRef: ...


@runtime_checkable
class ThreadedChat(CardChat, Protocol):
    """A chat that replies under a posted card (Slack's threads), where the timeline goes."""

    def reply(
        self, ref: MessageRef, text: str, *, link_url: str | None = None, link_text: str = "open it"
    ) -> MessageRef: ...


class Page(BaseModel):
    """One PagerDuty Events v2 event. ``routing_key_name`` is resolved to the secret key by the
    adapter, so no key ever enters workflow history."""

    action: str = Field(pattern=r"^(trigger|acknowledge|resolve)$")
    dedup_key: str = Field(max_length=255)
    routing_key_name: str
    # Added with the ``pager-alias-per-key`` patch: pages recorded before have none (the dedup key).
    alias: str | None = Field(
        default=None,
        max_length=512,
        description="the alert's alias at a pager that de-duplicates open alerts by alias (Opsgenie), "
        "one per routing key; None: the dedup key. PagerDuty keeps the dedup key (its routing keys are "
        "separate services already)",
    )
    summary: str = Field(default="", max_length=1024)
    told_by: list[str] = Field(
        default_factory=list,
        description="routing keys whose page took this action to the same alias already (an incident "
        "paged before pager-alias-per-key: one alias for every key): a pager that keys alerts by alias "
        "(Opsgenie) sends it once, not once per key; PagerDuty's routing keys are services of their own",
    )
    source: str = "medic"
    severity: str = Field(default="error", pattern=r"^(critical|error|warning|info)$")
    priority: Priority | None = Field(
        default=None, description="Medic's priority, for pagers that have P1-P5"
    )
    component: str | None = None
    group: str | None = None
    custom_details: dict[str, object] = Field(default_factory=dict)
    links: list[dict[str, str]] = Field(default_factory=list)


class Change(BaseModel):
    """A change Medic made (a remediation ran), for the pager's record of changes next to its incidents
    (PagerDuty Change Events). Changes page nobody."""

    routing_key_name: str
    summary: str = Field(min_length=1, max_length=1024)
    source: str = "medic"
    timestamp: str | None = None  # ISO 8601; None: when it is received
    custom_details: dict[str, object] = Field(default_factory=dict)
    links: list[dict[str, str]] = Field(default_factory=list)


class Pager(Protocol):
    def send(self, page: Page) -> str:
        """Send the event; returns the dedup key PagerDuty acknowledged."""

    def change(self, change: Change) -> None:
        """Record a change Medic made (no one is paged)."""


@runtime_checkable
class NotePager(Protocol):
    """A pager that keeps notes on the incident's alert (Opsgenie); PagerDuty's Events API has none."""

    def note(self, routing_key_name: str, dedup_key: str, text: str, *, told_by: Sequence[str] = ()) -> None:
        """A note on the alert ``dedup_key`` (its alias); nothing when a key of ``told_by`` (routing keys
        that noted the same alias already, at this pager) did."""


class IssueLink(BaseModel):
    """A link back to Medic, rendered by the tracker's adapter in its own markup."""

    text: str
    url: str = Field(pattern=r"^https?://")


class IssueRequest(BaseModel):
    project: str
    summary: str
    description: str
    priority: str
    issue_type: str = "Bug"
    labels: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    # A label unique to the incident: finding it again makes creation idempotent across retries.
    dedup_label: str
    links: list[IssueLink] = Field(default_factory=list)
    incident_id: str = Field(
        default="",
        description="the incident's workflow id, for the link back ('': the dedup label, as before)",
    )
    fields: dict[str, Any] = Field(
        default_factory=dict, description="more fields, as the tracker's API takes them (the policy's)"
    )


class IssueUpdate(BaseModel):
    """The incident's priority changed since its issue was filed: the issue follows it."""

    key: str
    summary: str
    priority: str
    labels_add: list[str] = Field(default_factory=list)
    labels_remove: list[str] = Field(default_factory=list)
    comment: str = ""


class Tracker(Protocol):
    def ensure_issue(self, request: IssueRequest) -> str:
        """The key of the incident's issue, creating it only if no issue carries ``dedup_label``."""

    def comment(self, key: str, text: str) -> None: ...

    def attach(self, key: str, *, filename: str, content: str) -> None:
        """Attach ``content`` as a file (idempotent: a file of that name and size is not added twice)."""

    def close(self, key: str, comment: str) -> None:
        """Say ``comment`` on the issue and transition it to done (only the comment when it is done)."""

    def reopen(self, key: str, comment: str) -> None:
        """Say ``comment`` on the issue and move it out of done (only the comment when it is not done)."""

    def update_issue(self, update: IssueUpdate) -> None:
        """Set the issue's summary, priority and labels (those its edit screen takes), then say
        ``update.comment`` on it."""

    def link(self, key: str, other_key: str, kind: str) -> None:
        """Link issue ``key`` to ``other_key`` with link type ``kind`` (e.g. ``Relates``); asking for a
        link that exists already adds none."""
