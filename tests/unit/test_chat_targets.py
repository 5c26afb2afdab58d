"""Every chat is a ChatTarget (issue 15): Slack's channels too, escalation levels name Teams channels
(and any chat kind), ``medic check`` holds them against the webhooks and the chat kinds the worker runs,
the worker records what each chat can do with the plan, and states and plans written before read into
today's fields (Slack's message, the thread's cursor, dead and escalated channels)."""

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.adapters.console import ConsoleNotifier
from activities.notify import NotifyActivities, PlanRequest
from activities.slack_cards import SlackCards
from medic.notify_state import NotificationState
from medic.ports import MessageRef
from medic.routing import (
    ChatAbilities,
    ChatTarget,
    NotificationPlan,
    RoutingPolicy,
    load_routing,
    plan_notifications,
)
from medic.routing_secrets import SecretNames, teams_channels_used
from medic.yamldoc import ConfigError
from service.chats import CHAT_KINDS, card_chats
from service.settings import Settings
from tests.support.before_cards import R5_NOTIFICATION_FIELDS, R5_PLAN_FIELDS
from tests.support.fakes import FakeChat, FakePager, FakeTeams, FakeTracker
from tests.support.routing_check import routing_problems
from tests.support.shop import ctx

SLACK, TEAMS = ChatAbilities(edits=True, threads=True), ChatAbilities()

# A P1 plan and its notifications as r5 wrote them: two Slack messages (the second from escalation
# level 2), a Teams card, a Slack channel that failed for good.
R5_PLAN: dict[str, Any] = {
    "rule": "p1",
    "slack_channels": ["#data-oncall"],
    "pagerduty": "data",
    "jira_project": "DATA",
    "jira_issue_type": "Bug",
    "escalation": [
        {"after_seconds": 0.0, "routing_key_names": ["data"], "slack_channels": [], "note": ""},
        {
            "after_seconds": 300.0,
            "routing_key_names": ["data-2"],
            "slack_channels": ["#war-room"],
            "note": "",
        },
    ],
    "hold_until": None,
    "fallback_slack_channel": "#incidents",
    "chat": [{"kind": "teams", "channel": "oncall"}],
    "pager_notes": False,
    "demoted": None,
}
R5_NOTIFICATIONS: dict[str, Any] = {
    "plan": R5_PLAN,
    "planned_priority": "P1",
    "slack": {
        "#data-oncall": {"channel": "C0DATA", "ts": "1700000000.000100"},
        "#war-room": {"channel": "C0WAR", "ts": "1700000300.000200"},
    },
    "rendered_revision": {"#data-oncall": 7, "#war-room": 6},
    "thread_cursor": 12,
    "jira_cursor": 12,
    "pages": {"data": "trigger", "data-2": "trigger"},
    "change_cursor": 0,
    "jira_key": "DATA-1",
    "jira_closed": False,
    "postmortem": None,
    "escalation_done": 2,
    "dead_channels": ["#gone", "teams:old"],
    "escalated_channels": ["#war-room"],
    "finished": False,
    "escalate_now": False,
    "chat": {"teams:oncall": {"target": {"kind": "teams", "channel": "oncall"}, "cursor": 9}},
    "note_cursor": None,
    "jira_link_cursor": 0,
    "jira_linked": [],
}


HISTORIES = Path(__file__).resolve().parents[1] / "fixtures" / "histories"


