"""An organisation on Teams with no Slack (found by a field walk-through: Teams, Opsgenie EU, Jira Data
Center): an incident whose plan names no chat (a service outside the catalog, the alerting pipeline's
missing heartbeat, no rule matched) fell back on Slack's ``#incidents``, which it has no credentials
for: nobody saw it in any chat. ``fallback_teams_channel`` names a Teams channel for those; ``medic
check`` holds it against MEDIC_TEAMS_WEBHOOKS, and a worker without Slack and without it says so."""

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from medic.routing import ChatTarget, load_routing, plan_notifications
from medic.routing_secrets import SecretNames, teams_channels_used
from service.settings import Settings
from service.worker import build_notify_activities
from tests.support.routing_check import routing_problems
from tests.support.shop import ctx

POLICY = """
fallback_teams_channel: incidents
teams:
  data: {primary: data, pager: opsgenie}
rules:
  - {name: p1, match: {priority: [P1]}, slack: false, teams: true, pagerduty: true}
  - {name: mixed, match: {priority: [P2]}, slack_channels: ["#ops"], teams_channels: [ops]}
  - {name: rest, match: {priority: [P3, P4]}, slack: false, teams: true}
"""
CATALOG = "services: [{name: orders-db, team: data, routing: {teams_channel: data-oncall}}]"
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
INCIDENTS = ChatTarget(kind="teams", channel="incidents")


def test_an_incident_no_teams_channel_takes_falls_back_on_the_teams_channel() -> None:
    policy = load_routing(POLICY)
    unowned = plan_notifications(policy, priority="P1", owner=None, services=[], at=AT)
    assert unowned.chat == [] and unowned.fallback == INCIDENTS  # the card goes there, not to #incidents
    owned = plan_notifications(policy, priority="P3", owner=ctx("orders-db"), services=[], at=AT)
    assert owned.fallback == INCIDENTS  # and it replaces a Teams channel that fails for good
    unmatched = plan_notifications(policy, priority="P5", owner=None, services=[], at=AT)
    assert unmatched.rule is None and unmatched.chat == [INCIDENTS] and unmatched.fallback == INCIDENTS
    # a plan that names a Slack channel keeps Slack's fallback, as before
    mixed = plan_notifications(policy, priority="P2", owner=None, services=[], at=AT)
    assert mixed.fallback == ChatTarget(kind="slack", channel="#incidents")
    # unset: as before (Slack's fallback where the plan names no chat at all)
    before = load_routing(POLICY.replace("fallback_teams_channel: incidents\n", ""))
    assert plan_notifications(before, priority="P1", owner=None, services=[], at=AT).fallback == ChatTarget(
        kind="slack", channel="#incidents"
    )
    assert teams_channels_used(policy, None) == {"incidents", "ops"}


def test_check_holds_the_teams_fallback_against_the_webhooks() -> None:
    names = SecretNames(teams_webhooks=["incident", "ops", "data-oncall"])
    assert routing_problems(POLICY, names, catalog=CATALOG) == [
        "routing.yaml:2: fallback_teams_channel: no webhook for Teams channel 'incidents' in "
        "MEDIC_TEAMS_WEBHOOKS (did you mean 'incident'?)"
    ]


def test_a_worker_without_slack_or_a_teams_fallback_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    teams_only = Settings(
        _env_file=None,
        data_dir=tmp_path,
        teams_webhooks={"data-oncall": SecretStr("https://example.invalid/workflows/1?sig=x")},
    )

    def errors(policy: str) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="service.worker"):
            build_notify_activities(teams_only, load_routing(policy))
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

    (said,) = errors("rules: [{name: rest, slack: false, teams: true}]")
    assert said.startswith("no Slack (MEDIC_SLACK_BOT_TOKEN), and the routing policy names no ")
    assert "#incidents" in said
    assert errors("fallback_teams_channel: data-oncall\nrules: [{name: rest, slack: false}]") == []
