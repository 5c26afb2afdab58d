"""A restart that would restart nothing is said, not done: a paused Deployment rolls out nothing until it is
resumed (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#pausing-and-resuming-a-deployment),
a StatefulSet updating OnDelete replaces no pod until each is deleted
(https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#on-delete). A Deployment that
recreates its pods serves nothing during a restart: the plan says so (and an approver reads it)."""

from collections.abc import Iterator
from typing import Any

import pytest

from medic.runbook import RestartStep, Target
from remediations.actions import Restart
from remediations.errors import ActionError
from tests.doubles.kubernetes import KubernetesDouble
from tests.support.kube import adapter

DEPLOYMENT = RestartStep(action="restart", target=Target(namespace="shop", name="checkout"))
STATEFULSET = RestartStep(
    action="restart", target=Target(kind="StatefulSet", namespace="shop", name="ledger")
)


@pytest.fixture
def k8s() -> Iterator[KubernetesDouble]:
    double = KubernetesDouble()
    double.add_deployment("shop", "checkout", replicas=2)
    double.add_statefulset("shop", "ledger", replicas=3)
    with double.serve():
        yield double


def snapshot(k8s: KubernetesDouble, step: RestartStep) -> dict[str, Any]:
    cluster = adapter(k8s.url)
    try:
        return Restart().snapshot(cluster, step)
    finally:
        cluster.close()


def test_a_paused_deployment_is_not_restarted(k8s: KubernetesDouble) -> None:
    k8s.tamper("apps/v1", "deployments", "shop", "checkout", lambda d: d["spec"].update(paused=True))
    with pytest.raises(ActionError, match=r"is paused .*kubectl rollout resume deployment/checkout -n shop"):
        snapshot(k8s, DEPLOYMENT)


def test_a_statefulset_updating_on_delete_is_not_restarted(k8s: KubernetesDouble) -> None:
    k8s.tamper(
        "apps/v1",
        "statefulsets",
        "shop",
        "ledger",
        lambda s: s["spec"].update(updateStrategy={"type": "OnDelete"}),
    )
    with pytest.raises(
        ActionError, match="updates its pods OnDelete: a restart's new pod template restarts none"
    ):
        snapshot(k8s, STATEFULSET)
    # rolling update, the default: restarted as ever
    k8s.tamper(
        "apps/v1",
        "statefulsets",
        "shop",
        "ledger",
        lambda s: s["spec"].update(
            updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
        ),
    )
    assert snapshot(k8s, STATEFULSET) == {"restarted_at": None}


def recreating(k8s: KubernetesDouble) -> None:
    k8s.tamper(
        "apps/v1",
        "deployments",
        "shop",
        "checkout",
        lambda d: d["spec"].update(strategy={"type": "Recreate"}),
    )


def test_a_recreate_restart_says_it_serves_nothing_meanwhile(k8s: KubernetesDouble) -> None:
    recreating(k8s)
    before = snapshot(k8s, DEPLOYMENT)
    assert before == {"restarted_at": None, "strategy": "Recreate"}
    assert "every pod stops before the new ones start" in Restart().describe(DEPLOYMENT, before)
    rolling = Restart().describe(DEPLOYMENT, {"restarted_at": None})
    assert rolling.startswith("rolling restart of Deployment shop/checkout")


def test_a_recreate_deployment_is_restarted_once(k8s: KubernetesDouble) -> None:
    """Found by review: the plan's note of the strategy made apply find the target 'changed meanwhile' and
    restart nothing, telling nobody."""
    recreating(k8s)
    cluster = adapter(k8s.url)
    try:
        before = Restart().snapshot(cluster, DEPLOYMENT)
        stamp = "2026-12-07T10:00:00+00:00"
        assert Restart().apply(cluster, DEPLOYMENT, before, stamp) == {"restarted_at": stamp}
        Restart().apply(cluster, DEPLOYMENT, before, stamp)  # a retry whose first answer was lost
    finally:
        cluster.close()
    template = k8s.obj("apps/v1", "deployments", "shop", "checkout")["spec"]["template"]
    assert template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == stamp
    assert len([w for w in k8s.writes() if w.method == "PATCH"]) == 1


