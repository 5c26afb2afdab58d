"""Two worker processes and HA duplicate deliveries against the dev server and the Kubernetes API
double: exactly one action reaches the cluster."""

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from tests.conftest import require_binary
from tests.doubles.kubernetes import KubernetesDouble
from tests.support.kube import write_kubeconfig
from tests.support.stack import MedicStack, medic_stack, wait_until

pytestmark = pytest.mark.integration

RUNBOOK = """
name: scale-checkout
match: {alertname: [CheckoutSlow]}
steps:
  - action: scale
    risk: low
    target: {namespace: shop, name: checkout}
    replicas: 6
approval: auto
verify: {alerts_resolved: true, for_seconds: 0, deadline_seconds: 120}
on_failure: rollback
cooldown_minutes: 0
"""


def payload(status: str) -> dict[str, Any]:
    return {
        "status": status,
        "receiver": "medic",
        "groupKey": '{}:{alertname="CheckoutSlow"}',
        "alerts": [
            {
                "status": status,
                "startsAt": "2026-11-23T12:00:00Z",
                "fingerprint": "slow000000000001",
                "labels": {"alertname": "CheckoutSlow", "service": "checkout", "severity": "warning"},
            }
        ],
    }


async def pollers(stack: MedicStack) -> int:
    """Workers polling the stack's task queue for workflow tasks."""
    described = await stack.client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=stack.client.namespace, task_queue=TaskQueue(name=stack.settings.task_queue)
        )
    )
    return len({p.identity for p in described.pollers})


def second_worker(stack: MedicStack, log: Path) -> subprocess.Popen[bytes]:
    settings = stack.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEDIC_")}
    env.update(
        MEDIC_TEMPORAL_ADDRESS=settings.temporal_address,
        MEDIC_TASK_QUEUE=settings.task_queue,
        MEDIC_CATALOG=str(settings.catalog),
        MEDIC_RUNBOOKS_DIR=str(settings.runbooks_dir),
        MEDIC_KUBECONFIG=str(settings.kubeconfig),
        MEDIC_REMEDIATION_MODE="auto",
        MEDIC_DATA_DIR=str(settings.data_dir / "worker-2"),
    )
    medic = str(require_binary("medic"))
    with log.open("wb") as out:
        return subprocess.Popen(
            [medic, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


async def test_two_workers_and_duplicates_act_once(tmp_path: Path) -> None:
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    (runbooks / "scale.yaml").write_text(RUNBOOK)
    kube = KubernetesDouble()
    kube.add_deployment("shop", "checkout", replicas=2)
    with kube.serve() as kube_url:
        kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube_url)
        async with medic_stack(
            runbooks_dir=runbooks, kubeconfig=kubeconfig, remediation_mode="auto", quiet_seconds=1.0
        ) as stack:
            worker = second_worker(stack, tmp_path / "worker-2.log")
            try:

                async def both_polling() -> bool:
                    assert worker.poll() is None, (tmp_path / "worker-2.log").read_text()[-2000:]
                    return await pollers(stack) >= 2

                await wait_until(both_polling, timeout=60, what="the second worker to poll")
                async with stack.http() as http:
                    # Both HA Alertmanagers deliver, twice each, at the same moment.
                    answers = await asyncio.gather(
                        *(http.post("/webhooks/alertmanager", json=payload("firing")) for _ in range(4))
                    )
                    assert {a.status_code for a in answers} == {200}

                    async def scaled() -> bool:
                        return bool(
                            kube.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["replicas"] == 6
                        )

                    await wait_until(scaled, timeout=60, what="the scale-out")
                    assert (
                        await http.post("/webhooks/alertmanager", json=payload("resolved"))
                    ).status_code == 200

                    async def verified() -> bool:
                        detail: dict[str, Any] = (await http.get("/incidents/incident-checkout")).json()
                        return any(e["kind"] == "verification.passed" for e in detail.get("timeline", []))

                    await wait_until(verified, timeout=60, what="verification by the alerts resolving")
                assert worker.poll() is None, "the second worker must have stayed up throughout"
            finally:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
    patches = [w for w in kube.writes() if w.path.endswith("/scale")]
    assert len(patches) == 1, [w.path for w in kube.writes()]
