"""A rule that pages pages someone. An incident no catalog service owns (the alerting pipeline's missing
heartbeat with the shipped configuration, an exporter's alert), or whose service and team name no
routing key, pages the pager's default key (``DEFAULT_KEY``: MEDIC_PAGERDUTY_ROUTING_KEY), where the
plan once said ``pagerduty: true`` and paged nobody: a field review found the dead man's switch of
docs/heartbeats.md ("pages by its P2") paging no one with the shipped catalog and routing."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from activities.adapters.pagerduty import PagerDutyEvents
from medic.catalog import Routing, load_catalog
from medic.dead_man import Beat, HeartbeatRule, HeartbeatState
from medic.incident import AnomalyBatch, IncidentState
from medic.ports import Page
from medic.routing import DEFAULT_KEY, RoutingPolicy, load_routing, plan_notifications
from medic.routing_secrets import SecretNames, secret_problems
from medic.topology import ServiceContext
from tests.doubles import PagerDutyDouble

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # 11:00 in Berlin: no quiet hours
DEFAULT_ROUTING_KEY = "R0UT1NGKEYDEFAULT0000000000000000"
CHECKOUT_KEY = "R0UT1NGKEYCHECKOUT000000000000000"


def heartbeat_outage() -> IncidentState:
    """The built-in Watchdog heartbeat's outage, as its incident holds it (service alerting-pipeline,
    in no catalog)."""
    rule = HeartbeatRule(name="watchdog", match={"alertname": "Watchdog"})
    labels = {"prometheus": "monitoring/k8s"}
    state = HeartbeatState(rule=rule, labels=labels)
    for minute in range(0, 40, 2):
        state.take(Beat(rule=rule, labels=labels, at=AT - timedelta(hours=1, minutes=-minute)))
    assert state.status == "ok"
    state.missing_since = state.last_beat_at
    incident = IncidentState(id="incident-alerting-pipeline", opened_at=AT)
    incident.apply_anomalies(AnomalyBatch(signals=[state.finding(AT)], received_at=AT), at=AT)
    return incident


def test_the_shipped_configuration_pages_the_default_key_when_the_pipeline_stops() -> None:
    catalog = load_catalog((ROOT / "catalog.yaml").read_text())
    policy = load_routing((ROOT / "routing.yaml").read_text(), catalog=catalog)
    incident = heartbeat_outage()
    assert incident.priority == "P2"
    assert catalog.resolve("alerting-pipeline") is None  # no owner: before, nobody was paged
    plan = plan_notifications(policy, priority="P2", owner=None, services=[], at=AT)
    assert plan.rule == "p2" and plan.pagerduty == DEFAULT_KEY
    # its escalation's first level pages the same key; levels for roles no team holds page nobody
    assert [lvl.routing_key_names for lvl in plan.escalation] == [[DEFAULT_KEY], []]
    # without a policy file as well (P1 and P2 page)
    plan = plan_notifications(RoutingPolicy.default(), priority="P2", owner=None, services=[], at=AT)
    assert plan.pagerduty == DEFAULT_KEY


def test_an_owner_or_its_team_names_the_key_before_the_default() -> None:
    policy = load_routing((ROOT / "routing.yaml").read_text())
    named = ServiceContext(name="checkout-api", team="checkout", routing=Routing(pagerduty="checkout-api"))
    team_only = ServiceContext(name="cart", team="checkout", routing=Routing())
    nobody = ServiceContext(name="batch", team="reports", routing=Routing())
    got = {
        ctx.name: plan_notifications(policy, priority="P1", owner=ctx, services=[ctx], at=AT)
        for ctx in (named, team_only, nobody)
    }
    assert got["checkout-api"].pagerduty == "checkout-api"
    assert got["cart"].pagerduty == "checkout"  # the team's primary
    assert got["batch"].pagerduty == DEFAULT_KEY  # a team with no on-call entry
    assert [lvl.routing_key_names for lvl in got["cart"].escalation] == [
        ["checkout"],
        ["checkout-secondary"],
        ["eng-managers"],
    ]
    # a rule that does not page still pages nobody
    assert plan_notifications(policy, priority="P3", owner=None, services=[], at=AT).pagerduty is None


@pytest.fixture
def pagerduty() -> Iterator[tuple[PagerDutyDouble, str]]:
    double = PagerDutyDouble(routing_keys={DEFAULT_ROUTING_KEY, CHECKOUT_KEY})
    with double.serve() as url:
        yield double, f"{url}/v2/enqueue"


def test_the_default_key_name_reaches_the_configured_default_routing_key(
    pagerduty: tuple[PagerDutyDouble, str],
) -> None:
    double, url = pagerduty
    events = PagerDutyEvents({"checkout": CHECKOUT_KEY}, default_key=DEFAULT_ROUTING_KEY, events_url=url)
    page = Page(
        action="trigger",
        dedup_key="incident-alerting-pipeline",
        routing_key_name=DEFAULT_KEY,
        summary="[P2] No heartbeat watchdog (prometheus=monitoring/k8s)",
        severity="error",
        custom_details={},
    )
    assert events.send(page) == "incident-alerting-pipeline"
    assert double.alert("incident-alerting-pipeline", DEFAULT_ROUTING_KEY).summary.startswith(
        "[P2] No heartbeat"
    )
    # with no default key configured the page fails loudly (the timeline says so), never silently
    bare = PagerDutyEvents({"checkout": CHECKOUT_KEY}, default_key=None, events_url=url)
    with pytest.raises(Exception, match="no PagerDuty routing key named 'default'"):
        bare.send(page)


def test_check_warns_when_named_keys_leave_unowned_incidents_nobody_to_page() -> None:
    text = "rules:\n  - {name: p1, match: {priority: [P1]}, pagerduty: true}\n  - {name: rest}\n"
    root = yaml.compose(text)
    policy = load_routing(text)
    named_only = SecretNames(pager_keys={"pagerduty": ["checkout"]})
    (said,) = secret_problems(policy, root, "routing.yaml", None, named_only)
    assert said.warning  # said, never refused: the worker runs such a file as before
    assert str(said).startswith("routing.yaml:2: rules[0].pagerduty: warning: pagerduty has named keys")
    assert (
        "(MEDIC_PAGERDUTY_ROUTING_KEY)" in said.message and "pages the default key, and fails" in said.message
    )
    with_default = SecretNames(pager_keys={"pagerduty": ["checkout"]}, pager_defaults=["pagerduty"])
    assert secret_problems(policy, root, "routing.yaml", None, with_default) == []
    quiet = load_routing("rules: [{name: rest}]\n")
    assert secret_problems(quiet, None, "routing.yaml", None, named_only) == []  # nothing pages


def test_the_default_key_is_not_forced_on_a_team_that_names_its_own_pager_and_counts_when_named() -> None:
    """A review's cases: a team that names its pager (Opsgenie) but no primary pages as it says (no
    primary: nobody first), never MEDIC_PAGER's default; a key literally named "default" is a default;
    a rule that pages by its escalation alone is warned of too."""
    text = """
