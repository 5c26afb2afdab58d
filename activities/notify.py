"""Notification activities: the workflow decides what to say, these say it.

Dependencies are injected (ports from ``medic.ports``), so the worker wires real adapters,
``medic dev`` the console notifier, and tests fakes or adapters pointed at local doubles. Chats (Slack,
Teams, ...) are ``CardChat`` s by kind: ``notify.chat_post`` / ``chat_update`` / ``chat_note`` dispatch
on it. ``notify.slack_post`` / ``slack_update`` / ``slack_thread`` are what incidents opened before the
``slack-as-card-chat`` patch still call: they stay registered for as long as such incidents may be open.
Errors: :class:`TransientError` is retried by Temporal (honouring Retry-After),
:class:`PermanentError` becomes a non-retryable ApplicationError the workflow records.
"""

from collections.abc import Callable, Mapping

from pydantic import BaseModel, Field
from temporalio import activity

from activities.errors import translated
from activities.observe import NO_RECORDER, Recorder, recorded
from activities.slack_cards import SlackCards
from medic.cards import IncidentCard, card_digest
from medic.insights import Demoted
from medic.ports import (
    CardChat,
    Change,
    ChatMessage,
    ChatOps,
    EditableChat,
    IssueLink,
    IssueRequest,
    IssueUpdate,
    MessageRef,
    NotePager,
    Page,
    Pager,
    PermanentError,
    ThreadedChat,
    Tracker,
)
from medic.routing import ChatAbilities, ChatTarget, NotificationPlan, RoutingPolicy, plan_notifications
from medic.topology import ServiceContext

