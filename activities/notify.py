"""Notification activities: the workflow decides what to say, these say it.

Dependencies are injected (ports from ``medic.ports``), so the worker wires real adapters,
``medic dev`` the console notifier, and tests fakes or adapters pointed at local doubles.
Errors: :class:`TransientError` is retried by Temporal (honouring Retry-After),
:class:`PermanentError` becomes a non-retryable ApplicationError the workflow records.
"""

from collections.abc import Callable

from pydantic import BaseModel
from temporalio import activity

from activities.errors import translated
from activities.observe import NO_RECORDER, Recorder, recorded
from medic.cards import IncidentCard, render_card, render_note
from medic.ports import (
    ChatMessage,
    ChatOps,
    IssueRequest,
    MessageRef,
    Page,
    Pager,
    Tracker,
)
from medic.routing import NotificationPlan, RoutingPolicy, plan_notifications
from medic.topology import ServiceContext

__all__ = [
    "JiraNote",
    "NotifyActivities",
    "PlanRequest",
    "SlackMessagePost",
    "SlackNote",
    "SlackPost",
    "SlackUpdate",
]


class PlanRequest(BaseModel):
    priority: str
    owner: ServiceContext | None
    services: list[ServiceContext]
    first: bool = False  # the incident's first plan: it has just opened


class SlackPost(BaseModel):
    channel: str
    card: IncidentCard


class SlackUpdate(BaseModel):
    ref: MessageRef
    card: IncidentCard


class SlackNote(BaseModel):
    """A thread reply: ``text`` is shown as it is (escaped); ``link_url`` a link Medic made, after it."""

    ref: MessageRef
    text: str
    link_url: str | None = None
    link_text: str = "open it"


class SlackMessagePost(BaseModel):
    channel: str
    message: ChatMessage
    thread: MessageRef | None = None


class JiraNote(BaseModel):
    key: str
    text: str


class NotifyActivities:
    def __init__(
        self,
        *,
        chat: ChatOps,
        pager: Pager,
        tracker: Tracker,
        policy: Callable[[], RoutingPolicy],
        workflow_url: Callable[[str], str] | None = None,
        recorder: Recorder = NO_RECORDER,
    ) -> None:
        self._chat, self._pager, self._tracker, self._policy = chat, pager, tracker, policy
        self._rec = recorder
        self._workflow_url = workflow_url

    def _with_links(self, card: IncidentCard) -> IncidentCard:
        if self._workflow_url is None:
            return card
        links: dict[str, str] = {}
        if not card.ui_url:
            links["ui_url"] = self._workflow_url(card.incident_id)
        if card.merged_into and not card.merged_into_url:
            links["merged_into_url"] = self._workflow_url(card.merged_into)
        return card.model_copy(update=links) if links else card

    @activity.defn(name="notify.plan")
    def plan(self, request: PlanRequest) -> NotificationPlan:
        """Decide channels and escalation with the routing policy as it is *now* (recorded in history)."""
        if request.first:
            self._rec.incident_opened(request.priority)
        return plan_notifications(
            self._policy(),
            priority=request.priority,
            owner=request.owner,
            services=request.services,
            at=activity.info().current_attempt_scheduled_time,
        )

    @activity.defn(name="notify.slack_post")
    @translated
    def slack_post(self, request: SlackPost) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._chat.post(request.channel, render_card(self._with_links(request.card)))

    @activity.defn(name="notify.slack_update")
    @translated
    def slack_update(self, request: SlackUpdate) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._chat.update(request.ref, render_card(self._with_links(request.card)))

    @activity.defn(name="notify.slack_thread")
    @translated
    def slack_thread(self, request: SlackNote) -> MessageRef:
        with recorded(self._counter("slack")):
            note = render_note(request.text, link_url=request.link_url, link_text=request.link_text)
            return self._chat.post(request.ref.channel, note, thread=request.ref)

    @activity.defn(name="notify.slack_message")
    @translated
    def slack_message(self, request: SlackMessagePost) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._chat.post(request.channel, request.message, thread=request.thread)

    @activity.defn(name="notify.page")
    @translated
    def page(self, request: Page) -> str:
        with recorded(self._counter("pagerduty")):
            return self._pager.send(request)

    @activity.defn(name="notify.jira_ensure")
    @translated
    def jira_ensure(self, request: IssueRequest) -> str:
        with recorded(self._counter("jira")):
            return self._tracker.ensure_issue(request)

    @activity.defn(name="notify.jira_comment")
    @translated
    def jira_comment(self, request: JiraNote) -> None:
        with recorded(self._counter("jira")):
            self._tracker.comment(request.key, request.text)

    @activity.defn(name="notify.jira_close")
    @translated
    def jira_close(self, request: JiraNote) -> None:
        with recorded(self._counter("jira")):
            self._tracker.close(request.key, request.text)

    def _counter(self, channel: str) -> Callable[[str], None]:
        return lambda outcome: self._rec.notification(channel, outcome)

    def all(self) -> list[Callable[..., object]]:
        return [
            self.slack_message,
            self.plan,
            self.slack_post,
            self.slack_update,
            self.slack_thread,
            self.page,
            self.jira_ensure,
            self.jira_comment,
            self.jira_close,
        ]
