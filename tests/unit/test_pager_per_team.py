"""Issue 15 leftovers: the routing policy's ``teams:`` entries choose the pager per team (falling back to
MEDIC_PAGER), and ``medic check`` holds the pagers and Teams channels routing names against the secrets'
names: unknown ones are errors with a hint; a setting that is empty at check time only warns."""

import logging
from pathlib import Path

import pytest
from pydantic import SecretStr

from activities.adapters.fanout import FanOutPager
from medic.ports import Change, Page
from medic.routing import load_routing, pager_routes
from medic.routing_secrets import SecretNames
from medic.yamldoc import ConfigError
from service.config_files import check_all, secret_names
from service.settings import Settings
from tests.support.fakes import FakeOpsgenie, FakePager
from tests.support.routing_check import routing_problems

POLICY = """\
teams:
  checkout: {primary: checkout, secondary: checkout-secondary, pager: opsgenie}
  data: {primary: data, manager: eng-managers}
  payments: {primary: payments, pager: both}
rules:
  - {name: p1, match: {priority: [P1]}, teams: true, teams_channels: [major-incidents]}
  - {name: rest}
"""

CATALOG = """\
services:
  - name: checkout
    team: checkout
    routing: {teams_channel: checkout-oncall}
  - name: orders-db
    team: data
"""

PD_SETTINGS = "(MEDIC_PAGERDUTY_ROUTING_KEY / MEDIC_PAGERDUTY_ROUTING_KEYS)"
BOTH = SecretNames(
    pager_keys={
        "pagerduty": ["data", "eng-managers", "payments"],
        "opsgenie": ["checkout", "checkout-secondary", "payments"],
    },
    teams_webhooks=["major-incidents", "checkout-oncall"],
)


def _problems(names: SecretNames, policy: str = POLICY) -> list[str]:
    return routing_problems(policy, names, catalog=CATALOG)


def page(name: str, action: str = "trigger") -> Page:
    return Page(action=action, dedup_key="incident-1", routing_key_name=name, summary="[P1] down")


def test_teams_name_their_pager_and_every_other_name_keeps_medic_pager() -> None:
    policy = load_routing(POLICY)
    assert pager_routes(policy) == {
        "checkout": "opsgenie",
        "checkout-secondary": "opsgenie",
        "payments": "both",
    }
    assert policy.teams["data"].pager is None


def test_an_unknown_pager_is_refused_with_a_hint() -> None:
    with pytest.raises(ConfigError) as err:
        load_routing("teams: {checkout: {primary: checkout, pager: opsgenei}}", source="r.yaml")
    assert "unknown pager 'opsgenei' (did you mean 'opsgenie'?)" in str(err.value)
    assert str(err.value).startswith("r.yaml:1:")


def test_check_passes_when_every_pager_and_channel_is_configured() -> None:
    assert _problems(BOTH) == []


def test_check_names_a_pager_without_credentials_and_a_key_name_without_a_key() -> None:
    only_pd = SecretNames(
        pager_keys={"pagerduty": ["data", "eng-managers", "payments"]},
        teams_webhooks=BOTH.teams_webhooks,
    )
    problems = _problems(only_pd)
    assert problems == [
        "routing.yaml:2: teams.checkout.pager: pager 'opsgenie' has no credentials "
        "(MEDIC_OPSGENIE_API_KEY / MEDIC_OPSGENIE_API_KEYS)",
        "routing.yaml:4: teams.payments.pager: pager 'opsgenie' has no credentials "
        "(MEDIC_OPSGENIE_API_KEY / MEDIC_OPSGENIE_API_KEYS)",
    ]
    typo = SecretNames(
        pager_keys={"pagerduty": ["data", "payments"], "opsgenie": ["chekout", "payments"]},
        teams_webhooks=BOTH.teams_webhooks,
    )
    problems = _problems(typo)
    assert problems[0] == (
        "routing.yaml:2: teams.checkout.primary: routing-key name 'checkout' has no opsgenie key "
        "(did you mean 'chekout'?) (MEDIC_OPSGENIE_API_KEY / MEDIC_OPSGENIE_API_KEYS)"
    )
    assert len(problems) == 2  # checkout-secondary too; data's manager has no pager of its own: not checked
    default_key = SecretNames(pager_keys={"pagerduty": ["data"]}, pager_defaults=["opsgenie", "pagerduty"])
    assert _problems(default_key) == []  # every name falls back to a default key


def test_one_key_name_is_paged_by_one_pager() -> None:
    policy = POLICY.replace("data: {primary: data,", "data: {primary: checkout, pager: pagerduty,")
    problem, no_key = _problems(BOTH, policy)
    assert no_key.endswith("routing-key name 'checkout' has no pagerduty key " + PD_SETTINGS)
    assert "routing-key name 'checkout' is paged by opsgenie for team 'checkout'" in problem
    assert problem.startswith("routing.yaml:3: teams.data.pager:")


