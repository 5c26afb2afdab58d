"""Medic as the alerting pipeline's dead man's switch, with real processes: a real Prometheus evaluates
kube-prometheus's Watchdog (``vector(1)``, ``severity: none``, the operator's ``prometheus`` external
label), a real Alertmanager sends it to Medic through the Watchdog route Medic ships
(deploy/alertmanager/alertmanager.yml, its intervals shortened); Medic opens no incident for it. The
Prometheus is stopped: Alertmanager resolves the alert once its endsAt passes (4 x the resend delay)
and stops sending it, and Medic opens the monitoring team's incident, saying so. A Prometheus started
again beats again, and the incident says the heartbeat is back."""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from service.doctor import diagnose
from service.settings import Settings
from tests.conftest import require_binary
from tests.support.promstack import logs_of, running_alertmanager, running_prometheus
from tests.support.shop import SHOP_YAML
from tests.support.stack import TOKEN, MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "alerts" / "kubernetes-mixin.json"
BOUND = 60.0  # seconds; a bound on each wait, never a timing assertion
CATALOG = SHOP_YAML + "  - {name: monitoring, team: sre, tier: 1, business: {criticality: critical}}\n"
ROUTING = """
heartbeats:
  - {name: watchdog, match: {alertname: Watchdog}, service: monitoring, missing_after_minutes: 0.1}
"""


def watchdog_rule() -> dict[str, Any]:
    """kube-prometheus's rule as the fixture records it (source and commit in the fixture)."""
    (found,) = [a for a in json.loads(FIXTURE.read_text())["alerts"] if a["alertname"] == "Watchdog"]
    labels = {k: v for k, v in found["labels"].items() if k not in ("alertname", "prometheus")}
    return {"alert": "Watchdog", "expr": found["expr"], "labels": labels, "annotations": found["annotations"]}


def alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """The shipped receiver and Watchdog route, pointed at the test's Medic, with second-long intervals."""
    config: dict[str, Any] = yaml.safe_load(
        (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    )
    route = config["route"]
    route.update(group_wait="1s", group_interval="1s")
    [watchdog] = [r for r in route["routes"] if r["matchers"] == ['alertname="Watchdog"']]
    watchdog.update(group_wait="0s", group_interval="1s", repeat_interval="2s")
    [receiver] = [r for r in config["receivers"] if r["name"] == "medic"]
    [hook] = receiver["webhook_configs"]
    hook.update(url=webhook_url, http_config={"authorization": {"type": "Bearer", "credentials": TOKEN}})
    return config


def prometheus_config(alertmanager: str) -> dict[str, Any]:
    return {
        "global": {
            "evaluation_interval": "1s",
            "external_labels": {"prometheus": "monitoring/kube-prometheus-stack-prometheus"},
        },
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
    }


async def heartbeat(stack: MedicStack) -> dict[str, Any]:
    async with stack.http() as http:
        found = (await http.get("/heartbeats")).json()
    assert len(found) <= 1, found
    return found[0] if found else {}


async def test_a_prometheus_that_stops_pages_the_monitoring_team_and_its_return_is_told() -> None:
    require_binary("temporal")
    rules = {"groups": [{"name": "general.rules", "rules": [watchdog_rule()]}]}
    flags = ("--rules.alert.resend-delay=1s",)  # its alerts' endsAt: 4 s after the last evaluation
    async with medic_stack(catalog_yaml=CATALOG, routing_yaml=ROUTING) as stack:
        config = alertmanager_config(f"{stack.base_url}/webhooks/alertmanager")
        async with running_alertmanager(config) as alertmanager:
            prom_config = prometheus_config(alertmanager.address)
            async with running_prometheus(prom_config, rules=rules, flags=flags) as prometheus:

                async def armed() -> bool:
                    return (await heartbeat(stack)).get("status") == "ok"

                try:
                    await wait_until(armed, timeout=BOUND, what="the Watchdog heartbeat armed")
                except AssertionError as err:
                    raise AssertionError(f"{err}\n{logs_of(prometheus, alertmanager)}") from err
                async with stack.http() as http:
                    assert (await http.get("/incidents")).json() == []  # Watchdog is no incident
                beat = await heartbeat(stack)
                assert beat["labels"] == {"prometheus": "monitoring/kube-prometheus-stack-prometheus"}
            # (the Prometheus is stopped on leaving its block)

            async def missing() -> bool:
                return bool((await heartbeat(stack)).get("incidents"))

            await wait_until(missing, timeout=BOUND, what="the heartbeat missing, and told")
            gone = await heartbeat(stack)
            assert gone["status"] == "missing" and gone["outages"] == 1
            [incident] = gone["incidents"]
            async with stack.http() as http:
                shown = (await http.get(f"/incidents/{incident}")).json()
            assert shown["services"] == ["monitoring"] and shown["status"] == "open"
            [said] = [e["message"] for e in shown["timeline"] if e["kind"] == "anomaly.detected"]
            assert "No heartbeat watchdog" in said
            # Alertmanager resolved it (endsAt passed) and said so before the outage was told
            assert "Alertmanager sent it resolved at" in said, said

            async with running_prometheus(prom_config, rules=rules, flags=flags) as again:

                async def back() -> bool:
                    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
                        answer = await http.get(
                            f"/incidents/{incident}", headers={"Authorization": f"Bearer {TOKEN}"}
                        )
                    return any("is back at" in e["message"] for e in answer.json()["timeline"])

                try:
                    await wait_until(back, timeout=BOUND, what="the incident told the heartbeat is back")
                except AssertionError as err:
                    raise AssertionError(f"{err}\n{logs_of(again, alertmanager)}") from err
            assert (await heartbeat(stack))["status"] == "ok"


async def test_doctor_says_whether_watchdog_reaches_medic_often_enough(tmp_path: Path) -> None:
    """kube-prometheus-stack's default route (Watchdog to `null`) beside a receiver for Medic: `medic
    doctor` says the heartbeat is never watched; with the route Medic ships, that it is, every minute."""
    (tmp_path / "catalog.yaml").write_text("services: []\n")
    rules = {"groups": [{"name": "general.rules", "rules": [watchdog_rule()]}]}
    shipped = alertmanager_config("http://127.0.0.1:9/webhooks/alertmanager")
    kube_stack = {
        "route": {
            "group_by": ["namespace"],
            "receiver": "medic",
            "repeat_interval": "12h",
            "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
        },
        "receivers": shipped["receivers"],  # ("null" among them)
    }
    shipped["route"]["routes"][0].update(group_interval="1m", repeat_interval="1m")
    said = {}
    for name, config in (("kube-prometheus-stack", kube_stack), ("shipped", shipped)):
        async with running_alertmanager(config) as alertmanager:
            prom_config = prometheus_config(alertmanager.address)
            async with (
                # (resent every second: its first evaluation may come before it found the Alertmanager)
                running_prometheus(
                    prom_config, rules=rules, flags=("--rules.alert.resend-delay=1s",)
                ) as prometheus,
                httpx.AsyncClient(base_url=alertmanager.url, timeout=5) as am,
            ):

                async def held() -> bool:
                    found = (await am.get("/api/v2/alerts", params={"filter": 'alertname="Watchdog"'})).json()
                    return bool(found)

                try:
                    await wait_until(held, timeout=BOUND, what="Alertmanager to hold Watchdog")
                except AssertionError as err:
                    raise AssertionError(f"{err}\n{logs_of(prometheus, alertmanager)}") from err
                settings = Settings(
                    _env_file=None,
                    webhook_token=SecretStr("t" * 32),
                    catalog=tmp_path / "catalog.yaml",
                    temporal_address="127.0.0.1:9",
                    alertmanager_url=alertmanager.url,
                )
                found = await diagnose(settings, timeout=3)
                [said[name]] = [str(f) for f in found if "heartbeat watchdog" in str(f)]
    assert said["kube-prometheus-stack"].startswith("warn  Alertmanager")
    assert "goes to 'null', not to Medic: the heartbeat is never watched" in said["kube-prometheus-stack"]
    assert 'alertname="Watchdog"' in said["kube-prometheus-stack"]
    assert said["shipped"].startswith("ok    Alertmanager")
    assert "reaches Medic ('medic') every 2m, within missing_after (15m)" in said["shipped"]
