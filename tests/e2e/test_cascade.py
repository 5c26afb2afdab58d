"""A cascade end to end with real processes: real Prometheus evaluates real rules over two services'
health (checkout depends on orders-db), real Alertmanager groups and posts both alerts to Medic, and
only the cause's team is paged (through the real PagerDuty SDK against the double); the symptom's
incident joins the cause's, and recovery resolves the one page. Then the same cascade with the cause's
alert held by Alertmanager (its group waits 10 minutes): Medic takes it from Alertmanager's API, pages
the cause's team, and resolves it once Alertmanager no longer holds it, though it never delivered it."""

import asyncio
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from activities.adapters.prometheus import PrometheusMetrics
from activities.correlate import AlertingRequest, CorrelationActivities
from tests.conftest import require_binary
from tests.doubles import PagerDutyDouble
from tests.e2e.test_prometheus_alertmanager import alertmanager_config, diagnosed, prometheus_config
from tests.support.promstack import metrics_target, running_alertmanager, running_prometheus
from tests.support.shop import shop
from tests.support.stack import free_port, medic_stack, wait_until

pytestmark = pytest.mark.e2e

GAUGE = "medic_e2e_up"
BOUND = 90.0  # seconds; a bound on each wait, never a timing assertion
KEYS = {"checkout": "C" * 32, "data": "D" * 32}
ROUTING = """
rules:
  - {name: page, match: {priority: [P1, P2]}, pagerduty: true}
  - {name: rest}
"""


def rules() -> dict[str, Any]:
    return {
        "groups": [
            {
                "name": "medic-e2e-cascade",
                "rules": [
                    {
                        # One rule for both services, as the SLO and mixin rules are written: the
                        # service label comes from the series.
                        "alert": "ServiceDown",
                        "expr": f"{GAUGE} == 0",
                        "for": "0s",
                        "labels": {"severity": "critical", "burn_rate": "20"},
                        "annotations": {"summary": "{{ $labels.service }} is down"},
                    }
                ],
            }
        ]
    }


async def root_and_page_resolved(
    medic: httpx.AsyncClient, pager: PagerDutyDouble, seen: dict[str, Any]
) -> bool:
    """orders-db's incident resolved, and every page PagerDuty holds resolved (``seen``: for failures)."""
    detail = (await medic.get("/incidents/incident-orders-db")).json()
    seen["root"] = detail
    return detail["status"] == "resolved" and all(a.status == "resolved" for a in pager.alerts())


async def test_a_cascade_through_prometheus_and_alertmanager_pages_the_cause_only() -> None:
    require_binary("temporal")
    pager = PagerDutyDouble(KEYS.values())
    seen: dict[str, Any] = {}
    with pager.serve() as pager_url, metrics_target() as target:
        for service in ("checkout", "orders-db"):
            target.set(GAUGE, {"service": service}, 1)
        async with (
            medic_stack(
                quiet_seconds=2.0,
                routing_yaml=ROUTING,
                settle_seconds=5.0,
                pagerduty_routing_keys={k: SecretStr(v) for k, v in KEYS.items()},
                pagerduty_events_url=f"{pager_url}/v2/enqueue",
            ) as stack,
            stack.http() as medic,
            running_alertmanager(alertmanager_config(f"{stack.base_url}/webhooks/alertmanager")) as am,
            running_prometheus(prometheus_config(target.address, am.address), rules=rules()) as prom,
            httpx.AsyncClient(base_url=prom.url, timeout=5.0) as prometheus,
        ):
            with diagnosed(seen, prom, am):

                async def scraped() -> bool:
                    answer = (await prometheus.get("/api/v1/query", params={"query": GAUGE})).json()
                    seen["query"] = answer
                    return len(answer["data"]["result"]) == 2

                await wait_until(scraped, timeout=BOUND, what="Prometheus to scrape both services")
                # The symptom first, its cause a moment later (both within Medic's settle period).
                target.set(GAUGE, {"service": "checkout"}, 0)
                target.set(GAUGE, {"service": "orders-db"}, 0)

                async def one_incident_paging_data() -> bool:
                    checkout = await medic.get("/incidents/incident-checkout")
                    seen["checkout"] = checkout.json() if checkout.status_code == 200 else checkout.text
                    alerts = pager.alerts()
                    seen["pages"] = [(a.dedup_key, a.routing_key, a.status) for a in alerts]
                    return (
                        checkout.status_code == 200
                        and checkout.json()["merged_into"] == "incident-orders-db"
                        and [(a.dedup_key, a.routing_key) for a in alerts]
                        == [("incident-orders-db", KEYS["data"])]
                    )

                await wait_until(one_incident_paging_data, timeout=BOUND, what="one page, to the data team")
                # What a settling incident asks (MEDIC_PROMETHEUS_URL), against the real ALERTS series:
                # the adapter reads it and the catalog assigns each alert as the webhook does.
                asked = CorrelationActivities(
                    source=PrometheusMetrics(prom.url), catalog=shop, cache_seconds=0
                )
                answer = await asyncio.to_thread(
                    asked.alerting, AlertingRequest(services=["checkout", "orders-db", "payments"])
                )
                seen["alerting"] = answer.model_dump()
                assert answer.known
                assert answer.alerting == {
                    "checkout": ["ServiceDown (firing)"],
                    "orders-db": ["ServiceDown (firing)"],
                }
                root = (await medic.get("/incidents/incident-orders-db")).json()
                seen["root"] = root
                assert root["root_causes"][0]["service"] == "orders-db"
                assert {a["labels"]["service"] for a in root["alerts"]} == {"checkout", "orders-db"}
                assert root["title"].startswith("ServiceDown on orders-db")

                target.set(GAUGE, {"service": "checkout"}, 1)
                target.set(GAUGE, {"service": "orders-db"}, 1)

                await wait_until(
                    lambda: root_and_page_resolved(medic, pager, seen),
                    timeout=BOUND,
                    what="the incident and its page resolved",
                )
    assert [e.dedup_key for e in pager.events() if e.event_action == "trigger"] == ["incident-orders-db"]