def test_a_key_name_shared_with_a_team_of_another_pager_is_refused_for_a_team_naming_none() -> None:
    """A walk-through (kube-prometheus-stack cascade, 2026-12): the shipped policy names `manager:
    eng-managers` under every team; with one team given `pager: opsgenie`, pager_routes sends the name to
    Opsgenie for every team, and a platform P1's manager escalation went to Opsgenie while every other
    page of that team went to PagerDuty (MEDIC_PAGER). Nothing said so."""
    policy = POLICY.replace("secondary: checkout-secondary, pager:", "manager: eng-managers, pager:")
    assert pager_routes(load_routing(policy))["eng-managers"] == "opsgenie"  # data's manager too
    names = SecretNames(
        pager_keys={**BOTH.pager_keys, "opsgenie": [*BOTH.pager_keys["opsgenie"], "eng-managers"]},
        default_pagers=["pagerduty"],
        teams_webhooks=BOTH.teams_webhooks,
    )
    (problem,) = _problems(names, policy)
    assert problem.startswith("routing.yaml:3: teams.data:"), problem
    assert (
        "routing-key name 'eng-managers' is paged by opsgenie for team 'checkout', so for this team too, "
        "which names no pager (MEDIC_PAGER: pagerduty)" in problem
    )
    assert _problems(names) == []  # nothing shared: as before
    both = SecretNames(pager_keys=names.pager_keys, default_pagers=["pagerduty", "opsgenie"])
    assert "(MEDIC_PAGER: both)" in _problems(both, policy)[0]


def test_check_refuses_teams_channels_without_a_webhook() -> None:
    names = SecretNames(pager_keys=BOTH.pager_keys, teams_webhooks=["major-incident", "ops"])
    assert _problems(names) == [
        "routing.yaml:6: rules[0].teams_channels[0]: no webhook for Teams channel 'major-incidents' in "
        "MEDIC_TEAMS_WEBHOOKS (did you mean 'major-incident'?)",
        "routing.yaml:6: rules[0].teams: no webhook for Teams channel 'checkout-oncall' in "
        "MEDIC_TEAMS_WEBHOOKS (a service's routing.teams_channel)",
    ]


def test_with_no_secrets_at_check_time_nothing_is_refused() -> None:
    assert _problems(SecretNames()) == []


def test_medic_check_warns_when_the_settings_are_empty_and_errs_when_they_are_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "routing.yaml").write_text(POLICY)
    settings = Settings(_env_file=None, catalog=tmp_path / "catalog.yaml")
    with caplog.at_level(logging.WARNING, logger="service.config_files"):
        _, problems = check_all(settings)
    assert problems == []
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "MEDIC_TEAMS_WEBHOOKS is empty: Teams channels checkout-oncall, major-incidents" in warned
    assert "no pager credentials" in warned
    configured = settings.model_copy(
        update={
            "teams_webhooks": {"major-incidents": SecretStr("https://x"), "ops": SecretStr("https://y")},
            "pagerduty_routing_key": SecretStr("R0"),
        }
    )
    _, problems = check_all(configured)
    assert [p.field for p in problems] == ["teams.checkout.pager", "teams.payments.pager", "rules[0].teams"]
    names = secret_names(configured)
    assert names.pager_defaults == ["pagerduty"] and sorted(names.teams_webhooks) == [
        "major-incidents",
        "ops",
    ]


def test_fan_out_sends_each_routing_key_name_to_its_pagers_only() -> None:
    pd, og = FakePager(), FakeOpsgenie()
    pager = FanOutPager(
        {"pagerduty": pd, "opsgenie": og},
        routes={"checkout": ["opsgenie"], "payments": ["pagerduty", "opsgenie"]},
        default=["pagerduty"],
    )
    for name in ("checkout", "data", "payments"):
        pager.send(page(name))
    pager.change(Change(routing_key_name="checkout", summary="restarted"))
    pager.note("data", "incident-1", "not kept by PagerDuty")
    pager.note("checkout", "incident-1", "kept")
    assert [e[1] for e in pd.events] == ["data", "payments"]
    assert [e[1] for e in og.events] == ["checkout", "payments"]
    assert [c.routing_key_name for c in og.changes] == ["checkout"] and pd.changes == []
    assert og.notes == [("checkout", "incident-1", "kept")]
    assert pager.keeps_notes and pager.kinds_for("elsewhere") == ["pagerduty"]
    with pytest.raises(ValueError, match="no pager for 'x'"):
        FanOutPager({"pagerduty": pd}, routes={"x": ["opsgenie"]})
