"""The routing policy: who hears about an incident, when, and how it escalates.

Loaded from YAML beside the catalog (MEDIC_ROUTING, default ``routing.yaml``) and validated
by ``medic check``. Rules are tried in order and the first whose match fits decides the
channels; its escalation chain pages on durable timers until someone acknowledges. A team may let
Medic demote the rules its insights say nobody acts on to chat only (``learning:``, opt-in per rule).
Chats are named by their own fields (``slack_channels``, ``teams_channels``) or generically
(``chat: [{kind, channel}]``, for any kind a worker registers); the plan holds them all as
:class:`~medic.notify_plan.ChatTarget` s.
"""

import re
from collections.abc import Callable, Collection
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medic.access import AccessPolicy
from medic.catalog import SLACK_CHANNEL, TEAMS_CHANNEL, Catalog, SlackChannel, TeamsChannel
from medic.dead_man import HeartbeatRule, default_heartbeats
from medic.insights import Demoted, TeamLearning, demotion_for
from medic.meta_alerts import IgnoreRule, default_ignored
from medic.notify_plan import JIRA_OWN_FIELDS, ChatAbilities, ChatTarget, NotificationPlan, PlannedLevel
from medic.pipeline_alerts import PIPELINE_SERVICE
from medic.topology import ServiceContext
from medic.vocab import Priority
from medic.yamldoc import ConfigProblem, did_you_mean, field_path, load_checked, locate

__all__ = [
    "DEFAULT_KEY",
    "ChatAbilities",
    "ChatTarget",
    "EscalationLevel",
    "NotificationPlan",
    "PlannedLevel",
    "RoutingPolicy",
    "Rule",
    "TimeWindow",
    "load_routing",
    "pager_routes",
    "plan_notifications",
]

_PRIORITIES = frozenset(Priority)
_JIRA_FIELD_ID = re.compile(r"customfield_[0-9]+|[a-zA-Z][a-zA-Z0-9]*")
_ROLES = ("primary", "secondary", "manager")
PAGER_KINDS = ("pagerduty", "opsgenie", "both")


class TimeWindow(BaseModel):
    """A daily window in the policy's timezone; ``start`` after ``end`` wraps midnight."""

    model_config = ConfigDict(extra="forbid")

    start: time
    end: time
    days: list[int] = Field(default_factory=lambda: list(range(7)), description="0 = Monday .. 6 = Sunday")

    def contains(self, local: datetime) -> bool:
        now = local.time()
        if self.start <= self.end:
            inside, day = self.start <= now < self.end, local.weekday()
        else:  # wraps midnight: the part after midnight belongs to the previous day's window
            inside = now >= self.start or now < self.end
            day = local.weekday() if now >= self.start else (local.weekday() - 1) % 7
        return inside and day in self.days

    def end_after(self, local: datetime) -> datetime:
        """The first end of this window after ``local`` (same timezone)."""
        candidate = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return candidate if candidate > local else candidate + timedelta(days=1)


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: list[str] = Field(default_factory=list)
    team: list[str] = Field(default_factory=list)
    service: list[str] = Field(default_factory=list)
    cluster: list[str] = Field(
        default_factory=list,
        description="the incident's cluster (its alerts' MEDIC_CLUSTER_LABEL) is one of these; needs "
        "MEDIC_INCIDENTS_PER_CLUSTER (without it an incident is no one cluster's, and this never matches)",
    )
    hours: TimeWindow | None = Field(default=None, description="only during this daily window")

    @field_validator("priority")
    @classmethod
    def _priorities(cls, value: list[str]) -> list[str]:
        for p in value:
            if p not in _PRIORITIES:
                raise ValueError(f"{p!r} is not a priority (P1..P5)")
        return value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    match: Match = Field(default_factory=Match)
    slack: bool = Field(default=True, description="post to the owning team's channel from the catalog")
    slack_channels: list[SlackChannel] = Field(default_factory=list, description="extra channels")
    teams: bool = Field(default=False, description="post to the owning team's Teams channel from the catalog")
    teams_channels: list[TeamsChannel] = Field(
        default_factory=list, description="extra Teams channels (webhook names in MEDIC_TEAMS_WEBHOOKS)"
    )
    chat: list[ChatTarget] = Field(
        default_factory=list, description="extra channels of any chat kind: [{kind, channel}]"
    )

    @field_validator("chat")
    @classmethod
    def _chat_channels(cls, targets: list[ChatTarget]) -> list[ChatTarget]:
        return checked_channels(targets)

    pagerduty: bool = Field(
        default=False,
        description="page the team through its pager: PagerDuty or Opsgenie, as the team's `pager` (or "
        "MEDIC_PAGER) says; `page: true` is the same",
    )
    page: bool = Field(
        default=False,
        description="the same as `pagerduty: true`, in words that fit a team paged by Opsgenie",
    )
    jira: bool = False
    escalation: str | None = Field(default=None, description="name of an escalation chain")
    quiet_hours: TimeWindow | None = Field(default=None, description="hold notifications during this window")

    @model_validator(mode="after")
    def _page_is_pagerduty(self) -> "Rule":
        """An Opsgenie-only team read `pagerduty: true` as PagerDuty's (a walk-through, 2026-12-07)."""
        if self.page:
            self.pagerduty = True
        return self


class EscalationLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_minutes: float = Field(
        ge=0, description="minutes after the incident opened without an acknowledgement"
    )
    page: list[str] = Field(
        default_factory=list, description="roles (primary, secondary, manager) or key names"
    )
    slack_channels: list[SlackChannel] = Field(default_factory=list)
    teams_channels: list[TeamsChannel] = Field(
        default_factory=list, description="Teams channels told at this level (webhook names)"
    )
    chat: list[ChatTarget] = Field(
        default_factory=list, description="channels of any chat kind told at this level: [{kind, channel}]"
    )

    @field_validator("chat")
    @classmethod
    def _chat_channels(cls, targets: list[ChatTarget]) -> list[ChatTarget]:
        return checked_channels(targets)

    note: str = ""

    def targets(self) -> list[ChatTarget]:
        return _targets(slack=self.slack_channels, teams=self.teams_channels, other=self.chat)


class Oncall(BaseModel):
    """Routing-key *names* per role (the keys themselves live in secrets), and which pager they page."""

    model_config = ConfigDict(extra="forbid")

    primary: str | None = None
    secondary: str | None = None
    manager: str | None = None
    pager: str | None = Field(
        default=None,
        description="who pages this team's key names: pagerduty, opsgenie or both (default: MEDIC_PAGER)",
        json_schema_extra={"enum": [*PAGER_KINDS, None]},
    )

    @field_validator("pager")
    @classmethod
    def _pager(cls, value: str | None) -> str | None:
        if value is not None and value not in PAGER_KINDS:
            raise ValueError(
                f"unknown pager {value!r}{did_you_mean(value, PAGER_KINDS)}: {', '.join(PAGER_KINDS)}"
            )
        return value

    def key_names(self) -> list[str]:
        return [k for k in (self.primary, self.secondary, self.manager) if k]


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    fallback_slack_channel: SlackChannel = "#incidents"
    fallback_teams_channel: TeamsChannel | None = Field(
        default=None,
        description="an organisation on Teams: the Teams channel (a MEDIC_TEAMS_WEBHOOKS name) that takes "
        "the card of an incident whose plan names no Slack channel and no Teams channel (no owner in the "
        "catalog, a missing heartbeat, no rule matched), and replaces a Teams channel that fails for good; "
        "plans that name a Slack channel keep fallback_slack_channel",
    )
    jira_issue_type: str = "Bug"
    jira_priorities: dict[Priority, str] = Field(
        default_factory=dict,
        description="Medic's priority -> the name of a priority in your Jira (unset: Highest, High, "
        "Medium, Low, Lowest for P1-P5, Jira's default scheme)",
    )
    jira_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="more fields for every issue Medic opens, as Jira's REST API takes them (a "
        "project's required custom fields: customfield_10042: {value: Production}); a field a "
        "project's create screen does not have is left out there",
    )
    teams: dict[str, Oncall] = Field(default_factory=dict)
    escalations: dict[str, list[EscalationLevel]] = Field(default_factory=dict)
    approvers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="deprecated, use access.approve: risk (low/medium/high) -> Slack user ids",
    )
    access: AccessPolicy = Field(
        default_factory=AccessPolicy, description="who may run which /medic command or press which button"
    )
    rules: list[Rule] = Field(default_factory=list)
    learning: dict[str, TeamLearning] = Field(
        default_factory=dict,
        description="per team: the alert rules Medic may demote to chat only by itself when its insights "
        "propose it (opt-in; docs/anomaly.md)",
    )
    heartbeats: list[HeartbeatRule] = Field(
        default_factory=default_heartbeats,
        description="alerts that always fire to prove the alerting pipeline works (kube-prometheus's "
        "Watchdog): never an incident; Medic tells the rule's service when they stop (docs/heartbeats.md)."
        " Unset: Watchdog; [] turns it off",
    )
    ignore: list[IgnoreRule] = Field(
        default_factory=default_ignored,
        description="alerts about other alerts (kube-prometheus's InfoInhibitor, meant for Alertmanager's "
        "inhibit rule): acknowledged and counted, never an incident's (docs/kubernetes-alerts.md). Unset: "
        "InfoInhibitor; [] turns it off",
    )

    @field_validator("jira_fields")
    @classmethod
    def _jira_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if name in JIRA_OWN_FIELDS:
                raise ValueError(
                    f"jira_fields: {name!r} is Medic's to set (set jira_issue_type, "
                    "jira_priorities or the catalog's jira_project instead)"
                )
            if not _JIRA_FIELD_ID.fullmatch(name):
                raise ValueError(
                    f"jira_fields: {name!r} is no Jira field id (customfield_10042, environment)"
                )
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown timezone {value!r}") from err
        return value

    @classmethod
    def default(cls) -> "RoutingPolicy":
        """Without a policy file: every incident to its team's channel; P1 and P2 page, P1 opens an issue."""
        return cls(
            rules=[
                Rule(name="p1-default", match=Match(priority=[Priority.P1]), pagerduty=True, jira=True),
                Rule(name="p2-default", match=Match(priority=[Priority.P2]), pagerduty=True),
                Rule(name="default"),
            ]
        )

    def problems(
        self,
        root: yaml.Node | None,
        source: str,
        catalog: Catalog | None,
        key_names: Collection[str] | None = None,
    ) -> list[ConfigProblem]:
        out: list[ConfigProblem] = []
        if key_names is not None:  # only when the secrets' key names are known (medic check, start-up)
            out += self._page_problems(root, source, catalog, key_names)
        for i, rule in enumerate(self.rules):
            if rule.escalation and rule.escalation not in self.escalations:
                loc: tuple[int | str, ...] = ("rules", i, "escalation")
                out.append(
                    ConfigProblem(
                        source,
                        locate(root, loc),
                        field_path(loc),
                        f"unknown escalation chain {rule.escalation!r}"
                        f"{did_you_mean(rule.escalation, self.escalations)}",
                    )
                )
            nobody_on_teams = catalog is not None and not any(
                s.routing.teams_channel for s in catalog.services
            )
            if rule.teams and not rule.teams_channels and nobody_on_teams:
                loc = ("rules", i, "teams")
                out.append(
                    ConfigProblem(
                        source,
                        locate(root, loc),
                        field_path(loc),
                        "teams: true, but no service in the catalog has a routing.teams_channel "
                        "(and the rule names no teams_channels): nobody would hear on Teams",
                    )
                )
            if catalog is not None:
                teams = {s.team for s in catalog.services}
                for j, team in enumerate(rule.match.team):
                    if team not in teams:
                        loc = ("rules", i, "match", "team", j)
                        out.append(
                            ConfigProblem(
                                source,
                                locate(root, loc),
                                field_path(loc),
                                f"no service in the catalog belongs to team {team!r}",
                            )
                        )
                for j, service in enumerate(rule.match.service):
                    if catalog.resolve(service) is None:
                        loc = ("rules", i, "match", "service", j)
                        out.append(
                            ConfigProblem(
                                source,
                                locate(root, loc),
                                field_path(loc),
                                f"unknown service {service!r}{did_you_mean(service, catalog.by_name)}",
                            )
                        )
        out += self._learning_problems(root, source, catalog)
        out += self._heartbeat_problems(root, source, catalog)
        out += self._ignore_problems(root, source)
        for where, message in self.access.problems_at():
            loc = ("access", *where)
            out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message))
        for name, levels in self.escalations.items():
            afters = [level.after_minutes for level in levels]
            if afters != sorted(afters):
                loc = ("escalations", name)
                out.append(
                    ConfigProblem(
                        source,
                        locate(root, loc),
                        field_path(loc),
                        "levels must be in increasing after_minutes",
                    )
                )
        return out

    def _heartbeat_problems(
        self, root: yaml.Node | None, source: str, catalog: Catalog | None
    ) -> list[ConfigProblem]:
        """Each heartbeat's name once; a ``service:`` the catalog knows (a warning: it runs, outside the
        catalog: no owner, the fallback channel), said only of heartbeats configured (the built-in Watchdog
        rule is used only by those who send Watchdog to Medic)."""
        out: list[ConfigProblem] = []
        seen: set[str] = set()
        for i, rule in enumerate(self.heartbeats):
            if rule.name in seen:
                loc: tuple[int | str, ...] = ("heartbeats", i, "name")
                message = f"heartbeat {rule.name!r} is defined twice"
                out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message))
            seen.add(rule.name)
            if (
                catalog is not None
                and "heartbeats" in self.model_fields_set
                and catalog.resolve(rule.service) is None
            ):
                loc = ("heartbeats", i, "service")
                near = did_you_mean(rule.service, catalog.by_name)
                message = (
                    f"service {rule.service!r} is not in the catalog{near}: a missing heartbeat would be"
                    " an incident outside it (no owner: the fallback channel, P2 all the same); name the"
                    " service of your monitoring stack"
                )
                out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message, warning=True))
            elif (
                catalog is not None
                and "heartbeats" in self.model_fields_set
                and (told := catalog.resolve(rule.service)) is not None
                and catalog.resolve(PIPELINE_SERVICE) != told
            ):
                loc = ("heartbeats", i, "service")
                message = (
                    f"the monitoring stack's own alerts (Alertmanager's, Prometheus'...) go to "
                    f"{PIPELINE_SERVICE!r}, not to {told!r} where this heartbeat is told: give {told} "
                    f"the alias {PIPELINE_SERVICE!r} in the catalog to have one incident for both"
                )
                out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message, warning=True))
        return out

    def _ignore_problems(self, root: yaml.Node | None, source: str) -> list[ConfigProblem]:
        """Each rule's name once; a rule that would set a heartbeat's beats aside is refused (beats are
        taken first: it would never match, and say nothing)."""
        out: list[ConfigProblem] = []
        seen: set[str] = set()
        for i, rule in enumerate(self.ignore):
            loc: tuple[int | str, ...] = ("ignore", i, "name")
            if rule.name in seen:
                out.append(ConfigProblem(source, locate(root, loc), field_path(loc), f"{rule.name!r} twice"))
            seen.add(rule.name)
            for beat in self.heartbeats:
                if rule.matches(beat.match) or beat.matches(rule.match):
                    loc = ("ignore", i, "match")
                    message = (
                        f"matches the alerts of heartbeat {beat.name!r}, which are beats, never ignored: "
                        "remove the heartbeat (heartbeats:) to set them aside"
                    )
                    out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message))
        return out

    def _learning_problems(
        self, root: yaml.Node | None, source: str, catalog: Catalog | None
    ) -> list[ConfigProblem]:
        """A ``learning:`` entry names a team of the catalog (the incident's owning team decides)."""
        if catalog is None:
            return []
        teams = {s.team for s in catalog.services if s.team}
        out: list[ConfigProblem] = []
        for team in self.learning:
            if team not in teams:
                loc: tuple[int | str, ...] = ("learning", team)
                out.append(
                    ConfigProblem(
                        source,
                        locate(root, loc),
                        field_path(loc),
                        f"no service in the catalog belongs to team {team!r}{did_you_mean(team, teams)}",
                    )
                )
        return out

    def _page_problems(
        self, root: yaml.Node | None, source: str, catalog: Catalog | None, key_names: Collection[str]
    ) -> list[ConfigProblem]:
        """A page entry is a role or a routing-key name the policy, the catalog or the secrets know;
        anything else is a typo that would page nobody (``page: [managr]``)."""
        known = {*_ROLES, *key_names}
        for oncall in self.teams.values():
            known |= {k for k in (oncall.primary, oncall.secondary, oncall.manager) if k}
        if catalog is not None:
            known |= {s.routing.pagerduty for s in catalog.services if s.routing.pagerduty}
        out: list[ConfigProblem] = []
        for name, levels in self.escalations.items():
            for i, level in enumerate(levels):
                for j, entry in enumerate(level.page):
                    if entry not in known:
                        loc: tuple[int | str, ...] = ("escalations", name, i, "page", j)
                        out.append(
                            ConfigProblem(
                                source,
                                locate(root, loc),
                                field_path(loc),
                                f"unknown page role {entry!r}{did_you_mean(entry, known)}: a role "
                                f"({', '.join(_ROLES)}) or a routing-key name from teams:, the catalog "
                                "or MEDIC_PAGERDUTY_ROUTING_KEYS",
                            )
                        )
        return out


