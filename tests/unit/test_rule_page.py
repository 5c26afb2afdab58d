"""`page: true` is `pagerduty: true`: an Opsgenie-only team read the routing field as PagerDuty's
(a walk-through of a Teams, Opsgenie and Jira organisation, 2026-12-07). The plan pages either way."""

from datetime import UTC, datetime

from medic.routing import load_routing, plan_notifications
from tests.support.shop import ctx, shop

POLICY = """
teams:
  data: {primary: data-oncall, pager: opsgenie}
rules:
  - {name: page, match: {priority: [P1]}, %s: true}
"""


def test_page_true_pages_as_pagerduty_true_does() -> None:
    plans = [
        plan_notifications(
            load_routing(POLICY % field, catalog=shop()),
            priority="P1",
            owner=ctx("orders-db"),
            services=[ctx("orders-db")],
            at=datetime(2026, 12, 7, 12, tzinfo=UTC),
        )
        for field in ("pagerduty", "page")
    ]
    assert plans[0].pagerduty is not None and plans[0].pagerduty == plans[1].pagerduty
    assert plans[0] == plans[1]
