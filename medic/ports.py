"""Ports: what Medic needs from the outside world, as small Protocols.

Adapters in ``activities.adapters`` implement them over the real SDKs; the console notifier
implements them for ``medic dev``; tests use in-memory fakes for workflow logic and local HTTP
doubles for the adapters. Errors cross a port as :class:`TransientError` (retry) or
:class:`PermanentError` (do not retry; record and move on).
"""

from typing import Protocol

from pydantic import BaseModel, Field

__all__ = [
    "ChatMessage",
    "ChatOps",
    "IssueRequest",
    "MessageRef",
    "Page",
    "Pager",
    "PermanentError",
    "Tracker",
    "TransientError",
]


class TransientError(Exception):
    """The call may succeed if repeated (429, 5xx, timeouts, connection errors)."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """Repeating the call cannot help (bad request, unknown channel, invalid credentials)."""


class MessageRef(BaseModel):
    channel: str
    ts: str


class ChatMessage(BaseModel):
    """A chat message: Block Kit blocks plus the plain-text fallback Slack requires."""

    text: str
    blocks: list[dict[str, object]] = Field(default_factory=list)


class ChatOps(Protocol):
    def post(self, channel: str, message: ChatMessage, *, thread: MessageRef | None = None) -> MessageRef: ...

    def update(self, ref: MessageRef, message: ChatMessage) -> MessageRef: ...


class Page(BaseModel):
    """One PagerDuty Events v2 event. ``routing_key_name`` is resolved to the secret key by the
    adapter, so no key ever enters workflow history."""

    action: str = Field(pattern=r"^(trigger|acknowledge|resolve)$")
    dedup_key: str = Field(max_length=255)
    routing_key_name: str
    summary: str = Field(default="", max_length=1024)
    source: str = "medic"
    severity: str = Field(default="error", pattern=r"^(critical|error|warning|info)$")
    component: str | None = None
    group: str | None = None
    custom_details: dict[str, object] = Field(default_factory=dict)
    links: list[dict[str, str]] = Field(default_factory=list)


class Pager(Protocol):
    def send(self, page: Page) -> str:
        """Send the event; returns the dedup key PagerDuty acknowledged."""


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


class Tracker(Protocol):
    def ensure_issue(self, request: IssueRequest) -> str:
        """The key of the incident's issue, creating it only if no issue carries ``dedup_label``."""

    def comment(self, key: str, text: str) -> None: ...

    def close(self, key: str, comment: str) -> None:
        """Transition the issue to done (no-op when it already is)."""
