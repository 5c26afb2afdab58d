"""kube-prometheus's InfoInhibitor with real processes: a real Prometheus evaluates its rule as
kube-prometheus ships it (``ALERTS{severity="info"} == 1 unless on(namespace) ALERTS{alertname!=
"InfoInhibitor", severity=~"warning|critical", alertstate="firing"} == 1``, ``severity: none``) beside an
info alert (CPUThrottlingHigh's labels) and a warning (KubePodNotReady's) on a test target, a real
Alertmanager routes them to Medic.

- With the receiver Medic ships (deploy/alertmanager/alertmanager.yml: InfoInhibitor to "null", the
  inhibit rule kube-prometheus-stack ships): the info alert alone reaches nobody; beside the warning,
  both reach Medic, in one incident.
- With a catch-all route and no inhibit rule (what a user who points everything at Medic has): Medic
  receives InfoInhibitor too, and ignores it (routing policy ``ignore:``): the incident holds the info
  alert only, and ``medic_alerts_ignored_total`` counts it. Before, InfoInhibitor was an alert of the
  very incident its info alert opened."""

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import require_binary
from tests.support.promstack import logs_of, metrics_target, running_alertmanager, running_prometheus
from tests.support.stack import TOKEN, MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BOUND = 60.0  # seconds; a bound on each wait, never a timing assertion
POD = {"namespace": "payments", "pod": "payments-5f7c9d8b4-m8v2n", "container": "payments"}
RULES = {
    "groups": [
        {
            "name": "general.rules",  # kube-prometheus manifests/kubePrometheus-prometheusRule.yaml
            "rules": [
                {
                    "alert": "InfoInhibitor",
                    "expr": 'ALERTS{severity = "info"} == 1 unless on(namespace) ALERTS{alertname != '
                    '"InfoInhibitor", severity =~ "warning|critical", alertstate="firing"} == 1',
                    "labels": {"severity": "none"},
                    "annotations": {"summary": "Info-level alert inhibition."},
                }
            ],
        },
        {
            "name": "test.rules",  # the kubernetes-mixin's label sets, on a test target's gauges
            "rules": [
                {
                    "alert": "CPUThrottlingHigh",
                    "expr": "test_cpu_throttled > 0.25",
                    "labels": {"severity": "info"},
                    "annotations": {"summary": "Processes experience elevated CPU throttling."},
                },
                {
                    "alert": "KubePodNotReady",
                    "expr": "test_pod_not_ready > 0",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "Pod has been in a non-ready state for more than 15 minutes."},
                },
            ],
        },
    ]
}


def shipped(webhook_url: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text()
    )
    config["route"].update(group_wait="1s", group_interval="1s")
    [receiver] = [r for r in config["receivers"] if r["name"] == "medic"]
    receiver["webhook_configs"][0].update(
        url=webhook_url, http_config={"authorization": {"type": "Bearer", "credentials": TOKEN}}
    )
    return config


def catch_all(webhook_url: str) -> dict[str, Any]:
    """Everything to Medic, no inhibit rule."""
    config = shipped(webhook_url)
    config["route"]["routes"] = []
    del config["inhibit_rules"]
    config["receivers"] = [r for r in config["receivers"] if r["name"] == "medic"]
    return config


async def incidents(stack: MedicStack) -> list[dict[str, Any]]:
    async with stack.http() as http:
        found: list[dict[str, Any]] = []
        for summary in (await http.get("/incidents")).json():
            found.append((await http.get(f"/incidents/{summary['id']}")).json())
        return found


def alert_names(incident: dict[str, Any]) -> set[str]:
    return {a["name"] for a in incident["alerts"]}


async def ignored_count(stack: MedicStack) -> float:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as http:
        text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('medic_alerts_ignored_total{rule="info-inhibitor"}')
    )


@pytest.mark.parametrize("route", ["shipped", "catch-all"])
async def test_info_alerts_and_infoinhibitor_as_people_receive_them(route: str) -> None:
    require_binary("temporal")
    with metrics_target() as target:
        target.set("test_cpu_throttled", POD, 0.6)  # the info alert fires from the start
        target.set("test_pod_not_ready", POD, 0)
        async with medic_stack() as stack:
            url = f"{stack.base_url}/webhooks/alertmanager"
            config = shipped(url) if route == "shipped" else catch_all(url)
            async with running_alertmanager(config) as alertmanager:
                prom_config = {
                    "global": {"evaluation_interval": "1s", "scrape_interval": "1s"},
                    "scrape_configs": [
                        {"job_name": "test", "static_configs": [{"targets": [target.address]}]}
                    ],
                    "alerting": {
                        "alertmanagers": [{"static_configs": [{"targets": [alertmanager.address]}]}]
                    },
                }
                flags = ("--rules.alert.resend-delay=1s",)
                async with (
                    running_prometheus(prom_config, rules=RULES, flags=flags) as prometheus,
                    httpx.AsyncClient(base_url=alertmanager.url, timeout=5) as am,
                ):

                    async def states() -> dict[str, str]:
                        held = (await am.get("/api/v2/alerts")).json()
                        return {a["labels"]["alertname"]: a["status"]["state"] for a in held}

                    async def inhibitor_held() -> bool:
                        return {"CPUThrottlingHigh", "InfoInhibitor"} <= set(await states())

                    try:
                        await wait_until(inhibitor_held, timeout=BOUND, what="InfoInhibitor firing")
                    except AssertionError as err:
                        raise AssertionError(f"{err}\n{logs_of(prometheus, alertmanager)}") from err

                    if route == "shipped":
                        # inhibited by InfoInhibitor in Alertmanager: Medic hears of neither
                        assert (await states())["CPUThrottlingHigh"] == "suppressed"
                        await asyncio.sleep(3)  # three of its group's ticks: nothing to wait for
                        assert await incidents(stack) == []
                    else:
                        # everything reaches Medic: the info alert opens an incident; InfoInhibitor does not

                        async def opened() -> bool:
                            return await ignored_count(stack) >= 1 and bool(await incidents(stack))

                        await wait_until(opened, timeout=BOUND, what="the info alert's incident")
                        [incident] = await incidents(stack)
                        assert alert_names(incident) == {"CPUThrottlingHigh"}

                    # the pod is not ready: a warning in the namespace; InfoInhibitor resolves
                    target.set("test_pod_not_ready", POD, 1)

                    async def both() -> bool:
                        found = await incidents(stack)
                        pair = {"CPUThrottlingHigh", "KubePodNotReady"}
                        return any(alert_names(i) == pair for i in found)

                    await wait_until(
                        both, timeout=BOUND, what="the warning and the info alert in one incident"
                    )
                    found = await incidents(stack)
                    assert len(found) == 1, [i["id"] for i in found]
                    assert not any("InfoInhibitor" in e["message"] for i in found for e in i["timeline"]), (
                        "InfoInhibitor is no incident's alert"
                    )
