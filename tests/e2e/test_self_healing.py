"""Self-healing end to end with real processes: Prometheus sees checkout's latency climb, its alert
goes through Alertmanager to Medic, the runbook scales the Deployment (in the Kubernetes API double,
through the real client), the latency recovers, Prometheus confirms it for the verification window,
and the incident resolves with the action and its verification on the timeline."""

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.doubles.kubernetes import KubernetesDouble
from tests.e2e.test_prometheus_alertmanager import alertmanager_config, diagnosed, prometheus_config
from tests.support.kube import write_kubeconfig
from tests.support.promstack import (
    MetricsTarget,
    ServerProcess,
    metrics_target,
    running_alertmanager,
    running_prometheus,
)
from tests.support.stack import MedicStack, free_port, medic_stack, wait_until

pytestmark = pytest.mark.e2e

GAUGE = "medic_e2e_latency_seconds"
BOUND = 90.0
RUNBOOK = f"""
name: checkout-latency-scale-out
match: {{alertname: [CheckoutSlow]}}
steps:
  - action: scale
    risk: low
    target: {{namespace: shop, name: "${{incident.service}}"}}
    factor: 2
    max_replicas: 8
approval: auto
verify:
  promql: '{GAUGE}{{service="${{incident.service}}"}} < 0.5'
  for_seconds: 3
  deadline_seconds: 60
  interval_seconds: 1
on_failure: rollback
cooldown_minutes: 0
"""
RULES = {
    "groups": [
        {
            "name": "medic-e2e",
            "rules": [
                {
                    "alert": "CheckoutSlow",
                    "expr": f"{GAUGE} > 0.5",
                    "for": "0s",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "{{ $labels.service }} p99 latency is {{ $value }}s"},
                }
            ],
        }
    ]
}


@dataclass
class SelfHealingRig:
    stack: MedicStack
    kube: KubernetesDouble
    target: MetricsTarget
    servers: tuple[ServerProcess, ServerProcess]


@contextlib.asynccontextmanager
async def self_healing_rig(workdir: Path) -> AsyncIterator[SelfHealingRig]:
    """Medic (auto mode, the latency runbook), the Kubernetes double with shop/checkout at 2 replicas,
    a metrics target at healthy latency, real Alertmanager and Prometheus (also bench/self_healing.py)."""
    (workdir / "runbooks").mkdir()
    (workdir / "runbooks" / "latency.yaml").write_text(RUNBOOK)
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout", replicas=2)
    with kube.serve() as kube_url, metrics_target() as target:
        target.set(GAUGE, {"service": "checkout"}, 0.2)
        kubeconfig = write_kubeconfig(workdir / "kubeconfig", kube_url)
        prom_port = free_port()  # the worker must know where Prometheus will be before it starts
        async with (
            medic_stack(
                quiet_seconds=2.0,
                runbooks_dir=workdir / "runbooks",
                kubeconfig=kubeconfig,
                remediation_mode="auto",
                prometheus_url=f"http://127.0.0.1:{prom_port}",
            ) as stack,
            running_alertmanager(alertmanager_config(f"{stack.base_url}/webhooks/alertmanager")) as am,
        ):
            config = prometheus_config(target.address, am.address)
            async with running_prometheus(config, rules=RULES, port=prom_port) as prom:
                yield SelfHealingRig(stack, kube, target, (prom, am))


async def test_alert_to_verified_recovery(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    async with self_healing_rig(tmp_path) as rig:
        with diagnosed(seen, *rig.servers):
            await scenario(rig.stack.http(), rig.kube, rig.target, seen)


async def scenario(
    medic: httpx.AsyncClient, kube: KubernetesDouble, target: Any, seen: dict[str, Any]
) -> None:
    async with medic:
        started = time.monotonic()
        target.set(GAUGE, {"service": "checkout"}, 1.8)  # latency climbs

        async def scaled() -> bool:
            replicas = kube.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["replicas"]
            seen["replicas"] = replicas
            return bool(replicas == 4)

        await wait_until(scaled, timeout=BOUND, what="the runbook to scale checkout from 2 to 4")
        seen["scaled_after_s"] = round(time.monotonic() - started, 1)
        target.set(GAUGE, {"service": "checkout"}, 0.15)  # more replicas: latency recovers

        async def resolved() -> bool:
            detail: dict[str, Any] = (await medic.get("/incidents/incident-checkout")).json()
            seen["timeline"] = [e["kind"] for e in detail.get("timeline", [])]
            return detail.get("status") == "resolved"

        await wait_until(resolved, timeout=BOUND, what="verification to pass and the incident to resolve")
        detail = (await medic.get("/incidents/incident-checkout")).json()
    kinds = [e["kind"] for e in detail["timeline"]]
    assert (
        kinds.index("action.executed") < kinds.index("verification.passed") < kinds.index("incident.resolved")
    )
    (action,) = detail["actions"]
    assert action["before"] == {"replicas": 2} and action["after"] == {"replicas": 4}
    scale_patches = [w for w in kube.writes() if w.path.endswith("/scale")]
    assert len(scale_patches) == 1, "exactly one action"