__all__ = [
    "ChatCard",
    "ChatNote",
    "ChatUpdate",
    "JiraFile",
    "JiraLink",
    "JiraNote",
    "NotifyActivities",
    "PagerNote",
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
    # Added later (older workers ignore it): the incident's alert rules, for a demotion by learning.
    rules: list[str] = Field(default_factory=list, description="alert rules; empty: too many to say")
    demote: bool = Field(
        default=True, description="False: not demoted whatever learning says (it outlasted the demotion)"
    )


class SlackPost(BaseModel):
    """Before ``slack-as-card-chat`` (as ``SlackUpdate`` and ``SlackNote``): see ``ChatCard``."""

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


class SlackMessageUpdate(BaseModel):
    """A message Medic posted (an approval request), replaced once it is decided."""

    ref: MessageRef
    message: ChatMessage


class ChatCard(BaseModel):
    """The incident's card for a chat channel; the adapter of ``target.kind`` renders it."""

    target: ChatTarget
    card: IncidentCard


class ChatUpdate(BaseModel):
    """The card posted as ``ref``, brought up to date in place (chats that edit: ``EditableChat``)."""

    ref: MessageRef
    card: IncidentCard
    # The chat the card was posted in: its kind picks the adapter (an adapter's own MessageRef may leave
    # the kind at its default). Absent in requests recorded before: the ref's kind decides.
    target: ChatTarget | None = None
    # ``card_digest`` of the card as last sent to it (posted, or edited): an edit to the same is not sent.
    # Each run of a scan that extended its anomaly changed the incident and edited its card to the same
    # text (288 edits a day a series at the default 5 minutes). Decided here, not in the workflow, so
    # that what a card shows never decides the workflow's commands (a card that shows more would make
    # histories fail to replay).
    shown: str | None = None


class ChatNote(BaseModel):
    """A note in a chat channel: ``text`` shown as it is; ``link_url`` a link Medic made, after it. With
    ``thread``, a reply under that card (chats with threads: ``ThreadedChat``)."""

    target: ChatTarget
    text: str
    link_url: str | None = None
    link_text: str = "open it"
    thread: MessageRef | None = None


class PagerNote(BaseModel):
    """A note on the incident's alert, for pagers that keep notes (Opsgenie)."""

    routing_key_name: str
    dedup_key: str = Field(description="the alert's alias (the routing key's: NotificationState.alias)")
    text: str
    told_by: list[str] = Field(
        default_factory=list, description="routing keys that noted the same alias already (medic.ports.Page)"
    )


class JiraNote(BaseModel):
    key: str
    text: str


class JiraFile(BaseModel):
    """A file for the incident's issue (the postmortem, as Markdown: trackers do not render it)."""

    key: str
    filename: str
    content: str


class JiraLink(BaseModel):
    """Link issue ``key`` to ``other_key`` (a merged incident's issue to its cause's)."""

    key: str
    other_key: str
    kind: str = "Relates"


def pager_label(pager: object, routing_key_name: str) -> str:
    """How the timeline names the pager(s) a routing key pages: the adapter's ``label`` (a fan-out's
    ``label_for``); PagerDuty for a pager that says nothing (as the timeline always named it)."""
    label_for = getattr(pager, "label_for", None)
    if callable(label_for):
        return str(label_for(routing_key_name))
    return str(getattr(pager, "label", "PagerDuty"))


class NotifyActivities:
    def __init__(
        self,
        *,
        chat: ChatOps,
        pager: Pager,
        tracker: Tracker,
        policy: Callable[[], RoutingPolicy],
        chats: Mapping[str, CardChat] | None = None,
        demotions: Callable[[], Demoted] | None = None,
        workflow_url: Callable[[str], str] | None = None,
        sign_link: Callable[[str], str] | None = None,
        recorder: Recorder = NO_RECORDER,
        default_jira_project: str | None = None,
    ) -> None:
        self._chat, self._pager, self._tracker, self._policy = chat, pager, tracker, policy
        self._default_jira_project = default_jira_project  # MEDIC_JIRA_PROJECT
        self._rec = recorder
        # The rules Medic's insights propose to demote now (team -> rule -> proposal), kept in memory by the
        # worker (service.insights.LearningLoop): planning reads no history.
        self._demotions = demotions
        # Chat kind (slack, teams) -> its adapter. ``chat`` is Slack's transport: approval requests and
        # the activities of incidents from before ``slack-as-card-chat`` use it, and Slack's card chat
        # renders over it unless ``chats`` names another.
        self._slack_cards = SlackCards(chat)  # also the old slack_* activities' renderer
        self._chats: dict[str, CardChat] = {"slack": self._slack_cards, **(chats or {})}
        # What each chat can do besides posting, recorded with every plan (worked out once).
        self._abilities = {
            kind: ChatAbilities(edits=isinstance(c, EditableChat), threads=isinstance(c, ThreadedChat))
            for kind, c in self._chats.items()
        }
        self._workflow_url = workflow_url
        # Signs links to Medic's own read routes as they are posted (medic.links): the signature and
        # its expiry never enter the workflow's history, and the week it lasts starts when it is seen.
        self._sign_link = sign_link

    def _signed(self, url: str | None) -> str | None:
        """A link to Medic's own read routes, signed as it is posted (never in history)."""
        return self._sign_link(url) if url and self._sign_link is not None else url

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
        plan = plan_notifications(
            self._policy(),
            priority=request.priority,
            owner=request.owner,
            services=request.services,
            at=activity.info().current_attempt_scheduled_time,
            rules=request.rules,
            demoted=self._demotions() if self._demotions and request.rules and request.demote else None,
            default_jira_project=self._default_jira_project,
        )
        # Whether the pager keeps notes, and what each chat can do, is the worker's to say; recorded with
        # the plan, so the workflow decides on it deterministically.
        notes = isinstance(self._pager, NotePager) and getattr(self._pager, "keeps_notes", True)
        keys = {
            k for k in [plan.pagerduty, *(n for lv in plan.escalation for n in lv.routing_key_names)] if k
        }
        pagers = {k: pager_label(self._pager, k) for k in sorted(keys)}
        return plan.model_copy(update={"pager_notes": notes, "abilities": self._abilities, "pagers": pagers})

    @activity.defn(name="notify.slack_post")
    @translated
    def slack_post(self, request: SlackPost) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._slack_cards.post_card(request.channel, self._with_links(request.card))

    @activity.defn(name="notify.slack_update")
    @translated
    def slack_update(self, request: SlackUpdate) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._slack_cards.update_card(request.ref, self._with_links(request.card))

    @activity.defn(name="notify.slack_thread")
    @translated
    def slack_thread(self, request: SlackNote) -> MessageRef:
        with recorded(self._counter("slack")):
            link_url = self._signed(request.link_url)
            return self._slack_cards.reply(
                request.ref, request.text, link_url=link_url, link_text=request.link_text
            )

    @activity.defn(name="notify.slack_message")
    @translated
    def slack_message(self, request: SlackMessagePost) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._chat.post(request.channel, request.message, thread=request.thread)

    @activity.defn(name="notify.slack_message_update")
    @translated
    def slack_message_update(self, request: SlackMessageUpdate) -> MessageRef:
        with recorded(self._counter("slack")):
            return self._chat.update(request.ref, request.message)

    def _card_chat(self, kind: str, channel: str) -> CardChat:
        chat = self._chats.get(kind)
        if chat is None:
            raise PermanentError(f"no {kind} chat is configured (routing names {channel!r})")
        return chat

    @activity.defn(name="notify.chat_post")
    @translated
    def chat_post(self, request: ChatCard) -> MessageRef:
        chat = self._card_chat(request.target.kind, request.target.channel)
        with recorded(self._counter(request.target.kind)):
            return chat.post_card(request.target.channel, self._with_links(request.card))

    @activity.defn(name="notify.chat_update")
    @translated
    def chat_update(self, request: ChatUpdate) -> MessageRef:
        kind = request.target.kind if request.target is not None else request.ref.kind
        chat = self._card_chat(
            kind, request.target.channel if request.target is not None else request.ref.channel
        )
        if not isinstance(chat, EditableChat):  # the worker changed since the plan said it edits
            raise PermanentError(f"the {kind} chat cannot edit a posted card")
        if request.shown is not None and request.shown == card_digest(request.card):
            return request.ref  # it shows this already
        with recorded(self._counter(kind)):
            return chat.update_card(request.ref, self._with_links(request.card))

    @activity.defn(name="notify.chat_note")
    @translated
    def chat_note(self, request: ChatNote) -> MessageRef:
        chat = self._card_chat(request.target.kind, request.target.channel)
        with recorded(self._counter(request.target.kind)):
            link_url = self._signed(request.link_url)
            if request.thread is None:
                return chat.post_note(
                    request.target.channel, request.text, link_url=link_url, link_text=request.link_text
                )
            if not isinstance(chat, ThreadedChat):
                raise PermanentError(f"the {request.target.kind} chat has no threads")
            return chat.reply(request.thread, request.text, link_url=link_url, link_text=request.link_text)

    @activity.defn(name="notify.pager_note")
    @translated
    def pager_note(self, request: PagerNote) -> None:
        if not isinstance(self._pager, NotePager):
            return  # a pager without notes (the worker changed since the plan): nothing to keep
        with recorded(self._counter("opsgenie")):
            self._pager.note(
                request.routing_key_name, request.dedup_key, request.text, told_by=request.told_by
            )

    @activity.defn(name="notify.page")
    @translated
    def page(self, request: Page) -> str:
        with recorded(self._counter("pagerduty")):
            return self._pager.send(request)

    @activity.defn(name="notify.page_change")
    @translated
    def page_change(self, request: Change) -> None:
        with recorded(self._counter("pagerduty")):
            self._pager.change(request)

    @activity.defn(name="notify.jira_ensure")
    @translated
    def jira_ensure(self, request: IssueRequest) -> str:
        if self._workflow_url is not None and not request.links:
            # The link back to Medic is made here, from settings, so URLs never enter workflow history.
            incident = request.incident_id or request.dedup_label  # (the label was the id before)
            link = IssueLink(text="Incident in Medic", url=self._workflow_url(incident))
            request = request.model_copy(update={"links": [link]})
        with recorded(self._counter("jira")):
            return self._tracker.ensure_issue(request)

    @activity.defn(name="notify.jira_comment")
    @translated
    def jira_comment(self, request: JiraNote) -> None:
        with recorded(self._counter("jira")):
            self._tracker.comment(request.key, request.text)

    @activity.defn(name="notify.jira_attach")
    @translated
    def jira_attach(self, request: JiraFile) -> None:
        with recorded(self._counter("jira")):
            self._tracker.attach(request.key, filename=request.filename, content=request.content)

    @activity.defn(name="notify.jira_close")
    @translated
    def jira_close(self, request: JiraNote) -> None:
        with recorded(self._counter("jira")):
            self._tracker.close(request.key, request.text)

    @activity.defn(name="notify.jira_reopen")
    @translated
    def jira_reopen(self, request: JiraNote) -> None:
        with recorded(self._counter("jira")):
            self._tracker.reopen(request.key, request.text)

    @activity.defn(name="notify.jira_update")
    @translated
    def jira_update(self, request: IssueUpdate) -> None:
        with recorded(self._counter("jira")):
            self._tracker.update_issue(request)

    @activity.defn(name="notify.jira_link")
    @translated
    def jira_link(self, request: JiraLink) -> None:
        with recorded(self._counter("jira")):
            self._tracker.link(request.key, request.other_key, request.kind)

    def _counter(self, channel: str) -> Callable[[str], None]:
        """Each call's outcome for ``channel``; "console" for one that only went to the console notifier
        (no credentials: it reached nobody), so a missing secret shows on the dashboard, not as sent."""
        adapter = {"slack": self._chat, "pagerduty": self._pager, "opsgenie": self._pager}.get(channel)
        adapter = self._tracker if channel == "jira" else adapter or self._chats.get(channel)
        console = bool(getattr(adapter, "console", False))
        return lambda outcome: self._rec.notification(
            channel, "console" if console and outcome == "ok" else outcome
        )

    def all(self) -> list[Callable[..., object]]:
        return [
            self.slack_message,
            self.slack_message_update,
            self.plan,
            self.slack_post,
            self.slack_update,
            self.slack_thread,
            self.page,
            self.page_change,
            self.chat_post,
            self.chat_update,
            self.chat_note,
            self.pager_note,
            self.jira_ensure,
            self.jira_comment,
            self.jira_attach,
            self.jira_close,
            self.jira_link,
            self.jira_reopen,
            self.jira_update,
        ]
