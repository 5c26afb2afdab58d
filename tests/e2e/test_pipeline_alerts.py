"""The alerting pipeline's own alerts with real processes: a real Prometheus evaluates kube-prometheus's
Alertmanager, Prometheus, kube-state-metrics and TargetDown rules (tests/fixtures/alerts/
monitoring-stack-rules.yaml, copied with their sources; ``for`` shortened to 0s) over targets scraped
as kube-prometheus's ServiceMonitors scrape them (jobs and Services ``alertmanager-main``,
``prometheus-k8s``, ``kube-state-metrics`` in namespace ``monitoring``, with their ``pod``,
``container`` and ``endpoint``): one of two Alertmanagers is down and the other fails to reload its
configuration, Prometheus fails rule evaluations and has no Alertmanager, kube-state-metrics' lists
fail. A real Alertmanager delivers them to Medic.

What people receive: one incident, the alerting pipeline's (``alerting-pipeline``, outside the
catalog), at least P2 by its critical alerts, and paged on the default key. Before, they were the
incidents of their Alertmanager groups (named after the receiver), P4 at most, held overnight by the
shipped quiet hours, and paged no one."""

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import require_binary
from tests.e2e.test_prometheus_alertmanager import alertmanager_config, diagnosed
from tests.support.promstack import MetricsTarget, metrics_target, running_alertmanager, running_prometheus
from tests.support.stack import free_port, medic_stack, wait_until

pytestmark = pytest.mark.e2e

RULES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "monitoring-stack-rules.yaml"
BOUND = 90.0  # seconds; a bound on each wait, never a timing assertion
WANTED = {
    "AlertmanagerFailedReload",
    "AlertmanagerClusterDown",
    "PrometheusRuleFailures",
    "PrometheusNotConnectedToAlertmanagers",
    "KubeStateMetricsListErrors",
    "TargetDown",
}


def rules() -> dict[str, Any]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    for group in groups:
        group["rules"] = [dict(r, **{"for": "0s"}) for r in group["rules"]]
    assert {r["alert"] for g in groups for r in g["rules"]} == WANTED
    return {"groups": groups}


def scrape(job: str, address: str, **labels: str) -> dict[str, Any]:
    """One target as a kube-prometheus ServiceMonitor leaves it (its Service, pod, container, port)."""
    return {
        "job_name": f"{job}-{labels['pod']}",
        "static_configs": [{"targets": [address], "labels": {"namespace": "monitoring", **labels}}],
        # the ServiceMonitor's job is the Service's name, whichever pod it scrapes
        "relabel_configs": [{"target_label": "job", "replacement": job}],
    }


def prometheus_config(target: str, dead: str, alertmanager: str) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            scrape(
                "alertmanager-main",
                target,
                service="alertmanager-main",
                pod="alertmanager-main-0",
                container="alertmanager",
                endpoint="web",
            ),
            scrape(
                "alertmanager-main",
                dead,
                service="alertmanager-main",
                pod="alertmanager-main-1",
                container="alertmanager",
                endpoint="web",
            ),
            scrape(
                "prometheus-k8s",
                target,
                service="prometheus-k8s",
                pod="prometheus-k8s-0",
                container="prometheus",
                endpoint="web",
            ),
            scrape(
                "kube-state-metrics",
                target,
                service="kube-state-metrics",
                pod="kube-state-metrics-6d8f7b9c4-wq2zp",
                container="kube-rbac-proxy-main",
                endpoint="https-main",
            ),
        ],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
    }


async def counting(target: MetricsTarget) -> None:
    """Counters that go up as the failing components' do, every half second."""
    n = 0
    while True:
        n += 1
        target.set("prometheus_rule_evaluation_failures_total", {"rule_group": "/etc/rules.yaml;apps"}, n)
        target.set("kube_state_metrics_list_total", {"resource": "*v1.Pod", "result": "error"}, n)
        target.set("kube_state_metrics_list_total", {"resource": "*v1.Pod", "result": "success"}, n)
        await asyncio.sleep(0.5)


async def test_the_monitoring_stacks_own_alerts_are_one_paged_incident_of_the_alerting_pipeline() -> None:
    require_binary("temporal")
    async with medic_stack(quiet_seconds=60.0) as stack, stack.http() as medic:
        with metrics_target() as target:
            target.set("alertmanager_config_last_reload_successful", {}, 0)
            target.set("prometheus_notifications_alertmanagers_discovered", {}, 0)
            ticking = asyncio.create_task(counting(target))
            am_config = alertmanager_config(f"{stack.base_url}/webhooks/alertmanager")
            am_config["route"]["group_by"] = ["namespace"]  # kube-prometheus-stack's grouping
            try:
                async with running_alertmanager(am_config) as alertmanager:
                    config = prometheus_config(
                        target.address, f"127.0.0.1:{free_port()}", alertmanager.address
                    )
                    async with running_prometheus(config, rules=rules()) as prometheus:
                        seen: dict[str, Any] = {}
                        with diagnosed(seen, prometheus, alertmanager):
                            await scenario(medic, seen)
            finally:
                ticking.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticking


async def scenario(medic: httpx.AsyncClient, seen: dict[str, Any]) -> None:
    details: dict[str, dict[str, Any]] = {}

    async def all_in() -> bool:
        for item in (await medic.get("/incidents")).json():
            details[item["id"]] = (await medic.get(f"/incidents/{item['id']}")).json()
        seen["details"] = {i: sorted(a["name"] for a in d["alerts"]) for i, d in details.items()}
        return any({a["name"] for a in d["alerts"]} >= WANTED for d in details.values())

    await wait_until(all_in, timeout=BOUND, what="every pipeline alert delivered")
    assert len(details) == 1, seen["details"]  # one incident, not one per Alertmanager group
    [incident] = details.values()
    assert incident["services"] == ["alerting-pipeline"]
    assert incident["priority"] == "P2", incident["impact_detail"]
    down = next(a for a in incident["alerts"] if a["name"] == "TargetDown")
    assert down["labels"]["service"] == "alertmanager-main"  # the dead Alertmanager's own target
    assert "is the alerting pipeline's own" in down["why"]

    async def paged() -> bool:
        shown = (await medic.get(f"/incidents/{incident['id']}")).json()
        seen["timeline"] = [e["message"] for e in shown["timeline"]][-8:]
        return any("sent to default" in e["message"] for e in shown["timeline"])

    await wait_until(paged, timeout=BOUND, what="the default key paged")
