"""Issue 14 end to end: real Prometheus evaluates the real kubernetes-mixin expressions
(tests/fixtures/alerts/kubernetes-mixin-rules.yaml, copied with licence and version) over a target that
exposes kube-state-metrics-shaped series for two teams' workloads, scraped as kube-prometheus-stack
scrapes kube-state-metrics (``honor_labels``, the ServiceMonitor's ``service``/``endpoint``/``namespace``/
``pod``/``container`` target labels); real Alertmanager delivers both crash loops in one notification.
Two incidents open, each on its own team's service, each with the crash-loop runbook bound to its own
Deployment, and the Deployment alert (which carries kube-state-metrics' own ``pod``) goes to checkout.

The only change to the copied rules: ``for`` is set to 0s so the test does not wait 15 minutes."""

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import require_binary
from tests.e2e.test_prometheus_alertmanager import alertmanager_config, diagnosed
from tests.support.promstack import metrics_target, running_alertmanager, running_prometheus
from tests.support.stack import medic_stack, wait_until

pytestmark = pytest.mark.e2e

RULES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts" / "kubernetes-mixin-rules.yaml"
BOUND = 90.0  # seconds; a bound on each wait, never a timing assertion
KSM_POD = "kube-prometheus-stack-kube-state-metrics-6d8f7b9c4-wq2zp"
WANTED = {"KubePodCrashLooping", "KubeDeploymentReplicasMismatch"}

CATALOG = """
services:
  - name: checkout
    team: shop
    tier: 1
    workloads: [{namespace: shop, names: [checkout]}]
  - name: payments
    team: payments
    tier: 1
    workloads: [{namespace: payments, names: [payments]}]
"""

PODS = {
    "checkout": ("shop", "checkout-7d9f8b6c5d-x2k4q", "6f1c2a9e-3b7d-4e52-9a41-0c8d5e7f2b13"),
    "payments": ("payments", "payments-5f7c9d8b4-m8v2n", "a3e9d2c1-7f4b-4c8e-b6a5-2d1f0e9c8b74"),
}


def mixin_rules() -> dict[str, Any]:
    """The copied kubernetes-apps alerts this test drives, ``for`` shortened to 0s."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    (apps,) = [g for g in groups if g["name"] == "kubernetes-apps"]
    rules = [dict(r, **{"for": "0s"}) for r in apps["rules"] if r.get("alert") in WANTED]
    assert {r["alert"] for r in rules} == WANTED
    return {"groups": [{"name": "kubernetes-apps", "rules": rules}]}


def prometheus_config(target: str, alertmanager: str) -> dict[str, Any]:
    """kube-state-metrics as kube-prometheus-stack's ServiceMonitor scrapes it (honorLabels: true)."""
    return {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"prometheus": "monitoring/kube-prometheus-stack-prometheus"},
        },
        "scrape_configs": [
            {
                "job_name": "kube-state-metrics",
                "honor_labels": True,
                "static_configs": [
                    {
                        "targets": [target],
                        "labels": {
                            "service": "kube-prometheus-stack-kube-state-metrics",
                            "endpoint": "http",
                            "namespace": "monitoring",
                            "pod": KSM_POD,
                            "container": "kube-state-metrics",
                        },
                    }
                ],
            }
        ],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
    }


async def test_two_teams_crash_loops_are_two_incidents_each_bound_to_its_own_deployment() -> None:
    require_binary("temporal")
    async with medic_stack(catalog_yaml=CATALOG, quiet_seconds=60.0) as stack, stack.http() as medic:
        with metrics_target() as target:
            for namespace, pod, uid in PODS.values():
                labels = {"namespace": namespace, "pod": pod, "uid": uid, "reason": "CrashLoopBackOff"}
                target.set(
                    "kube_pod_container_status_waiting_reason", labels | {"container": pod.split("-")[0]}, 1
                )
            deployment = {"namespace": "shop", "deployment": "checkout"}
            target.set("kube_deployment_spec_replicas", deployment, 3)
            target.set("kube_deployment_status_replicas_available", deployment, 1)
            target.set("kube_deployment_status_replicas_updated", deployment, 3)
            am_config = alertmanager_config(f"{stack.base_url}/webhooks/alertmanager")
            am_config["route"]["group_by"] = ["alertname"]  # both crash loops in one delivery
            async with running_alertmanager(am_config) as alertmanager:
                config = prometheus_config(target.address, alertmanager.address)
                async with running_prometheus(config, rules=mixin_rules()) as prometheus:
                    seen: dict[str, Any] = {}
                    with diagnosed(seen, prometheus, alertmanager):
                        await scenario(medic, seen)


async def scenario(medic: httpx.AsyncClient, seen: dict[str, Any]) -> None:
    details: dict[str, dict[str, Any]] = {}

    async def both_incidents_with_their_alerts() -> bool:
        listing = (await medic.get("/incidents")).json()
        seen["listing"] = listing
        for item in listing:
            details[item["id"]] = (await medic.get(f"/incidents/{item['id']}")).json()
        seen["details"] = details
        names = {i: {a["name"] for a in d["alerts"]} for i, d in details.items()}
        return "KubePodCrashLooping" in names.get("incident-payments", set()) and {
            "KubePodCrashLooping",
            "KubeDeploymentReplicasMismatch",
        } <= names.get("incident-checkout", set())

    await wait_until(both_incidents_with_their_alerts, timeout=BOUND, what="an incident per team")
    assert sorted(details) == ["incident-checkout", "incident-payments"], "nothing went to kube-state-metrics"
    for service, (namespace, pod, _) in PODS.items():
        detail = details[f"incident-{service}"]
        assert detail["services"] == [service]
        (crash,) = [a for a in detail["alerts"] if a["name"] == "KubePodCrashLooping"]
        assert crash["labels"]["job"] == "kube-state-metrics" and crash["labels"]["pod"] == pod
        assert crash["subject"]["object"] == {"kind": "Pod", "namespace": namespace, "name": pod}
        assert crash["subject"]["candidates"][0] == {
            "kind": "Deployment",
            "namespace": namespace,
            "name": service,
        }
        assert f"the catalog lists Deployment {namespace}/{service} under service {service}" in crash["why"]

    (mismatch,) = [
        a for a in details["incident-checkout"]["alerts"] if a["name"] == "KubeDeploymentReplicasMismatch"
    ]
    assert mismatch["labels"]["pod"] == KSM_POD, "the trap: kube-state-metrics' own pod is on the alert"
    assert mismatch["subject"]["decided_by"] == ["namespace", "deployment"]

    async def runbooks_bound() -> bool:
        for incident in details:
            details[incident] = (await medic.get(f"/incidents/{incident}")).json()
        started = {
            i: [e["message"] for e in d["timeline"] if e["kind"] == "remediation.started"]
            for i, d in details.items()
        }
        seen["remediation"] = started
        return all(started.values())

    # One remediation per target at a time: on checkout the crash loop and the replicas mismatch both
    # call for a runbook on Deployment shop/checkout, and whichever matched first holds the target.
    await wait_until(runbooks_bound, timeout=BOUND, what="a runbook on both incidents")
    started = seen["remediation"]
    assert any(
        "crashloop-restart" in m and "deployment/payments/payments" in m for m in started["incident-payments"]
    )
    assert all("deployment/shop/checkout" in m for m in started["incident-checkout"]), started
    assert not any("shop/checkout" in m for m in started["incident-payments"]), started
