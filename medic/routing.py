"""The routing policy: who hears about an incident, when, and how it escalates.

Loaded from YAML beside the catalog (MEDIC_ROUTING, default ``routing.yaml``) and validated
by ``medic check``. Rules are tried in order and the first whose match fits decides the
channels; its escalation chain pages on durable timers until someone acknowledges.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medic.access import AccessPolicy
from medic.catalog import Catalog, SlackChannel
from medic.topology import ServiceContext
from medic.yamldoc import ConfigError, ConfigProblem, field_path, load_yaml_model, locate

__all__ = [
    "EscalationLevel",
    "NotificationPlan",
    "PlannedLevel",
    "RoutingPolicy",
    "Rule",
    "TimeWindow",
    "load_routing",
    "plan_notifications",
]

_PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


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
    pagerduty: bool = False
    jira: bool = False
    escalation: str | None = Field(default=None, description="name of an escalation chain")
    quiet_hours: TimeWindow | None = Field(default=None, description="hold notifications during this window")


class EscalationLevel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_minutes: float = Field(
        ge=0, description="minutes after the incident opened without an acknowledgement"
    )
    page: list[str] = Field(
        default_factory=list, description="roles (primary, secondary, manager) or key names"
    )
    slack_channels: list[SlackChannel] = Field(default_factory=list)
    note: str = ""


class Oncall(BaseModel):
    """PagerDuty routing-key *names* per role; the keys themselves live in secrets."""

    model_config = ConfigDict(extra="forbid")

    primary: str | None = None
    secondary: str | None = None
    manager: str | None = None


class RoutingPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "UTC"
    fallback_slack_channel: SlackChannel = "#incidents"
    jira_issue_type: str = "Bug"
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
                Rule(name="p1-default", match=Match(priority=["P1"]), pagerduty=True, jira=True),
                Rule(name="p2-default", match=Match(priority=["P2"]), pagerduty=True),
                Rule(name="default"),
            ]
        )

    def problems(self, root: yaml.Node | None, source: str, catalog: Catalog | None) -> list[ConfigProblem]:
        out: list[ConfigProblem] = []
        for i, rule in enumerate(self.rules):
            if rule.escalation and rule.escalation not in self.escalations:
                loc: tuple[int | str, ...] = ("rules", i, "escalation")
                out.append(
                    ConfigProblem(
                        source,
                        locate(root, loc),
                        field_path(loc),
                        f"unknown escalation chain {rule.escalation!r}",
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
                                source, locate(root, loc), field_path(loc), f"unknown service {service!r}"
                            )
                        )
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


class PlannedLevel(BaseModel):
    after_seconds: float
    routing_key_names: list[str]
    slack_channels: list[str]
    note: str = ""


class NotificationPlan(BaseModel):
    """What to do for an incident at its current priority, decided by :func:`plan_notifications`."""

    rule: str | None
    slack_channels: list[str]
    pagerduty: str | None = Field(description="routing-key name of the first page, if paging")
    jira_project: str | None
    jira_issue_type: str = "Bug"
    escalation: list[PlannedLevel] = Field(default_factory=list)
    hold_until: datetime | None = Field(
        default=None, description="quiet hours: notify only from this time on"
    )
    fallback_slack_channel: str = "#incidents"


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
) -> NotificationPlan:
    """Pick the first rule matching the incident (priority, owning team, services, time of day)."""
    local = at.astimezone(ZoneInfo(policy.timezone))
    teams = {s.team for s in services if s.team}
    names = {s.name for s in services}
    for rule in policy.rules:
        m = rule.match
        if m.priority and priority not in m.priority:
            continue
        if m.team and not teams & set(m.team):
            continue
        if m.service and not names & set(m.service):
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
        channels += [c for c in rule.slack_channels if c not in channels]
        primary = owner.routing.pagerduty if owner else None
        levels = []
        for level in policy.escalations.get(rule.escalation or "", []):
            keys = [k for role in level.page if (k := _role_key(policy, team, role, primary))]
            levels.append(
                PlannedLevel(
                    after_seconds=level.after_minutes * 60,
                    routing_key_names=keys,
                    slack_channels=level.slack_channels,
                    note=level.note,
                )
            )
        hold = None
        if rule.quiet_hours and rule.quiet_hours.contains(local):
            hold = rule.quiet_hours.end_after(local).astimezone(at.tzinfo)
        return NotificationPlan(
            rule=rule.name,
            slack_channels=channels,
            pagerduty=(primary or _role_key(policy, team, "primary", None)) if rule.pagerduty else None,
            jira_project=(owner.routing.jira_project if owner else None) if rule.jira else None,
            jira_issue_type=policy.jira_issue_type,
            escalation=levels,
            hold_until=hold,
            fallback_slack_channel=policy.fallback_slack_channel,
        )
    return NotificationPlan(
        rule=None,
        slack_channels=[policy.fallback_slack_channel],
        pagerduty=None,
        jira_project=None,
        fallback_slack_channel=policy.fallback_slack_channel,
    )


def load_routing(text: str, *, source: str = "routing.yaml", catalog: Catalog | None = None) -> RoutingPolicy:
    policy, root = load_yaml_model(text, RoutingPolicy, source=source)
    problems = policy.problems(root, source, catalog)
    if problems:
        raise ConfigError(problems)
    return policy