_CHANNEL_PATTERNS = {
    "slack": (SLACK_CHANNEL, "a Slack channel"),
    "teams": (TEAMS_CHANNEL, "a Teams webhook name"),
}


def checked_channels(targets: list[ChatTarget]) -> list[ChatTarget]:
    """A ``chat:`` entry of a kind Medic ships (Slack, Teams) is held to the same channel pattern as
    ``slack_channels`` / ``teams_channels``: a bad name is refused at load, not at the first post."""
    for target in targets:
        known = _CHANNEL_PATTERNS.get(target.kind)
        if known is not None and re.fullmatch(known[0], target.channel) is None:
            raise ValueError(f"{target.channel!r} is not {known[1]} (pattern {known[0]})")
    return targets


def _targets(*, slack: list[str], teams: list[str], other: list[ChatTarget]) -> list[ChatTarget]:
    """Chat targets in order (Slack's, Teams', the generic ones), each once."""
    named = [ChatTarget(kind="slack", channel=c) for c in slack]
    named += [ChatTarget(kind="teams", channel=c) for c in teams]
    out: dict[str, ChatTarget] = {}
    for target in [*named, *other]:
        out.setdefault(target.key, target)
    return list(out.values())


def pager_routes(policy: RoutingPolicy) -> dict[str, str]:
    """Routing-key name -> pager kind, from the ``teams:`` entries that name a ``pager``; names not in it
    page whatever MEDIC_PAGER says. A name two teams route differently keeps the first (``medic check``
    reports it)."""
    routes: dict[str, str] = {}
    for oncall in policy.teams.values():
        if oncall.pager:
            for name in oncall.key_names():
                routes.setdefault(name, oncall.pager)
    return routes


