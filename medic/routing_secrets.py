"""The routing policy against the secrets' *names* (``medic check``): the pager each team names has
credentials and a key for each of the team's routing-key names, every Teams channel routing names (a
rule's, an escalation level's) has a webhook, and every chat kind it names is one the worker runs. Only
names cross this boundary; the secrets' values never do."""

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field

import yaml

from medic.catalog import Catalog
from medic.routing import DEFAULT_KEY, ChatTarget, EscalationLevel, RoutingPolicy, Rule
from medic.yamldoc import ConfigProblem, did_you_mean, field_path, locate

__all__ = ["PAGER_SETTINGS", "SecretNames", "secret_problems", "teams_channels_used"]

PAGER_SETTINGS = {
    "pagerduty": "MEDIC_PAGERDUTY_ROUTING_KEY / MEDIC_PAGERDUTY_ROUTING_KEYS",
    "opsgenie": "MEDIC_OPSGENIE_API_KEY / MEDIC_OPSGENIE_API_KEYS",
}


@dataclass(frozen=True)
class SecretNames:
    """What the settings configure, by name: per pager kind its routing-key names and whether it has a
    default key; the Teams channels with a webhook; the chat kinds the worker posts to."""

    pager_keys: Mapping[str, Collection[str]] = field(default_factory=dict)
    pager_defaults: Collection[str] = ()
    default_pagers: Collection[str] = ()  # who pages a team that names no pager (MEDIC_PAGER)
    teams_webhooks: Collection[str] = ()
    chat_kinds: Collection[str] = ()

    def pager_configured(self, kind: str) -> bool:
        return kind in self.pager_defaults or bool(self.pager_keys.get(kind))


