"""A production worker whose notifier secret is missing (a misspelled Secret key, a key left out of an
existing Secret): the console notifier takes the channel's calls, and that was one INFO line, the
notification recorded as sent and counted ok. Now the worker says it at ERROR at start, naming the
rules and the settings, and each such call counts as outcome="console" (MedicNotificationsReachNobody)."""

import logging
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from temporalio.testing import ActivityEnvironment

from activities.adapters.console import ConsoleNotifier
from activities.notify import NotifyActivities
from medic.ports import Page
from medic.routing import RoutingPolicy, load_routing
from service.metrics import WorkerMetrics
from service.settings import Settings
from service.worker import build_notify_activities
from tests.support.fakes import FakePager

POLICY = load_routing(
    """
teams:
  data: {primary: data}
escalations:
  critical:
    - {after_minutes: 0, page: [primary]}
rules:
  - {name: p1, match: {priority: [P1]}, jira: true, escalation: critical}
  - {name: p2, match: {priority: [P2]}, pagerduty: true}
  - {name: rest}
"""
)


def _started(settings: Settings, caplog: pytest.LogCaptureFixture, *, quick_start: bool = False) -> list[str]:
    with caplog.at_level(logging.ERROR, logger="service.worker"):
        build_notify_activities(settings, POLICY, quick_start=quick_start)
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_worker_without_the_secrets_its_rules_need_says_so_at_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = Settings(_env_file=None, data_dir=tmp_path)
    pages, issues, chat = _started(bare, caplog)
    assert pages.startswith("routing rule(s) p1, p2 page, but no pager has credentials")
    assert issues.startswith("routing rule(s) p1 open JIRA issues, but Jira has no credentials")
    assert "MEDIC_SLACK_BOT_TOKEN" in chat and str(tmp_path / "notifications.jsonl") in chat


def test_medic_dev_and_a_worker_with_its_secrets_say_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bare = Settings(_env_file=None, data_dir=tmp_path)
    assert _started(bare, caplog, quick_start=True) == []
    full = bare.model_copy(
        update={
            "pagerduty_routing_key": SecretStr("R0" + "x" * 30),
            "jira_url": "https://acme.atlassian.net",
            "jira_user": "medic@acme.example",
            "jira_api_token": SecretStr("t" * 24),
            "slack_bot_token": SecretStr("xoxb-" + "1" * 20),
        }
    )
    caplog.clear()
    assert _started(full, caplog) == []


def test_a_teams_only_worker_that_asks_for_approvals_nobody_can_give_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Approvals are decided with Slack's buttons or over HTTP with the operator token: a Teams-only
    organisation (found by a field walk-through) with neither had every fix time out and escalate."""
    teams_only = Settings(
        _env_file=None,
        data_dir=tmp_path,
        teams_webhooks={"core-oncall": SecretStr("https://example.invalid/workflows/1?sig=x")},
        pagerduty_routing_key=SecretStr("R0" + "x" * 30),
        jira_url="https://jira.acme.example",
        jira_pat=SecretStr("p" * 24),
        remediation_mode="approve",
    )
    approvals = "remediation mode approve, but no Slack (MEDIC_SLACK_BOT_TOKEN) and no "
    (nobody,) = [e for e in _started(teams_only, caplog) if e.startswith(approvals)]
    assert "MEDIC_OPERATOR_TOKEN" in nobody
    for fine in ({"operator_token": SecretStr("o" * 24)}, {"remediation_mode": "dry-run"}):
        caplog.clear()
        said = _started(teams_only.model_copy(update=fine), caplog)
        assert not [e for e in said if e.startswith(approvals)], fine


def test_a_page_only_the_console_took_is_counted_console_not_ok(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    console = ConsoleNotifier(tmp_path / "notifications.jsonl")
    page = Page(action="trigger", dedup_key="incident-x", routing_key_name="data", summary="x")
    for pager, outcome in ((console, "console"), (FakePager(), "ok")):
        notify = NotifyActivities(
            chat=console,
            pager=pager,
            tracker=console,
            policy=RoutingPolicy.default,
            recorder=metrics,
        )
        ActivityEnvironment().run(notify.page, page)
        counted = registry.get_sample_value(
            "medic_notifications_total", {"channel": "pagerduty", "outcome": outcome}
        )
        assert counted == 1.0, outcome


def test_a_medic_variable_that_is_no_setting_is_named_with_the_nearest_one() -> None:
    from service.settings import unknown_settings  # noqa: PLC0415

    said = unknown_settings(
        {"MEDIC_JIRA_EMAIL": "a@b", "MEDIC_PAGERDUTY_ROUTINGKEY": "R0", "MEDIC_JIRA_URL": "x", "HOME": "/"}
    )
    assert said == [
        "MEDIC_JIRA_EMAIL is not a Medic setting and is ignored (did you mean MEDIC_JIRA_USER?)",
        "MEDIC_PAGERDUTY_ROUTINGKEY is not a Medic setting and is ignored "
        "(did you mean MEDIC_PAGERDUTY_ROUTING_KEY?)",
    ]


def test_a_teams_key_name_without_a_key_is_said_at_start_and_by_check(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """MEDIC_PAGERDUTY_ROUTING_KEYS names payments only, and no default key: every page of the data team
    (whose pager is MEDIC_PAGER's, named by no `pager:`) fails. `medic check` said it only of teams that
    name their pager; the worker, which has the secrets, never said it."""
    settings = Settings(
        _env_file=None, data_dir=tmp_path, pagerduty_routing_keys={"payments": SecretStr("R0" + "p" * 30)}
    )
    said = _started(settings, caplog)
    assert any("routing-key name 'data' has no pagerduty key" in line for line in said), said