DEFAULT_KEY = "default"
"""The routing-key name an incident pages when neither its service nor its team names one: each pager's
default key (``MEDIC_PAGERDUTY_ROUTING_KEY``, ``MEDIC_OPSGENIE_API_KEY``; every name falls back to it).
Not for a team whose ``teams:`` entry names a pager of its own but no primary: as it says."""


def _role_key(policy: RoutingPolicy, team: str | None, role: str, default: str | None) -> str | None:
    oncall = policy.teams.get(team or "")
    if role in ("primary", "secondary", "manager"):
        value: str | None = getattr(oncall, role) if oncall else None
        return value or (default if role == "primary" else None)
    return role  # a routing-key name given directly


def plan_notifications(
    policy: RoutingPolicy,
    *,
    priority: str,
    owner: ServiceContext | None,
    services: list[ServiceContext],
    at: datetime,
    rules: Collection[str] = (),
    demoted: Demoted | None = None,
    default_jira_project: str | None = None,
) -> NotificationPlan:
    """Pick the first rule matching the incident (priority, owning team, services, cluster, time of day).

    ``default_jira_project`` (MEDIC_JIRA_PROJECT): where a rule that opens an issue files it when the
    owning service's catalog entry names no project (or no service owns the incident).

    ``rules`` are the incident's alert rules and ``demoted`` the rules Medic's insights propose to
    demote now, per team (team -> rule -> evidence): where the owning team opted in for every one of
    them, a plan that would page, escalate or open an issue is cut to its chat channels, saying why
    (``demoted``)."""
    local = at.astimezone(ZoneInfo(policy.timezone))
    teams = {s.team for s in services if s.team}
    names = {s.name for s in services}
    clusters = {s.cluster for s in services if s.cluster}
    for rule in policy.rules:
        m = rule.match
        if m.priority and priority not in m.priority:
            continue
        if m.team and not teams & set(m.team):
            continue
        if m.service and not names & set(m.service):
            continue
        if m.cluster and not clusters & set(m.cluster):
            continue
        if m.hours and not m.hours.contains(local):
            continue
        team = owner.team if owner else None
        channels: list[str] = []
        if rule.slack:
            channels.append(
                owner.routing.slack_channel
                if owner and owner.routing.slack_channel
                else policy.fallback_slack_channel
            )
        channels += rule.slack_channels
        on_teams = (
            [owner.routing.teams_channel] if rule.teams and owner and owner.routing.teams_channel else []
        )
        on_teams += rule.teams_channels
        # A rule that pages pages someone: an incident no catalog service owns (a missing heartbeat of
        # the alerting pipeline, an exporter's alert), or whose service and team name no key, pages the
        # default key, where it once paged nobody while saying it did.
        oncall = policy.teams.get(team or "")
        primary = (owner.routing.pagerduty if owner else None) or _role_key(policy, team, "primary", None)
        if primary is None and (oncall is None or oncall.pager is None):
            primary = DEFAULT_KEY  # (a team that names a pager of its own but no primary: as it says)
        levels = []
        for level in policy.escalations.get(rule.escalation or "", []):
            keys = [k for role in level.page if (k := _role_key(policy, team, role, primary))]
            levels.append(
                PlannedLevel(
                    after_seconds=level.after_minutes * 60,
                    routing_key_names=keys,
                    chat=level.targets(),
                    note=level.note,
                )
            )
        hold = None
        if rule.quiet_hours and rule.quiet_hours.contains(local):
            hold = rule.quiet_hours.end_after(local).astimezone(at.tzinfo)
        chat = _targets(slack=channels, teams=on_teams, other=rule.chat)
        plan = NotificationPlan(
            rule=rule.name,
            chat=chat,
            fallback=_fallback(policy, chat, slack=rule.slack),
            pagerduty=primary if rule.pagerduty else None,
            jira_project=((owner.routing.jira_project if owner else None) or default_jira_project)
            if rule.jira
            else None,
            jira_issue_type=policy.jira_issue_type,
            jira_priorities={str(k): v for k, v in policy.jira_priorities.items()},
            jira_fields=policy.jira_fields,
            escalation=levels,
            hold_until=hold,
        )
        return _demote(plan, policy, team=team, rules=rules, demoted=demoted or {}, priority=priority)
    fallback = _fallback(policy, [], slack=False) or ChatTarget(
        kind="slack", channel=policy.fallback_slack_channel
    )
    return NotificationPlan(rule=None, chat=[fallback], fallback=fallback, pagerduty=None, jira_project=None)


