"""Notification activities: the workflow decides what to say, these say it.

Dependencies are injected (ports from ``medic.ports``), so the worker wires real adapters,
``medic dev`` the console notifier, and tests fakes or adapters pointed at local doubles.
Errors: :class:`TransientError` is retried by Temporal (honouring Retry-After),
:class:`PermanentError` becomes a non-retryable ApplicationError the workflow records.
"""

import functools
from collections.abc import Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from medic.cards import IncidentCard, render_card, render_note
from medic.ports import (
    ChatMessage,
    ChatOps,
    IssueRequest,
    MessageRef,
    Page,
    Pager,
    PermanentError,
    Tracker,
    TransientError,
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

P = ParamSpec("P")
R = TypeVar("R")


class PlanRequest(BaseModel):
    priority: str
    owner: ServiceContext | None
    services: list[ServiceContext]


class SlackPost(BaseModel):
    channel: str
    card: IncidentCard


class SlackUpdate(BaseModel):
    ref: MessageRef
    card: IncidentCard


class SlackNote(BaseModel):
    ref: MessageRef
    text: str


class SlackMessagePost(BaseModel):
    channel: str
    message: ChatMessage
    thread: MessageRef | None = None


class JiraNote(BaseModel):
    key: str
    text: str


def _translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Map our port errors onto Temporal's retry semantics."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except PermanentError as err:
            raise ApplicationError(str(err), type="PermanentError", non_retryable=True) from err
        except TransientError as err:
            delay = timedelta(seconds=err.retry_after) if err.retry_after else None
            raise ApplicationError(str(err), type="TransientError", next_retry_delay=delay) from err

    return wrapper


class NotifyActivities:
    def __init__(
        self,
        *,
        chat: ChatOps,
        pager: Pager,
        tracker: Tracker,
        policy: Callable[[], RoutingPolicy],
        ui_base_url: str | None = None,
        namespace: str = "default",
    ) -> None:
        self._chat, self._pager, self._tracker, self._policy = chat, pager, tracker, policy
        self._ui = ui_base_url.rstrip("/") if ui_base_url else None
        self._namespace = namespace

    def _with_links(self, card: IncidentCard) -> IncidentCard:
        if self._ui and not card.ui_url:
            return card.model_copy(
                update={"ui_url": f"{self._ui}/namespaces/{self._namespace}/workflows/{card.incident_id}"}
            )
        return card

    @activity.defn(name="notify.plan")
    def plan(self, request: PlanRequest) -> NotificationPlan:
        """Decide channels and escalation with the routing policy as it is *now* (recorded in history)."""
        return plan_notifications(
            self._policy(),
            priority=request.priority,
            owner=request.owner,
            services=request.services,
            at=activity.info().current_attempt_scheduled_time,
        )

    @activity.defn(name="notify.slack_post")
    @_translated
    def slack_post(self, request: SlackPost) -> MessageRef:
        return self._chat.post(request.channel, render_card(self._with_links(request.card)))

    @activity.defn(name="notify.slack_update")
    @_translated
    def slack_update(self, request: SlackUpdate) -> MessageRef:
        return self._chat.update(request.ref, render_card(self._with_links(request.card)))

    @activity.defn(name="notify.slack_thread")
    @_translated
    def slack_thread(self, request: SlackNote) -> MessageRef:
        return self._chat.post(request.ref.channel, render_note(request.text), thread=request.ref)

    @activity.defn(name="notify.slack_message")
    @_translated
    def slack_message(self, request: SlackMessagePost) -> MessageRef:
        return self._chat.post(request.channel, request.message, thread=request.thread)

    @activity.defn(name="notify.page")
    @_translated
    def page(self, request: Page) -> str:
        return self._pager.send(request)

    @activity.defn(name="notify.jira_ensure")
    @_translated
    def jira_ensure(self, request: IssueRequest) -> str:
        return self._tracker.ensure_issue(request)

    @activity.defn(name="notify.jira_comment")
    @_translated
    def jira_comment(self, request: JiraNote) -> None:
        self._tracker.comment(request.key, request.text)

    @activity.defn(name="notify.jira_close")
    @_translated
    def jira_close(self, request: JiraNote) -> None:
        self._tracker.close(request.key, request.text)

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
