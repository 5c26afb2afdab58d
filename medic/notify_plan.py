"""What the notifier is to do for an incident: the plan :func:`medic.routing.plan_notifications`
decides and the ``notify.plan`` activity records in the workflow's history.

Every chat channel is a :class:`ChatTarget` (its kind and its name there), Slack's as much as Teams' or
any kind a worker registers; what each kind can do besides posting (edit the card in place, reply under
it) is recorded with the plan by the worker, from the adapters it runs, so the workflow decides on it
deterministically. Plans recorded by earlier versions named Slack's channels apart
(``slack_channels``, ``fallback_slack_channel``): the validators read them into today's fields.
"""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from medic.insights import Demotion
from medic.vocab import Priority

__all__ = [
    "JIRA_OWN_FIELDS",
    "JIRA_PRIORITIES",
    "SLACK_ABILITIES",
    "ChatAbilities",
    "ChatTarget",
    "NotificationPlan",
    "PlannedLevel",
]

# The fields of a JIRA issue Medic sets itself (the policy's ``jira_fields`` may not name them).
JIRA_OWN_FIELDS = frozenset(
    {"project", "summary", "description", "issuetype", "labels", "priority", "components"}
)
# Medic's priorities in Jira's default priority scheme (the policy's ``jira_priorities`` rename them).
JIRA_PRIORITIES: dict[Priority, str] = {
    Priority.P1: "Highest",
    Priority.P2: "High",
    Priority.P3: "Medium",
    Priority.P4: "Low",
    Priority.P5: "Lowest",
}


class ChatTarget(BaseModel):
    """A chat channel: the chat's kind and the channel's name there (a Slack channel, the name of a Teams
    Workflows webhook in MEDIC_TEAMS_WEBHOOKS, ...)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,30}$", description="the chat: slack, teams, ...")
    channel: str = Field(min_length=1, max_length=200, description="the channel's name in that chat")

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.channel}"

    @property
    def label(self) -> str:
        """How the timeline names it: ``Slack #data-oncall``, ``Teams oncall``."""
        return f"{self.kind.capitalize()} {self.channel}"


class ChatAbilities(BaseModel):
    """What a chat can do besides posting, as its adapter declares it (``medic.ports.EditableChat``,
    ``ThreadedChat``): a chat that edits has its card brought up to date in place; a chat with threads
    gets the timeline as replies under its first card; any other gets a follow-up note per status
    change."""

    edits: bool = False
    threads: bool = False


# What the notifier did with Slack before Slack was a chat like the others (plans recorded then).
SLACK_ABILITIES = ChatAbilities(edits=True, threads=True)


def _slack(channel: Any) -> dict[str, Any]:
    return {"kind": "slack", "channel": channel}


def _without(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in names}


class PlannedLevel(BaseModel):
    after_seconds: float
    routing_key_names: list[str]
    chat: list[ChatTarget] = Field(default_factory=list, description="channels that join at this level")
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _recorded(cls, data: Any) -> Any:
        """Levels recorded before chat targets named Slack channels only (``slack_channels``)."""
        if isinstance(data, dict) and "slack_channels" in data:
            slack = [_slack(c) for c in data["slack_channels"] or []]
            return {**_without(data, "slack_channels"), "chat": slack + list(data.get("chat") or [])}
        return data


class NotificationPlan(BaseModel):
    """What to do for an incident at its current priority, decided by
    :func:`medic.routing.plan_notifications`."""

    rule: str | None
    chat: list[ChatTarget] = Field(default_factory=list, description="the chat channels, Slack's first")
    fallback: ChatTarget | None = Field(
        default=None,
        description="where the card goes when no channel of its kind is planned or took it (Slack's "
        "fallback channel)",
    )
    pagerduty: str | None = Field(description="routing-key name of the first page, if paging")
    jira_project: str | None
    jira_issue_type: str = "Bug"
    # Added later: plans recorded without them use Jira's default priority names and no more fields.
    jira_priorities: dict[str, str] = Field(
        default_factory=dict, description="Medic's priority -> its name in the Jira site (the policy's)"
    )
    jira_fields: dict[str, Any] = Field(
        default_factory=dict, description="more fields for the issue Medic opens (the policy's)"
    )
    escalation: list[PlannedLevel] = Field(default_factory=list)
    hold_until: datetime | None = Field(
        default=None, description="quiet hours: notify only from this time on"
    )
    # Added later: recorded plans without them deserialize to "none", so old histories schedule nothing new.
    pager_notes: bool = Field(
        default=False, description="the pager keeps notes on its alerts (Opsgenie): set by the worker"
    )
    demoted: Demotion | None = Field(
        default=None, description="chat only, by Medic's learning (the team opted in): why"
    )
    pagers: dict[str, str] = Field(
        default_factory=dict,
        description="routing-key name -> the pager(s) it pages as the timeline names them (Opsgenie, "
        "PagerDuty, PagerDuty and Opsgenie): set by the worker; plans from before name none (PagerDuty)",
    )
    abilities: dict[str, ChatAbilities] = Field(
        default_factory=dict,
        description="chat kind -> what it can do besides posting: set by the worker from its adapters",
    )

    @model_validator(mode="before")
    @classmethod
    def _recorded(cls, data: Any) -> Any:
        """Plans recorded before Slack was a chat like the others: ``slack_channels`` first in ``chat``
        (which held the other chats), ``fallback_slack_channel`` the fallback, and Slack's abilities as
        the notifier used them then (edited in place, threaded)."""
        if not isinstance(data, dict) or "slack_channels" not in data:
            return data
        slack = [_slack(c) for c in data["slack_channels"] or []]
        return {
            **_without(data, "slack_channels", "fallback_slack_channel"),
            "chat": slack + list(data.get("chat") or []),
            "fallback": data.get("fallback") or _slack(data.get("fallback_slack_channel", "#incidents")),
            "abilities": data.get("abilities") or {"slack": SLACK_ABILITIES.model_dump()},
        }

    def can(self, kind: str) -> ChatAbilities:
        return self.abilities.get(kind, ChatAbilities())

    def jira_priority(self, priority: str) -> str:
        """The name of Medic's ``priority`` in the Jira site."""
        return self.jira_priorities.get(priority) or JIRA_PRIORITIES.get(Priority(priority), "Medium")

    def channels(self, kind: str) -> list[str]:
        """The planned channels of one chat kind."""
        return [t.channel for t in self.chat if t.kind == kind]

    def fallback_channel(self, kind: str) -> str | None:
        return self.fallback.channel if self.fallback and self.fallback.kind == kind else None
