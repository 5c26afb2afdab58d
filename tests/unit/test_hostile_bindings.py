"""Issue 13: label values bound into a runbook cannot rewrite its PromQL or name an object the API
server would refuse. PromQL: quoted for their string literal and regex-escaped after ``=~``; names and
namespaces: DNS-1123/1035 rules and lengths, checked after binding and before a plan is made."""

import ast
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from activities.remediate import MatchRequest, RemediationActivities
from medic.alerts import Alert, AlertStatus
from medic.promql import bind_promql, promql_regex_escape, promql_string
from medic.runbook import load_runbook
from medic.yamldoc import ConfigError
from remediations.actions import default_registry
from remediations.guardrails import GuardrailSettings
from remediations.plan import match_runbooks, plan_for
from service.config_files import load_runbooks
from tests.unit.test_runbooks import NOW, crashloop_alert

REPO = Path(__file__).resolve().parents[2]


def crashloop_plan(**labels: str) -> str | None:
    alert = crashloop_alert(**labels)
    (runbook,) = [
        r
        for r in match_runbooks(load_runbooks(REPO / "runbooks"), alert, "checkout")
        if r.name == "crashloop-restart"
    ]
    return plan_for(runbook, alert, incident_id="incident-checkout", service="checkout").runbook.verify.promql


def test_a_label_in_a_regex_matcher_matches_only_itself() -> None:
    promql = crashloop_plan(deployment="web.v2")
    assert promql is not None
    assert 'pod=~"web\\\\.v2-[a-z0-9]+-[a-z0-9]+"' in promql  # the literal web\\.v2 is the regex web\.v2
    assert 'namespace="shop"' in promql


def test_a_label_cannot_close_its_string_and_add_promql() -> None:
    template = 'up{service="${alert.labels.s}", pod=~"${alert.labels.s}.*"}'
    bound = bind_promql(template, {"alert.labels.s": 'x"} or vector(1) or up{a="\\'})
    assert bound == (
        r'up{service="x\"} or vector(1) or up{a=\"\\", '
        r'pod=~"x\"\\} or vector\\(1\\) or up\\{a=\"\\\\.*"}'
    )
    assert bind_promql("up{a='${alert.labels.s}'}", {"alert.labels.s": "it's"}) == r"up{a='it\'s'}"


@given(st.text(min_size=1, max_size=40))
def test_quoting_and_escaping_round_trip(value: str) -> None:
    """What PromQL reads back from the literal is the value; as a regex it matches the value only."""
    literal = promql_string(value)
    assert ast.literal_eval(f'"{literal}"') == value  # Go's and Python's escapes agree on these
    as_regex = ast.literal_eval(f'"{promql_string(promql_regex_escape(value))}"')
    assert re.fullmatch(as_regex, value, flags=re.DOTALL)
    if "." in value:
        assert not re.fullmatch(as_regex, value.replace(".", "X"), flags=re.DOTALL)


def test_a_binding_outside_a_string_is_refused_at_check_time() -> None:
    with pytest.raises(ValueError, match="outside a quoted string"):
        bind_promql("rate(${alert.labels.metric}[5m])", {"alert.labels.metric": "up"})
    text = (REPO / "runbooks" / "crashloop-restart.yaml").read_text()
    bad = re.sub(r"promql: '.*'", "promql: 'sum(${alert.labels.metric}) < 1'", text)
    with pytest.raises(ConfigError, match="outside a quoted string"):
        load_runbook(bad, source="bad.yaml")


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"deployment": "${alert.labels.evil}"}, r"restart\.target\.name '\$\{alert\.labels\.evil\}' is not"),
        ({"namespace": "n" * 64}, r"restart\.target\.namespace .*64 characters.* at most 63"),
        ({"namespace": "Shop"}, r"restart\.target\.namespace 'Shop' is not a valid namespace"),
        ({"deployment": "a" * 254}, r"restart\.target\.name .*254 characters.* at most 253"),
        ({"deployment": "web-"}, r"restart\.target\.name 'web-' is not a valid Deployment name"),
    ],
)
def test_an_invalid_name_or_namespace_is_refused_before_a_plan(labels: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        crashloop_plan(**labels)


def test_the_refusal_is_recorded_by_the_match_activity() -> None:
    runbooks = load_runbooks(REPO / "runbooks")
    activities = RemediationActivities(
        cluster=None,
        metrics=None,
        runbooks=lambda: runbooks,
        registry=default_registry(),
        facts=None,  # type: ignore[arg-type]  # not asked for by match
        guardrails=GuardrailSettings,
    )
    alert = Alert(
        fingerprint="f1",
        status=AlertStatus.FIRING,
        starts_at=NOW,
        labels={"alertname": "KubePodCrashLooping", "namespace": "x" * 64, "deployment": "checkout"},
    )
    result = activities.match(MatchRequest(incident_id="incident-x", service=None, alerts=[alert]))
    assert result.plans == []
    assert len(result.problems) == 2  # both runbooks of the crash-loop pair
    for problem in result.problems:
        assert "crashloop" in problem and "namespace" in problem and "at most 63" in problem
