"""The routing policy's Jira settings (a Jira walk-through, 2026-12-07): the site's own priority names
and more fields for every issue, carried by the plan; plans recorded before them read as Jira's
default scheme and no more fields; fields Medic sets itself are refused where they are written."""

from datetime import UTC, datetime

import pytest

from medic.catalog import Routing
from medic.notify_plan import NotificationPlan
from medic.routing import load_routing, plan_notifications
from medic.topology import ServiceContext
from medic.yamldoc import ConfigError

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OWNER = ServiceContext(name="orders-db", team="data", routing=Routing(jira_project="DATA"))


def test_the_plan_carries_the_sites_priorities_and_fields() -> None:
    policy = load_routing(
        """
jira_priorities: {P1: Blocker, P2: Critical}
jira_fields: {customfield_10042: {value: Production}, environment: prod}
rules: [{name: all, jira: true}]
"""
    )
    plan = plan_notifications(policy, priority="P1", owner=OWNER, services=[], at=AT)
    assert plan.jira_project == "DATA"
    assert [plan.jira_priority(p) for p in ("P1", "P2", "P3")] == ["Blocker", "Critical", "Medium"]
    assert plan.jira_fields == {"customfield_10042": {"value": "Production"}, "environment": "prod"}


def test_a_plan_recorded_before_them_reads_as_jiras_default_scheme() -> None:
    recorded = {"rule": "p1", "pagerduty": None, "jira_project": "DATA", "jira_issue_type": "Bug"}
    plan = NotificationPlan.model_validate(recorded)
    assert [plan.jira_priority(p) for p in ("P1", "P2", "P3", "P4", "P5")] == [
        "Highest",
        "High",
        "Medium",
        "Low",
        "Lowest",
    ]
    assert plan.jira_fields == {}


@pytest.mark.parametrize(
    ("fields", "said"),
    [("{summary: x}", "is Medic's to set"), ("{'custom field': x}", "is no Jira field id")],
)
def test_fields_medic_sets_itself_are_refused(fields: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        load_routing(f"jira_fields: {fields}\nrules: [{{name: all}}]\n")


def test_an_unknown_priority_is_refused() -> None:
    with pytest.raises(ConfigError):
        load_routing("jira_priorities: {P7: Blocker}\nrules: [{name: all}]\n")