def partitioned(k8s: KubernetesDouble, partition: int) -> None:
    k8s.tamper(
        "apps/v1",
        "statefulsets",
        "shop",
        "ledger",
        lambda s: s["spec"].update(
            updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": partition}}
        ),
    )


def test_a_statefulset_whose_partition_holds_every_pod_is_not_restarted(k8s: KubernetesDouble) -> None:
    """A staged rollout's partition at the replicas (3 of 3) keeps every pod on its template: the plan
    said "rolling restart of StatefulSet", the patch landed, no pod restarted, and the verdict 30 minutes
    later read as a restart that did not help (a runbook author's walk-through, 2026-12-07)."""
    partitioned(k8s, 3)
    with pytest.raises(
        ActionError,
        match=r"StatefulSet shop/ledger updates only the pods at or above its partition "
        r"\(spec.updateStrategy.rollingUpdate.partition 3\) and runs 3: a restart's new pod template "
        "restarts none",
    ):
        snapshot(k8s, STATEFULSET)
    assert k8s.writes() == []


def test_a_partitioned_restart_says_which_pods_it_restarts(k8s: KubernetesDouble) -> None:
    partitioned(k8s, 1)
    before = snapshot(k8s, STATEFULSET)
    assert before == {"restarted_at": None, "partition": 1, "replicas": 3}
    said = Restart().describe(STATEFULSET, before)
    assert said.startswith(
        "rolling restart of StatefulSet shop/ledger: only its 2 highest-ordinal pods of 3 restart, its "
        "partition (spec.updateStrategy.rollingUpdate.partition 1) keeps the other 1 as they are;"
    )
    cluster = adapter(k8s.url)
    try:
        Restart().apply(cluster, STATEFULSET, before, "2026-12-07T10:00:00+00:00")
    finally:
        cluster.close()
    status = k8s.obj("apps/v1", "statefulsets", "shop", "ledger")["status"]
    assert (status["updatedReplicas"], status["currentReplicas"]) == (2, 1)  # what the plan said
    assert status["currentRevision"] != status["updateRevision"]


def not_ready(k8s: KubernetesDouble, ready: int, *, policy: str = "OrderedReady") -> None:
    """A pod crash-looping: the StatefulSet's status counts it as not ready (readyReplicas omitted at 0)."""

    def change(s: dict[str, Any]) -> None:
        s["spec"]["podManagementPolicy"] = policy
        s["status"]["readyReplicas"] = ready
        s["status"]["availableReplicas"] = ready

    k8s.tamper("apps/v1", "statefulsets", "shop", "ledger", change)


def test_an_ordered_statefulset_with_a_pod_not_ready_is_not_restarted(k8s: KubernetesDouble) -> None:
    """KubePodCrashLooping on ledger-2: with podManagementPolicy OrderedReady the StatefulSet controller
    waits at the pod that is not Running and Ready before any update, so the restart's patch landed and
    no pod restarted; the verdict read as a restart that did not help
    (https://kubernetes.io/docs/concepts/workloads/controllers/statefulset/#forced-rollback)."""
    not_ready(k8s, 2)
    with pytest.raises(
        ActionError,
        match=r"StatefulSet shop/ledger has 2 of 3 pods ready, and with podManagementPolicy OrderedReady its "
        "controller replaces no pod until every one is Running and Ready",
    ):
        snapshot(k8s, STATEFULSET)
    not_ready(k8s, 2, policy="Parallel")  # Parallel: the rolling update replaces it like the others
    assert snapshot(k8s, STATEFULSET) == {"restarted_at": None}


def test_a_restart_that_landed_is_not_failed_by_its_own_pods_restarting(k8s: KubernetesDouble) -> None:
    """Temporal retries an apply whose worker died after the patch landed: the retry finds the pods it
    restarts not ready, and must see its own restart, not a StatefulSet it cannot restart."""
    cluster = adapter(k8s.url)
    stamp = "2026-12-07T10:00:00+00:00"
    try:
        before = Restart().snapshot(cluster, STATEFULSET)
        Restart().apply(cluster, STATEFULSET, before, stamp)
        not_ready(k8s, 2)  # ledger-2 being replaced
        assert Restart().apply(cluster, STATEFULSET, before, stamp) == {"restarted_at": stamp}
    finally:
        cluster.close()
    assert len([w for w in k8s.writes() if w.method == "PATCH"]) == 1