async def test_a_cause_alertmanager_holds_is_paged_and_resolved_without_its_delivery() -> None:
    require_binary("temporal")
    pager = PagerDutyDouble(KEYS.values())
    seen: dict[str, Any] = {}
    port = free_port()  # Medic's API: Alertmanager must know its webhook before Medic knows Alertmanager
    am_config = alertmanager_config(f"http://127.0.0.1:{port}/webhooks/alertmanager")
    # orders-db's group waits 10 minutes: Alertmanager holds its alert longer than this test runs, and
    # never notifies Medic of it (nor of its resolution).
    am_config["route"]["routes"] = [
        {
            "matchers": ['service="orders-db"'],
            "receiver": "medic",
            "group_wait": "10m",
            "group_interval": "10m",
        }
    ]
    with pager.serve() as pager_url, metrics_target() as target:
        for service in ("checkout", "orders-db"):
            target.set(GAUGE, {"service": service}, 1)
        async with (
            running_alertmanager(am_config) as am,
            # Alerts sent every second: their endsAt ("valid until") is 4 s ahead, so a taken alert
            # comes due, and is checked again, within seconds.
            running_prometheus(
                prometheus_config(target.address, am.address),
                rules=rules(),
                flags=("--rules.alert.resend-delay=1s",),
            ) as prom,
            medic_stack(
                api_port=port,
                quiet_seconds=2.0,
                routing_yaml=ROUTING,
                settle_seconds=5.0,
                settle_max_seconds=60.0,
                prometheus_url=prom.url,
                alertmanager_url=am.url,
                pagerduty_routing_keys={k: SecretStr(v) for k, v in KEYS.items()},
                pagerduty_events_url=f"{pager_url}/v2/enqueue",
            ) as stack,
            stack.http() as medic,
            httpx.AsyncClient(base_url=prom.url, timeout=5.0) as prometheus,
        ):
            with diagnosed(seen, prom, am):

                async def scraped() -> bool:
                    answer = (await prometheus.get("/api/v1/query", params={"query": GAUGE})).json()
                    return len(answer["data"]["result"]) == 2

                await wait_until(scraped, timeout=BOUND, what="Prometheus to scrape both services")
                target.set(GAUGE, {"service": "orders-db"}, 0)
                target.set(GAUGE, {"service": "checkout"}, 0)

                async def the_cause_paged() -> bool:
                    checkout = await medic.get("/incidents/incident-checkout")
                    seen["checkout"] = checkout.json() if checkout.status_code == 200 else checkout.text
                    seen["pages"] = [(a.dedup_key, a.routing_key, a.status) for a in pager.alerts()]
                    return (
                        checkout.status_code == 200
                        and checkout.json()["merged_into"] == "incident-orders-db"
                        and [(a.dedup_key, a.routing_key) for a in pager.alerts()]
                        == [("incident-orders-db", KEYS["data"])]
                    )

                await wait_until(the_cause_paged, timeout=BOUND, what="the held cause's team paged")
                root = (await medic.get("/incidents/incident-orders-db")).json()
                seen["root"] = root
                held = [a for a in root["alerts"] if a["labels"]["service"] == "orders-db"]
                assert [a["source"] for a in held] == ["alertmanager-api"], held  # never delivered

                target.set(GAUGE, {"service": "checkout"}, 1)
                target.set(GAUGE, {"service": "orders-db"}, 1)

                await wait_until(
                    lambda: root_and_page_resolved(medic, pager, seen),
                    timeout=BOUND,
                    what="the incident and its page resolved",
                )
                messages = [e["message"] for e in seen["root"]["timeline"]]
                assert any("Alertmanager no longer holds it" in m for m in messages), messages
    assert [e.dedup_key for e in pager.events() if e.event_action == "trigger"] == ["incident-orders-db"]