def _fallback(policy: RoutingPolicy, chat: list[ChatTarget], *, slack: bool) -> ChatTarget | None:
    """The channel that takes the card where the plan's own channels of its kind did not.

    Slack's fallback channel takes it where no Slack channel did; not where the rule said no Slack and
    names other chats (a Teams-only team's incidents all went to #incidents too). With
    ``fallback_teams_channel``, a plan that names no Slack channel falls back on that Teams channel: an
    incident with no owner (a service outside the catalog, the alerting pipeline's missing heartbeat)
    went to Slack's fallback channel, which a Teams-only organisation has no credentials for: nobody saw
    it in any chat."""
    no_slack = all(t.kind != "slack" for t in chat)
    if policy.fallback_teams_channel is not None and no_slack:
        return ChatTarget(kind="teams", channel=policy.fallback_teams_channel)
    if not slack and chat and no_slack:
        return None
    return ChatTarget(kind="slack", channel=policy.fallback_slack_channel)


def _demote(
    plan: NotificationPlan,
    policy: RoutingPolicy,
    *,
    team: str | None,
    rules: Collection[str],
    demoted: Demoted,
    priority: str,
) -> NotificationPlan:
    if not (plan.pagerduty or plan.escalation or plan.jira_project):
        return plan  # chat only already: nothing to demote, nothing to say
    why = demotion_for(policy.learning, team=team, rules=rules, demoted=demoted, priority=priority)
    if why is None:
        return plan
    return plan.model_copy(update={"pagerduty": None, "escalation": [], "jira_project": None, "demoted": why})


def load_routing(
    text: str,
    *,
    source: str = "routing.yaml",
    catalog: Catalog | None = None,
    key_names: Collection[str] | None = None,
    extra_check: Callable[[RoutingPolicy, yaml.Node | None], list[ConfigProblem]] | None = None,
) -> RoutingPolicy:
    """Parse, validate and cross-check; ``key_names`` are the routing-key names the secrets define
    (given, every ``page:`` entry must be a role or a known key name); ``extra_check`` adds problems
    located in the same file (``medic check``: the secrets' names, :mod:`medic.routing_secrets`)."""

    def cross_check(policy: RoutingPolicy, root: yaml.Node | None) -> list[ConfigProblem]:
        extra = extra_check(policy, root) if extra_check else []
        return policy.problems(root, source, catalog, key_names) + extra

    return load_checked(text, RoutingPolicy, source=source, cross_check=cross_check)