def secret_problems(
    policy: RoutingPolicy, root: yaml.Node | None, source: str, catalog: Catalog | None, names: SecretNames
) -> list[ConfigProblem]:
    """Pagers per team (when any pager has credentials) and Teams channels (when any webhook is set;
    with none, the console notifier stands in and the caller warns)."""
    out: list[ConfigProblem] = []

    def problem(loc: tuple[int | str, ...], message: str) -> None:
        out.append(ConfigProblem(source, locate(root, loc), field_path(loc), message))

    routed: dict[str, tuple[str, str]] = {}  # key name -> (team, pager)
    for team, oncall in policy.teams.items():
        for key in oncall.key_names() if oncall.pager else ():
            first = routed.setdefault(key, (team, oncall.pager or ""))
            if first[1] != oncall.pager:
                problem(
                    ("teams", team, "pager"),
                    f"routing-key name {key!r} is paged by {first[1]} for team {first[0]!r} but by "
                    f"{oncall.pager} here: one key name, one pager",
                )
    # A team that names no pager pages with MEDIC_PAGER's, but a key name it shares with a team that names
    # one goes to that team's pager for both (medic.routing.pager_routes): the shipped policy's
    # `manager: eng-managers` under every team, one team given `pager: opsgenie`, sent every team's
    # manager escalation to Opsgenie (a walk-through, 2026-12).
    configured = [k for k in names.default_pagers if names.pager_configured(k)]
    default = "both" if len(configured) > 1 else (configured[0] if configured else None)
    for team, oncall in policy.teams.items():
        for key in oncall.key_names() if default and not oncall.pager else ():
            named = routed.get(key)
            if named is not None and named[1] != default:
                problem(
                    ("teams", team),
                    f"routing-key name {key!r} is paged by {named[1]} for team {named[0]!r}, so for this "
                    f"team too, which names no pager (MEDIC_PAGER: {default}): one key name, one pager "
                    f"(give this team `pager: {named[1]}`, or the name another key)",
                )
    if any(names.pager_configured(kind) for kind in PAGER_SETTINGS):
        for team, oncall in policy.teams.items():
            if oncall.pager:
                kinds: Collection[str] = (
                    ("pagerduty", "opsgenie") if oncall.pager == "both" else (oncall.pager,)
                )
            else:  # MEDIC_PAGER's: every name of the team must have a key there too
                kinds = [k for k in names.default_pagers if names.pager_configured(k)]
            for kind in kinds:
                if not names.pager_configured(kind):
                    problem(
                        ("teams", team, "pager"),
                        f"pager {kind!r} has no credentials ({PAGER_SETTINGS[kind]})",
                    )
                    continue
                if kind in names.pager_defaults:
                    continue  # every name falls back to the default key
                known = names.pager_keys.get(kind, ())
                for role in ("primary", "secondary", "manager"):
                    key = getattr(oncall, role)
                    if key and key not in known:
                        problem(
                            ("teams", team, role),
                            f"routing-key name {key!r} has no {kind} key{did_you_mean(key, known)} "
                            f"({PAGER_SETTINGS[kind]})",
                        )
    paging = next(
        (i for i, r in enumerate(policy.rules) if r.pagerduty or policy.escalations.get(r.escalation or "")),
        None,
    )
    if paging is not None:
        field = "pagerduty" if policy.rules[paging].pagerduty else "escalation"
        for kind, setting in PAGER_SETTINGS.items():
            keys = names.pager_keys.get(kind, ())
            if keys and kind not in names.pager_defaults and DEFAULT_KEY not in keys:
                out.append(
                    ConfigProblem(
                        source,
                        locate(root, ("rules", paging, field)),
                        field_path(("rules", paging, field)),
                        f"{kind} has named keys but no default ({setting.split(' / ')[0]}): an incident "
                        "this rule pages that no team owns (the alerting pipeline's missing heartbeat, "
                        "an alert of a service outside the catalog) pages the default key, and fails",
                        warning=True,
                    )
                )
    if names.teams_webhooks:
        webhooks = set(names.teams_webhooks)

        def unknown(channel: str) -> str:
            hint = did_you_mean(channel, webhooks)
            return f"no webhook for Teams channel {channel!r} in MEDIC_TEAMS_WEBHOOKS{hint}"

        owned = (
            sorted({s.routing.teams_channel for s in catalog.services if s.routing.teams_channel})
            if catalog
            else []
        )
        for i, rule in enumerate(policy.rules):
            for loc, channel in _teams_named(("rules", i), rule.teams_channels, rule.chat):
                if channel not in webhooks:
                    problem(loc, unknown(channel))
            if rule.teams:
                for channel in owned:
                    if channel not in webhooks:
                        problem(
                            ("rules", i, "teams"), f"{unknown(channel)} (a service's routing.teams_channel)"
                        )
        for name, levels in policy.escalations.items():
            for i, level in enumerate(levels):
                for loc, channel in _teams_named(("escalations", name, i), level.teams_channels, level.chat):
                    if channel not in webhooks:
                        problem(loc, unknown(channel))
        fallback = policy.fallback_teams_channel
        if fallback is not None and fallback not in webhooks:
            problem(("fallback_teams_channel",), unknown(fallback))
    if names.chat_kinds:
        chats = sorted(names.chat_kinds)
        for at, targets in _generic(policy):
            for j, target in enumerate(targets):
                if target.kind not in chats:
                    problem(
                        (*at, "chat", j, "kind"),
                        f"unknown chat {target.kind!r}{did_you_mean(target.kind, chats)}: {', '.join(chats)}",
                    )
    return out


Loc = tuple[int | str, ...]


def _teams_named(at: Loc, channels: list[str], chat: list[ChatTarget]) -> Iterator[tuple[Loc, str]]:
    """The Teams channels a rule or an escalation level names, where it names them."""
    for j, channel in enumerate(channels):
        yield (*at, "teams_channels", j), channel
    for j, target in enumerate(chat):
        if target.kind == "teams":
            yield (*at, "chat", j, "channel"), target.channel


def _generic(policy: RoutingPolicy) -> Iterator[tuple[Loc, list[ChatTarget]]]:
    """The ``chat:`` lists of the rules and the escalation levels."""
    for i, rule in enumerate(policy.rules):
        yield ("rules", i), rule.chat
    for name, levels in policy.escalations.items():
        for i, level in enumerate(levels):
            yield ("escalations", name, i), level.chat


def teams_channels_used(policy: RoutingPolicy, catalog: Catalog | None) -> set[str]:
    """Every Teams channel the policy can post to (its rules', its escalation levels' and, for
    ``teams: true``, the catalog's)."""
    named: list[Rule | EscalationLevel] = [*policy.rules]
    named += [level for levels in policy.escalations.values() for level in levels]
    used = {c for x in named for _, c in _teams_named((), x.teams_channels, x.chat)}
    if catalog is not None and any(rule.teams for rule in policy.rules):
        used |= {s.routing.teams_channel for s in catalog.services if s.routing.teams_channel}
    if policy.fallback_teams_channel is not None:
        used.add(policy.fallback_teams_channel)
    return used