def _recorded_r5_plan() -> dict[str, Any]:
    """The plan notify.plan returned in the recorded r5 history (its local activity marker's result)."""
    history = json.loads((HISTORIES / "incident-orders-db@r5.json").read_text())
    for event in history["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if marker and marker["markerName"] == "core_local_activity":
            details = marker["details"]
            meta = json.loads(base64.b64decode(details["data"]["payloads"][0]["data"]))
            if meta["activity_type"] == "notify.plan":
                plan: dict[str, Any] = json.loads(base64.b64decode(details["result"]["payloads"][0]["data"]))
                return plan
    raise AssertionError("no notify.plan in the r5 history")


def test_the_literals_are_r5s_shape() -> None:
    assert set(R5_NOTIFICATIONS) == R5_NOTIFICATION_FIELDS and set(R5_PLAN) == R5_PLAN_FIELDS
    # Held against a plan really recorded at r5; ``demoted`` came after that recording, before the
    # slack-as-card-chat patch, so plans of open incidents may or may not carry it.
    assert set(_recorded_r5_plan()) == R5_PLAN_FIELDS - {"demoted"}


def test_a_state_from_before_keeps_its_slack_messages_thread_and_dead_channels() -> None:
    n = NotificationState.model_validate(R5_NOTIFICATIONS)
    assert list(n.chat) == ["slack:#data-oncall", "slack:#war-room", "teams:oncall"]
    home = n.home("slack")
    assert home is not None and home.target.channel == "#data-oncall"
    assert home.ref == MessageRef(kind="slack", channel="C0DATA", id="1700000000.000100")
    assert (home.shown, home.cursor) == (7, 12)
    assert n.chat["slack:#war-room"].shown == 6
    assert (n.chat["teams:oncall"].cursor, n.chat["teams:oncall"].ref) == (9, None)
    assert n.messages("slack") == {
        "#data-oncall": MessageRef(kind="slack", channel="C0DATA", id="1700000000.000100"),
        "#war-room": MessageRef(kind="slack", channel="C0WAR", id="1700000300.000200"),
    }
    assert n.dead_channels == ["slack:#gone", "teams:old"]
    assert n.escalated == [ChatTarget(kind="slack", channel="#war-room")]
    # Written again today and read back, nothing moves.
    assert NotificationState.model_validate_json(n.model_dump_json()) == n


def test_a_plan_from_before_names_slack_as_a_chat_that_edits_and_threads() -> None:
    plan = NotificationPlan.model_validate(R5_PLAN)
    assert [t.key for t in plan.chat] == ["slack:#data-oncall", "teams:oncall"]
    assert plan.fallback == ChatTarget(kind="slack", channel="#incidents")
    assert (plan.can("slack"), plan.can("teams")) == (SLACK, TEAMS)
    assert [level.chat for level in plan.escalation] == [[], [ChatTarget(kind="slack", channel="#war-room")]]
    assert NotificationPlan.model_validate_json(plan.model_dump_json()) == plan


POLICY = """\
fallback_slack_channel: "#incidents"
teams:
  data: {primary: data, secondary: data-2}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
    - after_minutes: 5
      page: [secondary]
      slack_channels: ["#war-room"]
      teams_channels: [ops-bridge]
      chat: [{kind: teams, channel: ops-bridge}, {kind: mattermost, channel: town-square}]
rules:
  - name: p1
    match: {priority: [P1]}
    escalation: critical
    slack_channels: ["#war-room"]
    teams_channels: [major-incidents]
    chat: [{kind: slack, channel: "#war-room"}, {kind: mattermost, channel: town-square}]
  - {name: rest}
"""


def test_routing_names_every_chat_as_a_target_and_levels_name_teams_channels() -> None:
    plan = plan_notifications(
        load_routing(POLICY),
        priority="P1",
        owner=ctx("orders-db"),
        services=[ctx("orders-db")],
        at=datetime(2026, 12, 4, 12, 0, tzinfo=UTC),
    )
    assert [t.key for t in plan.chat] == [
        "slack:#data-oncall",
        "slack:#war-room",
        "teams:major-incidents",
        "mattermost:town-square",
    ]
    assert plan.fallback == ChatTarget(kind="slack", channel="#incidents")
    assert [t.key for t in plan.escalation[1].chat] == [
        "slack:#war-room",
        "teams:ops-bridge",
        "mattermost:town-square",
    ]
    with pytest.raises(ConfigError, match="kind"):
        load_routing("rules: [{name: r, chat: [{kind: Slack!, channel: x}]}]")
    # A Slack or Teams channel named in chat: is held to the pattern slack_channels/teams_channels use.
    with pytest.raises(ConfigError, match=r"rules\[0\]\.chat.*'NOT A CHANNEL!' is not a Slack channel"):
        load_routing("rules: [{name: r, chat: [{kind: slack, channel: NOT A CHANNEL!}]}]")
    with pytest.raises(ConfigError, match="'ops bridge' is not a Teams webhook name"):
        load_routing("escalations: {c: [{after_minutes: 5, chat: [{kind: teams, channel: ops bridge}]}]}")


def _problems(names: SecretNames) -> list[str]:
    return routing_problems(POLICY, names, catalog="services: [{name: orders-db, team: data}]")


def test_check_holds_levels_teams_channels_and_chat_kinds_against_the_settings() -> None:
    webhooks = ["major-incidents", "ops-bridge"]
    assert _problems(SecretNames(teams_webhooks=webhooks, chat_kinds=[*CHAT_KINDS, "mattermost"])) == []
    assert _problems(SecretNames(teams_webhooks=["major-incidents", "ops-bridg"], chat_kinds=CHAT_KINDS)) == [
        "routing.yaml:10: escalations.critical[1].teams_channels[0]: no webhook for Teams channel "
        "'ops-bridge' in MEDIC_TEAMS_WEBHOOKS (did you mean 'ops-bridg'?)",
        "routing.yaml:11: escalations.critical[1].chat[0].channel: no webhook for Teams channel "
        "'ops-bridge' in MEDIC_TEAMS_WEBHOOKS (did you mean 'ops-bridg'?)",
        "routing.yaml:18: rules[0].chat[1].kind: unknown chat 'mattermost': slack, teams",
        "routing.yaml:11: escalations.critical[1].chat[1].kind: unknown chat 'mattermost': slack, teams",
    ]
    assert _problems(SecretNames()) == []  # nothing configured to hold them against: not refused
    assert teams_channels_used(load_routing(POLICY), None) == {"major-incidents", "ops-bridge"}


def test_the_worker_runs_a_chat_for_every_kind_check_knows(tmp_path: Path) -> None:
    console = ConsoleNotifier(tmp_path / "notifications.jsonl")
    bare = Settings(_env_file=None, data_dir=tmp_path)
    hooked = bare.model_copy(update={"teams_webhooks": {"ops": SecretStr("https://teams.example/x")}})
    for settings in (bare, hooked):
        assert sorted(card_chats(settings, console)) == sorted(CHAT_KINDS)


def test_the_plan_records_what_each_chat_can_do() -> None:
    notify = NotifyActivities(
        chat=FakeChat(),
        pager=FakePager(),
        tracker=FakeTracker(),
        chats={"slack": SlackCards(FakeChat()), "teams": FakeTeams()},
        policy=RoutingPolicy.default,
    )
    request = PlanRequest(priority="P1", owner=ctx("orders-db"), services=[ctx("orders-db")])
    plan = ActivityEnvironment().run(notify.plan, request)
    assert plan.abilities == {"slack": SLACK, "teams": TEAMS}
    assert [t.kind for t in plan.chat] == ["slack"] and plan.pager_notes is False


def test_a_message_ref_from_before_names_its_id_ts() -> None:
    assert MessageRef.model_validate({"channel": "C0", "ts": "1.0001"}) == MessageRef(
        kind="slack", channel="C0", id="1.0001"
    )