teams:
  ops: {secondary: ops-2, pager: opsgenie}
escalations:
  chain: [{after_minutes: 0, page: [primary]}, {after_minutes: 5, page: [secondary]}]
rules:
  - {name: p1, match: {priority: [P1]}, escalation: chain}
  - {name: rest}
"""
    policy = load_routing(text)
    ops = ServiceContext(name="ops-tool", team="ops", routing=Routing())
    plan = plan_notifications(policy, priority="P1", owner=ops, services=[ops], at=AT)
    assert [lvl.routing_key_names for lvl in plan.escalation] == [[], ["ops-2"]]
    plan = plan_notifications(policy, priority="P1", owner=None, services=[], at=AT)
    assert [lvl.routing_key_names for lvl in plan.escalation] == [[DEFAULT_KEY], []]
    root = yaml.compose(text)
    both = {"pagerduty": ["x"], "opsgenie": ["ops-2"]}
    said = secret_problems(policy, root, "routing.yaml", None, SecretNames(pager_keys=both))
    assert [str(p).split(" has named")[0] for p in said] == [
        "routing.yaml:7: rules[0].escalation: warning: pagerduty",
        "routing.yaml:7: rules[0].escalation: warning: opsgenie",
    ]
    named_default = SecretNames(
        pager_keys={"pagerduty": ["x", DEFAULT_KEY], "opsgenie": ["ops-2", DEFAULT_KEY]}
    )
    assert secret_problems(policy, root, "routing.yaml", None, named_default) == []
