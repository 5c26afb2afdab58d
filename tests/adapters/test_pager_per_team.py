"""The pager per team (issue 15): ``build_pager`` with a routing policy sends each routing-key name to the
pager its team names, every other name to MEDIC_PAGER's, against the PagerDuty and Opsgenie doubles."""

import logging

import pytest
from pydantic import SecretStr

from activities.adapters.fanout import FanOutPager
from activities.adapters.opsgenie import OpsgeniePager
from activities.adapters.pagerduty import PagerDutyEvents
from medic.ports import Change, Page
from medic.routing import load_routing
from service.pagers import build_pager
from service.settings import Settings
from tests.doubles import PAGERDUTY_ROUTING_KEY, PagerDutyDouble
from tests.doubles.opsgenie import OPSGENIE_API_KEY, OpsgenieDouble

POLICY = load_routing(
    """\
teams:
  checkout: {primary: checkout, pager: opsgenie}
  payments: {primary: payments, pager: both}
  data: {primary: data}
"""
)


def page(name: str, action: str = "trigger") -> Page:
    return Page(
        action=action,
        dedup_key=f"incident-{name}",
        routing_key_name=name,
        summary=f"[P1] {name} down",
        severity="critical",
        priority="P1",
    )


def test_each_team_is_paged_by_its_own_pager_and_the_rest_by_medic_pager() -> None:
    pd, og = PagerDutyDouble(), OpsgenieDouble()
    with pd.serve() as pd_url, og.serve() as og_url:
        settings = Settings(
            _env_file=None,
            pager="pagerduty",  # Opsgenie only where a team asks for it
            pagerduty_routing_key=SecretStr(PAGERDUTY_ROUTING_KEY),
            pagerduty_events_url=f"{pd_url}/v2/enqueue",
            opsgenie_api_key=SecretStr(OPSGENIE_API_KEY),
            opsgenie_url=og_url,
        )
        pager = build_pager(settings, POLICY)
        assert isinstance(pager, FanOutPager)
        for name in ("checkout", "payments", "data", "not-in-teams"):
            pager.send(page(name))
        pager.change(Change(routing_key_name="checkout", summary="restarted checkout"))
        pager.change(Change(routing_key_name="data", summary="scaled orders-db"))
        pager.note("checkout", "incident-checkout", "merged: incident-payments")
        pager.send(page("checkout", "resolve"))
        assert sorted(a.dedup_key for a in pd.alerts()) == [
            "incident-data",
            "incident-not-in-teams",
            "incident-payments",
        ]
        assert sorted(a.alias for a in og.alerts()) == ["incident-checkout", "incident-payments"]
        checkout = og.alert("incident-checkout")
        assert (checkout.status, checkout.notes) == ("closed", ["merged: incident-payments"])
        assert [c["payload"]["summary"] for c in pd.changes()] == ["scaled orders-db"]
        # Without the policy (or with no team naming a pager) MEDIC_PAGER alone decides, as before.
        assert isinstance(build_pager(settings), PagerDutyEvents)
        assert isinstance(
            build_pager(settings, load_routing("teams: {data: {primary: data}}")), PagerDutyEvents
        )


def test_told_by_counts_only_the_keys_that_page_the_same_pager() -> None:
    """An incident from before pager-alias-per-key (one alias for every key): Opsgenie's alert is closed
    once, by the first key that pages Opsgenie; a key that pages PagerDuty only told Opsgenie nothing."""
    pd, og = PagerDutyDouble(), OpsgenieDouble()
    with pd.serve() as pd_url, og.serve() as og_url:
        settings = Settings(
            _env_file=None,
            pager="pagerduty",
            pagerduty_routing_key=SecretStr(PAGERDUTY_ROUTING_KEY),
            pagerduty_events_url=f"{pd_url}/v2/enqueue",
            opsgenie_api_key=SecretStr(OPSGENIE_API_KEY),
            opsgenie_url=og_url,
        )
        pager = build_pager(settings, POLICY)
        assert isinstance(pager, FanOutPager)
        pager.send(page("checkout").model_copy(update={"dedup_key": "incident-x"}))
        closed = page("checkout", "resolve").model_copy(
            update={"dedup_key": "incident-x", "told_by": ["data"]}
        )
        pager.send(closed)  # "data" pages PagerDuty: Opsgenie's alert still needs its close
        assert og.alert("incident-x").status == "closed"
        pager.send(page("payments").model_copy(update={"dedup_key": "incident-y"}))
        pager.send(
            page("payments", "resolve").model_copy(
                update={"dedup_key": "incident-y", "told_by": ["checkout"]}
            )
        )
        assert og.alert("incident-y").status == "open"  # "checkout" closed it at Opsgenie already
        assert [a.status for a in pd.alerts() if a.dedup_key == "incident-y"] == [
            "resolved"
        ]  # PagerDuty's own


def test_a_team_on_a_pager_without_credentials_is_paged_by_medic_pager(
    caplog: pytest.LogCaptureFixture,
) -> None:
    og = OpsgenieDouble()
    with og.serve() as og_url:
        settings = Settings(
            _env_file=None, opsgenie_api_keys={"payments": SecretStr(OPSGENIE_API_KEY)}, opsgenie_url=og_url
        )
        with caplog.at_level(logging.WARNING, logger="service.pagers"):
            pager = build_pager(settings, POLICY)
        assert isinstance(pager, OpsgeniePager)  # never dropped: both and MEDIC_PAGER resolve to Opsgenie
        assert "routing key payments: pager pagerduty has no credentials" in caplog.text
        pager.send(page("payments"))
        assert og.alert("incident-payments").status == "open"
