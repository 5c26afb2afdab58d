"""Routing names Teams channels beside Slack's: the owner's from the catalog (``teams: true``) and a
rule's own (``teams_channels``); ``medic check`` says when ``teams: true`` can reach nobody; plans
recorded before these fields existed still read, with no chat and no pager notes."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.adapters.console import ConsoleNotifier
from activities.adapters.fanout import FanOutPager
from medic.cards import IncidentCard
from medic.catalog import Routing
from medic.notify_state import NotificationState
from medic.ports import NotePager
from medic.routing import ChatTarget, NotificationPlan, load_routing, plan_notifications
from medic.topology import ServiceContext
from medic.yamldoc import ConfigError
from tests.support.fakes import FakeOpsgenie, FakePager
from tests.support.shop import shop

AT = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
POLICY = """
rules:
  - {name: p1, match: {priority: [P1]}, teams: true, teams_channels: [war-room]}
  - {name: rest}
"""


def owner(teams_channel: str | None) -> ServiceContext:
    routing = Routing(slack_channel="#data-oncall", teams_channel=teams_channel)
    return ServiceContext(name="orders-db", team="data", routing=routing)


def test_teams_true_posts_to_the_owners_teams_channel_and_the_rules_own() -> None:
    policy = load_routing(POLICY)
    plan = plan_notifications(policy, priority="P1", owner=owner("data-oncall"), services=[], at=AT)
    assert plan.channels("slack") == ["#data-oncall"]
    assert [t.key for t in plan.chat] == ["slack:#data-oncall", "teams:data-oncall", "teams:war-room"]
    plan = plan_notifications(policy, priority="P1", owner=owner(None), services=[], at=AT)
    assert plan.chat[1:] == [ChatTarget(kind="teams", channel="war-room")]
    plan = plan_notifications(policy, priority="P3", owner=owner("data-oncall"), services=[], at=AT)
    assert plan.channels("teams") == []  # Teams only where a rule asks for it


def test_a_rule_that_says_no_slack_and_names_teams_has_no_slack_fallback() -> None:
    """With `slack: false` in every rule, each card still went to Slack's #incidents (an SLO team on
    Teams and Opsgenie, 2026-12-07): the fallback takes a card where no Slack channel took it, not where
    the rule said no Slack and names another chat."""
    policy = load_routing(
        "rules:\n  - {name: teams-only, slack: false, teams: true}\n  - {name: pages-only, slack: false}\n"
    )
    plan = plan_notifications(policy, priority="P1", owner=owner("data-oncall"), services=[], at=AT)
    assert plan.chat == [ChatTarget(kind="teams", channel="data-oncall")] and plan.fallback is None
    # no chat named at all: the card still goes somewhere people look
    plan = plan_notifications(policy, priority="P1", owner=owner(None), services=[], at=AT)
    assert plan.rule == "teams-only" and plan.fallback == ChatTarget(kind="slack", channel="#incidents")
    slack = plan_notifications(load_routing(POLICY), priority="P1", owner=owner("x"), services=[], at=AT)
    assert slack.fallback == ChatTarget(kind="slack", channel="#incidents")


def test_check_says_when_teams_true_reaches_nobody() -> None:
    with pytest.raises(ConfigError) as err:
        load_routing("rules: [{name: all, teams: true}]", catalog=shop())
    assert "routing.teams_channel" in str(err.value)
    load_routing("rules: [{name: all, teams: true, teams_channels: [ops]}]", catalog=shop())
    with pytest.raises(ConfigError):
        load_routing("rules: [{name: all, teams_channels: ['#not a name']}]")


def test_old_payloads_read_with_slack_only_and_no_notes() -> None:
    plan = NotificationPlan.model_validate(
        {"rule": "p1", "slack_channels": ["#x"], "pagerduty": "data", "jira_project": None}
    )
    assert plan.chat == [ChatTarget(kind="slack", channel="#x")] and plan.pager_notes is False
    state = NotificationState.model_validate({"slack": {}, "pages": {"data": "trigger"}})
    assert state.chat == {} and state.note_cursor is None


def test_only_pagers_that_keep_notes_say_so() -> None:
    assert isinstance(FakeOpsgenie(), NotePager)
    assert not isinstance(FakePager(), NotePager)
    assert FanOutPager([FakePager(), FakeOpsgenie()]).keeps_notes
    assert not FanOutPager([FakePager(), FakePager()]).keeps_notes


def test_without_webhooks_medic_dev_shows_teams_posts_on_the_console(tmp_path: Path) -> None:
    console = ConsoleNotifier(tmp_path / "notifications.jsonl")
    card = IncidentCard(
        incident_id="i", title="db down", status="open", priority="P1", impact=90, opened_at=AT
    )
    console.post_card("data-oncall", card)
    console.post_note("data-oncall", "Acknowledged by alice (slack).")
    lines = [json.loads(x) for x in (tmp_path / "notifications.jsonl").read_text().splitlines()]
    assert [(x["kind"], x["channel"]) for x in lines] == [
        ("teams.card", "data-oncall"),
        ("teams.note", "data-oncall"),
    ]
    assert not isinstance(console, NotePager)  # no notes: the plan says so, nothing is scheduled


def test_medic_jira_project_takes_the_issues_of_services_that_name_no_project() -> None:
    """MEDIC_JIRA_PROJECT was documented as the project "when the catalog names none" and read by
    nothing: a P1 of a service without a project opened no issue at all. It is the default now; a
    service's own project wins, and a rule that opens no issue opens none."""
    policy = load_routing("rules:\n  - {name: p1, match: {priority: [P1]}, jira: true}\n  - {name: rest}\n")
    bare = ServiceContext(name="orders-db", team="data", routing=Routing(slack_channel="#data-oncall"))
    own = ServiceContext(name="checkout", team="shop", routing=Routing(jira_project="CHK"))
    for who, default, project in (
        (bare, None, None),
        (bare, "OPS", "OPS"),
        (own, "OPS", "CHK"),
        (None, "OPS", "OPS"),
    ):
        plan = plan_notifications(
            policy, priority="P1", owner=who, services=[], at=AT, default_jira_project=default
        )
        assert plan.jira_project == project
    p3 = plan_notifications(policy, priority="P3", owner=bare, services=[], at=AT, default_jira_project="OPS")
    assert p3.jira_project is None
